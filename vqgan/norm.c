// GroupNorm (32 groups, eps 1e-6, biased variance) with an optional fused
// SiLU, over B frames of HW pixels × C channels (NHWC). Statistics are summed
// in float64 per frame and group, so their error does not grow with H·W; the
// normalisation then is one multiply-add per element: y = x·a[c] + b[c].
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

#define MAX_THREADS 64

// Per-group sums of x and x² over one frame, split across threads.
static void group_sums(double *sum, double *sq, const float *x, int HW, int C, int threads)
{
    int cg = C / VQ_GROUPS;
    double part[MAX_THREADS][2 * VQ_GROUPS];
    memset(part, 0, sizeof part);
#pragma omp parallel num_threads(threads)
    {
        double *ps = part[omp_get_thread_num()], *pq = ps + VQ_GROUPS;
#pragma omp for schedule(static)
        for (int i = 0; i < HW; i++) {
            const float *row = x + (size_t)i * C;
            for (int g = 0; g < VQ_GROUPS; g++) {
                double s = 0, q = 0;
                for (int c = 0; c < cg; c++) {
                    double v = row[g * cg + c];
                    s += v;
                    q += v * v;
                }
                ps[g] += s;
                pq[g] += q;
            }
        }
    }
    for (int g = 0; g < VQ_GROUPS; g++) {
        sum[g] = sq[g] = 0;
        for (int t = 0; t < threads; t++) sum[g] += part[t][g], sq[g] += part[t][VQ_GROUPS + g];
    }
}

static inline float silu(float v)
{
    return v / (1.0f + expf(-v));
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
                for (int c = 0; c < C; c++) yr[c] = silu(xr[c] * a[c] + b[c]);
            else
                for (int c = 0; c < C; c++) yr[c] = xr[c] * a[c] + b[c];
        }
    }
}
