# lwm vqgan import of hostile pickles (issue 15 item 1): every global outside the
# converter's allowlist is refused by name, nothing it would run runs (no marker
# file, no library loaded, no file read into the weights), and memory stays bounded.
SUITE=vqgan/pickle_hostile
. tests/lib.sh

MARKER=$TMP/MARKER
gcc -shared -fPIC -o "$TMP/libmark.so" -x c - <<EOF
#include <stdio.h>
__attribute__((constructor)) static void mark(void) { fclose(fopen("$MARKER", "w")); }
EOF
$PY tests/vqgan/hostile_pickles.py "$TMP" "$MARKER" "$TMP/libmark.so" >"$TMP/list"

# The converter alone, under a 1 GB address-space limit (the CLI binary may be an
# ASan build, which needs far more address space, so it is run without one below).
convert_bounded() { (ulimit -v 1000000; exec "$PY" vqgan/import_pickle.py "$@"); }
while IFS=$'\t' read -r pkl what; do
    key=$(basename "$pkl" .pkl)
    what_re=$(printf '%s' "$what" | sed 's/[][\.*^$()+?{}|]/\\&/g')
    expect_fail "refused_$key" "$pkl: cannot read the pickle: .*$what_re" \
        convert_bounded "$pkl" "$TMP/$key.safetensors"
    check "no_output_$key" "$key.safetensors was written" test ! -e "$TMP/$key.safetensors"
done <"$TMP/list"

# Through the CLI: the converter's refusal reaches the user and nothing is written.
for key in exec numpy_load load_library numpy_fromfile numpy_dotted_os; do
    what=$(grep "/$key.pkl" "$TMP/list" | cut -f2)
    expect_fail "cli_refused_$key" "refusing to load $what" \
        "$LWM" vqgan import "$TMP/$key.pkl" --out "$TMP/cli_$key.safetensors"
    check "cli_no_output_$key" "cli_$key.safetensors was written" test ! -e "$TMP/cli_$key.safetensors"
done
check no_code_ran "a payload ran: $(ls "$TMP" | grep MARKER | tr '\n' ' ')" \
    sh -c "! ls '$TMP' | grep -q MARKER"

# Honest pickles of every protocol still convert, to the same tensors.
for p in $(seq 0 5); do
    expect_ok "honest_protocol_$p" convert_bounded "$TMP/honest_$p.pkl" "$TMP/honest_$p.safetensors"
done
check honest_protocols_agree "the protocols convert to different tensors" $PY - "$TMP" <<'EOF'
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__")
    return h, b[8 + n:]
first = tensors(f"{sys.argv[1]}/honest_0.safetensors")
sys.exit(not (first[0] and all(tensors(f"{sys.argv[1]}/honest_{p}.safetensors") == first for p in range(6))))
EOF
