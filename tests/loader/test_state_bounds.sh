# Issue 15 item 4 (loader part): a loader state file is hostile input even after its checksum.
# Crafted states (fields changed, checksum recomputed with Python's xxhash) are refused with
# one line naming the field, in every layout: no read before a heap block (row -1), no endless
# walk of the permutation (window/epoch -1), no signed overflow (huge values), no silent exit 0
# (stage past the last). A state of version 1 is refused saying why.
SUITE=loader/state_bounds
. tests/lib.sh

$PY -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; r.train_tiny_spm('$TMP')"
TOK="$TMP/tiny.model"
$PY - "$TMP/data.jsonl" <<'PY'
import json, random, sys
r = random.Random(15)
with open(sys.argv[1], "w") as f:
    for i in range(30):
        f.write(json.dumps({"id": "s%d" % i, "fields": "[caption],vision", "caption": "a dog runs",
                            "vision": [r.randrange(8192) for _ in range(256 * (1 + i % 3))]}) + "\n")
PY
pack() { timeout 20 "$LWM" pack "$TMP/data.jsonl" --tokenizer "$TOK" --seq-len 512 --rows 2 "$@"; }
# craft IN OUT FIELD=VALUE...: a state with fields replaced and its checksum recomputed.
craft() {
    $PY - "$@" <<'PY'
import struct, sys, xxhash
src, dst = sys.argv[1], sys.argv[2]
b = bytearray(open(src, "rb").read())
where = {"version": (8, "<I"), "stage": (12, "<i"), "seed": (16, "<Q"), "epoch": (24, "<q"),
         "window": (32, "<q"), "row": (40, "<q"), "step": (48, "<q"), "tokens": (56, "<q")}
for kv in sys.argv[3:]:
    k, v = kv.split("=")
    off, fmt = where[k]
    struct.pack_into(fmt, b, off, int(v))
struct.pack_into("<Q", b, len(b) - 8, xxhash.xxh3_64_intdigest(bytes(b[:-8])))
open(dst, "wb").write(b)
PY
}

for layout in packed lwm pad; do
    expect_ok "${layout}_state" pack --layout "$layout" --count 5 --state-out "$TMP/$layout.st"
    craft "$TMP/$layout.st" "$TMP/same.st"
    check "${layout}_recomputed_checksum_accepted" "the test's checksum differs from the loader's" \
        cmp -s "$TMP/$layout.st" "$TMP/same.st"
    for case in row=-1 window=-1 epoch=-1 row=4611686018427387904 window=4611686018427387904 \
                epoch=4611686018427387904 stage=5 stage=-1 step=-1 step=4611686018427387904 tokens=7; do
        field=${case%%=*}
        craft "$TMP/$layout.st" "$TMP/bad.st" "$case"
        expect_fail "${layout}_${field}_${case#*=}" "resume state: $field .*out of range" \
            pack --layout "$layout" --count 2 --state-in "$TMP/bad.st"
        check "${layout}_${field}_${case#*=}_one_line" "error is not one line" \
            test "$(grep -vc "^lwm: progress" "$TMP/${layout}_${field}_${case#*=}.err")" -eq 1
    done
done
# The packed row may sit at the end of its window (the next row opens the next window), not past it.
craft "$TMP/packed.st" "$TMP/bad.st" row=100000
expect_fail packed_row_past_window "resume state: row 100000 out of range \(window" pack --count 1 --state-in "$TMP/bad.st"
craft "$TMP/packed.st" "$TMP/v1.st" version=1
expect_fail version_1_refused_with_reason "version 1 .*ring layout" pack --count 1 --state-in "$TMP/v1.st"
