# lwm eval needle (issue 17): a model trained here on the needle samples (the tiny model learns
# the answers of the samples it is evaluated on within 100 steps: this checks the evaluation's
# forward, greedy decoding and scoring, not the model's retrieval) scores 1.0; a random-init
# model scores near 0; 2 ring ranks give the same answers as 1; results.json, heatmap.png and
# the table are written; weights of another shape, a file of another tokenizer and a context
# longer than the config allows fail with clear errors.
SUITE=eval/needle
. tests/lib.sh
. tests/eval/fixture.sh
D=$TMP/eval
mkdir -p "$D"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# Open MPI's own leaks, as in train/cli; tests/eval/test_eval_api.c checks eval/ without MPI.
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
eval_tokenizer "$D" tok 200
eval_tokenizer "$D" tok2 150
config() { # dim seq_len total_tokens -> stdout
    cat <<JSON
{"model": {"dim": $1, "layers": 2, "heads": 2, "ffn_dim": 128, "text_vocab": 200, "vision_vocab": 16},
 "ring": 0, "optimizer": {"lr": 3e-3, "min_lr": 1e-3, "warmup_steps": 5, "weight_decay": 0},
 "train": {"seed": 1, "checkpoint_every": 0, "rows_per_load": 1, "attn_tile": 64, "chunk": 64},
 "stages": [{"seq_len": $2, "rope_theta": 10000, "tokens_per_batch": $(($2 * 3)), "total_tokens": $3}],
 "data": {"kind": "loader", "tokenizer": "$D/tok.model"}}
JSON
}
config 64 128 $((384 * 100)) >"$D/c.json"
config 32 128 384 >"$D/c32.json"
make_needles() { "$LWM" needle make --tokenizer "$1" --lengths "$2" --depths 0,0.5,1 --per-cell "$3" \
    --seed 1 --out "$4" --quiet; }
make_needles "$D/tok.model" 128 1 "$D/train.jsonl"
make_needles "$D/tok.model" 64,128 2 "$D/grid.jsonl"
make_needles "$D/tok2.model" 128 1 "$D/tok2.jsonl"
make_needles "$D/tok.model" 256 1 "$D/long.jsonl"

expect_ok train "$LWM" train --config "$D/c.json" --data "$D/train.jsonl" --out "$D/run" \
    --export-init "$D/init.safetensors" --quiet
expect_ok trained "$LWM" eval needle --config "$D/c.json" --weights "$D/run/weights.safetensors" \
    --data "$D/train.jsonl" --out "$D/trained" --quiet
expect_ok random "$LWM" eval needle --config "$D/c.json" --weights "$D/init.safetensors" \
    --data "$D/grid.jsonl" --out "$D/random" --quiet
expect_ok random_2_ranks mpirun --oversubscribe -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS -np 2 \
    "$LWM" eval needle --config "$D/c.json" --weights "$D/init.safetensors" --data "$D/grid.jsonl" \
    --out "$D/random2" --quiet

$PY - "$D" "$TMP/trained.out" <<'PYEOF'
import json, sys
from PIL import Image
d, table = sys.argv[1:]
def report(name, ok, why):
    print(f"ok eval/needle/{name}" if ok else f"not ok eval/needle/{name}: {why}")
def load(name):
    try:
        return json.load(open(f"{d}/{name}/results.json"))
    except OSError as e:
        return {"cells": [], "samples": [], "accuracy": None, "error": str(e)}
t, r, r2 = load("trained"), load("random"), load("random2")
answers = [json.loads(l)["answer"] for l in open(f"{d}/train.jsonl")]
report("trained_retrieves", t["accuracy"] == 1.0 and [s["output"] for s in t["samples"]] == answers
       and all(c["accuracy"] == 1.0 and c["total"] == 1 for c in t["cells"]) and len(t["cells"]) == 3,
       f"accuracy {t['accuracy']}, outputs {[s['output'] for s in t['samples']]}, answers {answers}")
report("random_near_zero", r["accuracy"] is not None and r["accuracy"] <= 1 / 12 and r["total"] == 12
       and len(r["cells"]) == 6 and all(c["total"] == 2 for c in r["cells"]), f"accuracy {r['accuracy']}")
report("two_ranks_same_answers", r2.get("ranks") == 2 and r["samples"] and
       [s["output"] for s in r["samples"]] == [s["output"] for s in r2["samples"]],
       f"1 rank {[s['output'] for s in r['samples']][:2]}, 2 ranks {[s['output'] for s in r2['samples']][:2]}")
try:
    im = Image.open(f"{d}/random/heatmap.png")
    report("heatmap_png", im.format == "PNG" and im.size == (40 + 2 * 64, 3 * 30 + 22), f"{im.format} {im.size}")
except OSError as e:
    report("heatmap_png", False, str(e))
out = open(table).read()
report("table_printed", "depth" in out and "1.00" in out and "128" in out, out[:200])
PYEOF

expect_fail weights_other_shape 'tensor transformer\.wte\.embedding has dimension 1 = 64, model needs 32' \
    "$LWM" eval needle --config "$D/c32.json" --weights "$D/run/weights.safetensors" \
    --data "$D/train.jsonl" --out "$D/x"
expect_fail other_tokenizer 'tok2\.jsonl line 1 was made with another tokenizer' \
    "$LWM" eval needle --config "$D/c.json" --weights "$D/init.safetensors" --data "$D/tok2.jsonl" --out "$D/x"
expect_fail longer_than_config 'line 1: length 256 is longer than the config allows \(128' \
    "$LWM" eval needle --config "$D/c.json" --weights "$D/init.safetensors" --data "$D/long.jsonl" --out "$D/x"
expect_ok beyond_with_max_len "$LWM" eval needle --config "$D/c.json" --weights "$D/init.safetensors" \
    --data "$D/long.jsonl" --max-len 256 --out "$D/long" --quiet
