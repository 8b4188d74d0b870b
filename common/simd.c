// The CPU's vector units: which width the kernels use (cpuid, capped by the
// LWM_SIMD variable), the register-only FMA peak of that width, and the one
// SGEMM every hot GEMM of the project goes through.
//
// SGEMM is oneDNN's (Debian libdnnl): it JIT-compiles its kernels for the
// widest ISA cpuid reports (AVX-512 here, AVX2 elsewhere) whatever
// OPENBLAS_CORETYPE says, and on the lwm conv shapes it ran 1.9-2.2x faster
// than OpenBLAS with the Haswell kernels CI forces (bench/RESULTS.md). BLIS
// from Debian was measured too and selects its generic (unvectorised)
// sub-configuration on this CPU. OpenBLAS stays for everything else.
//
// LWM_SIMD=avx2 caps oneDNN at AVX2 (dnnl_set_max_cpu_isa) and makes the
// project's own kernels take their AVX2 path; the cap must be set before
// oneDNN generates its first kernel, so it is applied once per process
// (pthread_once) on the first GEMM or level query.
#include <dnnl.h>
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int cpu_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return LWM_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return LWM_SIMD_AVX2;
    return LWM_SIMD_SCALAR;
}

static int wanted_level(void)
{
    const char *v = getenv("LWM_SIMD");
    int level = cpu_level();
    if (!v || !*v) return level;
    int cap = strcmp(v, "avx2") == 0     ? LWM_SIMD_AVX2
              : strcmp(v, "scalar") == 0 ? LWM_SIMD_SCALAR
                                         : level;
    return cap < level ? cap : level;
}

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static void apply_isa_cap(void)
{
    int level = wanted_level();
    if (level < LWM_SIMD_AVX512)
        dnnl_set_max_cpu_isa(level == LWM_SIMD_AVX2 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_sse41);
}

int lwm_simd_level(void)
{
    pthread_once(&isa_once, apply_isa_cap);
    return wanted_level();
}

int lwm_simd_bf16(void)
{
    return lwm_simd_level() == LWM_SIMD_AVX512 && __builtin_cpu_supports("avx512bf16");
}

const char *lwm_simd_name(int level)
{
    return level == LWM_SIMD_AVX512 ? "avx512" : level == LWM_SIMD_AVX2 ? "avx2" : "scalar";
}

int lwm_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc)
{
    pthread_once(&isa_once, apply_isa_cap);
    if (M == 0 || N == 0) return 0;
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda,
                                  B, ldb, beta, C, ldc);
    return st == dnnl_success ? 0 : LWM_EINTERNAL;
}

// ------------------------------------------------------------ FMA peak

// Twelve independent chains per thread, named so they stay in registers:
// enough to cover the FMA latency (4-5 cycles) times the FMA ports (2) of
// every current x86 core. acc = acc·m + a converges to 0.1: no denormals.
#define ACC 12
#define PEAK_ITERS (1 << 22)
// One body for both widths: V the vector type, P the intrinsics' prefix.
// Distinct starts, or the compiler merges the identical chains into one.
#define FMA_LOOP(NAME, TARGET, V, P)                                                               \
    __attribute__((target(TARGET))) static float NAME(int iters)                                   \
    {                                                                                              \
        V m = P##_set1_ps(0.999999f), c = P##_set1_ps(1e-7f);                                      \
        V a0 = P##_set1_ps(0.00f), a1 = P##_set1_ps(0.01f), a2 = P##_set1_ps(0.02f),               \
          a3 = P##_set1_ps(0.03f), a4 = P##_set1_ps(0.04f), a5 = P##_set1_ps(0.05f),               \
          a6 = P##_set1_ps(0.06f), a7 = P##_set1_ps(0.07f), a8 = P##_set1_ps(0.08f),               \
          a9 = P##_set1_ps(0.09f), a10 = P##_set1_ps(0.10f), a11 = P##_set1_ps(0.11f);             \
        for (int it = 0; it < iters; it++) {                                                       \
            a0 = P##_fmadd_ps(a0, m, c), a1 = P##_fmadd_ps(a1, m, c);                              \
            a2 = P##_fmadd_ps(a2, m, c), a3 = P##_fmadd_ps(a3, m, c);                              \
            a4 = P##_fmadd_ps(a4, m, c), a5 = P##_fmadd_ps(a5, m, c);                              \
            a6 = P##_fmadd_ps(a6, m, c), a7 = P##_fmadd_ps(a7, m, c);                              \
            a8 = P##_fmadd_ps(a8, m, c), a9 = P##_fmadd_ps(a9, m, c);                              \
            a10 = P##_fmadd_ps(a10, m, c), a11 = P##_fmadd_ps(a11, m, c);                          \
        }                                                                                          \
        a0 = P##_add_ps(P##_add_ps(P##_add_ps(a0, a1), P##_add_ps(a2, a3)),                        \
                        P##_add_ps(P##_add_ps(a4, a5), P##_add_ps(a6, a7)));                       \
        a0 = P##_add_ps(a0, P##_add_ps(P##_add_ps(a8, a9), P##_add_ps(a10, a11)));                 \
        float out[sizeof(V) / sizeof(float)];                                                      \
        memcpy(out, &a0, sizeof out);                                                              \
        return out[0];                                                                             \
    }

FMA_LOOP(fma_loop_avx512, "avx512f", __m512, _mm512)
FMA_LOOP(fma_loop_avx2, "avx2,fma", __m256, _mm256)

double lwm_fma_peak_gflops(int level, int threads, int reps)
{
    if (level > LWM_SIMD_AVX512 || level > cpu_level() || level < LWM_SIMD_AVX2) return 0;
    int lanes = level == LWM_SIMD_AVX512 ? 16 : 8;
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < (reps > 0 ? reps : 1); r++) {
        float part[256] = {0};
        int n = threads < 256 ? threads : 256;
        double t = lwm_now();
#pragma omp parallel num_threads(n)
        {
            int id = omp_get_thread_num();
            part[id] =
                level == LWM_SIMD_AVX512 ? fma_loop_avx512(PEAK_ITERS) : fma_loop_avx2(PEAK_ITERS);
        }
        t = lwm_now() - t;
        for (int i = 0; i < n; i++) sink += part[i];
        double g = 2.0 * lanes * ACC * (double)PEAK_ITERS * n / t / 1e9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}
