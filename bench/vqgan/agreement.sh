#!/usr/bin/env bash
# Code agreement of every encoder variant with the float64 reference (numpy,
# tests/vqgan/ref_vqgan.py codes64) on real frames with the full lwm preset
# (seeded weights): Winograd (the default) and im2col GEMM, each on the widest
# vector units and forced to AVX2 (LWM_SIMD=avx2), and the bf16 mode (AVX512_BF16,
# widest units only). Also run by bench/vqgan/run.sh
# when AGREEMENT=1. N frames (default 4) from the shared videos; slow: the
# float64 reference takes about a minute a frame.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LWM=${LWM:-$PWD/$BUILD/lwm}
BENCH=$BUILD/bench/vqgan/bench_vqgan
N=${N:-4}
[ -x "$BENCH" ] || make -s "$BENCH"
data=${LWM_SHARED_DATA:-}
[ -n "$data" ] && [ -d "$data/video" ] || { echo "agreement: needs LWM_SHARED_DATA (real frames)"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lwm-agree.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Frames from three videos: short side 256, centre crop, as ffmpeg does it.
for v in nasa_13013.mp4 flipping_a_pancake.mkv video_0.mov; do
    ffmpeg -v error -i "$data/video/$v" -vf "fps=1,scale=-2:256:flags=bicubic,crop=256:256" \
        -frames:v 2 -f rawvideo -pix_fmt rgb24 - >>"$tmp/frames.rgb"
done
"$LWM" vqgan init --preset lwm --seed 1 --out "$tmp/w.safetensors"
/usr/bin/python3 tests/vqgan/ref_vqgan.py codes64 "$tmp/w.safetensors" "$tmp/frames.rgb" "$N" "$tmp/ref.u16"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
for simd in native avx2; do
    for kind in default im2col bf16; do
        if [ $simd = avx2 ]; then export LWM_SIMD=avx2; else unset LWM_SIMD; fi
        [ $simd = avx2 ] && [ $kind = bf16 ] && continue
        r=$("$BENCH" "$tmp/w.safetensors" "$tmp/frames.rgb" "$N" 1 "$(nproc)" $kind "$tmp/c.u16")
        /usr/bin/python3 - "$tmp/ref.u16" "$tmp/c.u16" "$kind" "$r" <<'PY'
import json, sys
import numpy as np
ref, got = np.fromfile(sys.argv[1], np.uint16), np.fromfile(sys.argv[2], np.uint16)
r = json.loads(sys.argv[4])
kind = "winograd" if sys.argv[3] == "default" else sys.argv[3]
same = int((ref == got).sum())
print(f"{kind:8s} on {r['simd']:6s}: codes {same}/{ref.size} equal to float64 ({100 * same / ref.size:.2f} %), "
      f"{r['frames_per_s']:.3f} frames/s, {r['gflops']:.0f} GFLOP/s = {100 * r['fma_fraction']:.0f} % of the FMA peak "
      f"{r['fma_peak_gflops']:.0f}")
PY
    done
done
