// bf16 mode: the encoder's convolutions on AVX512_BF16 dot products.
// vdpbf16ps multiplies 32 bf16 pairs and adds each pair's two products into
// one of 16 fp32 lanes: twice the multiplies of an fp32 FMA per instruction
// (measured at 2.2x the FMA loop's GFLOP/s on this machine, bench/RESULTS.md).
// Operands are rounded to bf16 (8 significant bits, round to nearest even);
// products and sums stay fp32.
//
// Layout: a k-pair (k, k+1) of one output channel is one 32-bit lane, so the
// weights [K × cout] are packed as panels of 64 output channels (then 16 for
// the rest), each [K/2][width][2] bf16; the activations are bf16 rows whose
// k-pairs are broadcast as 32-bit words. The micro-kernels compute 6 rows × 64
// (24 zmm accumulators) or 6 rows × 16 columns.
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

#define MR 6
#define KC 256 // depth of one pass (a 64-wide bf16 panel slice of 32 KiB stays in L1)

int vqgan_bf16_fits(const vq_conv *p)
{
    return p->cout % 16 == 0;
}

static int even(int k)
{
    return k + (k & 1);
}

size_t vqgan_bf16_weight_count(const vq_conv *p, int wino)
{
    return wino ? (size_t)36 * (size_t)p->cin * (size_t)p->cout
                : (size_t)even(p->k * p->k * p->cin) * (size_t)p->cout;
}

static uint16_t bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16); // nearest even; inputs finite
}

static int panel_width(int left)
{
    return left >= 64 ? 64 : 16;
}

// src [K × N] row-major fp32 into bf16 panels (K padded to even with zeros).
static void pack_matrix(uint16_t *dst, const float *src, int K, int N)
{
    int Kp = even(K);
    for (int c0 = 0, w; c0 < N; c0 += w) {
        w = panel_width(N - c0);
        uint16_t *panel = dst + (size_t)c0 * Kp;
        for (int k = 0; k < Kp; k++)
            for (int j = 0; j < w; j++)
                panel[((size_t)(k / 2) * w + j) * 2 + (k & 1)] =
                    k < K ? bf16_round(src[(size_t)k * N + c0 + j]) : 0;
    }
}

void vqgan_bf16_pack(uint16_t *dst, const vq_conv *p, int wino, float *work)
{
    if (!wino) {
        pack_matrix(dst, p->w, p->k * p->k * p->cin, p->cout);
        return;
    }
    // U = G·g·Gᵀ in fp32 as [36][cin][cout] (one panel as wide as cout), then
    // each of the 36 matrices packed.
    vq_ukernel whole = {0, MR, p->cout, NULL};
    vqgan_winograd_weights(work, p, &whole);
    size_t per = (size_t)p->cin * (size_t)p->cout;
    for (int xi = 0; xi < 36; xi++) pack_matrix(dst + xi * per, work + xi * per, p->cin, p->cout);
}

__attribute__((target("avx512f,avx512bf16"))) void vqgan_bf16_convert(uint16_t *dst,
                                                                      const float *src, size_t n)
{
    size_t i = 0;
    // Front to back, each chunk loaded before it is stored: in place is safe.
    for (; i + 16 <= n; i += 16) {
        __m256bh r = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)r);
    }
    for (; i < n; i++) dst[i] = bf16_round(src[i]);
}

static inline int32_t pair_at(const uint16_t *a)
{
    int32_t v;
    memcpy(&v, a, sizeof v);
    return v;
}

