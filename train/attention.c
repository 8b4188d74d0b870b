// Blockwise causal attention inside one rank (ring-attention.md §1-3): online softmax over key
// tiles with a saved logsumexp, on lwm_sgemm tiles (oneDNN, AVX-512 where cpuid has it) under
// OpenMP, plus a naive reference
// with the same contract. Notation: c query rows, n keys of the visiting block, H heads of
// width hd, d = H*hd; Q [c, d], K/V [n, d]; tau = 1/sqrt(hd) scales the logits in both passes.
//
// Masks come from global positions and segment ids only (pitfall 7): key j is visible to
// query i iff pos[j] <= pos[i] and seg[j] == seg[i]. Masked entries get exactly zero
// probability without ever forming exp(-inf - -inf) (pitfall 2).
//
// GEMMs inside the OpenMP regions: oneDNN's SGEMM (like the OpenMP build of OpenBLAS) runs
// single-threaded when called from inside a parallel region (pitfall 16), so the tile GEMMs
// never oversubscribe. lwm_sgemm fails only on invalid dimensions, which the tiles exclude.
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"

size_t attn_scratch_floats(int tile, int hd)
{
    (void)hd;
    return 2 * (size_t)tile * (size_t)tile + 2 * (size_t)tile;
}

void attn_state_init(float *acc, float *m, float *l, int64_t c, int H, int hd)
{
    memset(acc, 0, sizeof(float) * (size_t)c * H * hd);
    for (int64_t i = 0; i < (int64_t)H * c; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
}

// Tile classification from min/max positions (pitfall 11: never a strict-offset shortcut).
enum { TILE_SKIP, TILE_DENSE, TILE_MASKED };

static int classify(const int32_t *qpos, const int32_t *qseg, int64_t nq, const int32_t *kpos,
                    const int32_t *kseg, int64_t nk)
{
    int32_t qmin = qpos[0], qmax = qpos[0], kmin = kpos[0], kmax = kpos[0];
    int32_t sq0 = qseg[0], sk0 = kseg[0];
    int one_seg = 1;
    for (int64_t i = 1; i < nq; i++) {
        qmin = qpos[i] < qmin ? qpos[i] : qmin;
        qmax = qpos[i] > qmax ? qpos[i] : qmax;
        one_seg &= qseg[i] == sq0;
    }
    for (int64_t j = 1; j < nk; j++) {
        kmin = kpos[j] < kmin ? kpos[j] : kmin;
        kmax = kpos[j] > kmax ? kpos[j] : kmax;
        one_seg &= kseg[j] == sk0;
    }
    if (kmin > qmax) return TILE_SKIP;
    if (one_seg && sq0 != sk0) return TILE_SKIP;
    if (kmax <= qmin && one_seg) return TILE_DENSE;
    return TILE_MASKED;
}

// exp for the softmax tiles: Cephes-style range reduction and polynomial (about 2 ulp),
// branch-free without -ffast-math (glibc's vector expf needs it). exp_vec does 16 lanes at
// once on GCC vector types (one zmm with AVX-512, two ymm with AVX2): the auto-vectoriser
// gave up on the former scalar form's bit cast, which left the softmax loops scalar.
// The project builds with -std=c11, where GCC does not fuse a*b+c; the exp polynomial asks
// for fused multiply-adds (half the instructions, one rounding each).
#define EXP_FMA __attribute__((optimize("fp-contract=fast")))
// The project builds with -std=c11, where GCC does not fuse a*b+c; the exp polynomial asks
// for fused multiply-adds (half the instructions, one rounding each).
#define EXP_FMA __attribute__((optimize("fp-contract=fast")))
typedef float vfloat __attribute__((vector_size(64)));
typedef int32_t vint __attribute__((vector_size(64)));
enum { VL = 16 };

static inline vfloat vload(const float *p)
{
    vfloat v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vfloat v)
{
    memcpy(p, &v, sizeof v);
}

static inline vfloat vsplat(float x)
{
    return (vfloat){0} + x;
}

static inline vfloat vselect(vint mask, vfloat yes, vfloat no)
{
    return (vfloat)((mask & (vint)yes) | (~mask & (vint)no));
}

static inline float vsum(vfloat v)
{
    float s = 0;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}

EXP_FMA static inline vfloat exp_vec(vfloat in)
{
    vfloat x = vselect(in > -87.0f, in, vsplat(-87.0f)); // NaN goes to -87, passed through below
    x = vselect(x < 88.0f, x, vsplat(88.0f));
    vfloat t = x * 1.44269504088896341f + 0.5f;
    vfloat n = (t + 12582912.0f) - 12582912.0f; // round to nearest (|t| < 2^22), then floor:
    n -= vselect(n > t, vsplat(1.0f), vsplat(0.0f));
    vfloat r = x - n * 0.693359375f + n * 2.12194440e-4f;
    vfloat p = vsplat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vint e = (__builtin_convertvector(n, vint) + 127) << 23;
    return vselect(in == in, p * (vfloat)e, in);
}

// s[j] = exp(s[j] - shift) for j < n, 0 where s[j] is -inf; returns the sum.
EXP_FMA static float exp_row(float *s, int64_t n, float shift)
{
    vfloat acc = vsplat(0.0f);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        vfloat v = vload(s + j);
        vfloat p = vselect(v == -INFINITY, vsplat(0.0f), exp_vec(v - shift));
        vstore(s + j, p);
        acc += p;
    }
    if (j < n) { // the last partial vector, padded with -inf (exp 0)
        float tail[VL];
        for (int i = 0; i < VL; i++) tail[i] = j + i < n ? s[j + i] : -INFINITY;
        vfloat v = vload(tail);
        vfloat p = vselect(v == -INFINITY, vsplat(0.0f), exp_vec(v - shift));
        for (int i = 0; j + i < n; i++) s[j + i] = p[i];
        acc += p;
    }
    return vsum(acc);
}

