#!/usr/bin/env bash
# make fuzz: runs each libFuzzer harness (built by make into $FUZZ_BUILD) for $FUZZ_S seconds,
# starting from its seeds in tests/fuzz/<name>/ and a working corpus in $FUZZ_BUILD/corpus/<name>.
# A crash is copied into tests/fuzz/<name>/ as a regression input (make test replays it).
# Prints one line per harness: seconds run, executions, corpus size, and the finding if any.
set -u
cd "$(dirname "$0")/../.."
B=${FUZZ_BUILD:-build/fuzz}
S=${FUZZ_S:-60}
found=0
for h in "$@"; do
    mkdir -p "$B/corpus/$h" "$B/artifacts"
    log="$B/fuzz_$h.log"
    rm -f "$B/artifacts/$h-"*
    t0=$SECONDS
    LWM_TMP=$(mktemp -d) "$B/fuzz_$h" -max_total_time="$S" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$B/artifacts/$h-" "$B/corpus/$h" "tests/fuzz/$h" \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    ncorp=$(ls "$B/corpus/$h" | wc -l)
    crash=$(ls "$B/artifacts/$h-"* 2>/dev/null | head -1)
    if [ -n "$crash" ] || [ $rc -ne 0 ]; then
        found=1
        if [ -n "$crash" ]; then
            cp "$crash" "tests/fuzz/$h/regress-$(basename "$crash" | sed "s/^$h-//")"
        fi
        echo "fuzz $h: FINDING after $((SECONDS - t0)) s (rc $rc): ${crash:-see $log}"
        grep -m1 -E 'ERROR|runtime error' "$log" | sed 's/^/    /'
    else
        echo "fuzz $h: $((SECONDS - t0)) s, ${execs:-?} executions, corpus $ncorp, no finding"
    fi
done
exit $found
