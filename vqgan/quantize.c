// The quantizer: code = argmin_k ‖z − e_k‖², ties to the lowest k.
//
// ‖z − e_k‖² = ‖z‖² + ‖e_k‖² − 2 z·e_k; ‖z‖² is the same for every k, so the
// float32 pass ranks d_k = ‖e_k‖² − 2 z·e_k, with all the dot products of a
// tile of latents from one SGEMM (lwm_sgemm: z [n×D] times codebookᵀ [D×K]). Its error is
// bounded (a dot product of D terms errs by at most D·u·‖z‖·‖e_k‖, u = 2⁻²⁴),
// so every k whose d_k lies within twice that bound of the best could be the
// true argmin: when there is more than one such k, they are settled again in
// float64 as Σ (z_i − e_ki)², lowest k first. The result is the exact
// (float64) argmin for the given z, near-ties included.
#include <math.h>
#include <omp.h>

#include "internal.h"

#define UNIT_ROUNDOFF 5.9604644775390625e-08 // 2^-24

static double exact_distance(const float *z, const float *e, int D)
{
    double d = 0;
    for (int i = 0; i < D; i++) {
        double t = (double)z[i] - (double)e[i];
        d += t * t;
    }
    return d;
}

// One latent: its float32 distances are in s (dot products z·e_k).
static uint16_t pick(const float *z, const float *s, const vq_codebook *cb)
{
    int K = cb->K, D = cb->D, best = 0;
    double zn = 0;
    for (int i = 0; i < D; i++) zn += (double)z[i] * z[i];
    float best_d = cb->e_norm[0] - 2 * s[0];
    for (int k = 1; k < K; k++) {
        float d = cb->e_norm[k] - 2 * s[k];
        if (d < best_d) best_d = d, best = k;
    }
    double emax = cb->e_max_norm, zabs = sqrt(zn);
    // Error of one d_k: ‖e‖² rounded (u·emax²), the GEMM dot (D·u·‖z‖·emax, doubled),
    // the subtraction (u·|d|). Two candidates' errors add; then a factor 2 of margin.
    double bound = UNIT_ROUNDOFF * (2 * emax * emax + (2.0 * D + 2) * zabs * emax);
    float tol = (float)(4 * bound);
    int close = 0;
    for (int k = 0; k < K && close < 2; k++)
        if (cb->e_norm[k] - 2 * s[k] <= best_d + tol) close++;
    if (close < 2) return (uint16_t)best;
    double best_exact = INFINITY;
    for (int k = 0; k < K; k++) {
        if (!(cb->e_norm[k] - 2 * s[k] <= best_d + tol)) continue;
        double d = exact_distance(z, cb->e + (size_t)k * D, D);
        if (d < best_exact) best_exact = d, best = k;
    }
    return (uint16_t)best;
}

void vqgan_quantize_forward(uint16_t *codes, const float *z, int N, const vq_codebook *cb,
                            float *scores, int threads)
{
    int tiles = (N + VQ_QUANT_TILE - 1) / VQ_QUANT_TILE, K = cb->K, D = cb->D;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int t = 0; t < tiles; t++) {
        int r0 = t * VQ_QUANT_TILE, n = N - r0 < VQ_QUANT_TILE ? N - r0 : VQ_QUANT_TILE;
        float *s = scores + (size_t)omp_get_thread_num() * VQ_QUANT_TILE * K;
        // On one thread per tile; fails only on invalid dimensions.
        (void)lwm_sgemm(0, 1, n, K, D, 1.0f, z + (size_t)r0 * D, D, cb->e, D, 0.0f, s, K);
        for (int i = 0; i < n; i++)
            codes[r0 + i] = pick(z + (size_t)(r0 + i) * D, s + (size_t)i * K, cb);
    }
}