// The AVX-512 form: max for the clamp, vrndscaleps for the floor and vscalefps for the
// 2^n scaling take one instruction each where the portable form needs several (that one
// runs about 1.5 cycles an element, bound by the two 512-bit vector ports, a third of the
// forward's GEMM time); the scaling's zero-mask gives the masked entries their exact 0.
// NaN passes through (vmaxps returns its second operand when that is NaN).
__attribute__((target("avx512f"))) static float exp_row_avx512(float *s, int64_t n, float shift)
{
    const __m512 shift_v = _mm512_set1_ps(shift), lowest = _mm512_set1_ps(-87.0f);
    const __m512 minus_inf = _mm512_set1_ps(-INFINITY);
    __m512 acc = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 v = _mm512_loadu_ps(s + j);
        __mmask16 live = _mm512_cmp_ps_mask(v, minus_inf, _CMP_NEQ_UQ);
        __m512 x = _mm512_max_ps(lowest, _mm512_sub_ps(v, shift_v));
        __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
        __m512 e = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fnmadd_ps(e, _mm512_set1_ps(0.693359375f), x);
        r = _mm512_fmadd_ps(e, _mm512_set1_ps(2.12194440e-4f), r);
        __m512 p =
            _mm512_fmadd_ps(_mm512_set1_ps(1.9875691500e-4f), r, _mm512_set1_ps(1.3981999507e-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
        p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
        p = _mm512_maskz_scalef_ps(live, p, e);
        _mm512_storeu_ps(s + j, p);
        acc = _mm512_add_ps(acc, p);
    }
    float sum = _mm512_reduce_add_ps(acc);
    return sum + exp_row(s + j, n - j, shift); // the last partial vector
}

// max of s[0..n) ignoring NaN, -inf when empty (the omp simd max reduction stays scalar).
static float row_max(const float *s, int64_t n)
{
    vfloat mv = vsplat(-INFINITY);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        vfloat v = vload(s + j);
        mv = vselect(v > mv, v, mv);
    }
    float mx = -INFINITY;
    for (int i = 0; i < VL; i++) mx = mv[i] > mx ? mv[i] : mx;
    for (; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    return mx;
}

typedef float (*exp_row_fn)(float *s, int64_t n, float shift);

// The row exp for this CPU (LWM_SIMD=avx2 takes the portable form).
static exp_row_fn exp_row_for_cpu(void)
{
    return lwm_simd_level() >= LWM_SIMD_AVX512 ? exp_row_avx512 : exp_row;
}

static inline int visible(int32_t qp, int32_t qs, int32_t kp, int32_t ks)
{
    return kp <= qp && ks == qs;
}

// ------------------------------------------------------------------ forward

// Folds scores S [nq, nk] (already tau-scaled) into rows of the state, leaving P in S.
// Returns nothing; rows with no visible key in this tile keep their state and get P = 0.
static void softmax_update(float *S, int64_t nq, int64_t nk, int dense, const int32_t *qpos,
                           const int32_t *qseg, const int32_t *kpos, const int32_t *kseg, float *m,
                           float *l, float *alpha, exp_row_fn exp_row_of)
{
    for (int64_t i = 0; i < nq; i++) {
        float *s = S + i * nk;
        float mx = -INFINITY;
        if (!dense) {
            const int32_t qp = qpos[i], qs = qseg[i];
#pragma omp simd
            for (int64_t j = 0; j < nk; j++)
                s[j] = visible(qp, qs, kpos[j], kseg[j]) ? s[j] : -INFINITY;
        }
        mx = row_max(s, nk);
        if (mx == -INFINITY) { // nothing visible in this tile for this row
            memset(s, 0, sizeof(float) * (size_t)nk);
            alpha[i] = 1.0f;
            continue;
        }
        float mnew = m[i] > mx ? m[i] : mx;
        float a = m[i] == -INFINITY ? 0.0f : expf(m[i] - mnew);
        float sum = exp_row_of(s, nk, mnew);
        l[i] = a * l[i] + sum;
        m[i] = mnew;
        alpha[i] = a;
    }
}

// One (head, query tile) task over every key tile of the visiting block.
static void forward_task(const attn_kernel *k, float *acc, float *m, float *l,
                         const attn_queries *q, const attn_keys *kv, int h, int64_t i0, int64_t nq,
                         float *scratch, exp_row_fn exp_row_of)
{
    const int hd = k->hd, d = k->H * hd, T = k->tile;
    const float tau = 1.0f / sqrtf((float)hd);
    float *S = scratch, *alpha = scratch + 2 * (size_t)T * T;
    float *mh = m + (size_t)h * q->c + i0, *lh = l + (size_t)h * q->c + i0;
    const float *Q = q->q + i0 * d + h * hd;
    float *A = acc + i0 * d + h * hd;
    for (int64_t j0 = 0; j0 < kv->n; j0 += T) {
        int64_t nk = kv->n - j0 < T ? kv->n - j0 : T;
        int cls = classify(q->pos + i0, q->seg + i0, nq, kv->pos + j0, kv->seg + j0, nk);
        if (cls == TILE_SKIP) continue;
        (void)lwm_sgemm(0, 1, nq, nk, hd, tau, Q, d, kv->k + j0 * d + h * hd, d, 0.0f, S, nk);
        softmax_update(S, nq, nk, cls == TILE_DENSE, q->pos + i0, q->seg + i0, kv->pos + j0,
                       kv->seg + j0, mh, lh, alpha, exp_row_of);
        for (int64_t i = 0; i < nq; i++) {
            const float a = alpha[i]; // a local: A might alias alpha for all GCC knows
            if (a != 1.0f)
                for (int j = 0; j < hd; j++) A[i * d + j] *= a;
        }
        (void)lwm_sgemm(0, 0, nq, hd, nk, 1.0f, S, nk, kv->v + j0 * d + h * hd, d, 1.0f, A, d);
    }
}

void attn_forward_block(const attn_kernel *k, float *acc, float *m, float *l, const attn_queries *q,
                        const attn_keys *kv)
{
    const int64_t T = k->tile, ntiles = (q->c + T - 1) / T;
    const int64_t tasks = ntiles * k->H;
    const size_t per = attn_scratch_floats(k->tile, k->hd);
    const exp_row_fn exp_row_of = exp_row_for_cpu();
#pragma omp parallel for schedule(dynamic, 1) num_threads(k->threads)
    for (int64_t task = 0; task < tasks; task++) {
        int h = (int)(task % k->H);
        int64_t i0 = (ntiles - 1 - task / k->H) * T; // the last rows first: most keys visible
        int64_t nq = q->c - i0 < T ? q->c - i0 : T;
        forward_task(k, acc, m, l, q, kv, h, i0, nq, k->scratch + per * omp_get_thread_num(),
                     exp_row_of);
    }
}

void attn_forward_finish(float *o, float *lse, const float *acc, const float *m, const float *l,
                         int64_t c, int H, int hd)
{
    const int d = H * hd;
#pragma omp parallel for schedule(static) if ((size_t)(c * H * hd) >= TRAIN_PAR_MIN)
    for (int64_t i = 0; i < c; i++)
        for (int h = 0; h < H; h++) {
            float li = l[(size_t)h * c + i];
            float inv = li > 0 ? 1.0f / li : 0.0f;
            for (int j = 0; j < hd; j++) o[i * d + h * hd + j] = acc[i * d + h * hd + j] * inv;
            lse[(size_t)h * c + i] = li > 0 ? m[(size_t)h * c + i] + logf(li) : 0.0f;
        }
}

void attn_backward_prep(float *D, const float *dout, const float *o, int64_t c, int H, int hd)
{
    const int d = H * hd;
#pragma omp parallel for schedule(static) if ((size_t)(c * H * hd) >= TRAIN_PAR_MIN)
    for (int64_t i = 0; i < c; i++)
        for (int h = 0; h < H; h++) {
            double s = 0;
            for (int j = 0; j < hd; j++)
                s += (double)dout[i * d + h * hd + j] * o[i * d + h * hd + j];
            D[(size_t)h * c + i] = (float)s;
        }
}

// ------------------------------------------------------------------ backward

// One head: every (query tile, key tile) pair; dK/dV of this head are written by this task only.
static void backward_head(const attn_kernel *k, float *dq, float *dk, float *dv,
                          const attn_queries *q, const attn_keys *kv, const float *dout,
                          const float *lse, const float *D, int h, float *scratch,
                          exp_row_fn exp_row_of)
{
    const int hd = k->hd, d = k->H * hd, T = k->tile;
    const float tau = 1.0f / sqrtf((float)hd);
    float *P = scratch, *dP = scratch + (size_t)T * T;
    for (int64_t i0 = 0; i0 < q->c; i0 += T) {
        int64_t nq = q->c - i0 < T ? q->c - i0 : T;
        const float *Q = q->q + i0 * d + h * hd, *dO = dout + i0 * d + h * hd;
        const float *L = lse + (size_t)h * q->c + i0, *Dh = D + (size_t)h * q->c + i0;
        for (int64_t j0 = 0; j0 < kv->n; j0 += T) {
            int64_t nk = kv->n - j0 < T ? kv->n - j0 : T;
            const int32_t *qp = q->pos + i0, *qs = q->seg + i0, *kp = kv->pos + j0,
                          *ks = kv->seg + j0;
            int cls = classify(qp, qs, nq, kp, ks, nk);
            if (cls == TILE_SKIP) continue;
            const float *K = kv->k + j0 * d + h * hd, *V = kv->v + j0 * d + h * hd;
            (void)lwm_sgemm(0, 1, nq, nk, hd, tau, Q, d, K, d, 0.0f, P, nk);
            for (int64_t i = 0; i < nq; i++) {
                float *p = P + i * nk;
                (void)exp_row_of(p, nk, L[i]); // masked entries are finite here: zeroed below
                if (cls == TILE_MASKED) {
                    const int32_t qpi = qp[i], qsi = qs[i];
#pragma omp simd
                    for (int64_t j = 0; j < nk; j++)
                        p[j] = visible(qpi, qsi, kp[j], ks[j]) ? p[j] : 0.0f;
                }
            }
            // dV += Pᵀ dO ; dP = dO Vᵀ ; dS = P (dP - D) ; dQ += tau dS K ; dK += tau dSᵀ Q
            (void)lwm_sgemm(1, 0, nk, hd, nq, 1.0f, P, nk, dO, d, 1.0f, dv + j0 * d + h * hd, d);
            (void)lwm_sgemm(0, 1, nq, nk, hd, 1.0f, dO, d, V, d, 0.0f, dP, nk);
            for (int64_t i = 0; i < nq; i++) {
                const float di = Dh[i];
#pragma omp simd
                for (int64_t j = 0; j < nk; j++)
                    dP[i * nk + j] = P[i * nk + j] * (dP[i * nk + j] - di);
            }
            (void)lwm_sgemm(0, 0, nq, hd, nk, tau, dP, nk, K, d, 1.0f, dq + i0 * d + h * hd, d);
            (void)lwm_sgemm(1, 0, nk, hd, nq, tau, dP, nk, Q, d, 1.0f, dk + j0 * d + h * hd, d);
        }
    }
}

void attn_backward_block(const attn_kernel *k, float *dq, float *dk, float *dv,
                         const attn_queries *q, const attn_keys *kv, const float *dout,
                         const float *lse, const float *D)
{
    const size_t per = attn_scratch_floats(k->tile, k->hd);
    const exp_row_fn exp_row_of = exp_row_for_cpu();
#pragma omp parallel for schedule(dynamic, 1) num_threads(k->threads)
    for (int h = 0; h < k->H; h++)
        backward_head(k, dq, dk, dv, q, kv, dout, lse, D, h,
                      k->scratch + per * omp_get_thread_num(), exp_row_of);
}

// ------------------------------------------------------------------ naive reference
// Same contract, one query row at a time, no GEMM and no tile shortcuts.

void attn_forward_block_naive(const attn_kernel *k, float *acc, float *m, float *l,
                              const attn_queries *q, const attn_keys *kv)
{
    const int H = k->H, hd = k->hd, d = H * hd;
    const float tau = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++)
        for (int64_t i = 0; i < q->c; i++) {
            float *mi = m + (size_t)h * q->c + i, *li = l + (size_t)h * q->c + i;
            float *A = acc + i * d + h * hd;
            for (int64_t j = 0; j < kv->n; j++) {
                if (!visible(q->pos[i], q->seg[i], kv->pos[j], kv->seg[j])) continue;
                float s = 0;
                for (int e = 0; e < hd; e++)
                    s += q->q[i * d + h * hd + e] * kv->k[j * d + h * hd + e];
                s *= tau;
                float mnew = *mi > s ? *mi : s;
                float a = *mi == -INFINITY ? 0.0f : expf(*mi - mnew), p = expf(s - mnew);
                *li = a * *li + p;
                for (int e = 0; e < hd; e++) A[e] = a * A[e] + p * kv->v[j * d + h * hd + e];
                *mi = mnew;
            }
        }
}

