# make demo end to end (tests/demo.sh, every part in order, in a scratch directory): it must
# finish, and its last part must have trained through both curriculum stages and drawn the
# loss curve, so a change anywhere in the pipeline cannot break the demo unseen.
SUITE=demo
. tests/lib.sh
export DEMO_DIR="$TMP/demo"
[ "${SAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" # Open MPI's own leaks, as in train/cli
expect_ok make_demo_runs timeout 900 bash tests/demo.sh
LOG="$DEMO_DIR/train/run/log.jsonl"
check demo_trained_both_stages "$(tail -c 300 "$TMP/make_demo_runs.out" 2>/dev/null)" /usr/bin/python3 -c '
import json, math, sys
r = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(0 if {x["stage"] for x in r} == {0, 1} and all(math.isfinite(x["loss"]) for x in r) else 1)' "$LOG"
check demo_wrote_loss_curve "no PNG at $DEMO_DIR/train/loss.png" sh -c "head -c 4 '$DEMO_DIR/train/loss.png' | grep -q PNG"
check demo_wrote_needle_heatmap "no needle evaluation in $DEMO_DIR/eval" /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1] + "/results.json"))
png = open(sys.argv[1] + "/heatmap.png", "rb").read(4)
sys.exit(0 if len(r["cells"]) == 6 and r["total"] == 6 and png[1:4] == b"PNG" else 1)' "$DEMO_DIR/eval"
