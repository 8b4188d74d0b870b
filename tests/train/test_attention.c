// Blockwise attention (tiled GEMM kernel and naive kernel) forward and backward against a
// direct float64 softmax attention written here from ring-attention.md §1-3: causal by global
// position, with packed-document segment ids, several tile sizes, keys arriving in blocks in
// ring order (as on a ring rank), zigzag-permuted positions.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "train/internal.h"

typedef struct problem {
    int64_t c; // query rows (= keys: self-attention over one sequence)
    int H, hd;
    float *q, *k, *v, *dout;
    int32_t *pos, *seg;
    double *o, *lse, *dq, *dk, *dv; // float64 reference
} problem;

static double urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

// Direct attention in float64: full softmax over visible keys of each query row.
static void reference(problem *p)
{
    const int64_t c = p->c;
    const int H = p->H, hd = p->hd, d = H * hd;
    const double tau = 1.0 / sqrt((double)hd);
    double *P = calloc((size_t)c, sizeof(double));
    for (int h = 0; h < H; h++)
        for (int64_t i = 0; i < c; i++) {
            double mx = -INFINITY, sum = 0, D = 0;
            for (int64_t j = 0; j < c; j++) {
                int vis = p->pos[j] <= p->pos[i] && p->seg[j] == p->seg[i];
                double s = 0;
                for (int e = 0; e < hd; e++)
                    s += (double)p->q[i * d + h * hd + e] * p->k[j * d + h * hd + e];
                P[j] = vis ? s * tau : -INFINITY;
                if (P[j] > mx) mx = P[j];
            }
            for (int64_t j = 0; j < c; j++) sum += P[j] == -INFINITY ? 0 : exp(P[j] - mx);
            p->lse[(size_t)h * c + i] = mx + log(sum);
            for (int64_t j = 0; j < c; j++) P[j] = P[j] == -INFINITY ? 0 : exp(P[j] - mx) / sum;
            for (int e = 0; e < hd; e++) {
                double acc = 0;
                for (int64_t j = 0; j < c; j++) acc += P[j] * p->v[j * d + h * hd + e];
                p->o[i * d + h * hd + e] = acc;
                D += acc * p->dout[i * d + h * hd + e];
            }
            for (int64_t j = 0; j < c; j++) {
                if (P[j] == 0) continue;
                double dp = 0;
                for (int e = 0; e < hd; e++)
                    dp += (double)p->dout[i * d + h * hd + e] * p->v[j * d + h * hd + e];
                double ds = P[j] * (dp - D);
                for (int e = 0; e < hd; e++) {
                    p->dv[j * d + h * hd + e] += P[j] * p->dout[i * d + h * hd + e];
                    p->dq[i * d + h * hd + e] += tau * ds * p->k[j * d + h * hd + e];
                    p->dk[j * d + h * hd + e] += tau * ds * p->q[i * d + h * hd + e];
                }
            }
        }
    free(P);
}

// zigzag: positions follow the zigzag layout of `ring` ranks concatenated (rank-major);
// segments: `docs` packed documents of random lengths.
static problem make(int64_t c, int H, int hd, int ring, int docs, uint64_t seed)
{
    problem p;
    memset(&p, 0, sizeof p);
    p.c = c, p.H = H, p.hd = hd;
    size_t n = (size_t)c * H * hd;
    p.q = malloc(n * 4), p.k = malloc(n * 4), p.v = malloc(n * 4), p.dout = malloc(n * 4);
    p.pos = malloc((size_t)c * 4), p.seg = malloc((size_t)c * 4);
    p.o = calloc(n, 8), p.dq = calloc(n, 8), p.dk = calloc(n, 8), p.dv = calloc(n, 8);
    p.lse = calloc((size_t)c * H, 8);
    for (size_t i = 0; i < n; i++) {
        p.q[i] = (float)(2 * urand(&seed) - 1), p.k[i] = (float)(2 * urand(&seed) - 1);
        p.v[i] = (float)(2 * urand(&seed) - 1), p.dout[i] = (float)(2 * urand(&seed) - 1);
    }
    int64_t cl = c / ring;
    for (int r = 0; r < ring; r++)
        for (int64_t i = 0; i < cl; i++)
            p.pos[r * cl + i] = (int32_t)train_zigzag_position(i, r, ring, cl);
    for (int64_t i = 0; i < c; i++) { // segment = document index of the global position
        int64_t g = p.pos[i];
        p.seg[i] = (int32_t)((g * docs) / c);
    }
    reference(&p);
    return p;
}

static void release(problem *p)
{
    void *b[] = {p->q, p->k, p->v, p->dout, p->pos, p->seg, p->o, p->dq, p->dk, p->dv, p->lse};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) free(b[i]);
}

typedef void (*fwd_fn)(const attn_kernel *, float *, float *, float *, const attn_queries *,
                       const attn_keys *);
typedef void (*bwd_fn)(const attn_kernel *, float *, float *, float *, const attn_queries *,
                       const attn_keys *, const float *, const float *, const float *);

