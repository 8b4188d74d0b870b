#!/usr/bin/env bash
# Demo part: the VQGAN tokenizer. Seeded random weights (preset tiny by default;
# DEMO_VQGAN_PRESET=lwm for the full 146M-parameter model), one demo frame
# encoded to 256 codes, and the codes decoded back to a PNG beside the input.
set -euo pipefail
: "${LWM:?}" "${DEMO_DIR:?}"
preset=${DEMO_VQGAN_PRESET:-tiny}
out="$DEMO_DIR/vqgan"
mkdir -p "$out"
ffmpeg -v error -y -f lavfi -i testsrc2=size=256x256:rate=1 -frames:v 1 "$out/frame.png"
"$LWM" vqgan init --preset "$preset" --seed 1 --out "$out/weights.safetensors"
"$LWM" vqgan info --vqgan "$out/weights.safetensors"
"$LWM" vqgan encode --vqgan "$out/weights.safetensors" --image "$out/frame.png" --json \
    > "$out/codes.json"
"$LWM" vqgan decode --vqgan "$out/weights.safetensors" --codes "$out/codes.json" \
    --out "$out/decoded.png"
echo "vqgan: $out/frame.png -> $(head -c 120 "$out/codes.json")... -> $out/decoded.png"
echo "vqgan: (random weights: the decoded picture shows structure, not the input)"
