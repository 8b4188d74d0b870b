#!/usr/bin/env bash
# Demo part: train the tiny preset (configs/tiny.json: d=128, 2 layers, LWM's 32000 + 8448
# vocabularies) on the demo corpus on 2 ring ranks through two curriculum stages (1K then
# 4K tokens, RoPE theta 1M then 10M), print the losses and write the loss-curve PNG.
# The stage budgets are cut down so the part runs in a few minutes on 2 cores.
# Uses the corpus an earlier part built ($DEMO_DIR/corpus), else the loader part's JSONL.
set -euo pipefail
LWM=${LWM:-build/lwm}
DEMO_DIR=${DEMO_DIR:-build/demo}
OUT="$DEMO_DIR/train"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 # 2 ranks x 1 thread on 2 cores

DATA="$DEMO_DIR/corpus"
if [ ! -f "$DATA/manifest.json" ]; then
    DATA="$DEMO_DIR/loader/store"
    [ -d "$DATA" ] || DATA="$DEMO_DIR/loader/demo.jsonl"
fi
if [ ! -e "$DATA" ]; then
    echo "no demo corpus found (the ingest/loader demo parts did not produce one): skipping training"
    exit 0
fi
TOK="${LWM_SHARED_DATA:-../shared/data}/tokenizer/llama2-tokenizer.model"
[ -f "$TOK" ] || TOK="$DEMO_DIR/loader/tiny.model"
echo "corpus: $DATA, tokenizer: $TOK"

/usr/bin/python3 - configs/tiny.json "$OUT/tiny-demo.json" "$TOK" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["stages"] = [
    {"seq_len": 1024, "rope_theta": 1000000, "tokens_per_batch": 4096, "total_tokens": 4096 * 12},
    {"seq_len": 4096, "rope_theta": 10000000, "tokens_per_batch": 8192, "total_tokens": 8192 * 4}]
c["optimizer"]["warmup_steps"] = 4
c["data"]["tokenizer"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
rm -rf "$OUT/run"
mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS \
    -np 2 "$LWM" train --config "$OUT/tiny-demo.json" --data "$DATA" --out "$OUT/run" --quiet --json \
    | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("step %3d  stage %d  seq %5d  loss %.4f  (text %.4f, vision %.4f)  %6.0f tokens/s  peak %4d MB"
          % (r["step"], r["stage"], r["seq_len"], r["loss"], r["text_loss"], r["vision_loss"],
             r["tokens_per_s"], r["peak_memory"] >> 20))'
"$LWM" train --plot "$OUT/run" --png "$OUT/loss.png"
echo "loss curve: $OUT/loss.png; weights: $OUT/run/weights.safetensors"
