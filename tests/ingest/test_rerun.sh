# Issue 16: ingest reruns do what a user means. Video or image samples and no VQGAN weights
# is a usage error before anything is written; a rerun takes the weights and tokenizer the
# dataset records, refuses other sampling settings naming both values, and exits non-zero
# while failed samples remain (its own or an earlier run's), naming --retry-failed; Ctrl-C
# stores what was handled and says how to continue. Manifest keys are checked (a typo of a
# reserved key, a non-string text value, a text value naming a media file) and --check
# validates a manifest without decoding.
SUITE=ingest/rerun
. tests/lib.sh
export OMP_NUM_THREADS=1
D=$TMP/rerun
mkdir -p "$D"
ff() { ffmpeg -nostdin -v error -y "$@"; }
"$LWM" vqgan init --preset tiny --seed 7 --out "$D/tiny.safetensors" >/dev/null
printf 'a dog runs\n%.0s' $(seq 1 50) >"$D/corpus.txt"
spm_train --input="$D/corpus.txt" --model_prefix="$D/tok" --vocab_size=20 --hard_vocab_limit=false \
    --minloglevel=2 >/dev/null 2>&1
ff -f lavfi -i "testsrc2=s=64x48:r=10:d=0.4" -c:v libx264 -pix_fmt yuv420p "$D/v0.mp4"
printf '{"id": "v0", "video": "v0.mp4", "caption": "one"}\n{"id": "v1", "video": "v1.mp4", "caption": "two"}\n{"id": "t", "text": "text"}\n' >"$D/m.jsonl"
run() { "$@" >"$TMP/out" 2>"$TMP/err"; echo $?; }

# No --vqgan: refused up front (exit 2), nothing written (was: videos recorded as failed,
# text stored, and the rerun with --vqgan skipped them all and exited 0).
rc=$(run "$LWM" ingest --manifest "$D/m.jsonl" --out "$D/ds" -q)
check no_vqgan_usage_error "exit $rc: $(head -c 300 "$TMP/err")" \
    bash -c "[ $rc -eq 2 ] && grep -q 'line 1 is a video or image sample.*give --vqgan' '$TMP/err'"
