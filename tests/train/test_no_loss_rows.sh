# Issue 14: rows without a loss-bearing token. Pieces of a split [vision],caption video can
# carry no trained target; lwm pack counts such rows per stage, the trainer logs them per
# step (rows_no_loss), and the loader option drop_no_loss (lwm train's default) leaves such
# pieces out, so no row of the trainer's stream is without loss. The stream stays a pure
# function of its inputs: a state made with the other setting is refused naming it.
SUITE=train/no_loss
. tests/lib.sh
. tests/train/stream_corpus.sh

pack() { "$LWM" pack "$TMP/ds" --curriculum "$TMP/run.json" --count 100 --json "$@"; }
pack --keep-no-loss >"$TMP/keep.json" 2>"$TMP/keep.err"
pack >"$TMP/drop.json" 2>"$TMP/drop.err"
# per_stage JSON: rows without loss per stage, from the rows themselves
per_stage() { $PY -c '
import json, sys
n = {}
for r in map(json.loads, open(sys.argv[1])):
    n[r["stage"]] = n.get(r["stage"], 0) + (sum(r["loss_masks"]) == 0)
print(" ".join("%d:%d" % kv for kv in sorted(n.items())))' "$1"; }
stats() { sed -n 's/^lwm pack: stage \([0-9]*\): .* \([0-9]*\) without a loss-bearing token, \([0-9]*\) pieces.*/\1:\2:\3/p' "$1" | tr '\n' ' '; }
check keep_has_rows_without_loss "no row without loss in the kept stream: $(per_stage "$TMP/keep.json")" \
    $PY -c 'import sys; sys.exit(0 if any(int(x.split(":")[1]) for x in sys.argv[1].split()) else 1)' "$(per_stage "$TMP/keep.json")"
check pack_statistics_count_them "statistics $(stats "$TMP/keep.err") vs rows $(per_stage "$TMP/keep.json")" \
    test "$(stats "$TMP/keep.err" | sed 's/:[0-9]* / /g; s/ $//')" = "$(per_stage "$TMP/keep.json")"
check drop_leaves_none "rows without loss remain: $(per_stage "$TMP/drop.json")" \
    test "$(per_stage "$TMP/drop.json")" = "0:0 1:0"
check drop_counts_dropped_pieces "statistics: $(stats "$TMP/drop.err")" \
    $PY -c 'import sys; sys.exit(0 if sum(int(x.split(":")[2]) for x in sys.argv[1].split()) > 0 else 1)' "$(stats "$TMP/drop.err")"
# The trainer logs the same counts per step (kept stream), and none with its default.
sed 's/"kind": "loader"/"kind": "loader", "drop_no_loss": false/' "$TMP/run.json" >"$TMP/keep_cfg.json"
expect_ok train_keep $MPIRUN -np 2 "$LWM" train --config "$TMP/keep_cfg.json" --data "$TMP/ds" --out "$TMP/k" --quiet
expect_ok train_default $MPIRUN -np 2 "$LWM" train --config "$TMP/run.json" --data "$TMP/ds" --out "$TMP/d" --quiet
"$LWM" pack "$TMP/ds" --curriculum "$TMP/keep_cfg.json" --count 100 --json >"$TMP/keep_cfg.rows" 2>/dev/null
check trainer_logs_rows_without_loss "log vs pack rows per step" $PY - "$TMP/k/log.jsonl" "$TMP/keep_cfg.rows" "$TMP/d/log.jsonl" <<'PY'
import json, sys
log = [json.loads(l)["rows_no_loss"] for l in open(sys.argv[1])]
want = [0] * len(log)
for r in map(json.loads, open(sys.argv[2])):
    want[r["train_step"] - 1] += sum(r["loss_masks"]) == 0
assert log == want and sum(want) > 0, (log, want)
assert all(json.loads(l)["rows_no_loss"] == 0 for l in open(sys.argv[3]))
PY
# A state of the kept stream does not resume the dropping one.
pack --keep-no-loss --count 4 --state-out "$TMP/keep.st" >/dev/null 2>&1
expect_fail other_setting_refused "packing options" pack --count 1 --state-in "$TMP/keep.st"
