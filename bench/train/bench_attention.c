// Attention kernels' GFLOP/s against this machine's register-only FMA peak (widest
// vector units, no BLAS) and its measured SGEMM peak (same threads, same run).
// Causal self-attention of one rank's block, c tokens, H heads of width hd; useful FLOPs
// count only visible pairs: forward 2 GEMMs x 2*c*c/2*d, backward 5 GEMMs.
// usage: bench_attention [c] [H] [hd] [tile]
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/common.h"
#include "train/internal.h"

static double sgemm_peak(int n, int reps)
{
    float *a = lwm_aligned_alloc(NULL, (size_t)n * n * 4),
          *b = lwm_aligned_alloc(NULL, (size_t)n * n * 4);
    float *c = lwm_aligned_alloc(NULL, (size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 0.001f * (float)(i % 1000);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = lwm_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        t = lwm_now() - t;
        best = t < best ? t : best;
    }
    lwm_aligned_free(NULL, a), lwm_aligned_free(NULL, b), lwm_aligned_free(NULL, c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

int main(int argc, char **argv)
{
    int64_t c = argc > 1 ? atoll(argv[1]) : 4096;
    int H = argc > 2 ? atoi(argv[2]) : 4, hd = argc > 3 ? atoi(argv[3]) : 64;
    int tile = argc > 4 ? atoi(argv[4]) : 128, threads = omp_get_max_threads();
    const int d = H * hd;
    size_t n = (size_t)c * d;
    float *q = lwm_aligned_alloc(NULL, n * 4), *k = lwm_aligned_alloc(NULL, n * 4),
          *v = lwm_aligned_alloc(NULL, n * 4);
    float *o = lwm_aligned_alloc(NULL, n * 4), *dout = lwm_aligned_alloc(NULL, n * 4);
    float *dq = lwm_aligned_alloc(NULL, n * 4), *dk = lwm_aligned_alloc(NULL, n * 4),
          *dv = lwm_aligned_alloc(NULL, n * 4);
    float *m = malloc((size_t)c * H * 4), *l = malloc((size_t)c * H * 4),
          *lse = malloc((size_t)c * H * 4);
    float *D = malloc((size_t)c * H * 4);
    int32_t *pos = malloc((size_t)c * 4), *seg = calloc((size_t)c, 4);
    for (size_t i = 0; i < n; i++)
        q[i] = k[i] = v[i] = dout[i] = 0.01f * (float)((i * 7919) % 200 - 100);
    for (int64_t i = 0; i < c; i++) pos[i] = (int32_t)i;
    attn_kernel kern = {H, hd, tile, malloc(attn_scratch_floats(tile, hd) * threads * 4), threads};
    attn_queries qs = {q, pos, seg, c};
    attn_keys ks = {k, v, pos, seg, c};
    double peak = sgemm_peak(1024, 5);
    int level = lwm_simd_level();
    double fma = lwm_fma_peak_gflops(level, threads, 10);
    double tf = 1e30, tb = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = lwm_now();
        attn_state_init(o, m, l, c, H, hd);
        attn_forward_block(&kern, o, m, l, &qs, &ks);
        attn_forward_finish(o, lse, o, m, l, c, H, hd);
        t = lwm_now() - t;
        tf = t < tf ? t : tf;
        t = lwm_now();
        attn_backward_prep(D, dout, o, c, H, hd);
        attn_backward_block(&kern, dq, dk, dv, &qs, &ks, dout, lse, D);
        t = lwm_now() - t;
        tb = t < tb ? t : tb;
    }
    double pairs = (double)c * (c + 1) / 2;
    double gf = 2 * 2 * pairs * d / tf / 1e9, gb = 5 * 2 * pairs * d / tb / 1e9;
    double fma1 = lwm_fma_peak_gflops(level, threads, 10);
    if (fma1 > fma) fma = fma1;
    printf("fma_peak_gflops %.1f (%s, register-only, %d threads)\n", fma, lwm_simd_name(level),
           threads);
    printf("sgemm_peak_gflops %.1f (1024^3, %d threads)\n", peak, threads);
    printf("attention c=%lld H=%d hd=%d tile=%d: forward %.1f GFLOP/s (%.0f%% of peak), "
           "backward %.1f GFLOP/s (%.0f%% of peak)\n",
           (long long)c, H, hd, tile, gf, 100 * gf / peak, gb, 100 * gb / peak);
    printf(
        "attention as %% of the FMA peak: forward %.0f%%, backward %.0f%% (target >= 50%% each)\n",
        100 * gf / fma, 100 * gb / fma);
    return 0;
}
