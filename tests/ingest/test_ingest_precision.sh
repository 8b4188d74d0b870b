# lwm ingest --precision: the encoder precision is recorded in the dataset
# (inspect shows it), a resumed run with another precision is refused with the
# dataset left as it was, and bf16 where it cannot run is a clear error.
SUITE=ingest/precision
. tests/lib.sh
export OMP_NUM_THREADS=1
D=$TMP/prec
mkdir -p "$D/media"
ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=192x144:r=10:d=1" -c:v libx264 -pix_fmt yuv420p "$D/media/v.mp4"
printf '{"id": "a", "video": "media/v.mp4"}\n{"id": "b", "video": "media/v.mp4"}\n' >"$D/m.jsonl"
"$LWM" vqgan init --preset tiny --seed 3 --out "$D/tiny.safetensors" >/dev/null
ingest() { "$LWM" ingest --manifest "$D/m.jsonl" --max-frames 2 --vqgan "$D/tiny.safetensors" -q "$@"; }
precision_is() { # DIR WANT: inspect --json records WANT
    "$LWM" inspect "$1" --json 2>/dev/null | $PY -c '
import json, sys
s = json.load(sys.stdin)
assert s["vqgan"]["precision"] == sys.argv[1] and s["settings"]["vqgan_precision"] == sys.argv[1], s["vqgan"]
' "$2"
}

expect_ok fp32_run ingest --out "$D/fp32"
check fp32_recorded "inspect lacks precision fp32" precision_is "$D/fp32" fp32

if "$LWM" vqgan info --weights "$D/tiny.safetensors" --json 2>/dev/null | grep -q '"precisions":.*bf16'; then
    expect_fail fp32_dataset_refuses_bf16 'vqgan_precision "fp32".*"bf16"' ingest --out "$D/fp32" --precision bf16
    check refused_run_changed_nothing "fp32 dataset no longer records fp32" precision_is "$D/fp32" fp32
    expect_ok bf16_run ingest --out "$D/bf16" --precision bf16
    check bf16_recorded "inspect lacks precision bf16" precision_is "$D/bf16" bf16
    "$LWM" inspect "$D/bf16" 2>/dev/null >"$TMP/bf16_inspect.txt"
    check bf16_in_text_inspect "$(grep vqgan "$TMP/bf16_inspect.txt")" grep -q 'encoder precision bf16' "$TMP/bf16_inspect.txt"
    expect_ok bf16_resumes ingest --out "$D/bf16" --precision bf16
    expect_fail bf16_dataset_refuses_fp32 'vqgan_precision "bf16".*"fp32"' ingest --out "$D/bf16"
fi
# Under LWM_SIMD=avx2 (and on CPUs without AVX512_BF16) bf16 is refused before anything is stored.
expect_fail bf16_refused_at_avx2 'bf16 precision needs AVX512_BF16' env LWM_SIMD=avx2 "$LWM" ingest \
    --manifest "$D/m.jsonl" --max-frames 2 --vqgan "$D/tiny.safetensors" -q --out "$D/avx2" --precision bf16
check avx2_nothing_stored "$D/avx2 holds a dataset" test ! -e "$D/avx2/manifest.json"
expect_fail bad_precision_named 'precision fp16: expected fp32 or bf16' ingest --out "$D/x" --precision fp16
