# The forced AVX2 path: the layer tests and the whole-model tests (small, tiny
# and the full lwm preset on a real frame: codes >= 99.9% equal to float64)
# again, in processes where LWM_SIMD=avx2 caps oneDNN's SGEMM and the Winograd
# micro-kernel at AVX2. On a CPU without AVX-512 this repeats the default run.
SUITE=vqgan/avx2
. tests/lib.sh
BUILD_DIR=${LWM_BUILD:-build}
for t in test_layers test_model; do
    LWM_SIMD=avx2 LWM_TMP="$TMP" "$BUILD_DIR/tests/vqgan/$t" >"$TMP/$t.out" 2>"$TMP/$t.err"
    rc=$?
    sed -n 's#^ok vqgan/#ok vqgan/avx2/#p; s#^not ok vqgan/#not ok vqgan/avx2/#p' "$TMP/$t.out"
    grep -q '^not ok' "$TMP/$t.out" && tail -n 8 "$TMP/$t.err" >&2
    [ $rc -ne 0 ] && ! grep -q '^not ok' "$TMP/$t.out" && not_ok "$t" "exited with status $rc"
done
check model_ran_on_avx2 "test_model did not report the avx2 level: $(grep -m1 'simd' "$TMP/test_model.err")" \
    grep -q 'simd level avx2' "$TMP/test_model.err"
