# lwm ingest on a manifest mixing good samples with every kind of bad input:
# each failure is reported with its id (or line), manifest line and reason,
# the run goes on, the summary counts ok/failed/skipped, the exit status says
# whether anything failed, and --strict stops at the first failure.
SUITE=ingest/ingest_cli
. tests/lib.sh
D=$TMP/m
mkdir -p "$D/media"
ff() { ffmpeg -nostdin -v error -y "$@"; }
ff -f lavfi -i testsrc2=s=320x240:r=25:d=3 -c:v libx264 -pix_fmt yuv420p "$D/media/a.mp4"
ff -f lavfi -i testsrc2=s=240x320:r=10:d=2 -c:v libx265 -x265-params log-level=none "$D/media/b.mkv"
ff -f lavfi -i testsrc2=s=640x480 -frames:v 1 "$D/media/c.jpg"
ff -f lavfi -i sine=d=1 "$D/media/audio.m4a"
head -c 10000 "$D/media/a.mp4" >"$D/media/truncated.mp4"
: >"$D/media/empty.mp4"
echo "not media" >"$D/media/notes.mp4"
codes=$(seq -s, 0 511)

cat >"$D/good.jsonl" <<JSON
{"id": "a", "video": "media/a.mp4", "caption": "a test pattern"}
{"id": "b", "video": "media/b.mkv", "caption": "portrait", "fields": "[vision],caption"}

{"id": "c", "image": "media/c.jpg", "caption": "a still"}
{"id": "t", "text": "text only"}
{"id": "v", "vision": [$codes], "caption": "pre-tokenized", "fields": "[caption],vision"}
JSON
# Run from another directory: media paths are relative to the manifest.
(cd / && "$LWM" ingest --manifest "$D/good.jsonl" --fps 2 --json -q) >"$TMP/good.out" 2>"$TMP/good.err"
rc=$?
check good_manifest_exit_0 "exit $rc: $(head -c 300 "$TMP/good.err")" test $rc -eq 0
# a: 3 s at fps 2 = 6 frames; b: 2 s = 4; c: 1; t and v decode nothing.
check good_manifest_counts "summary: $(cat "$TMP/good.out")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["samples"], s["ok"], s["failed"], s["skipped"], s["frames"]) == (5, 5, 0, 0, 11), s
' "$TMP/good.out"

cat >"$D/bad.jsonl" <<JSON
{"id": "a", "video": "media/a.mp4", "caption": "fine"}
{"id": "missing", "video": "media/nope.mp4"}
{"id": "empty", "video": "media/empty.mp4"}
{"id": "trunc", "video": "media/truncated.mp4"}
{"id": "notmedia", "video": "media/notes.mp4"}
{"id": "audio", "video": "media/audio.m4a"}
{"video": "media/a.mp4"}
{"id": "broken", "video": 
{"id": "a", "video": "media/b.mkv"}
{"id": "both", "video": "media/a.mp4", "image": "media/c.jpg"}
{"id": "fields", "video": "media/a.mp4", "fields": "[vision],caption"}
{"id": "codes", "vision": [1, 2, 3]}
{"id": "c", "image": "media/c.jpg"}
{"id": "vq", "image": "media/c.jpg", "question": "q", "fields": "[vision+question],answer"}
JSON
"$LWM" ingest --manifest "$D/bad.jsonl" --max-frames 3 -q >"$TMP/bad.out" 2>"$TMP/bad.err"
rc=$?
check bad_manifest_exit_1 "exit $rc (want 1)" test $rc -eq 1
expect_line() { # name pattern: one stderr line names the sample and the reason
    check "$1" "stderr lacks /$2/: $(head -c 400 "$TMP/bad.err" | tr '\n' '|')" grep -Eq -- "$2" "$TMP/bad.err"
}
expect_line reports_missing_file 'sample "missing" \(manifest line 2\): .*nope\.mp4: No such file'
expect_line reports_empty_file 'sample "empty" \(manifest line 3\): .*empty\.mp4: empty file'
expect_line reports_truncated_file 'sample "trunc" \(manifest line 4\): .*truncated\.mp4: '
expect_line reports_non_media 'sample "notmedia" \(manifest line 5\): .*notes\.mp4: not a readable media file'
expect_line reports_audio_only 'sample "audio" \(manifest line 6\): .*audio\.m4a: no video stream \(audio only\)'
expect_line reports_missing_id 'manifest line 7: no "id"'
expect_line reports_malformed_json 'manifest line 8: malformed JSON'
expect_line reports_duplicate_id 'sample "a" \(manifest line 9\): duplicate id \(first on manifest line 1\)'
expect_line reports_video_and_image 'manifest line 10 \(id "both"\): has both "video" and "image"'
expect_line reports_bad_fields 'manifest line 11 \(id "fields"\): fields "\[vision\],caption": no text field "caption"'
expect_line reports_bad_codes 'manifest line 12 \(id "codes"\): "vision" holds 3 codes'
expect_line reports_vision_plus_text 'manifest line 14 \(id "vq"\): fields .*"vision\+question" joins a vision field with text'
check bad_manifest_summary "summary: $(cat "$TMP/bad.out")" grep -q '14 samples: 2 ok, 12 failed, 0 skipped' "$TMP/bad.out"

"$LWM" ingest --manifest "$D/bad.jsonl" --strict --json -q >"$TMP/strict.out" 2>"$TMP/strict.err"
rc=$?
check strict_exit_1 "exit $rc (want 1)" test $rc -eq 1
check strict_stops_at_first "summary: $(cat "$TMP/strict.out"); $(head -c 300 "$TMP/strict.err")" $PY -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert (s["samples"], s["ok"], s["failed"], s["skipped"]) == (14, 1, 1, 12), s
' "$TMP/strict.out"
check strict_reports_one "more than one failure reported" test "$(grep -c 'error:' "$TMP/strict.err")" -eq 1

expect_fail needs_manifest '--manifest is required' "$LWM" ingest
expect_fail missing_manifest 'nope\.jsonl: No such file' "$LWM" ingest --manifest "$D/nope.jsonl"
expect_fail bad_option "unknown option '--frobnicate'" "$LWM" ingest --manifest "$D/good.jsonl" --frobnicate
