#!/usr/bin/env bash
# Ingest benchmark: this decoder (lwm ingest: decode + bicubic resize + crop to
# 256x256 RGB) against the ffmpeg command doing the same to raw RGB, on one
# generated 1080p30 H.264 clip, in the same invocation. Prints frames/s and
# the ratio (ours / ffmpeg); best of REPS runs each, as the machine is shared.
set -u
cd "$(dirname "$0")/../.."
LWM=${LWM:-$PWD/build/lwm}
DIR=${BENCH_TMP:-$(mktemp -d)}
REPS=${REPS:-2}
SECONDS_OF_VIDEO=${BENCH_SECONDS:-12}
make_clip() { # name extra-x264-args...: film-like grain so the decoder has real work
    local clip=$DIR/$1.mp4
    shift
    [ -f "$clip" ] || ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=1920x1080:r=30:d=$SECONDS_OF_VIDEO" \
        -vf "noise=alls=12:allf=t" -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p "$@" "$clip"
    echo "$clip"
}
# x264's defaults (keyframe every 250 frames, 3 B-frames with pyramid), as a
# typical downloaded video; and a 1 s keyframe interval, as cameras and
# streaming encoders write.
CLIP=$(make_clip gop250)
CLIP_GOP30=$(make_clip gop30 -g 30)
printf '{"id": "clip", "video": "%s"}\n' "$CLIP" >"$DIR/m.jsonl"
printf '{"id": "clip", "video": "%s"}\n' "$CLIP_GOP30" >"$DIR/m30.jsonl"

now() { date +%s.%N; }
best_of() { # prints the best wall time of REPS runs of a command
    local best=999999 t0 t1 t
    for _ in $(seq "$REPS"); do
        t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; echo 0; return; }; t1=$(now)
        t=$(echo "$t1 - $t0" | bc -l)
        best=$(echo "if ($t < $best) $t else $best" | bc -l)
    done
    echo "$best"
}
frames_of() { "$LWM" ingest --workers 1 -q --json "$@" |
    sed -n 's/.*"frames":\([0-9]*\).*/\1/p'; }

# The ffmpeg command's equivalent: 1080p -> 455x256 bicubic -> centre 256x256 crop.
VF="scale=455:256:flags=bicubic,crop=256:256:100:0"
report() { # label frames ours_s ffmpeg_s target
    local fps_ours fps_ff ratio
    fps_ours=$(echo "$2 / $3" | bc -l)
    fps_ff=$(echo "$2 / $4" | bc -l)
    ratio=$(echo "$4 / $3" | bc -l)
    printf '%-15s %4d frames  lwm %7.1f frames/s  ffmpeg %7.1f frames/s  ratio %.2f (target >= %s)\n' \
        "$1" "$2" "$fps_ours" "$fps_ff" "$ratio" "$5"
}

echo "# $(uptime | sed 's/.*load average/load average/'); clips: ${SECONDS_OF_VIDEO} s 1080p30 H.264"
n_all=$(frames_of --manifest "$DIR/m.jsonl")
t_ours=$(best_of "$LWM" ingest --manifest "$DIR/m.jsonl" --workers 1 -q)
t_ff=$(best_of ffmpeg -nostdin -v error -i "$CLIP" -vf "$VF" -f rawvideo -pix_fmt rgb24 -y /dev/null)
report "all frames" "$n_all" "$t_ours" "$t_ff" 1.0

for m in m m30; do
    clip=$CLIP; label="--fps 1 gop250"
    [ $m = m30 ] && clip=$CLIP_GOP30 && label="--fps 1 gop30"
    n_1=$(frames_of --manifest "$DIR/$m.jsonl" --fps 1)
    t_ours=$(best_of "$LWM" ingest --manifest "$DIR/$m.jsonl" --workers 1 -q --fps 1)
    t_ff=$(best_of ffmpeg -nostdin -v error -i "$clip" -vf "fps=1,$VF" -f rawvideo -pix_fmt rgb24 -y /dev/null)
    report "$label" "$n_1" "$t_ours" "$t_ff" 2.0
done
echo "# $(uptime | sed 's/.*load average/load average/') at the end"
[ -z "${BENCH_TMP:-}" ] && rm -rf "$DIR"
exit 0
