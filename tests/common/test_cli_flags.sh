# Issue 16/20: one option parser and one name per concept. Walks every command that
# 'lwm help' lists: --help prints the usage and exits 0; an unknown option, a missing
# argument and a malformed value are usage errors (exit 2, the usage on stderr); every
# option the usage lists is accepted; VQGAN weights are --vqgan, frame caps --max-frames,
# dataset mixing --mix, and the old spellings work with a warning; --json and --quiet
# exist where a command prints results or progress.
SUITE=common/cli_flags
. tests/lib.sh

commands=$("$LWM" help | sed -n 's/^  \([a-z]*\) .*/\1/p' | grep -v '^help$')
check help_lists_commands "lwm help listed: $commands" test "$(echo "$commands" | wc -w)" -ge 12

json_cmds=" version vqgan pack inspect show verify ls train render frames ingest merge "
quiet_cmds=" vqgan pack inspect verify train render frames ingest merge "
no_args_ok=" version "
for c in $commands; do
    "$LWM" "$c" --help >"$TMP/$c.help" 2>"$TMP/$c.help.err"
    rc=$?
    check "$c/help_exits_0" "exit $rc" test $rc -eq 0
    check "$c/help_is_usage" "stdout lacks usage:" grep -q '^usage:' "$TMP/$c.help"
    "$LWM" "$c" --no-such-option >/dev/null 2>"$TMP/$c.bad.err"
    rc=$?
    check "$c/unknown_option_exits_2" "exit $rc" test $rc -eq 2
    check "$c/unknown_option_prints_usage" "stderr lacks the usage" grep -q '^usage:' "$TMP/$c.bad.err"
    if [[ "$no_args_ok" != *" $c "* ]]; then
        "$LWM" "$c" >/dev/null 2>"$TMP/$c.none.err"
        rc=$?
        check "$c/no_arguments_exits_2" "exit $rc: $(head -c 200 "$TMP/$c.none.err")" test $rc -eq 2
    fi
    [[ "$json_cmds" == *" $c "* ]] && check "$c/has_json" "--help lacks --json" grep -q -- '--json' "$TMP/$c.help"
    [[ "$quiet_cmds" == *" $c "* ]] && check "$c/has_quiet" "--help lacks --quiet" grep -q -- '--quiet' "$TMP/$c.help"
    # Old spellings appear only as such (--weights for a model's own weights is another concept).
    bad=$( (grep -- '--max-n-frames' "$TMP/$c.help"; grep -- '--weights' "$TMP/$c.help" | grep -iE 'vqgan|mix') |
        grep -v 'old name')
    check "$c/no_old_names" "usage names: $bad" test -z "$bad"
    # The options of the shared concepts that the usage lists are ones the parser knows
    # (one run each, so only these: every run starts the whole program; the sanitizer
    # build, slower to start, leaves this parsing-only check to the normal build).
    [ "${SAN:-}" = 1 ] && continue
    sub=""
    [ "$c" = vqgan ] && sub=info
    unknown=""
    for flag in $(grep -oE -- '--(vqgan|max-frames|mix|json|quiet)\b' "$TMP/$c.help" | sort -u); do
        "$LWM" "$c" $sub "$flag" </dev/null >/dev/null 2>"$TMP/flag.err"
        grep -q 'unknown option' "$TMP/flag.err" && unknown="$unknown $flag"
    done
    check "$c/listed_options_accepted" "refused:$unknown" test -z "$unknown"
done

# One name per concept.
for c in vqgan ingest render; do
    check "$c/vqgan_weights_are_--vqgan" "--help lacks --vqgan" grep -q -- '--vqgan' "$TMP/$c.help"
done
for c in vqgan ingest render frames pack; do
    check "$c/frame_cap_is_--max-frames" "--help lacks --max-frames" grep -q -- '--max-frames' "$TMP/$c.help"
done
check pack/mixing_is_--mix "--help lacks --mix" grep -q -- '--mix' "$TMP/pack.help"

# Old spellings still work, with a warning.
"$LWM" vqgan info --weights "$TMP/none.safetensors" >/dev/null 2>"$TMP/alias.err"
check vqgan/--weights_warns "no warning: $(head -c 200 "$TMP/alias.err")" grep -q -- 'old name; use --vqgan' "$TMP/alias.err"
check vqgan/--weights_acts_as_--vqgan "the weights were not tried" grep -q "none.safetensors" "$TMP/alias.err"
printf '{"text": "hello world"}\n' >"$TMP/t.jsonl"
"$LWM" pack "$TMP/t.jsonl" --seq-len 8 --count 0 --weights 1 --max-n-frames 2 >/dev/null 2>"$TMP/pack_alias.err"
check pack/--weights_warns "no warning" grep -q -- '--weights is an old name; use --mix' "$TMP/pack_alias.err"
check pack/--max-n-frames_warns "no warning" grep -q -- '--max-n-frames is an old name; use --max-frames' "$TMP/pack_alias.err"

# Usage errors exit 2 in every command: a missing value, a malformed number, a bad choice.
expect_status() { # name status cmd...
    local name=$1 want=$2
    shift 2
    local err="$TMP/${name//\//_}.err"
    "$@" >/dev/null 2>"$err"
    local rc=$?
    check "$name" "exit $rc, expected $want: $(head -c 200 "$err")" test $rc -eq "$want"
}
expect_status frames/missing_value_exits_2 2 "$LWM" frames v.mp4 --out
expect_status frames/bad_number_exits_2 2 "$LWM" frames v.mp4 --out "$TMP/f" --max-frames x
expect_status ingest/bad_number_exits_2 2 "$LWM" ingest --manifest m.jsonl --max-frames 0
expect_status render/bad_number_exits_2 2 "$LWM" render d id --vqgan w --out x.png --max-frames -1
expect_status render/bad_extension_exits_2 2 "$LWM" render d id --vqgan w --out x.gif
expect_status vqgan/bad_number_exits_2 2 "$LWM" vqgan encode --vqgan w --image i.png --batch 0
expect_status vqgan/unknown_subcommand_exits_2 2 "$LWM" vqgan frobnicate
expect_status vqgan/missing_weights_exits_2 2 "$LWM" vqgan info
expect_status pack/bad_choice_exits_2 2 "$LWM" pack "$TMP/t.jsonl" --seq-len 8 --layout nope
expect_status ls/bad_choice_exits_2 2 "$LWM" ls d --modality sound
expect_status show/extra_argument_exits_2 2 "$LWM" show d id extra
expect_status train/bad_steps_exits_2 2 "$LWM" train --config c --data d --steps x
expect_status train/resume_and_overwrite_exits_2 2 "$LWM" train --config c --data d --resume --overwrite
expect_status help/unknown_command_exits_2 2 "$LWM" help frobnicate
