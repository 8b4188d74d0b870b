SUITE=common/cli
. tests/lib.sh
expect_ok help_lists_commands "$LWM" help
check help_mentions_version "help output lacks 'version'" grep -q version "$TMP/help_lists_commands.out"
expect_fail unknown_command_fails "unknown command 'frobnicate'" "$LWM" frobnicate
expect_ok version_runs "$LWM" version
check version_names_libraries "version lacks libavcodec" grep -q libavcodec "$TMP/version_runs.out"

# Outside the sanitizers the CLI allocates through jemalloc on transparent huge
# pages (cli/malloc_conf.c); jemalloc's own statistics say which settings it runs with.
if [ "${SAN:-}" != 1 ]; then
    MALLOC_CONF=stats_print:true "$LWM" version >/dev/null 2>"$TMP/malloc_stats.err"
    check cli_uses_jemalloc_with_huge_pages "jemalloc statistics lack opt.thp \"always\"" \
        grep -q 'opt.thp: "always"' "$TMP/malloc_stats.err"
fi
