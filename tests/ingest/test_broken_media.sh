# Broken media (issue 15): files cut short at many offsets, bit flips in the
# container header and in slice data, an empty file, a zero-length stream and
# absurd declared dimensions. For each, `lwm frames` and `lwm ingest` must end
# (no crash, no hang past a time limit), stay under a memory cap, and when they
# fail, say so naming the file; ingest records each as its own sample's failure.
SUITE=ingest/broken_media
. tests/lib.sh
D=$TMP/broken
mkdir -p "$D/media"
ff() { ffmpeg -nostdin -v error -y "$@"; }
LIMIT_S=30
LIMIT_KB=600000 # peak RSS (checked outside SAN, whose shadow memory makes RSS meaningless)

ff -f lavfi -i "testsrc2=s=320x240:r=25:d=2" -c:v libx264 -g 25 -pix_fmt yuv420p "$D/src.mp4"
ff -f lavfi -i "testsrc2=s=320x240:r=25:d=2" -c:v libx264 -g 25 -pix_fmt yuv420p "$D/src.mkv"
ff -f lavfi -i "testsrc2=s=320x240:r=1:d=1" -frames:v 1 "$D/src.png"
$PY - "$D" <<'PY'
import os, random, struct, sys, zlib
d = sys.argv[1]
r = random.Random(15)
out = os.path.join(d, "media")
for src in ("src.mp4", "src.mkv", "src.png"):
    data = open(os.path.join(d, src), "rb").read()
    stem, ext = src.split(".")
    n = len(data)
    for k, cut in enumerate([1, 8, 64, 500, n // 10, n // 4, n // 2, 3 * n // 4, n - 100, n - 1]):
        if 0 < cut < n:
            open(f"{out}/{ext}_cut{k}.{ext}", "wb").write(data[:cut])
    for k in range(6):  # flips in the first 2 KB: box/EBML/PNG headers
        b = bytearray(data)
        for _ in range(4):
            b[r.randrange(min(2048, n))] ^= 1 << r.randrange(8)
        open(f"{out}/{ext}_headflip{k}.{ext}", "wb").write(bytes(b))
    for k in range(4):  # flips past the header: slice data
        b = bytearray(data)
        for _ in range(40):
            b[r.randrange(min(2048, n - 1), n)] ^= 1 << r.randrange(8)
        open(f"{out}/{ext}_dataflip{k}.{ext}", "wb").write(bytes(b))
open(f"{out}/empty.mp4", "wb").close()
# A PNG declaring 65535 x 65535 (IHDR rewritten, CRC fixed): absurd dimensions.
png = bytearray(open(os.path.join(d, "src.png"), "rb").read())
png[16:24] = struct.pack(">II", 65535, 65535)
png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
open(f"{out}/huge.png", "wb").write(bytes(png))
PY
# A container with a video stream and no packets at all.
ff -f lavfi -i "testsrc2=s=320x240:r=25:d=1" -c:v libx264 -frames:v 0 "$D/media/nopackets.mp4" 2>/dev/null ||
    cp "$D/src.mp4" "$D/media/nopackets.mp4"

bounded() { # name cmd...: ends within LIMIT_S, no signal, RSS under LIMIT_KB; stderr in $TMP/name.err
    local name=$1 rc rss
    shift
    if [ "${SAN:-}" = 1 ]; then
        timeout "$LIMIT_S" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
        rc=$?
        rss=0
    else
        timeout "$LIMIT_S" /usr/bin/time -f "RSS %M" -o "$TMP/$name.rss" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
        rc=$?
        rss=$(sed -n 's/^RSS //p' "$TMP/$name.rss" 2>/dev/null | tail -1)
    fi
    echo "$rc ${rss:-0}" >"$TMP/$name.status"
}

bad_frames="" bad_names=""
n=0
for f in "$D"/media/*; do
    base=$(basename "$f")
    bounded "frames_$base" "$LWM" frames "$f" --out "$D/png_$base" --max-frames 8
    read -r rc rss <"$TMP/frames_$base.status"
    n=$((n + 1))
    if [ "$rc" = 124 ] || [ "$rc" -ge 128 ] || [ "$rss" -gt "$LIMIT_KB" ]; then
        bad_frames="$bad_frames $base(rc=$rc,rss=${rss}KB)"
    elif [ "$rc" != 0 ] && ! grep -q "$base" "$TMP/frames_$base.err"; then
        bad_names="$bad_names $base"
    fi
done
check frames_many_files "only $n broken files were made" test "$n" -ge 50
check frames_bounded "crash, hang or memory past the cap:$bad_frames" test -z "$bad_frames"
check frames_errors_name_file "failed without naming the file:$bad_names" test -z "$bad_names"

# The same files through ingest: every line is its own sample; the run ends and
# records each failure by id, naming the file.
for f in "$D"/media/*; do
    base=$(basename "$f")
    echo "{\"id\": \"$base\", \"video\": \"media/$base\", \"caption\": \"x\", \"fields\": \"[vision],caption\"}"
done >"$D/m.jsonl"
"$LWM" vqgan init --preset tiny --seed 3 --out "$D/w.safetensors" >/dev/null
LIMIT_S=300 bounded ingest "$LWM" ingest --manifest "$D/m.jsonl" --out "$D/ds" --vqgan "$D/w.safetensors" \
    --max-frames 4 -q
read -r rc rss <"$TMP/ingest.status"
check ingest_bounded "ingest of the broken files: rc $rc, RSS ${rss} KB: $(tail -c 300 "$TMP/ingest.err")" \
    sh -c "[ $rc -lt 2 ] && [ $rss -le $LIMIT_KB ]"
check ingest_accounts_every_file "stored + failed is not every file" $PY - "$LWM" "$D" "$n" <<'PY'
import json, subprocess, sys
lwm, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
info = json.loads(subprocess.check_output([lwm, "inspect", f"{d}/ds", "--json"]))
assert info["samples"] + info["failed"] == n, (info["samples"], info["failed"], n)
PY
check ingest_failures_name_files "a failure reason lacks its file" $PY - "$LWM" "$D" <<'PY'
import json, subprocess, sys
lwm, d = sys.argv[1], sys.argv[2]
info = json.loads(subprocess.check_output([lwm, "inspect", f"{d}/ds", "--json"]))
fails = info["failures"]
assert len(fails) == info["failed"] > 0, (len(fails), info["failed"])
bad = [f for f in fails if f["id"] not in f["reason"]]
assert not bad, bad[:3]
PY
expect_ok ingest_verify "$LWM" verify "$D/ds" --quiet
