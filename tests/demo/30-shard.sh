#!/usr/bin/env bash
# Demo, store part: what the demo corpus ($DEMO_DIR/corpus, built by the ingest
# part) holds (lwm inspect), a check of every shard and record (lwm verify),
# its samples (lwm ls), and one video sample decoded back to pictures with the
# demo's VQGAN weights (lwm render, a PNG contact sheet).
set -euo pipefail
: "${LWM:?}" "${DEMO_DIR:?}"
DATA=$DEMO_DIR/corpus
WEIGHTS=$DEMO_DIR/vqgan/weights.safetensors
OUT=$DEMO_DIR/shard
mkdir -p "$OUT"
if [ ! -f "$DATA/manifest.json" ]; then
    echo "shard: no corpus at $DATA (no earlier part built one); nothing to inspect"
    exit 0
fi
"$LWM" inspect "$DATA" --quiet
"$LWM" verify "$DATA" --quiet
echo "samples (index, id, modality, frames):"
"$LWM" ls "$DATA" >"$OUT/ls.txt"   # (a file, not a pipe: head would cut lwm off mid-write)
head -n 12 "$OUT/ls.txt"
# The video with the most frames.
id=$("$LWM" ls "$DATA" --json | /usr/bin/python3 -c '
import json, sys
videos = [s for s in json.load(sys.stdin)["samples"] if s["frames"] > 0]
print(max(videos, key=lambda s: s["frames"])["id"] if videos else "")')
if [ -z "$id" ]; then
    echo "shard: the corpus has no sample with frames to render"
elif [ ! -f "$WEIGHTS" ] || ! "$LWM" help | grep -q '^  render'; then
    echo "shard: no VQGAN weights at $WEIGHTS (or no lwm render); not rendering"
else
    "$LWM" show "$DATA" "$id" >"$OUT/$id.txt"
    head -n 9 "$OUT/$id.txt"
    "$LWM" render "$DATA" "$id" --vqgan "$WEIGHTS" --max-frames 9 --out "$OUT/$id.png" --quiet
    echo "shard: $id rendered to $OUT/$id.png (a contact sheet of up to 9 decoded frames)"
fi