check no_vqgan_writes_nothing "the refused run created $D/ds" test ! -e "$D/ds"
# The same under mpirun: the rank that finds the line stops the job with status 2 too.
rc=$(run mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$LWM" ingest \
    --manifest "$D/m.jsonl" --out "$D/mpi" -q)
check no_vqgan_usage_error_under_mpirun "exit $rc: $(grep -m1 'lwm ingest' "$TMP/err")" \
    bash -c "[ $rc -eq 2 ] && grep -Eq 'line [12] is a video or image sample.*give --vqgan' '$TMP/err'"

# v1.mp4 is missing: the run stores the rest, exits 1 and names --retry-failed.
ingest() { "$LWM" ingest --manifest "$D/m.jsonl" --out "$D/ds" -q "$@"; }
rc=$(run ingest --vqgan "$D/tiny.safetensors" --tokenizer "$D/tok.model")
check failed_run_exit_1 "exit $rc: $(head -c 300 "$TMP/err")" \
    bash -c "[ $rc -eq 1 ] && grep -q '1 samples failed: .*--retry-failed' '$TMP/err'"
# The rerun leaves out --vqgan and --tokenizer: the recorded ones are used and kept. The
# earlier failure is still there: exit 1 again (was: 0).
rc=$(run ingest)
check rerun_reports_earlier_failures "exit $rc: $(head -c 300 "$TMP/err")" \
    bash -c "[ $rc -eq 1 ] && grep -q '1 samples failed (1 in earlier runs).*--retry-failed' '$TMP/err'"
"$LWM" inspect "$D/ds" --json >"$TMP/inspect.json" 2>/dev/null
check rerun_keeps_identity "$(head -c 400 "$TMP/inspect.json")" $PY - "$TMP/inspect.json" "$D" <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
d = os.path.realpath(sys.argv[2])
assert s["settings"]["tokenizer"] == d + "/tok.model", s["settings"]
assert s["settings"]["vqgan"] == d + "/tiny.safetensors", s["settings"]
PY
# Other sampling settings: refused with both values (exit 2), the dataset untouched.
"$LWM" ls "$D/ds" --json >"$TMP/before.json"
rc=$(run ingest --fps 2)
check other_fps_refused "exit $rc: $(head -c 300 "$TMP/err")" \
    bash -c "[ $rc -eq 2 ] && grep -q 'ingested with --fps 0, this run asks for --fps 2' '$TMP/err'"
rc=$(run ingest --max-frames 3)
check other_max_frames_refused "exit $rc: $(head -c 300 "$TMP/err")" \
    bash -c "[ $rc -eq 2 ] && grep -q 'ingested with --max-frames 0, this run asks for --max-frames 3' '$TMP/err'"
"$LWM" vqgan init --preset tiny --seed 8 --out "$D/other.safetensors" >/dev/null
rc=$(run ingest --vqgan "$D/other.safetensors")
check other_weights_refused "exit $rc: $(head -c 300 "$TMP/err")" \
    bash -c "[ $rc -eq 2 ] && grep -q 'tiny.safetensors (xxh3 .*this run gives .*other.safetensors' '$TMP/err'"
check refusals_leave_dataset "the dataset changed" cmp -s "$TMP/before.json" <("$LWM" ls "$D/ds" --json)
# Recorded weights that are gone: said so, with the flag that gives them (exit 2).
mv "$D/tiny.safetensors" "$D/tiny.away"
rc=$(run ingest)
check recorded_weights_gone "exit $rc: $(head -c 300 "$TMP/err")" \
    bash -c "[ $rc -eq 2 ] && grep -q 'VQGAN weights it records, .*tiny.safetensors .*are gone: give them with --vqgan' '$TMP/err'"
mv "$D/tiny.away" "$D/tiny.safetensors"
# The file appears: --retry-failed stores it, and nothing is left to retry.
cp "$D/v0.mp4" "$D/v1.mp4"
rc=$(run ingest --retry-failed)
check retry_clears_failures "exit $rc: $(head -c 300 "$TMP/err")" test "$rc" -eq 0
check retried_sample_stored "ids: $("$LWM" ls "$D/ds" 2>&1 | head -c 200)" \
    bash -c "'$LWM' ls '$D/ds' --json | grep -q '\"v1\"'"

# Ctrl-C: what was handled is stored, the message says how to continue, and the rerun
# finishes with every sample once.
for i in 0 1 2 3 4 5; do
    ff -f lavfi -i "testsrc2=s=96x64:r=10:d=1" -vf "hue=h=$((i * 40))" -c:v libx264 -pix_fmt yuv420p "$D/long$i.mp4"
    echo "{\"id\": \"l$i\", \"video\": \"long$i.mp4\"}"
done >"$D/long.jsonl"
"$LWM" ingest --manifest "$D/long.jsonl" --out "$D/int" --vqgan "$D/tiny.safetensors" --workers 1 \
    --max-frames 4 --commit-every 1 -q >"$TMP/int.out" 2>"$TMP/int.err" &
pid=$!
# Interrupted once the first sample is stored, while the others are still to come.
for _ in $(seq 1 600); do [ "$("$LWM" ls "$D/int" 2>/dev/null | wc -l)" -ge 1 ] && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
rc=$?
check interrupt_exit_130 "exit $rc: $(head -c 300 "$TMP/int.err")" test $rc -eq 130
check interrupt_message "$(head -c 300 "$TMP/int.err")" \
    grep -Eq '^interrupted: [0-9]+ samples stored; rerun the same command to continue$' "$TMP/int.err"
stored=$(sed -n 's/^interrupted: \([0-9]*\) samples.*/\1/p' "$TMP/int.err")
check interrupt_count_true "said $stored, ls lists $("$LWM" ls "$D/int" 2>/dev/null | wc -l)" \
    test "$stored" = "$("$LWM" ls "$D/int" 2>/dev/null | wc -l)"
rc=$(run "$LWM" ingest --manifest "$D/long.jsonl" --out "$D/int" --max-frames 4 -q --json)
check interrupted_run_finishes "exit $rc: $(head -c 300 "$TMP/err")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["failed"] == 0 and s["ok"] + s["skipped"] == 6 and s["stored"] == 6, s
' "$TMP/out"

# Manifest keys: typos of reserved keys, non-string text, a file name as text.
cat >"$D/keys.jsonl" <<'JSON'
{"id": "k1", "vidoe": "v0.mp4", "caption": "typo"}
{"id": "k2", "caption": 5}
{"id": "k3", "Id": "x", "text": "y"}
{"id": "k4", "caption": "v0.mp4"}
{"id": "k5", "imgae": "x.png"}
{"id": "k6", "text": "fine", "note": "also text"}
{"id": "k7", "fields": "vidoe", "vidoe": "a key the spec names is text", "n": 3}
{"id": "k8", "video": "nope.mp4"}
JSON
rc=$(run "$LWM" ingest --check "$D/keys.jsonl" --json)
check check_counts "exit $rc: $(cat "$TMP/out") $(head -c 300 "$TMP/err")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["samples"], s["ok"], s["failed"]) == (8, 2, 6) and int(sys.argv[2]) == 1, s
' "$TMP/out" "$rc"
for want in 'line 1 \(id "k1"\): key "vidoe" looks like a misspelt "video"' \
    'line 2 \(id "k2"\): text field "caption" is a number, not a string' \
    'line 3 \(id "k3"\): key "Id" looks like a misspelt "id"' \
    'line 4 \(id "k4"\): text field "caption" is the name of the media file "v0.mp4"' \
    'line 5 \(id "k5"\): key "imgae" looks like a misspelt "image"' \
    'sample "k8" \(manifest line 8\): .*nope.mp4: No such file'; do
    grep -Eq "$want" "$TMP/err" || { not_ok check_names_each "no /$want/ in: $(head -c 600 "$TMP/err")"; want=; break; }
done
[ -n "$want" ] && ok check_names_each
# The same lines through a real run: the typo fails its sample instead of becoming text.
rc=$(run "$LWM" ingest --manifest "$D/keys.jsonl" --out "$D/keys" --vqgan "$D/tiny.safetensors" -q)
check typo_not_stored "exit $rc; ls: $("$LWM" ls "$D/keys" 2>&1 | tr '\n' ' ')" \
    bash -c "[ $rc -eq 1 ] && [ \"\$('$LWM' ls '$D/keys' | cut -f2 | tr '\n' ' ')\" = 'k6 k7 ' ]"
# --check reads a large manifest in seconds (nothing decoded).
$PY -c '
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        f.write(json.dumps({"id": "s%d" % i, "video": "v0.mp4", "caption": "clip %d" % i}) + "\n")
' "$D/big.jsonl"
t0=$(date +%s.%N)
rc=$(run "$LWM" ingest --check "$D/big.jsonl")
t1=$(date +%s.%N)
check check_is_fast "exit $rc in $(echo "$t1 - $t0" | bc) s: $(head -c 200 "$TMP/err")" \
    bash -c "[ $rc -eq 0 ] && [ \$(echo '$t1 - $t0 < 5' | bc) = 1 ]"
