# lwm frames on bad input: every case exits non-zero (or warns, for media that
# partly decodes) with a one-line reason naming the file; nothing crashes.
SUITE=ingest/frames_cli
. tests/lib.sh
D=$TMP/bad
mkdir -p "$D"
ff() { ffmpeg -nostdin -v error -y "$@"; }
ff -f lavfi -i testsrc2=s=320x240:r=25:d=2 -c:v libx264 -pix_fmt yuv420p "$D/good.mp4"
ff -f lavfi -i testsrc2=s=320x240:r=25:d=2 -c:v libx264 -pix_fmt yuv420p -movflags +faststart "$D/faststart.mp4"
ff -f lavfi -i sine=d=1 "$D/audio.m4a"
head -c 20000 "$D/good.mp4" >"$D/truncated.mp4"          # moov at the end: cut off
head -c 20000 "$D/faststart.mp4" >"$D/truncated_data.mp4" # index intact, frames cut off
: >"$D/empty.mp4"
echo "this is not a video" >"$D/text.mp4"
head -c 5000 /dev/urandom >"$D/noise.mp4"
damage_video "$D/faststart.mp4" "$D/corrupt.mp4"

expect_fail missing_file 'missing\.mp4: No such file' "$LWM" frames "$D/missing.mp4" --out "$D/o"
expect_fail empty_file 'empty\.mp4: empty file' "$LWM" frames "$D/empty.mp4" --out "$D/o"
expect_fail text_file 'text\.mp4: not a readable media file' "$LWM" frames "$D/text.mp4" --out "$D/o"
expect_fail random_bytes 'noise\.mp4: ' "$LWM" frames "$D/noise.mp4" --out "$D/o"
expect_fail truncated_index 'truncated\.mp4: ' "$LWM" frames "$D/truncated.mp4" --out "$D/o"
expect_fail audio_only 'audio\.m4a: no video stream \(audio only\)' "$LWM" frames "$D/audio.m4a" --out "$D/o"
expect_fail directory 'is a directory' "$LWM" frames "$D" --out "$D/o"
expect_fail needs_out 'required' "$LWM" frames "$D/good.mp4"
expect_fail bad_fps "--fps: expected a positive number" "$LWM" frames "$D/good.mp4" --fps -3 --out "$D/o"
expect_fail bad_max_frames "--max-frames: expected an integer" "$LWM" frames "$D/good.mp4" --max-frames x --out "$D/o"
expect_fail unknown_option "unknown option '--frobnicate'" "$LWM" frames "$D/good.mp4" --frobnicate --out "$D/o"

# Media that partly decodes: the decodable frames, and a warning that says so.
partial() { # name file
    local name=$1 file=$2
    rm -rf "$D/o_$name"
    "$LWM" frames "$file" --out "$D/o_$name" >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$? n
    n=$(ls "$D/o_$name" 2>/dev/null | wc -l)
    if [ $rc -ge 128 ]; then not_ok "$name" "crashed (status $rc)"
    elif [ $rc -ne 0 ]; then
        if grep -q "$(basename "$file")" "$TMP/$name.err"; then ok "$name"
        else not_ok "$name" "failure does not name the file: $(head -c 200 "$TMP/$name.err")"; fi
    elif [ "$n" -ge 50 ] && ! grep -q 'damaged media' "$TMP/$name.err"; then
        ok "$name" # the damage hit nothing the decoder needed
    elif grep -q "$(basename "$file"): damaged media" "$TMP/$name.err"; then ok "$name"
    else not_ok "$name" "$n frames, no warning: $(head -c 200 "$TMP/$name.err")"; fi
}
partial truncated_data "$D/truncated_data.mp4"
partial corrupt_bytes "$D/corrupt.mp4"

# The JSON contract of the issue.
"$LWM" frames "$D/good.mp4" --fps 1 --out "$D/json" --json >"$TMP/json.out" 2>"$TMP/json.err"
check json_contract "JSON lacks a contract field: $(head -c 300 "$TMP/json.out")" \
    $PY -c '
import json, sys, os
j = json.load(open(sys.argv[1]))
assert [f["index"] for f in j["frames"]] == list(range(2))
assert [f["pts"] for f in j["frames"]] == [0.0, 1.0]
assert all(os.path.basename(f["file"]) == "%06d.png" % f["index"] and os.path.exists(f["file"]) for f in j["frames"])
s = j["source"]
assert (s["width"], s["height"], s["rotation"], s["fps"], s["duration"]) == (320, 240, 0, 25, 2), s
' "$TMP/json.out"

# An absurd size (a corrupt header, or a picture nobody meant to tokenize).
ff -f lavfi -i color=s=20000x8 -frames:v 1 "$D/huge.png"
expect_fail absurd_size 'huge\.png: absurd frame size 20000x8' "$LWM" frames "$D/huge.png" --out "$D/o"
