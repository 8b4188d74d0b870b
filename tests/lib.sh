# tests/lib.sh: helpers for shell tests. Source it; each check prints
# "ok <suite>/<name>" or "not ok <suite>/<name>: reason" for tests/run.sh to count.
#   SUITE=ingest/cli; . tests/lib.sh
#   expect_ok name cmd...          command exits 0
#   expect_fail name pattern cmd... command exits non-zero and stderr matches pattern
#   check name "reason" test-expr-as-command...
LWM=${LWM:-build/lwm}
TMP=${LWM_TMP:-$(mktemp -d)}
SHARED_DATA=${LWM_SHARED_DATA:-}

ok() { echo "ok $SUITE/$1"; }
not_ok() { echo "not ok $SUITE/$1: $2"; }

check() {
    local name=$1 reason=$2
    shift 2
    if "$@"; then ok "$name"; else not_ok "$name" "$reason"; fi
}

expect_ok() {
    local name=$1
    shift
    if "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then ok "$name"
    else not_ok "$name" "exit $?: $(head -c 300 "$TMP/$name.err" | tr '\n' ' ')"; fi
}

expect_fail() {
    local name=$1 pattern=$2
    shift 2
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    local rc=$?
    if [ $rc -eq 0 ]; then not_ok "$name" "expected failure, exited 0"
    elif [ $rc -ge 128 ]; then not_ok "$name" "crashed with signal $((rc - 128))"
    elif ! grep -Eq -- "$pattern" "$TMP/$name.err"; then
        not_ok "$name" "stderr lacks /$pattern/: $(head -c 300 "$TMP/$name.err" | tr '\n' ' ')"
    else ok "$name"; fi
}

# Runs a Python snippet with Debian's interpreter (python3-torch/numpy live there).
PY=/usr/bin/python3

# damage_video SRC DST: a copy of SRC with 40 runs of 16 bytes past its first 3000 bytes
# overwritten with 0xff (slice data hit, container header intact).
damage_video() {
    cp "$1" "$2"
    local size i
    size=$(stat -c %s "$2")
    for i in $(seq 1 40); do
        printf '\377\377\377\377\377\377\377\377\377\377\377\377\377\377\377\377' |
            dd of="$2" bs=1 seek=$((3000 + (i * 7919) % (size - 3100))) conv=notrunc status=none
    done
}

# Reruns compiled tests of one stage with an environment setting, their names
# tagged: rerun_under LWM_SIMD=avx2 avx2 vqgan test_layers test_model prints
# "ok vqgan/avx2/layers/...". Stderr of each run stays in $TMP/<test>.err.
rerun_under() {
    local setting=$1 tag=$2 stage=$3 t rc
    shift 3
    for t in "$@"; do
        env "$setting" LWM_TMP="$TMP" "${LWM_BUILD:-build}/tests/$stage/$t" >"$TMP/$t.out" 2>"$TMP/$t.err"
        rc=$?
        sed -n "s#^ok $stage/#ok $stage/$tag/#p; s#^not ok $stage/#not ok $stage/$tag/#p" "$TMP/$t.out"
        grep -q '^not ok' "$TMP/$t.out" && tail -n 8 "$TMP/$t.err" >&2
        [ $rc -ne 0 ] && ! grep -q '^not ok' "$TMP/$t.out" && not_ok "$tag/$t" "exited with status $rc"
        grep -q "^ok $stage/" "$TMP/$t.out" || not_ok "$tag/$t" "reported no result"
    done
}
