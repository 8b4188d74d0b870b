#!/usr/bin/env bash
# Demo part: the loader packs the demo corpus at two curriculum stages
# (configs/curriculum-tiny.json: 1K then 4K tokens) and prints a few rows
# readably: text detokenized, vision runs as frame counts, documents split by "|".
# Uses the corpus an earlier part built ($DEMO_DIR/corpus); without one, it
# writes a small LWM-format JSONL (captioned "videos" of random codes) and
# imports it with `lwm ingest` when that command exists, else packs the JSONL.
set -euo pipefail
LWM=${LWM:-build/lwm}
DEMO_DIR=${DEMO_DIR:-build/demo}
OUT="$DEMO_DIR/loader"
mkdir -p "$OUT"

TOK="${LWM_SHARED_DATA:-../shared/data}/tokenizer/llama2-tokenizer.model"
if [ ! -f "$TOK" ]; then
    /usr/bin/python3 -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; r.train_tiny_spm('$OUT')"
    TOK="$OUT/tiny.model"
fi

DATA="$DEMO_DIR/corpus"
if [ ! -f "$DATA/manifest.json" ]; then
    /usr/bin/python3 - "$OUT/demo.jsonl" <<'PY'
import json, random, sys
r = random.Random(0)
things = ["a dog runs on the beach", "a cat jumps over a fence", "waves roll onto the shore",
          "a pancake flips in a pan", "a rocket lifts off at night"]
with open(sys.argv[1], "w") as f:
    for i in range(24):
        frames = r.choice([1, 2, 4, 8])
        f.write(json.dumps({"id": f"demo{i:02d}",
                            "fields": ["[caption],vision", "[vision],caption"],
                            "caption": things[i % len(things)],
                            "vision": [r.randrange(8192) for _ in range(256 * frames)]}) + "\n")
        if i % 4 == 3:
            f.write(json.dumps({"id": f"text{i:02d}", "fields": "text",
                                "text": "The story of the world model, told in plain words. " * 6}) + "\n")
PY
    DATA="$OUT/demo.jsonl"
    if "$LWM" help | grep -q '^  ingest'; then
        "$LWM" ingest --manifest "$OUT/demo.jsonl" --out "$OUT/store" --tokenizer "$TOK" >/dev/null 2>&1 \
            && DATA="$OUT/store"
    fi
fi
echo "dataset: $DATA"
for stage in 0 1; do
    echo "-- curriculum stage $stage of configs/curriculum-tiny.json, best-fit packing"
    "$LWM" pack "$DATA" --tokenizer "$TOK" --curriculum configs/curriculum-tiny.json --stage $stage \
        --count 2 --seed 1 2>/dev/null
done
echo "-- LWM's own layout (no_pad stream, file order), seq_len 1024"
"$LWM" pack "$DATA" --tokenizer "$TOK" --seq-len 1024 --count 2 --layout lwm --no-shuffle 2>/dev/null
