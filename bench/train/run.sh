#!/usr/bin/env bash
# Trainer benchmarks, each beside its comparison in the same invocation:
#  1. attention kernels' GFLOP/s against the machine's measured SGEMM peak;
#  2. one training step at 8K tokens of the d=256, 4-layer model (configs/small.json shape):
#     this trainer (1 rank, blockwise) against the PyTorch CPU reference with ordinary
#     attention (bench/train/ref_torch.py), tokens/s ratio;
#  3. peak memory of one step of the tiny preset at growing lengths beside the sizing
#     function's prediction (BENCH_TRAIN_LENS, default "8192 16384 32768 65536");
#  4. the gradient all-reduce on 2 data-parallel ranks (1 thread each, d=256 x 4 layers,
#     2K tokens per rank): slices finished while the backward pass ran, and the wait left;
#  5. a ring attention step on 2 ranks x 1 thread against the same blocks' compute alone.
# Threads: 2 (one rank). The machine is shared: see uptime in the output.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LWM=${LWM:-$BUILD/lwm}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lwm-bench-train.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "# load: $(uptime | sed 's/.*load average/load average/')"

echo "### attention kernels vs the FMA peak and the SGEMM peak"
"$BUILD/bench/train/bench_attention" 4096 4 64 128

echo "### one training step at 8K tokens, d=256 x 4 layers: lwm train vs PyTorch (ordinary attention)"
/usr/bin/python3 - configs/small.json "$TMP/b8k.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["stages"] = [{"seq_len": 8192, "rope_theta": 1000000, "tokens_per_batch": 8192, "total_tokens": 16384}]
c["data"] = {"kind": "mixed"}
json.dump(c, open(sys.argv[2], "w"))
PY
ours=$(mpirun --allow-run-as-root -np 1 -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$LWM" train \
       --config "$TMP/b8k.json" --data "$TMP" --out "$TMP/run8k" --quiet --json 2>/dev/null \
       | /usr/bin/python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; print(max(x["tokens_per_s"] for x in r), max(x["peak_memory"] for x in r))')
ref=$(/usr/bin/python3 bench/train/ref_torch.py "$TMP/b8k.json" 8192 "$OMP_NUM_THREADS" \
      | /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["tokens_per_s"], r["peak_memory"])')
/usr/bin/python3 -c '
import sys
o, om, r, rm = map(float, sys.argv[1:5])
print("lwm train: %.0f tokens/s, peak %.0f MB; PyTorch reference: %.0f tokens/s, peak %.0f MB; ratio %.2fx"
      % (o, om / 2**20, r, rm / 2**20, o / r))' $ours $ref

echo "### peak memory per rank of one step (tiny preset), prediction beside measurement"
"$BUILD/bench/train/bench_memory" configs/tiny.json "$TMP" ${BENCH_TRAIN_LENS:-8192 16384 32768 65536}

echo "### gradient all-reduce overlapped with the backward pass: 2 data-parallel ranks x 1 thread"
/usr/bin/python3 - configs/small.json "$TMP/dp.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["ring"] = 1
c["stages"] = [{"seq_len": 2048, "rope_theta": 1000000, "tokens_per_batch": 4096, "total_tokens": 16384}]
c["data"] = {"kind": "mixed"}
json.dump(c, open(sys.argv[2], "w"))
PY
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
    -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$LWM" train --config "$TMP/dp.json" --data "$TMP" \
    --out "$TMP/rundp" --quiet --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for r in map(json.loads, sys.stdin):
    step_s = 4096 / r["tokens_per_s"]
    print("step %d: %.2f s; gradient slices %d, %d finished during the backward pass (rank 0); wait after it: "
          "rank 0 %.1f ms (%.1f%% of the step), rank whose backward ended last %.1f ms (%.1f%%: communication not hidden), "
          "longest %.1f ms (%.1f%%: with the wait for the slower rank)"
          % (r["step"], step_s, r["grad_slices"], r["grad_slices_early"], 1e3 * r["grad_wait_s"], 100 * r["grad_wait_s"] / step_s,
             1e3 * r["grad_wait_min_s"], 100 * r["grad_wait_min_s"] / step_s, 1e3 * r["grad_wait_max_s"], 100 * r["grad_wait_max_s"] / step_s))'

echo "### ring attention step on 2 ranks x 1 thread: with the K/V exchange against its compute alone"
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
    -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$BUILD/bench/train/bench_ring" 2048 4 64 128 5
echo "# load after: $(uptime | sed 's/.*load average/load average/')"
