// Register-blocked GEMM micro-kernels: C[MR×NR] (=, or += when acc) A[MR×K]·B[K×NR],
// A row-major with rows lda apart (read in place: the Winograd tiles are small
// enough to stay in L1/L2), B packed (row k of the panel at B + k·NR), C rows ldc
// apart. One kernel per vector level, each compiled for its own ISA by a
// target attribute (the rest of the file stays portable); the level is chosen
// at run time from cpuid (lwm_simd_level, LWM_SIMD=avx2 forces the AVX2 one).
//
// AVX-512: 6 rows × 64 columns, 24 zmm accumulators, 4 loads of B and 6
// broadcasts of A per k. AVX2: 6 rows × 16 columns, 12 ymm accumulators.
#include <immintrin.h>

#include "internal.h"

// One body for both widths: six rows of accumulators loaded (or zeroed), the
// k loop (B loads, then a broadcast and the FMAs of each row), six rows stored.
#define KERNEL_BODY(LOAD, BLOAD, ROW, STORE, NR)                                                   \
    LOAD(0);                                                                                       \
    LOAD(1);                                                                                       \
    LOAD(2);                                                                                       \
    LOAD(3);                                                                                       \
    LOAD(4);                                                                                       \
    LOAD(5);                                                                                       \
    for (int k = 0; k < K; k++, B += NR) {                                                         \
        BLOAD;                                                                                     \
        ROW(0);                                                                                    \
        ROW(1);                                                                                    \
        ROW(2);                                                                                    \
        ROW(3);                                                                                    \
        ROW(4);                                                                                    \
        ROW(5);                                                                                    \
    }                                                                                              \
    STORE(0);                                                                                      \
    STORE(1);                                                                                      \
    STORE(2);                                                                                      \
    STORE(3);                                                                                      \
    STORE(4);                                                                                      \
    STORE(5)

#define BLOAD512                                                                                   \
    __m512 b0 = _mm512_load_ps(B), b1 = _mm512_load_ps(B + 16), b2 = _mm512_load_ps(B + 32),       \
           b3 = _mm512_load_ps(B + 48)
#define BLOAD256 __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8)

#define ROW512(i)                                                                                  \
    do {                                                                                           \
        __m512 x = _mm512_set1_ps(a##i[k]);                                                        \
        c##i##0 = _mm512_fmadd_ps(x, b0, c##i##0), c##i##1 = _mm512_fmadd_ps(x, b1, c##i##1);      \
        c##i##2 = _mm512_fmadd_ps(x, b2, c##i##2), c##i##3 = _mm512_fmadd_ps(x, b3, c##i##3);      \
    } while (0)
#define LOAD512(i)                                                                                 \
    __m512 c##i##0 = acc ? _mm512_loadu_ps(C + i * ldc) : _mm512_setzero_ps(),                     \
           c##i##1 = acc ? _mm512_loadu_ps(C + i * ldc + 16) : _mm512_setzero_ps(),                \
           c##i##2 = acc ? _mm512_loadu_ps(C + i * ldc + 32) : _mm512_setzero_ps(),                \
           c##i##3 = acc ? _mm512_loadu_ps(C + i * ldc + 48) : _mm512_setzero_ps();                \
    const float *a##i = A + i * lda
#define STORE512(i)                                                                                \
    _mm512_storeu_ps(C + i * ldc, c##i##0), _mm512_storeu_ps(C + i * ldc + 16, c##i##1),           \
        _mm512_storeu_ps(C + i * ldc + 32, c##i##2), _mm512_storeu_ps(C + i * ldc + 48, c##i##3)

__attribute__((target("avx512f"))) static void kernel_avx512(int K, const float *A, ptrdiff_t lda,
                                                             const float *B, float *C,
                                                             ptrdiff_t ldc, int acc)
{
    KERNEL_BODY(LOAD512, BLOAD512, ROW512, STORE512, 64);
}

#define ROW256(i)                                                                                  \
    do {                                                                                           \
        __m256 x = _mm256_broadcast_ss(a##i + k);                                                  \
        c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0), c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1);      \
    } while (0)
#define LOAD256(i)                                                                                 \
    __m256 c##i##0 = acc ? _mm256_loadu_ps(C + i * ldc) : _mm256_setzero_ps(),                     \
           c##i##1 = acc ? _mm256_loadu_ps(C + i * ldc + 8) : _mm256_setzero_ps();                 \
    const float *a##i = A + i * lda
#define STORE256(i)                                                                                \
    _mm256_storeu_ps(C + i * ldc, c##i##0), _mm256_storeu_ps(C + i * ldc + 8, c##i##1)

__attribute__((target("avx2,fma"))) static void kernel_avx2(int K, const float *A, ptrdiff_t lda,
                                                            const float *B, float *C, ptrdiff_t ldc,
                                                            int acc)
{
    KERNEL_BODY(LOAD256, BLOAD256, ROW256, STORE256, 16);
}

// The portable kernel (no AVX2): the same contract, 6 × 16, for CPUs without FMA.
static void kernel_scalar(int K, const float *A, ptrdiff_t lda, const float *B, float *C,
                          ptrdiff_t ldc, int acc)
{
    for (int i = 0; i < 6; i++) {
        float c[16];
        for (int j = 0; j < 16; j++) c[j] = acc ? C[i * ldc + j] : 0.0f;
        for (int k = 0; k < K; k++)
            for (int j = 0; j < 16; j++) c[j] += A[i * lda + k] * B[k * 16 + j];
        for (int j = 0; j < 16; j++) C[i * ldc + j] = c[j];
    }
}

static const vq_ukernel kernels[] = {
    {LWM_SIMD_SCALAR, 6, 16, kernel_scalar},
    {LWM_SIMD_AVX2, 6, 16, kernel_avx2},
    {LWM_SIMD_AVX512, 6, 64, kernel_avx512},
};

const vq_ukernel *vqgan_ukernel(int level)
{
    return &kernels[level < 0 ? 0 : level > 2 ? 2 : level];
}
