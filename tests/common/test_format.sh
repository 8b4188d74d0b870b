# The C style is .clang-format's: every C, C++ and header file the repository tracks is
# as clang-format leaves it, and no line is longer than the 100 columns it sets (long
# comments and string literals, which clang-format does not break, included).
SUITE=common/format
. tests/lib.sh
files=$(git ls-files '*.c' '*.h' '*.cc' 2>/dev/null)
if [ -z "$files" ]; then files=$(find common ingest vqgan shard loader train eval cli tests bench \
    -name '*.c' -o -name '*.h' -o -name '*.cc'); fi
limit=$(sed -n 's/^ColumnLimit: *//p' .clang-format)
check column_limit_read "no ColumnLimit in .clang-format" test -n "$limit"
$PY - "$limit" $files >"$TMP/long" <<'PYEOF'
import sys
limit = int(sys.argv[1])
for f in sys.argv[2:]:
    for n, line in enumerate(open(f, encoding="utf-8").read().split("\n"), 1):
        if len(line) > limit:
            print(f"{f}:{n}: {len(line)} columns")
PYEOF
check lines_within_the_limit "$(wc -l <"$TMP/long") lines: $(head -3 "$TMP/long" | tr '\n' ' ')" \
    test ! -s "$TMP/long"
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files >"$TMP/format.out" 2>&1
check formatted_as_clang_format_leaves_it "$(grep -c 'error:' "$TMP/format.out") places, first: \
$(grep -m1 'error:' "$TMP/format.out")" test ! -s "$TMP/format.out"
