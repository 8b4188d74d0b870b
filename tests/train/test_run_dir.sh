# Issue 16: a run directory is never replaced by accident. train --out RUN on a directory
# holding a run is refused (exit 2, on every rank, nothing touched) unless --resume or
# --overwrite; the newest train.keep_checkpoints checkpoints stay, RUN/latest names the
# newest and RUN/checkpoint.bin links to it. Steps go to RUN/log.jsonl; stdout gets them
# only with --json; stderr shows a progress line (step/total, stage, loss to 4 digits,
# tokens/s, ETA). --tokenizer and --fields reach the loader.
SUITE=train/run_dir
. tests/lib.sh
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # see test_train_cli.sh
MPIRUN="timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS"

cat >"$TMP/run.json" <<'JSON'
{"model": {"dim": 32, "layers": 2, "heads": 4, "ffn_dim": 64, "text_vocab": 64, "vision_vocab": 48},
 "optimizer": {"lr": 3e-3, "warmup_steps": 1},
 "train": {"attn_tile": 8, "chunk": 16, "checkpoint_every": 1, "keep_checkpoints": 2},
 "stages": [{"seq_len": 32, "rope_theta": 10000, "tokens_per_batch": 64, "total_tokens": 640}],
 "data": {"kind": "mixed"}}
JSON
train() { "$LWM" train --config "$TMP/run.json" --data "$TMP" "$@"; }
lines() { wc -l <"$1" 2>/dev/null | tr -d ' '; }

expect_ok first_run train --out "$TMP/r" --steps 3
check log_has_3_steps "log.jsonl has $(lines "$TMP/r/log.jsonl") lines" test "$(lines "$TMP/r/log.jsonl")" = 3
check stdout_has_no_json_without_--json "stdout: $(head -c 100 "$TMP/first_run.out")" test ! -s "$TMP/first_run.out"
kept=$(cd "$TMP/r/checkpoints" 2>/dev/null && echo step-*.bin)
check keeps_newest_2_checkpoints "kept: $kept" test "$kept" = "step-00000002.bin step-00000003.bin"
check latest_names_newest "latest -> $(readlink "$TMP/r/latest")" test "$(readlink "$TMP/r/latest")" = checkpoints/step-00000003.bin
check checkpoint_bin_is_latest "checkpoint.bin -> $(readlink "$TMP/r/checkpoint.bin")" test "$(readlink "$TMP/r/checkpoint.bin")" = latest
before=$(cat "$TMP/r/log.jsonl" "$TMP/r/checkpoint.bin" "$TMP/r/weights.safetensors" | md5sum)

# Progress on stderr (not a terminal: plain lines), with the step's numbers.
check progress_line_names_step_stage_loss_rate_eta "stderr: $(tail -c 300 "$TMP/first_run.err")" \
    grep -Eq 'train: 3/3 steps.*ETA.*stage 0, seq 32, loss [0-9]+\.[0-9]{4}, [0-9]+ tokens/s' "$TMP/first_run.err"

# On a terminal (script(1) gives it one): one line rewritten in place, no JSON.
script -qec "'$LWM' train --config '$TMP/run.json' --data '$TMP' --out '$TMP/tty' --steps 2" /dev/null \
    >"$TMP/tty.out" 2>&1 </dev/null
check terminal_line_rewritten_in_place "output: $(tr -d '\033' <"$TMP/tty.out" | head -c 300)" \
    grep -Eq $'\r\033\\[Ktrain: 2/2 steps.*loss [0-9]+\\.[0-9]{4}, [0-9]+ tokens/s' "$TMP/tty.out"
check terminal_gets_no_json "output: $(head -c 300 "$TMP/tty.out")" bash -c "! grep -q '{\"step\"' '$TMP/tty.out'"

"$LWM" train --config "$TMP/run.json" --data "$TMP" --out "$TMP/r" --steps 3 --quiet >/dev/null 2>"$TMP/again.err"
rc=$?
check rerun_refused_with_exit_2 "exit $rc" test $rc -eq 2
check rerun_names_the_way_out "stderr: $(head -c 300 "$TMP/again.err")" grep -q -- "--resume.*--overwrite" "$TMP/again.err"
$MPIRUN -np 2 "$LWM" train --config "$TMP/run.json" --data "$TMP" --out "$TMP/r" --quiet >/dev/null 2>"$TMP/again2.err"
rc=$?
check rerun_on_2_ranks_refused_with_exit_2 "exit $rc: $(head -c 300 "$TMP/again2.err")" test $rc -eq 2
check refused_run_touched_nothing "the run's files changed" \
    test "$(cat "$TMP/r/log.jsonl" "$TMP/r/checkpoint.bin" "$TMP/r/weights.safetensors" | md5sum)" = "$before"

expect_ok resume_continues train --out "$TMP/r" --steps 5 --resume --quiet --json
check resumed_log_has_5_steps "log.jsonl has $(lines "$TMP/r/log.jsonl") lines" test "$(lines "$TMP/r/log.jsonl")" = 5
check --json_prints_steps "stdout: $(head -c 200 "$TMP/resume_continues.out")" \
    $PY -c 'import json,sys; s=[json.loads(l)["step"] for l in open(sys.argv[1])]; sys.exit(s != [4, 5])' "$TMP/resume_continues.out"
kept=$(cd "$TMP/r/checkpoints" 2>/dev/null && echo step-*.bin)
check resume_keeps_newest_2 "kept: $kept" test "$kept" = "step-00000004.bin step-00000005.bin"

expect_ok overwrite_replaces train --out "$TMP/r" --steps 1 --overwrite --quiet
check overwritten_log_starts_again "log.jsonl has $(lines "$TMP/r/log.jsonl") lines" test "$(lines "$TMP/r/log.jsonl")" = 1
kept=$(cd "$TMP/r/checkpoints" 2>/dev/null && echo step-*.bin)
check overwrite_removed_old_checkpoints "kept: $kept" test "$kept" = "step-00000001.bin"

# A run that failed before its first step leaves nothing to protect.
mkdir -p "$TMP/empty" && : >"$TMP/empty/log.jsonl"
expect_ok empty_log_is_no_run train --out "$TMP/empty" --steps 1 --quiet

# --tokenizer and --fields set data.tokenizer / data.fields_spec.
$PY - "$TMP" <<'PY'
import os, sys
sys.path.insert(0, "tests/loader")
import lwm_reference as r
os.makedirs(sys.argv[1] + "/tok")
r.train_tiny_spm(sys.argv[1] + "/tok", 90)
with open(sys.argv[1] + "/captions.jsonl", "w") as f:
    for i in range(16):
        f.write('{"caption": "a dog runs over the fox number %d"}\n' % i)
PY
sed 's/"kind": "mixed"/"kind": "loader"/' "$TMP/run.json" >"$TMP/loader.json"
expect_fail --tokenizer_is_used "$TMP/nothing.model" \
    "$LWM" train --config "$TMP/loader.json" --data "$TMP/captions.jsonl" --out "$TMP/t1" --quiet \
    --tokenizer "$TMP/nothing.model" --fields caption
expect_ok --tokenizer_and_--fields_train "$LWM" train --config "$TMP/loader.json" --data "$TMP/captions.jsonl" \
    --out "$TMP/t2" --steps 1 --quiet --tokenizer "$TMP/tok/tiny.model" --fields caption
