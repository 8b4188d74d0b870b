// Per-token layers: GEMM wrappers, embeddings, RMSNorm, RoPE, SwiGLU. Notation in internal.h.
// Each layer is a _forward/_backward pair; backward adds into gradient buffers (dW) and
// writes (or adds, where said) the input gradient.
#include <math.h>
#include <string.h>

#include "internal.h"

// ------------------------------------------------------------------ GEMM wrappers
// Called outside OpenMP regions, so lwm_sgemm (oneDNN, AVX-512 where cpuid has it) uses the
// OpenMP threads here. It fails only on invalid dimensions, which the layers exclude.

void mm(float *C, const float *A, const float *B, int64_t m, int64_t k, int64_t n, int accumulate)
{
    if (m == 0 || n == 0) return;
    (void)lwm_sgemm(0, 0, m, n, k, 1.0f, A, k, B, n, accumulate ? 1.0f : 0.0f, C, n);
}

void mm_bt(float *C, const float *A, const float *B, int64_t m, int64_t k, int64_t n,
           int accumulate)
{
    if (m == 0 || n == 0) return;
    (void)lwm_sgemm(0, 1, m, n, k, 1.0f, A, k, B, k, accumulate ? 1.0f : 0.0f, C, n);
}

void mm_at(float *C, const float *A, const float *B, int64_t m, int64_t k, int64_t n,
           int accumulate)
{
    if (m == 0 || n == 0) return;
    (void)lwm_sgemm(1, 0, m, n, k, 1.0f, A, m, B, n, accumulate ? 1.0f : 0.0f, C, n);
}

// ------------------------------------------------------------------ embeddings
// x [c, d]: row t = vte[tok] when the input vision mask is set, else wte[tok].

void embed_forward(float *x, const int32_t *tok, const uint8_t *vis, const float *wte,
                   const float *vte, int64_t c, int d)
{
    for (int64_t t = 0; t < c; t++) {
        const float *row = (vis[t] ? vte : wte) + (size_t)tok[t] * d;
        memcpy(x + (size_t)t * d, row, sizeof(float) * (size_t)d);
    }
}

void embed_backward(float *dwte, float *dvte, const float *dx, const int32_t *tok,
                    const uint8_t *vis, int64_t c, int d)
{
    // Serial: two tokens with the same id add into one row.
    for (int64_t t = 0; t < c; t++) {
        float *row = (vis[t] ? dvte : dwte) + (size_t)tok[t] * d;
        const float *g = dx + (size_t)t * d;
        for (int j = 0; j < d; j++) row[j] += g[j];
    }
}

// ------------------------------------------------------------------ RMSNorm
// y = x * rstd * g, rstd = 1 / sqrt(mean(x^2) + eps); rstd [c] is saved for backward.

void rmsnorm_forward(float *y, float *rstd, const float *x, const float *g, int64_t c, int d,
                     double eps)
{
#pragma omp parallel for schedule(static) if ((size_t)(c * d) >= TRAIN_PAR_MIN)
    for (int64_t t = 0; t < c; t++) {
        const float *xr = x + (size_t)t * d;
        float *yr = y + (size_t)t * d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)xr[j] * xr[j];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        rstd[t] = r;
        for (int j = 0; j < d; j++) yr[j] = xr[j] * r * g[j];
    }
}

// dx (written, not added) and dg (added). dg is summed serially per column block so the
// result does not depend on the thread count (resume and ring equality need determinism).
void rmsnorm_backward(float *dx, float *dg, const float *dy, const float *x, const float *g,
                      const float *rstd, int64_t c, int d)
{
#pragma omp parallel for schedule(static) if ((size_t)(c * d) >= TRAIN_PAR_MIN)
    for (int64_t t = 0; t < c; t++) {
        const float *xr = x + (size_t)t * d, *dyr = dy + (size_t)t * d;
        float *dxr = dx + (size_t)t * d;
        float r = rstd[t];
        double dot = 0;
        for (int j = 0; j < d; j++) dot += (double)dyr[j] * g[j] * xr[j];
        float coef = (float)(dot * r * r * r / d);
        for (int j = 0; j < d; j++) dxr[j] = dyr[j] * g[j] * r - xr[j] * coef;
    }
#pragma omp parallel for schedule(static) if ((size_t)(c * d) >= TRAIN_PAR_MIN)
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int64_t t = 0; t < c; t++)
            s += (double)dy[(size_t)t * d + j] * x[(size_t)t * d + j] * rstd[t];
        dg[j] += (float)s;
    }
}

// ------------------------------------------------------------------ RoPE
// Interleaved pairs (2k, 2k+1) rotated by pos * f_k, f_k = theta^(-2k/hd) kept in fp32, the
// product formed in float64 and rounded to fp32 before sin/cos (lwm-format.md §8.2).

static void rope_apply(float *x, const int32_t *pos, int64_t c, int H, int hd, double theta,
                       float sign)
{
    int half = hd / 2;
    float freq[512];
    for (int k = 0; k < half; k++) freq[k] = (float)pow(theta, -2.0 * k / hd);
#pragma omp parallel for schedule(static) if ((size_t)(c * H * hd) >= TRAIN_PAR_MIN)
    for (int64_t t = 0; t < c; t++) {
        float *row = x + (size_t)t * H * hd;
        for (int k = 0; k < half; k++) {
            float ang = (float)((double)pos[t] * (double)freq[k]);
            float cs = (float)cos((double)ang), sn = sign * (float)sin((double)ang);
            for (int h = 0; h < H; h++) {
                float *p = row + h * hd + 2 * k;
                float a = p[0], b = p[1];
                p[0] = a * cs - b * sn;
                p[1] = a * sn + b * cs;
            }
        }
    }
}

void rope_forward(float *x, const int32_t *pos, int64_t c, int H, int hd, double theta)
{
    rope_apply(x, pos, c, H, hd, theta, 1.0f);
}

void rope_backward(float *dx, const int32_t *pos, int64_t c, int H, int hd, double theta)
{
    rope_apply(dx, pos, c, H, hd, theta, -1.0f);
}

// ------------------------------------------------------------------ SwiGLU
// h = silu(a) * b, silu(a) = a * sigmoid(a).

void swiglu_forward(float *h, const float *a, const float *b, int64_t n)
{
#pragma omp parallel for schedule(static) if ((size_t)(n) >= TRAIN_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-a[i]));
        h[i] = a[i] * s * b[i];
    }
}

// da, db written (not added). da/db may alias a/b: each element is read before it is written.
void swiglu_backward(float *da, float *db, const float *dh, const float *a, const float *b,
                     int64_t n)
{
#pragma omp parallel for schedule(static) if ((size_t)(n) >= TRAIN_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float ai = a[i], bi = b[i], g = dh[i];
        float s = 1.0f / (1.0f + expf(-ai));
        float silu = ai * s;
        da[i] = g * bi * s * (1.0f + ai * (1.0f - s));
        db[i] = g * silu;
    }
}