void attn_backward_block_naive(const attn_kernel *k, float *dq, float *dk, float *dv,
                               const attn_queries *q, const attn_keys *kv, const float *dout,
                               const float *lse, const float *D)
{
    const int H = k->H, hd = k->hd, d = H * hd;
    const float tau = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++)
        for (int64_t i = 0; i < q->c; i++)
            for (int64_t j = 0; j < kv->n; j++) {
                if (!visible(q->pos[i], q->seg[i], kv->pos[j], kv->seg[j])) continue;
                const float *qi = q->q + i * d + h * hd, *kj = kv->k + j * d + h * hd;
                const float *vj = kv->v + j * d + h * hd, *go = dout + i * d + h * hd;
                float s = 0, dp = 0;
                for (int e = 0; e < hd; e++) s += qi[e] * kj[e];
                float p = expf(s * tau - lse[(size_t)h * q->c + i]);
                for (int e = 0; e < hd; e++) dp += go[e] * vj[e];
                float ds = p * (dp - D[(size_t)h * q->c + i]);
                for (int e = 0; e < hd; e++) {
                    dv[j * d + h * hd + e] += p * go[e];
                    dq[i * d + h * hd + e] += tau * ds * kj[e];
                    dk[j * d + h * hd + e] += tau * ds * qi[e];
                }
            }
}
