#!/usr/bin/env bash
# Loader benchmark: the C loader from a warm store vs LWM's JSONL path
# re-implemented in Python, on the same documents, in the same run.
# Figures: packed tokens/s on one core, time to first batch at a 1M-token
# sequence, start-up with a cold and a warm length cache, peak RSS for two
# dataset sizes (it must not grow with the dataset).
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BENCH="$BUILD/bench/loader/bench_loader"
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lwm-bench-loader.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
N=${LOADER_BENCH_DOCS:-2000}

TOK="${LWM_SHARED_DATA:-}/tokenizer/llama2-tokenizer.model"
if [ ! -f "$TOK" ]; then
    $PY -c "import sys; sys.path.insert(0, 'tests/loader'); import lwm_reference as r; print(r.train_tiny_spm('$WORK'))" >/dev/null
    TOK="$WORK/tiny.model"
fi
echo "tokenizer: $TOK; load: $(uptime | sed 's/.*load/load/')"

"$BENCH" write "$WORK/store" "$WORK/corpus.jsonl" "$N" "$TOK"
"$BENCH" write "$WORK/store4" - $((4 * N)) "$TOK"

run() { taskset -c 0 "$BENCH" stream "$@"; }
echo "## C loader (one core)"
cold=$(run "$WORK/store" "$TOK" 32768 8 16777216)
warm=$(run "$WORK/store" "$TOK" 32768 8 268435456)
lwm=$(run "$WORK/store" "$TOK" 32768 8 134217728 lwm)
first=$(run "$WORK/store" "$TOK" 1048576 1 1)
big=$(run "$WORK/store4" "$TOK" 32768 8 268435456)
echo "cold cache:  $cold"
echo "packed:      $warm"
echo "lwm layout:  $lwm"
echo "1M first:    $first"
echo "4x data:     $big"
echo "## Python reference (LWM's JSONL path, one core)"
ref=$(taskset -c 0 $PY bench/loader/lwm_jsonl_reference.py "$WORK/corpus.jsonl" "$TOK" 32768 8 16777216)
echo "reference:   $ref"
$PY - "$warm" "$lwm" "$ref" "$first" "$cold" "$big" <<'PYEOF'
import json, sys
warm, lwm, ref, first, cold, big = (json.loads(a) for a in sys.argv[1:])
print(f"packed {warm['tokens_per_s']/1e6:.0f} M tokens/s, lwm layout {lwm['tokens_per_s']/1e6:.0f} M tokens/s, "
      f"python LWM JSONL {ref['tokens_per_s']/1e6:.1f} M tokens/s: ratio {warm['tokens_per_s']/ref['tokens_per_s']:.0f}x "
      f"(target >= 300 M tokens/s)")
print(f"1M-token sequence: create {first['create_s']*1e3:.0f} ms + first batch {first['first_batch_s']*1e3:.0f} ms "
      f"(target first batch < 200 ms)")
print(f"start-up: cold length cache {cold['create_s']*1e3:.0f} ms ({cold['documents']} docs), warm {warm['create_s']*1e3:.0f} ms")
print(f"anonymous RSS while streaming: {warm['rss_anon_mb']:.0f} MB for {warm['documents']} docs, "
      f"{big['rss_anon_mb']:.0f} MB for {big['documents']} docs (peak RSS incl. mapped store pages "
      f"{warm['peak_rss_mb']:.0f} / {big['peak_rss_mb']:.0f} MB)")
PYEOF
