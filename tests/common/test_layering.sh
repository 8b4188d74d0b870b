# The architecture rule: stages include only common/ and the public headers of
# the stages below them; nobody includes another stage's internal.h.
SUITE=common/layering
. tests/lib.sh

allowed() { # stage -> stages whose public header it may include
    case $1 in
        common) echo "" ;;
        vqgan | shard) echo "" ;;
        ingest) echo "vqgan shard" ;;
        loader) echo "shard" ;;
        train) echo "loader shard" ;;
        eval) echo "train loader" ;;
    esac
}

bad=""
for stage in common ingest vqgan shard loader train eval; do
    for f in $(find "$stage" -name '*.[ch]' -o -name '*.cc' 2>/dev/null); do
        while read -r inc; do
            dep=${inc%%/*}
            [ "$dep" = "$inc" ] && continue       # same-folder include
            [ "$dep" = common ] && continue
            [ "$dep" = "$stage" ] && continue
            case " $(allowed "$stage") " in
                *" $dep "*) [ "${inc#*/}" = "$dep.h" ] || bad="$bad $f->$inc" ;;
                *) bad="$bad $f->$inc" ;;
            esac
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done
done
check include_graph_points_downward "forbidden includes:$bad" test -z "$bad"

bad=$(grep -rlE '\b(exit|abort|printf|puts)\s*\(|fprintf\s*\(\s*std(out|err)' common ingest vqgan shard loader train eval \
      --include='*.c' --include='*.cc' 2>/dev/null | tr '\n' ' ')
check libraries_never_print_or_exit "found in: $bad" test -z "$bad"

# As git's banned.h: calls that invite overflows (use snprintf/lwm_format, memcpy with a
# checked size, strtok_r, strtol). Checked here rather than by macros so that system
# headers included in any order keep compiling.
bad=$(grep -rnE '\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|strtok|gets|atoi)\s*\(' \
      common ingest vqgan shard loader train eval cli --include='*.c' --include='*.cc' --include='*.h' \
      2>/dev/null | cut -d: -f1,2 | tr '\n' ' ')
check banned_functions_unused "found at: $bad" test -z "$bad"
