# lwm ingest --out: a real corpus (decode -> VQGAN encode -> LMDB store), and
# crash safety: SIGKILL at random moments, re-run the same command, and the
# dataset must equal an uninterrupted run's: every sample exactly once, in
# manifest order, failures recorded, verify clean, codes identical.
SUITE=ingest/ingest_store
. tests/lib.sh
export OMP_NUM_THREADS=1 # one encoder thread: identical codes run to run, and light on CI
D=$TMP/store
mkdir -p "$D/media"
ff() { ffmpeg -nostdin -v error -y "$@"; }
"$LWM" vqgan init --preset tiny --seed 7 --out "$D/tiny.safetensors" >/dev/null
{
    for i in 0 1 2 3 4 5; do
        ff -f lavfi -i "testsrc2=s=192x144:r=10:d=1.5" -vf "hue=h=$((i * 50))" -c:v libx264 -pix_fmt yuv420p "$D/media/v$i.mp4"
        echo "{\"id\": \"v$i\", \"video\": \"media/v$i.mp4\", \"caption\": \"clip $i\", \"fields\": \"[vision],caption\"}"
        [ "$i" = 2 ] && echo '{"id": "t0", "text": "a text-only sample"}'
        [ "$i" = 3 ] && echo "{\"id\": \"bad\", \"video\": \"media/missing.mp4\"}"
        [ "$i" = 4 ] && echo "{\"id\": \"v1\", \"video\": \"media/v4.mp4\"}"
    done
    ff -f lavfi -i testsrc2=s=300x200 -frames:v 1 "$D/media/still.png"
    echo '{"id": "img", "image": "media/still.png", "caption": "a still"}'
    echo "{\"id\": \"codes\", \"vision\": [$(seq -s, 0 255)], \"caption\": \"pre-tokenized\"}"
} >"$D/m.jsonl"
ingest() { "$LWM" ingest --manifest "$D/m.jsonl" --max-frames 3 --vqgan "$D/tiny.safetensors" -q --json "$@"; }

ingest --out "$D/ref" >"$TMP/ref.json" 2>"$TMP/ref.err"
rc=$?
check reference_run_exit_1 "exit $rc (want 1: two bad lines): $(head -c 300 "$TMP/ref.err")" test $rc -eq 1
check reference_counts "$(cat "$TMP/ref.json")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["samples"], s["ok"], s["failed"], s["skipped"], s["frames"]) == (11, 9, 2, 0, 19), s
' "$TMP/ref.json"
"$LWM" ls "$D/ref" --json >"$TMP/ref_ls.json"
check dense_index_follows_manifest "$(head -c 300 "$TMP/ref_ls.json")" $PY -c '
import json, sys
ids = [s["id"] for s in json.load(open(sys.argv[1]))["samples"]]
assert ids == ["v0", "v1", "v2", "t0", "v3", "v4", "v5", "img", "codes"], ids
' "$TMP/ref_ls.json"
"$LWM" inspect "$D/ref" --json >"$TMP/ref_inspect.json" 2>/dev/null
check failures_recorded "$(head -c 400 "$TMP/ref_inspect.json")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["failed"] == 2 and s["samples"] == 9 and s["frames"] == 20, s
' "$TMP/ref_inspect.json"
"$LWM" show "$D/ref" v2 --json >"$TMP/ref_v2.json"
check stores_codes_and_text "$(head -c 300 "$TMP/ref_v2.json")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["frames"] == 3 and len(s["codes"]) == 3 and all(len(f) == 256 for f in s["codes"]), s["frames"]
assert s["texts"] == [{"name": "caption", "text": "clip 2"}], s["texts"]
assert s["fields"] in ("[vision],caption", "\"[vision],caption\""), s["fields"]
assert s["timestamps"] == [0, 0.7, 1.4], s["timestamps"]
' "$TMP/ref_v2.json"

# Kill the same run at random moments, then finish it.
kills=0
for attempt in 1 2 3 4 5 6; do
    # Started directly (not through the shell function) so that $! is lwm itself.
    "$LWM" ingest --manifest "$D/m.jsonl" --max-frames 3 --vqgan "$D/tiny.safetensors" -q \
        --out "$D/killed" --commit-every 1 >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null
done
ingest --out "$D/killed" >"$TMP/final.json" 2>"$TMP/final.err"
rc=$?
check resumed_run_finishes "exit $rc (want 0 or 1): $(head -c 300 "$TMP/final.err")" test $rc -le 1
echo "# killed $kills times"
"$LWM" verify "$D/killed" >"$TMP/verify.out" 2>&1
rc=$?
check killed_dataset_verifies "$(head -c 300 "$TMP/verify.out")" test $rc -eq 0
"$LWM" ls "$D/killed" --json >"$TMP/killed_ls.json"
check every_sample_exactly_once "ids differ from the uninterrupted run: $(head -c 300 "$TMP/killed_ls.json")" \
    cmp -s "$TMP/ref_ls.json" "$TMP/killed_ls.json"
"$LWM" inspect "$D/killed" --json >"$TMP/killed_inspect.json" 2>/dev/null
check killed_failures_once "$(head -c 300 "$TMP/killed_inspect.json")" $PY -c '
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for k in ("samples", "failed", "frames", "vision_tokens", "by_modality"):
    assert a[k] == b[k], (k, a[k], b[k])
