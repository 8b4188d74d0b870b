# lwm ingest on a terminal: the progress line counts a long sample's frames as the
# encoder finishes them, before the sample is stored (issue 16: "progress of a long
# sample is per frame"). One 60-frame clip, the tiny VQGAN, 4 frames per encoder batch.
SUITE=ingest/progress
. tests/lib.sh
D=$TMP/progress
mkdir -p "$D"
ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=320x240:rate=25 -frames:v 60 -pix_fmt yuv420p \
    "$D/clip.mp4"
"$LWM" vqgan init --preset tiny --seed 1 --out "$D/tiny.safetensors" >/dev/null
echo '{"id": "a", "video": "clip.mp4", "caption": "a test pattern"}' >"$D/m.jsonl"
# script(1) gives the command a terminal, where progress is drawn every 0.5 s.
script -qec "'$LWM' ingest --manifest '$D/m.jsonl' --out '$D/ds' --vqgan '$D/tiny.safetensors' \
    --encode-chunk 4" /dev/null >"$D/tty.out" 2>&1 </dev/null
tr '\r' '\n' <"$D/tty.out" | sed 's/\x1b\[K//g' >"$D/lines"
check sample_stored "output: $(tail -c 300 "$D/lines")" grep -q 'ok 1, failed 0' "$D/lines"
# A report with some but not all 60 frames while no sample is stored yet.
check frames_count_up_within_a_sample "output: $(head -c 600 "$D/lines")" \
    grep -Eq 'frames ([1-9]|[1-5][0-9]) \([0-9.]+ frames/s\), ok 0,' "$D/lines"