// Runs the kernel as one ring rank per query slice: the keys of every slice visit in ring
// order (own slice first), then compares every output with the float64 reference.
static void run(problem *p, int ring, int tile, fwd_fn fwd, bwd_fn bwd, double *errs)
{
    const int64_t c = p->c, cl = c / ring;
    const int H = p->H, hd = p->hd, d = H * hd;
    attn_kernel k = {H, hd, tile, NULL, 2};
    k.scratch = malloc(attn_scratch_floats(tile, hd) * 2 * 4);
    size_t n = (size_t)c * d;
    float *o = malloc(n * 4), *m = malloc((size_t)c * H * 4), *l = malloc((size_t)c * H * 4);
    float *lse = malloc((size_t)c * H * 4), *D = malloc((size_t)c * H * 4);
    float *dq = calloc(n, 4), *dk = calloc(n, 4), *dv = calloc(n, 4);
    float *lse_full = malloc((size_t)c * H * 4);
    for (int r = 0; r < ring; r++) {
        attn_queries q = {p->q + r * cl * d, p->pos + r * cl, p->seg + r * cl, cl};
        float *orr = o + r * cl * d;
        attn_state_init(orr, m, l, cl, H, hd);
        for (int s = 0; s < ring; s++) {
            int src = ((r - s) % ring + ring) % ring;
            attn_keys kv = {p->k + src * cl * d, p->v + src * cl * d, p->pos + src * cl,
                            p->seg + src * cl, cl};
            fwd(&k, orr, m, l, &q, &kv);
        }
        attn_forward_finish(orr, lse, orr, m, l, cl, H, hd);
        for (int h = 0; h < H; h++)
            for (int64_t i = 0; i < cl; i++)
                lse_full[(size_t)h * c + r * cl + i] = lse[(size_t)h * cl + i];
        attn_backward_prep(D, p->dout + r * cl * d, orr, cl, H, hd);
        for (int s = 0; s < ring; s++) {
            int src = ((r - s) % ring + ring) % ring;
            attn_keys kv = {p->k + src * cl * d, p->v + src * cl * d, p->pos + src * cl,
                            p->seg + src * cl, cl};
            bwd(&k, dq + r * cl * d, dk + src * cl * d, dv + src * cl * d, &q, &kv,
                p->dout + r * cl * d, lse, D);
        }
    }
    errs[0] = max_rel_err(o, p->o, n);
    errs[1] = max_rel_err(lse_full, p->lse, (size_t)c * H);
    errs[2] = max_rel_err(dq, p->dq, n);
    errs[3] = max_rel_err(dk, p->dk, n);
    errs[4] = max_rel_err(dv, p->dv, n);
    void *b[] = {o, m, l, lse, D, dq, dk, dv, lse_full, k.scratch};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) free(b[i]);
}

static void check_all(const char *what, problem *p, int ring, int tile, fwd_fn f, bwd_fn b)
{
    static const char *names[] = {"O", "LSE", "dQ", "dK", "dV"};
    static const double tol[] = {2e-5, 2e-6, 1e-4, 1e-4, 1e-4};
    double e[5];
    run(p, ring, tile, f, b, e);
    for (int i = 0; i < 5; i++)
        CHECK(e[i] < tol[i], "%s ring %d tile %d: %s max rel err %.3g > %.1g", what, ring, tile,
              names[i], e[i], tol[i]);
}

TEST(tiled_causal_one_block)
{
    problem p = make(192, 2, 16, 1, 1, 1);
    int tiles[] = {7, 32, 64, 256};
    for (int i = 0; i < 4; i++)
        check_all("tiled", &p, 1, tiles[i], attn_forward_block, attn_backward_block);
    release(&p);
}

TEST(tiled_segments_zigzag_ring)
{
    problem p = make(240, 3, 8, 3, 4, 2);
    int tiles[] = {5, 16, 40};
    for (int i = 0; i < 3; i++)
        check_all("tiled", &p, 3, tiles[i], attn_forward_block, attn_backward_block);
    release(&p);
    problem q = make(256, 2, 32, 4, 3, 3);
    check_all("tiled", &q, 4, 32, attn_forward_block, attn_backward_block);
    check_all("tiled", &q, 2, 24, attn_forward_block, attn_backward_block);
    release(&q);
}

TEST(naive_matches_reference)
{
    problem p = make(96, 2, 8, 2, 3, 4);
    check_all("naive", &p, 1, 16, attn_forward_block_naive, attn_backward_block_naive);
    check_all("naive", &p, 2, 16, attn_forward_block_naive, attn_backward_block_naive);
    release(&p);
}

TEST(fully_masked_rows_stay_finite)
{
    // Keys of a later document only: every query row sees nothing in this block.
    int H = 1, hd = 4;
    float q[8 * 4], kk[8 * 4], vv[8 * 4], acc[8 * 4], m[8], l[8], lse[8];
    int32_t qp[8], qs[8], kp[8], ks[8];
    for (int i = 0; i < 32; i++) q[i] = kk[i] = vv[i] = 0.5f;
    for (int i = 0; i < 8; i++) qp[i] = i, qs[i] = 0, kp[i] = i, ks[i] = 1;
    float scratch[2 * 16 + 8];
    attn_kernel k = {H, hd, 4, scratch, 1};
    attn_queries qq = {q, qp, qs, 8};
    attn_keys kv = {kk, vv, kp, ks, 8};
    attn_state_init(acc, m, l, 8, H, hd);
    attn_forward_block(&k, acc, m, l, &qq, &kv);
    attn_forward_finish(acc, lse, acc, m, l, 8, H, hd);
    for (int i = 0; i < 32; i++) CHECK(acc[i] == 0.0f, "output %d is %g, expected 0", i, acc[i]);
    for (int i = 0; i < 8; i++) CHECK(isfinite(lse[i]), "lse %d not finite", i);
}

TEST_MAIN("train/attention", T(tiled_causal_one_block), T(tiled_segments_zigzag_ring),
          T(naive_matches_reference), T(fully_masked_rows_stay_finite))
