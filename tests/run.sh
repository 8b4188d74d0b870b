#!/usr/bin/env bash
# Runs every test: compiled C tests (build/tests/<stage>/test_*), shell tests
# (tests/<stage>/test_*.sh) and Python tests (tests/<stage>/test_*.py, run with
# Debian's /usr/bin/python3). Each prints "ok NAME" / "not ok NAME: reason";
# a test program that dies without reporting counts as one failure.
# Ends with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export LWM="$PWD/$BUILD/lwm" LWM_BUILD="$PWD/$BUILD" LWM_ROOT="$PWD"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
if [ -d ../shared/data ]; then export LWM_SHARED_DATA="$(cd ../shared/data && pwd)"; else export LWM_SHARED_DATA=; fi
if [ "${SAN:-}" = 1 ]; then
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=99"
    export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
FILTER=${TESTS:-}
TIMEOUT=${TEST_TIMEOUT:-900}

passed=0
failed=0
failures=()
root_tmp=$(mktemp -d "${TMPDIR:-/tmp}/lwm-tests.XXXXXX")
trap 'rm -rf "$root_tmp"' EXIT
# The verified-shard cache (shard/verified.c) of this run, not the user's.
export LWM_CACHE_DIR="$root_tmp/cache"

run_one() {
    local name=$1
    shift
    local tmp="$root_tmp/${name//\//_}"
    mkdir -p "$tmp"
    local out="$tmp.log"
    local t0=$SECONDS
    LWM_TMP="$tmp" timeout "$TIMEOUT" "$@" >"$out" 2>"$tmp.stderr"
    local rc=$?
    local p f
    p=$(grep -c '^ok ' "$out")
    f=$(grep -c '^not ok ' "$out")
    grep -E '^(ok|not ok) ' "$out"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "not ok $name: exited with status $rc"
        tail -n 20 "$tmp.stderr" | sed 's/^/    /'
    elif [ "$f" -gt 0 ]; then
        tail -n 10 "$tmp.stderr" | sed 's/^/    /'
    fi
    [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && { f=1; echo "not ok $name: reported no result"; }
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -gt 0 ] && failures+=("$name")
    echo "# $name: ${p} passed, ${f} failed ($((SECONDS - t0)) s)"
}

for bin in $(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
    name=${bin#"$BUILD/tests/"}
    [ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && continue
    run_one "$name" "$bin"
done
for script in $(find tests -mindepth 2 -type f \( -name 'test_*.sh' -o -name 'test_*.py' \) | sort); do
    name=${script#tests/}
    [ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && continue
    case "$script" in
        *.sh) run_one "$name" bash "$script" ;;
        *.py) run_one "$name" /usr/bin/python3 "$script" ;;
    esac
done

[ ${#failures[@]} -gt 0 ] && echo "# failing: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
