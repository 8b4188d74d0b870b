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
make_clip() { # name grain extra-x264-args...: film grain gives the decoder real work
    local clip=$DIR/$1.mp4 grain=$2
    shift 2
    [ -f "$clip" ] || ffmpeg -nostdin -v error -y -f lavfi -i "testsrc2=s=1920x1080:r=30:d=$SECONDS_OF_VIDEO" \
        -vf "noise=alls=$grain:allf=t" -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p "$@" "$clip"
    echo "$clip"
}
# x264's defaults (keyframe every 250 frames, 3 B-frames with pyramid), as a typical
# downloaded video; and a 1 s keyframe interval, as cameras and streaming encoders write.
# Heavy grain (about 100 Mbit/s: x264 then codes almost every frame as P) and light grain
# (about 8 Mbit/s, a usual 1080p bitrate: mostly B-frames).
CLIP=$(make_clip gop250 12)
CLIP_GOP30=$(make_clip gop30 12 -g 30)
CLIP_LIGHT=$(make_clip light 4)
for c in gop250 gop30 light; do
    printf '{"id": "clip", "video": "%s"}\n' "$DIR/$c.mp4" >"$DIR/$c.jsonl"
done

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
    printf '%-22s %4d frames  lwm %7.1f frames/s  ffmpeg %7.1f frames/s  ratio %.2f (target >= %s)\n' \
        "$1" "$2" "$fps_ours" "$fps_ff" "$ratio" "$5"
}

mbps() { ffprobe -v error -show_entries format=bit_rate -of csv=p=0 "$1" | awk '{printf "%.0f", $1 / 1e6}'; }
echo "# $(uptime | sed 's/.*load average/load average/'); clips: ${SECONDS_OF_VIDEO} s 1080p30 H.264," \
    "gop250 $(mbps "$CLIP") Mbit/s, gop30 $(mbps "$CLIP_GOP30") Mbit/s, light $(mbps "$CLIP_LIGHT") Mbit/s"
for c in gop250 light; do
    n_all=$(frames_of --manifest "$DIR/$c.jsonl")
    t_ours=$(best_of "$LWM" ingest --manifest "$DIR/$c.jsonl" --workers 1 -q)
    t_ff=$(best_of ffmpeg -nostdin -v error -i "$DIR/$c.mp4" -vf "$VF" -f rawvideo -pix_fmt rgb24 -y /dev/null)
    report "all frames $c" "$n_all" "$t_ours" "$t_ff" 1.0
done

# --fps 1, and beside it the most any exact decoder could gain over decoding every frame
# (decode_bound.py: the I/P chain up to each GOP's last sampled frame must be decoded).
for c in gop250 gop30 light; do
    n_1=$(frames_of --manifest "$DIR/$c.jsonl" --fps 1)
    t_ours=$(best_of "$LWM" ingest --manifest "$DIR/$c.jsonl" --workers 1 -q --fps 1)
    t_ff=$(best_of ffmpeg -nostdin -v error -i "$DIR/$c.mp4" -vf "fps=1,$VF" -f rawvideo -pix_fmt rgb24 -y /dev/null)
    report "--fps 1 $c" "$n_1" "$t_ours" "$t_ff" 2.0
    "$LWM" frames "$DIR/$c.mp4" --fps 1 --out "$DIR/frames-$c" --json >"$DIR/frames-$c.json" &&
        /usr/bin/python3 -c 'import json, sys
print("    lwm decoded", json.load(open(sys.argv[1]))["source"]["frames_decoded"], "packets")' \
            "$DIR/frames-$c.json" &&
        /usr/bin/python3 bench/ingest/decode_bound.py "$DIR/$c.mp4" "$DIR/frames-$c.json" "$t_ff" | sed 's/^/    /'
done
echo "# $(uptime | sed 's/.*load average/load average/') at the end"
BENCH_TMP=$DIR bash bench/ingest/scale_out.sh
[ -z "${BENCH_TMP:-}" ] && rm -rf "$DIR"
exit 0
