#!/usr/bin/env bash
# Demo, end-to-end ingest: the sample videos and images of part 10 with
# captions, a text-only line and an LWM pre-tokenized line -> frames -> codes
# (the VQGAN weights of part 20) -> the store at $DEMO_DIR/corpus, which the
# shard part inspects and renders.
set -euo pipefail
: "${LWM:?}" "${DEMO_DIR:?}"
M=$DEMO_DIR/ingest/media
WEIGHTS=$DEMO_DIR/vqgan/weights.safetensors
cat >"$DEMO_DIR/ingest/corpus.jsonl" <<JSON
{"id": "testsrc", "video": "media/testsrc.mp4", "caption": "a moving test pattern", "fields": "[vision],caption"}
{"id": "mandelbrot", "video": "media/mandelbrot.mp4", "caption": "a zoom into the Mandelbrot set", "fields": "[caption],vision"}
{"id": "life", "video": "media/life.webm", "caption": "the game of life", "fields": "[caption],vision"}
{"id": "quad", "video": "media/quad_rotated.mp4", "caption": "four quadrants, upright", "fields": "[vision],caption"}
{"id": "still", "image": "media/still.jpg", "caption": "a still test pattern", "fields": "[vision],caption"}
{"id": "bars", "image": "media/bars.png", "question": "what is this?", "answer": "colour bars", "fields": "[vision],[question],answer"}
{"id": "note", "text": "a text-only sample", "fields": "text"}
{"id": "pretokenized", "vision": [$(seq -s, 100 355)], "caption": "LWM's own format, imported as is", "fields": "[vision],caption"}
JSON
rm -rf "$DEMO_DIR/corpus"
"$LWM" ingest --manifest "$DEMO_DIR/ingest/corpus.jsonl" --out "$DEMO_DIR/corpus" \
    --vqgan "$WEIGHTS" --fps 1 --max-frames 4 || [ $? -eq 1 ] # a bad line is reported, not fatal
