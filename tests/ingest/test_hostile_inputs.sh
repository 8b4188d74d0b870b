# Smaller hostile inputs of issue 15 item 9, each a one-line error naming the file, sample or
# field, or (for ls/show) escaped output; nothing crashes. SAN=1 runs catch memcpy(NULL, .., 0).
#   directory given as a file, a PNG declaring 100000x100000, ids holding NUL (\u0000), ids and
#   text with newlines and escape sequences in ls/show, a JSONL line with two "vision" lists in
#   pack (as in ingest), one "damaged media" warning per damaged sample in ingest, a damaged
#   id-table entry and an empty record value in a shard.
SUITE=ingest/hostile_inputs
. tests/lib.sh
D=$TMP/h
mkdir -p "$D/adir"
ff() { ffmpeg -nostdin -v error -y "$@"; }

one_line() { # name: the command of $name failed (not a crash) with exactly one stderr line
    local name=$1 rc
    rc=$(cat "$TMP/$name.rc")
    [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$(grep -vc 'progress' "$TMP/$name.err")" -eq 1 ]
}
run() { # name cmd...: runs, keeping stdout, stderr and status
    local name=$1
    shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    echo $? >"$TMP/$name.rc"
}

# A directory where a file is expected (was: "out of memory reading 9223372036854775807 bytes").
"$LWM" vqgan init --preset tiny --seed 1 --out "$D/w.safetensors" 2>/dev/null
expect_fail directory_codes "adir: not a regular file \\(a directory\\)" \
    "$LWM" vqgan decode --vqgan "$D/w.safetensors" --codes "$D/adir" --out "$D/x.png"
expect_fail directory_weights "adir: not a regular file" "$LWM" vqgan info --vqgan "$D/adir"

# A PNG whose header declares 100000x100000 (was: "video stream has no frame size").
$PY - "$D/huge.png" <<'PY'
import struct, sys, zlib
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
ihdr = struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0)
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
                              chunk(b'IDAT', zlib.compress(b'\0' * 301)) + chunk(b'IEND', b''))
PY
expect_fail huge_png "huge.png: PNG header declares a frame of 100000x100000" \
    "$LWM" frames "$D/huge.png" --out "$D/o"

# Ids with NUL: "a\u0000x" and "a\u0000y" were both stored as "a" (the second a duplicate).
# Ids and text with a newline and ANSI escapes: ls and show print them escaped.
cat >"$D/ids.jsonl" <<'JSON'
{"id": "a\u0000x", "text": "one"}
{"id": "a\u0000y", "text": "two"}
{"id": "evil\n\u001b[31mred", "text": "x\u001b[2Jy"}
{"id": "fine", "text": "three", "caption": "c", "caption": "d"}
JSON
run nul_ids "$LWM" ingest --manifest "$D/ids.jsonl" --out "$D/ds1" -q
check nul_ids_refused "ingest: $(head -c 300 "$TMP/nul_ids.err")" \
    grep -q 'manifest line 1.*holds a NUL character' "$TMP/nul_ids.err"
check nul_ids_second_refused "ingest: $(head -c 300 "$TMP/nul_ids.err")" \
    grep -q 'manifest line 2.*holds a NUL character' "$TMP/nul_ids.err"
check duplicate_text_key_refused "ingest: $(head -c 300 "$TMP/nul_ids.err")" \
    grep -q 'manifest line 4.*key "caption" appears twice' "$TMP/nul_ids.err"
run ls_escaped "$LWM" ls "$D/ds1"
check ls_escapes_id "ls output: $(head -c 300 "$TMP/ls_escaped.out" | od -c | head -3)" \
    grep -qF 'evil\n\x1b[31mred' "$TMP/ls_escaped.out"
check ls_no_raw_escape "ls printed a raw ESC or split a line" \
    bash -c "! grep -q \$'\\x1b' '$TMP/ls_escaped.out' && [ \$(wc -l <'$TMP/ls_escaped.out') -eq 1 ]"
run show_escaped "$LWM" show "$D/ds1" $'evil\n\x1b[31mred'
check show_escapes "show: $(head -c 300 "$TMP/show_escaped.err")" \
    bash -c "grep -qF 'x\\x1b[2Jy' '$TMP/show_escaped.out' && ! grep -q \$'\\x1b' '$TMP/show_escaped.out'"

