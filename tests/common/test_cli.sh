SUITE=common/cli
. tests/lib.sh
expect_ok help_lists_commands "$LWM" help
check help_mentions_version "help output lacks 'version'" grep -q version "$TMP/help_lists_commands.out"
expect_fail unknown_command_fails "unknown command 'frobnicate'" "$LWM" frobnicate
expect_ok version_runs "$LWM" version
check version_names_libraries "version lacks libavcodec" grep -q libavcodec "$TMP/version_runs.out"
