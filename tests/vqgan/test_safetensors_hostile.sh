# Crafted safetensors headers (issue 15 item 2): offsets near 2^64 that wrapped past the bound
# check, fractional and negative offsets and shapes, shape products that wrap, spans that
# disagree with the shape, overlapping tensors, data past the end, a 2^64-1 header length.
# Each is refused by `lwm vqgan info` with one line naming the file and the tensor; no crash.
SUITE=vqgan/safetensors_hostile
. tests/lib.sh

W=$TMP/valid.safetensors
expect_ok init "$LWM" vqgan init --preset tiny --seed 4 --out "$W"
$PY tests/vqgan/craft_safetensors.py "$W" "$TMP/bad" >/dev/null

one_line_fail() { # name pattern: info on bad/<name>.safetensors fails with one matching line
    local name=$1 pattern=$2 f="$TMP/bad/$1.safetensors"
    "$LWM" vqgan info --vqgan "$f" >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$? lines
    lines=$(wc -l <"$TMP/$name.err")
    if [ $rc -eq 0 ]; then not_ok "$name" "accepted (exit 0)"
    elif [ $rc -ge 128 ]; then not_ok "$name" "crashed with signal $((rc - 128))"
    elif [ "$lines" -ne 1 ]; then not_ok "$name" "$lines lines on stderr: $(head -c 300 "$TMP/$name.err" | tr '\n' ' ')"
    elif ! grep -Eq -- "$1.safetensors: .*$pattern" "$TMP/$name.err"; then
        not_ok "$name" "stderr lacks /$pattern/: $(head -c 300 "$TMP/$name.err")"
    else ok "$name"; fi
}

K=encoder/DownsamplingBlock_0/ResnetBlock_0/Conv_0/kernel
B=encoder/Conv_0/bias
one_line_fail offsets_wrap "tensor $K: data_offsets are not non-negative integers"
one_line_fail offset_fraction "tensor $B: data_offsets are not"
one_line_fail offset_negative "tensor $B: data_offsets are not"
one_line_fail shape_fraction "tensor $B: shape\[0\] is not a non-negative integer"
one_line_fail shape_negative "tensor $B: shape\[0\]"
one_line_fail shape_product_wraps "tensor evil: shape overflows"
one_line_fail span_disagrees "tensor $B: data_offsets \[[0-9]+, [0-9]+\] do not hold 32 floats"
one_line_fail overlap "tensors $B and .* overlap"
one_line_fail past_end "truncated: tensor $B needs bytes up to"
one_line_fail metadata_not_object "__metadata__ is not one object"
one_line_fail entry_not_object "tensor $B: entry is not an object"
one_line_fail header_len_max "header of 18446744073709551615 bytes"
