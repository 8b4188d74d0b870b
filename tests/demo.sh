#!/usr/bin/env bash
# make demo: the main job on built-in sample data. Each stage adds a part,
# tests/demo/<NN>-<stage>.sh, run in order in one scratch directory (DEMO_DIR,
# default build/demo) so later parts use what earlier ones made.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build} LWM_ROOT="$PWD"
export LWM=${LWM:-$PWD/$BUILD/lwm}
export DEMO_DIR=${DEMO_DIR:-$PWD/build/demo}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$DEMO_DIR"
for part in tests/demo/[0-9]*.sh; do
    [ -f "$part" ] || continue
    echo "== demo: $(basename "$part" .sh)"
    bash "$part"
done
echo "== demo finished; outputs in $DEMO_DIR"
