#!/usr/bin/env bash
# Demo part: a small needle-in-a-haystack evaluation of the demo run (issue 17): samples of
# 1024 and 2048 tokens with the needle at depths 0, 0.5 and 1 (lwm needle make), the trained
# weights run over 2 ring ranks (lwm eval needle), the accuracy table and DIR/heatmap.png. The
# demo run is far too short to retrieve anything: expect zeros; bench/eval shows a curriculum
# that does.
set -euo pipefail
LWM=${LWM:-build/lwm}
DEMO_DIR=${DEMO_DIR:-build/demo}
RUN="$DEMO_DIR/train"
OUT="$DEMO_DIR/eval"
if [ ! -f "$RUN/run/weights.safetensors" ] || [ ! -f "$RUN/tiny-demo.json" ]; then
    echo "no demo run found (the training part did not run): skipping the evaluation"
    exit 0
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 # 2 ranks x 1 thread on 2 cores
TOK=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["data"]["tokenizer"])' \
    "$RUN/tiny-demo.json")
mkdir -p "$OUT"
"$LWM" needle make --tokenizer "$TOK" --lengths 1024,2048 --depths 0,0.5,1 --seed 1 \
    --out "$OUT/needles.jsonl" --quiet
mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS \
    -np 2 "$LWM" eval needle --config "$RUN/tiny-demo.json" --weights "$RUN/run/weights.safetensors" \
    --data "$OUT/needles.jsonl" --out "$OUT" --quiet
