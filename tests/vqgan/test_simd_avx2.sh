# The forced AVX2 path: the layer tests and the whole-model tests (small, tiny
# and the full lwm preset on a real frame: codes >= 99.9% equal to float64)
# again, in processes where LWM_SIMD=avx2 caps oneDNN's SGEMM and the Winograd
# micro-kernel at AVX2. On a CPU without AVX-512 this repeats the default run.
SUITE=vqgan/avx2
. tests/lib.sh
rerun_under LWM_SIMD=avx2 avx2 vqgan test_layers test_model
check model_ran_on_avx2 "test_model did not report the avx2 level: $(grep -m1 'simd' "$TMP/test_model.err")" \
    grep -q 'simd level avx2' "$TMP/test_model.err"
