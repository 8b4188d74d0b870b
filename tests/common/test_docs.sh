# Issue 16: the README is for users first and points only at what the repository holds.
# It opens with "Your own videos in six commands"; every relative link of README.md and
# docs/*.md names a file that exists; no text cites the project's external spec files
# (they live outside the repository); every `build/lwm CMD` it shows is a command lwm
# lists, and the options shown with it are ones that command's --help lists.
SUITE=common/docs
. tests/lib.sh

first=$(grep -m1 '^## ' README.md)
check readme_starts_with_six_commands "first section: $first" test "$first" = "## Your own videos in six commands"

broken=""
for doc in README.md docs/*.md; do
    dir=$(dirname "$doc")
    for link in $(grep -oE '\]\([^)#]+' "$doc" | sed 's/^](//' | grep -v '^[a-z]*://'); do
        [ -e "$dir/$link" ] || broken="$broken $doc:$link"
    done
done
check links_resolve "missing:$broken" test -z "$broken"

cited=$(grep -lE 'lwm-format\.md|ring-attention\.md|shared/spec|STYLE\.md' README.md docs/*.md | tr '\n' ' ')
check no_external_spec_cited "cited in: $cited" test -z "$cited"

known=" $("$LWM" help | sed -n 's/^  \([a-z]*\) .*/\1/p' | tr '\n' ' ') "
unknown="" badflags=""
while read -r cmd rest; do
    [[ "$known" == *" $cmd "* ]] || { unknown="$unknown $cmd"; continue; }
    [ -f "$TMP/$cmd.help" ] || "$LWM" "$cmd" --help >"$TMP/$cmd.help" 2>/dev/null
    for flag in $(echo "$rest" | grep -oE -- '--[a-z][a-z-]*'); do
        grep -q -- "$flag" "$TMP/$cmd.help" || badflags="$badflags $cmd$flag"
    done
done < <(cat README.md docs/*.md | grep -oE 'build/lwm [a-z]+[^`|#]*' | sed 's|^build/lwm ||')
check shown_commands_exist "unknown:$unknown" test -z "$unknown"
check shown_options_exist "not in the command's --help:$badflags" test -z "$badflags"
