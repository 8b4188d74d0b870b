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

JOBS=${TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}

root_tmp=$(mktemp -d "${TMPDIR:-/tmp}/lwm-tests.XXXXXX")
trap 'rm -rf "$root_tmp"' EXIT
# The verified-shard cache (shard/verified.c) of this run, not the user's.
export LWM_CACHE_DIR="$root_tmp/cache"

# Runs one test and leaves its report in $tmp.report: its ok/not ok lines, the
# stderr of a failure, a summary line, and "counts P F" for the totals.
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
    {
        grep -E '^(ok|not ok) ' "$out"
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1
            echo "not ok $name: exited with status $rc"
            tail -n 20 "$tmp.stderr" | sed 's/^/    /'
        elif [ "$f" -gt 0 ]; then
            tail -n 10 "$tmp.stderr" | sed 's/^/    /'
        fi
        [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && { f=1; echo "not ok $name: reported no result"; }
        echo "# $name: ${p} passed, ${f} failed ($((SECONDS - t0)) s)"
        echo "counts $p $f $name"
    } >"$tmp.report.part"
    mv "$tmp.report.part" "$tmp.report"
}

# Every test, compiled C tests (build/tests/<stage>/test_*) first, then scripts.
tests=()
for bin in $(find "$BUILD/tests" -type f -name 'test_*' -perm -u+x 2>/dev/null | sort); do
    tests+=("${bin#"$BUILD/tests/"}|$bin")
done
for script in $(find tests -mindepth 2 -type f \( -name 'test_*.sh' -o -name 'test_*.py' \) | sort); do
    case "$script" in
        *.sh) tests+=("${script#tests/}|bash $script") ;;
        *.py) tests+=("${script#tests/}|/usr/bin/python3 $script") ;;
    esac
done

# Tests run $JOBS at a time (TEST_JOBS, default the number of cores): most spend
# much of their time in single-threaded start-up, Python imports and I/O. Each
# report is printed whole when its test ends.
passed=0
failed=0
failures=()
print_report() {
    local report=$1 p f name
    grep -v '^counts ' "$report"
    read -r _ p f name < <(grep '^counts ' "$report")
    passed=$((passed + p))
    failed=$((failed + f))
    [ "$f" -gt 0 ] && failures+=("$name")
    rm -f "$report"
}
pending=()
reap_finished() {
    local still=() r
    for r in "${pending[@]}"; do
        if [ -f "$r" ]; then print_report "$r"; else still+=("$r"); fi
    done
    pending=("${still[@]}")
}
for entry in "${tests[@]}"; do
    name=${entry%%|*}
    [ -n "$FILTER" ] && [[ "$name" != *$FILTER* ]] && continue
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n 2>/dev/null
        reap_finished
    done
    # The command is split on spaces: no test path contains one.
    # shellcheck disable=SC2086
    run_one "$name" ${entry#*|} &
    pending+=("$root_tmp/${name//\//_}.report")
done
wait
reap_finished

[ ${#failures[@]} -gt 0 ] && echo "# failing: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
