# Bounded reads (issue 15 item 7): what an input may make lwm hold or do is
# bounded and stated in the README. A device, directory or pipe where a file is
# expected, a manifest line over 16 MiB, a text field over 4 MiB and a video that
# would become more than 10,000 PNGs are each refused in one line naming the
# input, quickly, in bounded memory, with nothing written.
SUITE=common/limits
. tests/lib.sh
D=$TMP/limits
mkdir -p "$D"
for i in $(seq 40); do echo "word $i and another sentence $i"; done >"$D/corpus.txt"
spm_train --input="$D/corpus.txt" --model_prefix="$D/tok" --vocab_size=60 \
    --hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1
$PY - "$D" <<'PYEOF'
import json, sys
d = sys.argv[1]
ok = json.dumps({"id": "t", "text": "word 1", "fields": "text"})
with open(f"{d}/longline.jsonl", "w") as f:  # a 10^7-code line (~89 MB) between two good ones
    f.write(ok + "\n")
    f.write(json.dumps({"id": "big", "vision": list(range(10**7)), "caption": "x",
                        "fields": "[vision],caption"}) + "\n")
    f.write(json.dumps({"id": "u", "text": "word 2", "fields": "text"}) + "\n")
with open(f"{d}/longtext.jsonl", "w") as f:  # one 5 MB caption (a 5 MB line)
    f.write(json.dumps({"id": "cap", "text": "word " * 1000000, "fields": "text"}) + "\n" + ok + "\n")
PYEOF
rss_under() { # max_kb cmd...: the command's peak RSS is under max_kb (skipped under SAN)
    local max=$1
    shift
    [ "${SAN:-}" = 1 ] && return 0
    /usr/bin/time -f "%M" -o "$TMP/rss" "$@" >/dev/null 2>&1
    [ "$(tail -1 "$TMP/rss")" -lt "$max" ]
}

# Not a regular file: refused at once, never read (no hang, no growth).
expect_fail tokenizer_device '/dev/zero: not a regular file' \
    timeout 20 "$LWM" pack "$D/longtext.jsonl" --tokenizer /dev/zero --seq-len 64
expect_fail tokenizer_directory "$D: not a regular file \(a directory\)" \
    timeout 20 "$LWM" pack "$D/longtext.jsonl" --tokenizer "$D" --seq-len 64
expect_fail manifest_device '/dev/zero: not a regular file' \
    timeout 20 "$LWM" ingest --manifest /dev/zero --out "$D/o1"
mkfifo "$D/fifo"
expect_fail manifest_pipe 'fifo: not a regular file \(a pipe\)' \
    timeout 20 "$LWM" ingest --manifest "$D/fifo" --out "$D/o2"
check refused_write_nothing "a refused ingest created its output" test ! -e "$D/o1" -a ! -e "$D/o2"

# A manifest line over 16 MiB fails its sample only, before JSON is parsed.
"$LWM" ingest --manifest "$D/longline.jsonl" --out "$D/o3" -q >"$TMP/o3.out" 2>"$TMP/o3.err"
check long_line_one_failure "ingest of a 89 MB line: $(tail -c 300 "$TMP/o3.err")" \
    sh -c "grep -q 'manifest line 2: 88888961 bytes, more than the 16777216' '$TMP/o3.err' &&
           [ \"\$('$LWM' ls '$D/o3' | cut -f2 | tr '\n' ' ')\" = 't u ' ]"
rm -rf "$D/o3"
check long_line_memory "ingest of a 89 MB line peaked at $(tail -1 "$TMP/rss" 2>/dev/null) KB" \
    rss_under 150000 "$LWM" ingest --manifest "$D/longline.jsonl" --out "$D/o3"
expect_fail pack_long_line 'longline.jsonl:2: line of 88888961 bytes, more than the 16777216' \
    "$LWM" pack "$D/longline.jsonl" --tokenizer "$D/tok.model" --seq-len 64
check pack_long_line_memory "pack of a 89 MB line peaked at $(tail -1 "$TMP/rss" 2>/dev/null) KB" \
    rss_under 300000 "$LWM" pack "$D/longline.jsonl" --tokenizer "$D/tok.model" --seq-len 64
expect_fail pack_long_text "field 'text': 5000000 bytes of text, more than the 4194304" \
    timeout 20 "$LWM" pack "$D/longtext.jsonl" --tokenizer "$D/tok.model" --seq-len 64

# A video that would be more than 10,000 PNGs needs a choice; nothing is written.
ffmpeg -nostdin -v error -y -f lavfi -i "color=c=red:s=2x2:r=1000:d=20" -c:v libx264 \
    -pix_fmt yuv420p "$D/many.mp4"
expect_fail frames_cap 'about 20000 frames, more than the 10000 written without a choice' \
    "$LWM" frames "$D/many.mp4" --out "$D/png"
check frames_cap_writes_nothing "a refused frames run wrote PNGs" \
    sh -c "[ -z \"\$(ls '$D/png' 2>/dev/null)\" ]"
expect_ok frames_cap_max_frames "$LWM" frames "$D/many.mp4" --out "$D/png5" --max-frames 5
check frames_cap_max_frames_count "--max-frames 5 did not write 5 PNGs" \
    sh -c "[ \"\$(ls '$D/png5' | wc -l)\" = 5 ]"