# pack: a line with two "vision" lists used one silently; ingest refuses it too.
printf 'a dog runs <vision> </vision> the cat\n%.0s' $(seq 1 100) >"$D/corpus.txt"
spm_train --input="$D/corpus.txt" --model_prefix="$D/tiny" --vocab_size=30 \
    --hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1
codes=$(seq -s, 0 255)
echo "{\"id\": \"two\", \"fields\": \"[caption],vision\", \"caption\": \"c\", \"vision\": [$codes], \"vision\": [$codes]}" >"$D/two.jsonl"
run pack_two_vision "$LWM" pack "$D/two.jsonl" --tokenizer "$D/tiny.model" --seq-len 600 --count 1
check pack_two_vision "pack: rc $(cat "$TMP/pack_two_vision.rc"): $(head -c 300 "$TMP/pack_two_vision.err")" \
    bash -c "grep -q 'two.jsonl:1: key \"vision\" appears twice' '$TMP/pack_two_vision.err'"
check pack_two_vision_one_line "more than one line or a crash" one_line pack_two_vision
expect_fail ingest_two_vision 'key "vision" appears twice|two vision code lists' \
    "$LWM" ingest --manifest "$D/two.jsonl" --out "$D/ds2" -q

# Three damaged copies of one video, one worker: three warnings (was one per worker).
ff -f lavfi -i testsrc2=s=160x120:r=25:d=2 -c:v libx264 -pix_fmt yuv420p -movflags +faststart "$D/good.mp4"
damage_video "$D/good.mp4" "$D/bad1.mp4"
cp "$D/bad1.mp4" "$D/bad2.mp4"
cp "$D/bad1.mp4" "$D/bad3.mp4"
printf '{"id": "d%d", "video": "bad%d.mp4"}\n' 1 1 2 2 3 3 >"$D/damaged.jsonl"
run damaged "$LWM" ingest --manifest "$D/damaged.jsonl" --out "$D/ds3" --vqgan "$D/w.safetensors" \
    --fps 2 --workers 1 --threads 1 -q
n=$(grep -c 'damaged media' "$TMP/damaged.err")
check damaged_warned_each "$n 'damaged media' warnings for 3 damaged samples: $(head -c 300 "$TMP/damaged.err")" \
    test "$n" -eq 3

# A shard whose id-table entry is 3 bytes (was: resolved to record 0) and one whose record
# value is empty (memcpy(NULL, .., 0)). One shard, left open: no manifest size or checksum.
TOOL=${LWM_BUILD:-build}/tests/shard/test_fixture_tool
"$TOOL" --write "$D/fx" 20 100000000 --open >/dev/null
cp -r "$D/fx" "$D/fx_ids"
cp -r "$D/fx" "$D/fx_empty"
victim=$($PY - "$D/fx_ids" "$D/fx_empty" <<'PY'
import glob, lmdb, sys
def last(d): return sorted(glob.glob(d + '/shard-*.mdb'))[-1] # the open one
def open_env(p): return lmdb.open(p, subdir=False, max_dbs=4, map_size=1 << 30, lock=False)
env = open_env(last(sys.argv[1]))
with env.begin(write=True) as t:
    ids = env.open_db(b'ids', txn=t)
    sid, key = next(iter(t.cursor(db=ids)))
    t.put(sid, b'abc', db=ids)
env.close()
env = open_env(last(sys.argv[2]))
with env.begin(write=True) as t:
    recs = env.open_db(b'records', txn=t)
    for part in range(256):
        t.delete(key + bytes([part]), db=recs)
    t.put(key + b'\0', b'', db=recs)
env.close()
print(sid.decode())
PY
)
run id_table_damaged "$LWM" show "$D/fx_ids" "$victim"
check id_table_damaged "show: rc $(cat "$TMP/id_table_damaged.rc"): $(head -c 300 "$TMP/id_table_damaged.err")" \
    bash -c "grep -q 'id table entry of \"$victim\" is 3 bytes, not 8' '$TMP/id_table_damaged.err'"
check id_table_damaged_one_line "not one line, or a crash" one_line id_table_damaged
run empty_value "$LWM" show "$D/fx_empty" "$victim"
check empty_value_refused "show: rc $(cat "$TMP/empty_value.rc"): $(head -c 300 "$TMP/empty_value.err")" \
    bash -c "grep -q 'record 0 (shard-00000.open.mdb): not a record' '$TMP/empty_value.err'"
check empty_value_one_line "not one line, or a crash" one_line empty_value
