#!/usr/bin/env bash
# Runs every benchmark: bench/<stage>/run.sh, in stage order. Each prints its
# figures beside the comparison it runs in the same invocation, as ratios.
# BENCH=vqgan make bench runs one.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build} LWM="$PWD/${BUILD:-build}/lwm" LWM_ROOT="$PWD"
if [ -d ../shared/data ]; then export LWM_SHARED_DATA="$(cd ../shared/data && pwd)"; fi
echo "# $(date -u +%F) $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
status=0
for stage in ingest vqgan shard loader train eval; do
    [ -n "${BENCH:-}" ] && [ "$BENCH" != "$stage" ] && continue
    [ -f "bench/$stage/run.sh" ] || continue
    echo "## $stage"
    bash "bench/$stage/run.sh" || status=1
done
exit $status