' "$TMP/ref_inspect.json" "$TMP/killed_inspect.json"
same_codes=1
for id in v0 v3 v5 img codes; do
    "$LWM" show "$D/ref" "$id" --json | $PY -c 'import json,sys; s=json.load(sys.stdin); print(s["codes"], s["timestamps"], s["texts"])' >"$TMP/a.txt"
    "$LWM" show "$D/killed" "$id" --json | $PY -c 'import json,sys; s=json.load(sys.stdin); print(s["codes"], s["timestamps"], s["texts"])' >"$TMP/b.txt"
    cmp -s "$TMP/a.txt" "$TMP/b.txt" || same_codes=0
done
check killed_records_identical "a record differs from the uninterrupted run's" test $same_codes -eq 1

# A complete dataset: a re-run decodes nothing and stores nothing.
ingest --out "$D/ref" >"$TMP/again.json" 2>"$TMP/again.err"
check rerun_skips_everything "$(cat "$TMP/again.json")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["ok"], s["failed"], s["skipped"], s["frames"]) == (0, 0, 11, 0), s
' "$TMP/again.json"
check rerun_keeps_dataset "dataset changed" cmp -s "$TMP/ref_ls.json" <("$LWM" ls "$D/ref" --json)

# Import path: LWM-format lines with inline codes need no --vqgan.
printf '{"id": "x", "vision": [%s], "caption": "a"}\n{"id": "y", "text": "b"}\n' "$(seq -s, 0 511)" >"$D/lwm.jsonl"
expect_ok import_without_vqgan "$LWM" ingest --manifest "$D/lwm.jsonl" --out "$D/imported" -q
check import_counts "$("$LWM" ls "$D/imported" --json 2>&1 | head -c 200)" $PY -c '
import json, subprocess, sys
s = json.loads(subprocess.run([sys.argv[1], "ls", sys.argv[2], "--json"], capture_output=True, text=True).stdout)
assert [(x["id"], x["frames"]) for x in s["samples"]] == [("x", 2), ("y", 0)], s
' "$LWM" "$D/imported"
expect_fail media_without_vqgan 'm\.jsonl line 1 is a video or image sample.*give --vqgan' \
    "$LWM" ingest --manifest "$D/m.jsonl" --out "$D/novq" -q
expect_fail vqgan_needs_out '--vqgan and --tokenizer need --out' \
    "$LWM" ingest --manifest "$D/m.jsonl" --vqgan "$D/tiny.safetensors"
expect_fail bad_weights 'nope\.safetensors' \
    "$LWM" ingest --manifest "$D/m.jsonl" --out "$D/bw" --vqgan "$D/nope.safetensors"

# Long videos: a worker hands its frames to the encoder a chunk at a time, so the codes are
# the same whatever the chunk, and pixels in memory do not grow with the video's length.
ff -f lavfi -i "testsrc2=s=160x120:r=25:d=2" -c:v libx264 -pix_fmt yuv420p "$D/media/short.mp4"
ff -f lavfi -i "testsrc2=s=160x120:r=25:d=8" -c:v libx264 -pix_fmt yuv420p "$D/media/long.mp4"
printf '{"id": "short", "video": "media/short.mp4"}\n' >"$D/short.jsonl"
printf '{"id": "long", "video": "media/long.mp4"}\n{"id": "short", "video": "media/short.mp4"}\n' >"$D/long.jsonl"
codes_of() { "$LWM" show "$1" "$2" --json | $PY -c 'import json,sys; s=json.load(sys.stdin); print(s["frames"], s["codes"], s["timestamps"])'; }
expect_ok chunk_3_run "$LWM" ingest --manifest "$D/long.jsonl" --out "$D/c3" --vqgan "$D/tiny.safetensors" --encode-chunk 3 -q
expect_ok chunk_1000_run "$LWM" ingest --manifest "$D/long.jsonl" --out "$D/c1000" --vqgan "$D/tiny.safetensors" --encode-chunk 1000 -q
same=1
for id in long short; do
    [ "$(codes_of "$D/c3" $id)" = "$(codes_of "$D/c1000" $id)" ] || same=0
done
check chunked_codes_identical "a sample's codes differ between --encode-chunk 3 and 1000" test $same -eq 1
check long_video_all_frames "$(codes_of "$D/c3" long | cut -c1-20)" test "$(codes_of "$D/c3" long | cut -d' ' -f1)" = 200
# Under ASan, freed blocks wait in a quarantine and would count as growth: turn it off here.
peak_rss_kb() { ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" $PY -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"; }
rss_short=$(peak_rss_kb "$LWM" ingest --manifest "$D/short.jsonl" --out "$D/rs" --vqgan "$D/tiny.safetensors" --workers 1 --encode-chunk 8 -q)
rss_long=$(peak_rss_kb "$LWM" ingest --manifest "$D/long.jsonl" --out "$D/rl" --vqgan "$D/tiny.safetensors" --workers 1 --encode-chunk 8 -q)
# 200 frames held as pixels would add 200 x 196 KB = 38 MB; chunks of 8 add codes only (0.1 MB).
check long_video_memory_bounded "peak RSS ${rss_short} KB for 50 frames, ${rss_long} KB for 200" \
    test $((rss_long - rss_short)) -lt 15000
