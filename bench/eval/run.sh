#!/usr/bin/env bash
# Needle retrieval before and after a context-length curriculum (issue 17). The tiny preset
# (configs/tiny.json: d=128, 2 layers, LWM's vocabularies; here lr 2e-3) trains on needle
# samples (lwm needle make) in two stages, rows of S1 tokens then of S2 = 4 x S1 (RoPE theta
# 1M then 10M, as the preset), from one data file holding both lengths (4 short samples for
# each long one: in stage 1 a long sample is split and only its last piece, the one with the
# question, is kept; in stage 2 four short samples share a row, each attending only to
# itself). After each stage, lwm eval needle scores held-out samples (another seed) at S1,
# 2 S1, 4 S1, 8 S1 and 16 S1 = 4 x S2 tokens, depths 0 to 1, with that stage's RoPE theta,
# and draws the heatmap.
# Expected if the implementation is right: stage 1 retrieves at S1 and fails beyond; stage 2
# extends retrieval to S2. Whatever it shows goes to bench/RESULTS.md.
#
# Environment: BENCH_EVAL_S1 (default 256), BENCH_EVAL_STEPS1 / BENCH_EVAL_STEPS2 (optimizer
# steps of each stage, default 600 / 300), BENCH_EVAL_PER_CELL (held-out samples per cell,
# default 4), BENCH_EVAL_RANKS (MPI ranks, default 2, 1 thread each), BENCH_EVAL_OUT (default
# build/bench-eval: runs, needles, results.json and heatmap.png of each stage are kept there).
# Tokenizer: LLaMA-2's from the shared data when present, else a small SentencePiece model
# trained here on the haystack.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LWM=${LWM:-$PWD/$BUILD/lwm}
S1=${BENCH_EVAL_S1:-256}
S2=$((4 * S1))
STEPS1=${BENCH_EVAL_STEPS1:-600}
STEPS2=${BENCH_EVAL_STEPS2:-300}
PER_CELL=${BENCH_EVAL_PER_CELL:-4}
RANKS=${BENCH_EVAL_RANKS:-2}
OUT=${BENCH_EVAL_OUT:-$PWD/build/bench-eval}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI=(mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -np "$RANKS")
rm -rf "$OUT"
mkdir -p "$OUT"
echo "# load: $(uptime | sed 's/.*load average/load average/')"

TOK=${LWM_SHARED_DATA:-../shared/data}/tokenizer/llama2-tokenizer.model
VOCAB=32000
if [ ! -f "$TOK" ]; then
    . tests/eval/fixture.sh
    eval_tokenizer "$OUT" tok 400
    TOK=$OUT/tok.model
    VOCAB=400
fi
TOK=$(readlink -f "$TOK")
echo "tokenizer $TOK; stages: $STEPS1 steps of 8 x $S1-token rows, then $STEPS2 steps of 2 x $S2-token rows"

# Training mix: depths 0, 0.1, ..., 1; 4 short samples for each long one (seed 1).
DEPTHS=0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1
ROWS=$((STEPS1 * 8 > STEPS2 * 8 ? STEPS1 * 8 : STEPS2 * 8))
"$LWM" needle make --tokenizer "$TOK" --lengths "$S1" --depths $DEPTHS --per-cell $(((ROWS + 10) / 11)) \
    --seed 1 --out "$OUT/train-short.jsonl" --quiet
"$LWM" needle make --tokenizer "$TOK" --lengths "$S2" --depths $DEPTHS --per-cell $(((ROWS / 4 + 10) / 11)) \
    --seed 1 --out "$OUT/train-long.jsonl" --quiet
cat "$OUT/train-short.jsonl" "$OUT/train-long.jsonl" >"$OUT/train.jsonl"
# Held-out evaluation samples (seed 2): S1 .. 4 x S2.
"$LWM" needle make --tokenizer "$TOK" --lengths "$S1,$((2 * S1)),$S2,$((2 * S2)),$((4 * S2))" \
    --depths 0,0.25,0.5,0.75,1 --per-cell "$PER_CELL" --seed 2 --out "$OUT/eval.jsonl" --quiet

/usr/bin/python3 - configs/tiny.json "$OUT/config.json" "$TOK" "$S1" "$STEPS1" "$STEPS2" "$VOCAB" <<'PY'
import json, sys
src, dst, tok, s1, steps1, steps2, vocab = sys.argv[1:]
s1, steps1, steps2 = int(s1), int(steps1), int(steps2)
c = json.load(open(src))
c["model"]["text_vocab"] = int(vocab)
c["stages"] = [
    {"seq_len": s1, "rope_theta": 1000000, "tokens_per_batch": 8 * s1, "total_tokens": 8 * s1 * steps1},
    {"seq_len": 4 * s1, "rope_theta": 10000000, "tokens_per_batch": 8 * s1, "total_tokens": 8 * s1 * steps2}]
c["train"]["checkpoint_every"] = 0
c["optimizer"].update({"lr": 2e-3, "min_lr": 2e-4, "warmup_steps": 20})
c["data"] = {"kind": "loader", "tokenizer": tok}
json.dump(c, open(dst, "w"), indent=1)
PY

evaluate() { # stage name
    "${MPI[@]}" "$LWM" eval needle --config "$OUT/config.json" --weights "$OUT/run/weights.safetensors" \
        --data "$OUT/eval.jsonl" --stage "$1" --max-len $((4 * S2)) --out "$OUT/$2" --quiet
}
summary() { # run log: the last step's losses of each stage
    /usr/bin/python3 -c '
import json, sys
last = {}
for l in open(sys.argv[1]):
    r = json.loads(l); last[r["stage"]] = r
for s, r in sorted(last.items()):
    print("stage %d: step %d, seq_len %d, text loss %.4f, %.0f tokens/s" % (s, r["step"], r["seq_len"], r["text_loss"], r["tokens_per_s"]))
' "$OUT/run/log.jsonl"
}

t0=$SECONDS
"${MPI[@]}" "$LWM" train --config "$OUT/config.json" --data "$OUT/train.jsonl" --out "$OUT/run" \
    --steps "$STEPS1" --quiet >/dev/null
echo "### after stage 1 ($((SECONDS - t0)) s of training so far)"
summary
evaluate 0 stage1
"${MPI[@]}" "$LWM" train --config "$OUT/config.json" --data "$OUT/train.jsonl" --out "$OUT/run" \
    --resume --quiet >/dev/null
echo "### after stage 2 ($((SECONDS - t0)) s of training in all)"
summary
evaluate 1 stage2
echo "heatmaps: $OUT/stage1/heatmap.png $OUT/stage2/heatmap.png"