#define DP(c, x, b) c = _mm512_dpbf16_ps(c, x, b)
#define ACC_INIT(c, off) __m512 c = acc ? _mm512_loadu_ps(C + (off)) : _mm512_setzero_ps()
#define BCAST(i) (__m512bh) _mm512_set1_epi32(pair_at(A + (i)*lda + 2 * kk))
#define ROW64(i)                                                                                   \
    do {                                                                                           \
        __m512bh x = BCAST(i);                                                                     \
        DP(c##i##0, x, b0), DP(c##i##1, x, b1), DP(c##i##2, x, b2), DP(c##i##3, x, b3);            \
    } while (0)
#define INIT64(i)                                                                                  \
    ACC_INIT(c##i##0, i *ldc);                                                                     \
    ACC_INIT(c##i##1, i *ldc + 16);                                                                \
    ACC_INIT(c##i##2, i *ldc + 32);                                                                \
    ACC_INIT(c##i##3, i *ldc + 48)
#define STORE64(i)                                                                                 \
    _mm512_storeu_ps(C + i * ldc, c##i##0), _mm512_storeu_ps(C + i * ldc + 16, c##i##1),           \
        _mm512_storeu_ps(C + i * ldc + 32, c##i##2), _mm512_storeu_ps(C + i * ldc + 48, c##i##3)
#define SIX(M) M(0), M(1), M(2), M(3), M(4), M(5)
#define SIX_STMT(M)                                                                                \
    M(0);                                                                                          \
    M(1);                                                                                          \
    M(2);                                                                                          \
    M(3);                                                                                          \
    M(4);                                                                                          \
    M(5)

// C[6×64] (=, or += when acc) A[6 × 2·K2] · B[K2][64][2].
__attribute__((target("avx512f,avx512bf16"))) static void kernel64(int K2, const uint16_t *A,
                                                                   ptrdiff_t lda, const uint16_t *B,
                                                                   float *C, ptrdiff_t ldc, int acc)
{
    SIX_STMT(INIT64);
    for (int kk = 0; kk < K2; kk++, B += 128) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(B), b1 = (__m512bh)_mm512_loadu_si512(B + 32),
                 b2 = (__m512bh)_mm512_loadu_si512(B + 64),
                 b3 = (__m512bh)_mm512_loadu_si512(B + 96);
        SIX_STMT(ROW64);
    }
    SIX(STORE64);
}

#define ROW16(i) DP(c##i, BCAST(i), b)
#define INIT16(i) ACC_INIT(c##i, i *ldc)
#define STORE16(i) _mm512_storeu_ps(C + i * ldc, c##i)

// C[6×16] (=, or += when acc) A[6 × 2·K2] · B[K2][16][2].
__attribute__((target("avx512f,avx512bf16"))) static void kernel16(int K2, const uint16_t *A,
                                                                   ptrdiff_t lda, const uint16_t *B,
                                                                   float *C, ptrdiff_t ldc, int acc)
{
    SIX_STMT(INIT16);
    for (int kk = 0; kk < K2; kk++, B += 32) {
        __m512bh b = (__m512bh)_mm512_loadu_si512(B);
        SIX(ROW16);
    }
    SIX(STORE16);
}

void vqgan_bf16_gemm(int rows, int Kp, const uint16_t *A, ptrdiff_t lda, const uint16_t *Bp,
                     int cout, float *C, ptrdiff_t ldc, int acc)
{
    for (int k0 = 0; k0 < Kp; k0 += KC) {
        int kc = Kp - k0 < KC ? Kp - k0 : KC;
        for (int c0 = 0, w; c0 < cout; c0 += w) {
            w = panel_width(cout - c0);
            const uint16_t *B = Bp + (size_t)c0 * Kp + (size_t)k0 * w;
            for (int i = 0; i < rows; i += MR)
                (w == 64 ? kernel64 : kernel16)(kc / 2, A + (size_t)i * lda + k0, lda, B,
                                                C + (size_t)i * ldc + c0, ldc, acc || k0 > 0);
        }
    }
}

// im2col GEMM in bf16: each thread gathers a tile of output rows in fp32,
// rounds it to bf16 in place (rows Kp apart), multiplies it into the fp32 block
// after it, and adds bias (and the residual when accumulating) into out.
static void conv_im2col_bf16(float *out, const float *in, const vq_conv *p, int B, int H, int W,
                             vq_geom g, int accumulate, vq_scratch *s)
{
    int Ho, Wo;
    vqgan_conv_out_size(H, W, p->k, g, &Ho, &Wo);
    int M = B * Ho * Wo, K = p->k * p->k * p->cin, Kp = even(K), N = p->cout;
    int max_rows = (int)(s->tile_floats / (size_t)(K + N)) / MR * MR;
    if (max_rows < MR) max_rows = MR;
    int tiles = (M + max_rows - 1) / max_rows;
    tiles = (tiles + s->threads - 1) / s->threads * s->threads;
    int rows = ((M + tiles - 1) / tiles + MR - 1) / MR * MR;
    tiles = (M + rows - 1) / rows;
#pragma omp parallel for schedule(static, 1) num_threads(s->threads)
    for (int t = 0; t < tiles; t++) {
        float *A = s->tiles + (size_t)omp_get_thread_num() * s->tile_floats;
        float *Cb = A + (size_t)rows * K;
        uint16_t *Ab = (uint16_t *)A;
        int r0 = t * rows, n = M - r0 < rows ? M - r0 : rows, padded = (n + MR - 1) / MR * MR;
        vqgan_im2col(A, in, r0, r0 + n, H, W, p->cin, p->k, g, Ho, Wo);
        for (int r = 0; r < n; r++) { // in place: row r's bf16 never overtakes unread floats
            vqgan_bf16_convert(Ab + (size_t)r * Kp, A + (size_t)r * K, (size_t)K);
            if (Kp > K) Ab[(size_t)r * Kp + K] = 0;
        }
        memset(Ab + (size_t)n * Kp, 0, sizeof *Ab * (size_t)(padded - n) * Kp);
        vqgan_bf16_gemm(padded, Kp, Ab, Kp, p->bf16, N, Cb, N, 0);
        for (int r = 0; r < n; r++) {
            float *o = out + (size_t)(r0 + r) * N;
            const float *c = Cb + (size_t)r * N;
            for (int j = 0; j < N; j++) o[j] = (accumulate ? o[j] : 0.0f) + c[j] + p->b[j];
        }
    }
}

// Layers with bf16 weights run in bf16 (Winograd where it has them); the rest,
// and the decoder, as in fp32 mode.
static void conv_bf16(float *out, const float *in, const vq_conv *p, int B, int H, int W, vq_geom g,
                      int accumulate, vq_scratch *s)
{
    if (p->bf16 && !p->wino_bf16)
        conv_im2col_bf16(out, in, p, B, H, W, g, accumulate, s);
    else
        vqgan_kernels_winograd.conv(out, in, p, B, H, W, g, accumulate, s);
}

const vq_kernels vqgan_kernels_bf16 = {"bf16", conv_bf16};
