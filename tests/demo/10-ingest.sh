#!/usr/bin/env bash
# Demo, ingest part: a few sample videos and images made with FFmpeg's lavfi
# sources, and the 256x256 frames the tokenizer will see, as PNGs.
set -euo pipefail
D=$DEMO_DIR/ingest
mkdir -p "$D/media"
ff() { ffmpeg -nostdin -v error -y "$@"; }
ff -f lavfi -i testsrc2=s=640x360:r=30:d=6 -c:v libx264 -pix_fmt yuv420p "$D/media/testsrc.mp4"
ff -f lavfi -i mandelbrot=s=480x480:r=25 -t 4 -c:v libx265 -x265-params log-level=none -pix_fmt yuv420p10le "$D/media/mandelbrot.mp4"
ff -f lavfi -i "life=s=320x240:r=10:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00" -t 5 -c:v libvpx-vp9 -deadline realtime -cpu-used 8 "$D/media/life.webm"
ff -f lavfi -i "nullsrc=s=320x240:d=2:r=10,format=rgb24,geq=r='255*lt(X,W/2)':g='255*lt(Y,H/2)':b=128" -c:v libx264 -pix_fmt yuv420p "$D/media/quad.mp4"
ff -i "$D/media/quad.mp4" -c copy -metadata:s:v:0 rotate=90 "$D/media/quad_rotated.mp4"
ff -f lavfi -i testsrc2=s=800x600 -frames:v 1 "$D/media/still.jpg"
ff -f lavfi -i smptehdbars=s=1280x720 -frames:v 1 "$D/media/bars.png"
for f in testsrc.mp4 mandelbrot.mp4 life.webm quad_rotated.mp4 still.jpg bars.png; do
    "$LWM" frames "$D/media/$f" --fps 1 --out "$D/frames/${f%.*}" | tail -n 1 | sed "s|^|$f: |"
done
"$LWM" frames "$D/media/testsrc.mp4" --max-frames 4 --out "$D/frames/testsrc_lwm4" --json
echo "frames written under $D/frames"
