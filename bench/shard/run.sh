#!/usr/bin/env bash
# Store benchmark: write/read throughput and decode speed per core, beside
# memcpy, zstd's own decompression and the unpack loop on the same bytes.
set -eu
BUILD=${BUILD:-build}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/lwm-bench-shard.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
echo "load: $(uptime | sed 's/.*load average/load average/')"
"$BUILD/bench/shard/bench_shard" "$DIR" "${SHARD_BENCH_RECORDS:-4000}" "${SHARD_BENCH_FRAMES:-16}"
