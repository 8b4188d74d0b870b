// GroupNorm (32 groups, eps 1e-6, biased variance) with an optional fused
// SiLU, over B frames of HW pixels × C channels (NHWC). Statistics are summed
// in float64 per frame and group, so their error does not grow with H·W; the
// normalisation then is one multiply-add per element: y = x·a[c] + b[c].
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

#define MAX_THREADS 64

// Per-group sums of x and x² over one frame, split across threads. Each thread
// first sums per channel (float64, a vector loop along the contiguous channels),
// then folds its channels into groups.
static void group_sums(double *sum, double *sq, const float *x, int HW, int C, int threads)
{
    int cg = C / VQ_GROUPS;
    double part[MAX_THREADS][2 * VQ_GROUPS];
    memset(part, 0, sizeof part);
#pragma omp parallel num_threads(threads)
    {
        double *ps = part[omp_get_thread_num()], *pq = ps + VQ_GROUPS;
        double cs[8192], cq[8192]; // C ≤ 8192 (lwm_vqgan_config_check)
        memset(cs, 0, sizeof(double) * (size_t)C);
        memset(cq, 0, sizeof(double) * (size_t)C);
#pragma omp for schedule(static)
        for (int i = 0; i < HW; i++) {
            const float *row = x + (size_t)i * C;
#pragma omp simd
            for (int c = 0; c < C; c++) {
                double v = row[c];
                cs[c] += v;
                cq[c] += v * v;
            }
        }
        for (int c = 0; c < C; c++) ps[c / cg] += cs[c], pq[c / cg] += cq[c];
    }
    for (int g = 0; g < VQ_GROUPS; g++) {
        sum[g] = sq[g] = 0;
        for (int t = 0; t < threads; t++) sum[g] += part[t][g], sq[g] += part[t][VQ_GROUPS + g];
    }
}

// SiLU(x·a + b) over one row of C channels. libm's expf is a scalar call
// (glibc's vector variants need -ffast-math), so e^x is computed here with GCC
// vector extensions, 16 lanes at a time: x = n·ln2 + r with n rounded to
// nearest (the 1.5·2²³ trick), e^r by its Taylor series to r⁶ (relative error
// < 3e-7 over the whole range), 2^n built in the exponent bits. Arguments are
// clamped to [-87, 88], where float stays normal.
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));

static inline vf16 vexp(vf16 x)
{
    const vf16 zero = {0}, lo = zero - 87.0f, hi = zero + 88.0f;
    vi16 below = x<lo, above = x> hi;
    x = (vf16)(((vi16)x & ~below) | ((vi16)lo & below));
    x = (vf16)(((vi16)x & ~above) | ((vi16)hi & above));
    vf16 t = x * 1.44269504f + 12582912.0f; // rounds x·log2(e) to an integer
    vf16 n = t - 12582912.0f;
    vi16 ni = (vi16)t - 0x4B400000;
    vf16 r = x - n * 0.693145752f - n * 1.42860677e-06f; // ln2 split: n·ln2_hi exact
    vf16 p =
        1.0f +
        r * (1.0f +
             r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    return p * (vf16)((ni + 127) << 23);
}

static void silu_row(float *y, const float *x, const float *a, const float *b, int C)
{
    int c = 0;
    for (; c + 16 <= C; c += 16) {
        vf16 vx, va, vb;
        memcpy(&vx, x + c, sizeof vx);
        memcpy(&va, a + c, sizeof va);
        memcpy(&vb, b + c, sizeof vb);
        vf16 v = vx * va + vb, out = v / (1.0f + vexp(-v));
        memcpy(y + c, &out, sizeof out);
    }
    for (; c < C; c++) {
        float v = x[c] * a[c] + b[c];
        y[c] = v / (1.0f + expf(-v));
    }
}

void vqgan_group_norm_forward(float *out, const float *in, const vq_norm *p, int B, int HW,
                              int silu_on, int threads)
{
    int C = p->c, cg = C / VQ_GROUPS;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads < 1) threads = 1;
    float a[8192], b[8192]; // C ≤ 8192 (lwm_vqgan_config_check)
    for (int f = 0; f < B; f++) {
        const float *x = in + (size_t)f * HW * C;
        float *y = out + (size_t)f * HW * C;
        double sum[VQ_GROUPS], sq[VQ_GROUPS];
        group_sums(sum, sq, x, HW, C, threads);
        double n = (double)HW * cg;
        for (int g = 0; g < VQ_GROUPS; g++) {
            double mean = sum[g] / n, var = sq[g] / n - mean * mean;
            double rstd = 1.0 / sqrt((var > 0 ? var : 0) + VQ_GN_EPS);
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                a[c] = (float)(p->scale[c] * rstd);
                b[c] = (float)(p->bias[c] - mean * p->scale[c] * rstd);
            }
        }
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int i = 0; i < HW; i++) {
            const float *xr = x + (size_t)i * C;
            float *yr = y + (size_t)i * C;
            if (silu_on)
                silu_row(yr, xr, a, b, C);
            else
                for (int c = 0; c < C; c++) yr[c] = xr[c] * a[c] + b[c];
        }
    }
}
