# liblwm.so exports exactly its public API: every dynamic symbol it defines is a
# function declared in a public header (a stage's own header or common/common.h),
# and every function those headers declare is exported. Internal names (`mm`,
# `model_create`, `safetensors_read`...) would otherwise land in every Python
# process that loads the library beside PyTorch.
SUITE=common/exports
. tests/lib.sh
LIB=${LWM_BUILD:-build}/liblwm.so
HEADERS="common/common.h ingest/ingest.h vqgan/vqgan.h shard/shard.h loader/loader.h train/train.h eval/eval.h"

nm -D --defined-only "$LIB" | awk '{print $3}' | sed 's/@.*//' | sort -u >"$TMP/exported"
# Declarations: an lwm_ name followed by "(" at file scope in the public headers
# (prototypes; function-pointer fields are "(*name)", macros "#define" and static
# inline helpers are not symbols).
$PY - $HEADERS >"$TMP/declared" <<'PYEOF'
import re, sys
names = set()
for h in sys.argv[1:]:
    text = re.sub(r"/\*.*?\*/|//[^\n]*", "", open(h).read(), flags=re.S)
    text = re.sub(r"^\s*#.*?(?<!\\)$", "", text, flags=re.M | re.S)
    # static inline helpers (lwm_le_get32...) are compiled into the caller, not exported
    inline = set(re.findall(r"\bstatic\s+inline\s+[\w\s*]*?\b(lwm_\w+)\s*\(", text))
    for m in re.finditer(r"\b(lwm_\w+)\s*\(", text):
        if m.group(1) in inline:
            continue
        before = text[:m.start()].rstrip()
        if before.endswith("(*") or before.endswith("*") and before[:-1].rstrip().endswith("("):
            continue
        names.add(m.group(1))
print("\n".join(sorted(names)))
PYEOF
check exports_something "no symbol exported from $LIB" test -s "$TMP/exported"
extra=$(comm -23 "$TMP/exported" "$TMP/declared" | head -20 | tr '\n' ' ')
missing=$(comm -13 "$TMP/exported" "$TMP/declared" | head -20 | tr '\n' ' ')
check only_public_api "exported but not declared in a public header: $extra" test -z "$extra"
check all_public_api "declared in a public header but not exported: $missing" test -z "$missing"
