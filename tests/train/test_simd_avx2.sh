# The forced AVX2 path of the trainer's GEMMs: the attention kernels (blockwise
# vs the naive reference, forward and backward) and the model's gradients against
# PyTorch again, in processes where LWM_SIMD=avx2 caps lwm_sgemm (oneDNN) at AVX2.
SUITE=train/avx2
. tests/lib.sh
BUILD_DIR=${LWM_BUILD:-build}
for t in test_attention test_model; do
    LWM_SIMD=avx2 LWM_TMP="$TMP" "$BUILD_DIR/tests/train/$t" >"$TMP/$t.out" 2>"$TMP/$t.err"
    rc=$?
    sed -n 's#^ok train/#ok train/avx2/#p; s#^not ok train/#not ok train/avx2/#p' "$TMP/$t.out"
    grep -q '^not ok' "$TMP/$t.out" && tail -n 8 "$TMP/$t.err" >&2
    [ $rc -ne 0 ] && ! grep -q '^not ok' "$TMP/$t.out" && not_ok "$t" "exited with status $rc"
    grep -q '^ok train/' "$TMP/$t.out" || not_ok "$t" "reported no result"
done
