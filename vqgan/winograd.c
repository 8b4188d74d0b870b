// Winograd F(4,3) convolution (Lavin & Gray 2016) for the stride-1 3×3 SAME
// convs: each 4×4 block of outputs comes from a 6×6 input tile d as
// Y = Aᵀ·[Σ_ci (G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A, which turns the layer into 36
// independent GEMMs [tiles × cin]·[cin × cout] with 36/16 = 2.25 multiplies
// per output and input channel instead of 9.
//
// The weights U = G·g·Gᵀ are computed once at load in float64 and packed in
// the micro-kernel's nr-wide panels (U[ξ][panel][ci][nr], ξ = 6·row + column
// of the 6×6 transform). Per call, each thread takes blocks of nt tiles:
// transforms their inputs into V[ξ][nt][cin] (in its scratch), multiplies
// M[ξ] = V[ξ]·U[ξ] with the micro-kernel, and transforms M back into the
// output, adding the bias (and the residual when accumulating). Blocks are
// sized so V and M stay in the core's L2.
#include <omp.h>
#include <string.h>

#include "internal.h"

#define T6 6   // input tile side
#define T4 4   // output tile side
#define XI 36  // transform positions
#define KC 128 // depth of one pass of the micro-kernel over V and U (L1-sized panels)
#define BLOCK_TARGET_FLOATS (192u * 1024u) // V + M of one block: 768 KiB

int vqgan_winograd_fits(const vq_conv *p, const vq_ukernel *uk)
{
    return p->k == 3 && p->cin >= 16 && p->cin % 16 == 0 && p->cout % uk->nr == 0 &&
           uk->nr % 16 == 0;
}

size_t vqgan_winograd_weight_floats(const vq_conv *p)
{
    return (size_t)XI * (size_t)p->cin * (size_t)p->cout;
}

void vqgan_winograd_weights(float *U, const vq_conv *p, const vq_ukernel *uk)
{
    static const double G[T6][3] = {{1.0 / 4, 0, 0},
                                    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                    {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                    {0, 0, 1}};
    int cin = p->cin, cout = p->cout, nr = uk->nr, panels = cout / nr;
    // Part of every load (and so of every ingest's start): spread over the cores.
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < cin; ci++)
        for (int co = 0; co < cout; co++) {
            double g[3][3], t[T6][3];
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    g[ky][kx] = p->w[((size_t)(ky * 3 + kx) * cin + ci) * cout + co];
            for (int r = 0; r < T6; r++)
                for (int kx = 0; kx < 3; kx++)
                    t[r][kx] = G[r][0] * g[0][kx] + G[r][1] * g[1][kx] + G[r][2] * g[2][kx];
            for (int r = 0; r < T6; r++)
                for (int c = 0; c < T6; c++) {
                    double u = t[r][0] * G[c][0] + t[r][1] * G[c][1] + t[r][2] * G[c][2];
                    size_t panel = (size_t)(r * T6 + c) * panels + (size_t)(co / nr);
                    U[(panel * cin + ci) * nr + co % nr] = (float)u;
                }
        }
}

// 16 channels at a time with GCC vector extensions (AVX-512 or two AVX2
// halves, as compiled); channel counts are multiples of 16 (vqgan_winograd_fits).
typedef float vf16 __attribute__((vector_size(64), aligned(4), may_alias));

// o[0..5] = Bᵀ·(d[0..5]) over n channels (each d[i], o[i] a row of n floats).
static void input_rows(float *const o[T6], const float *const d[T6], int n)
{
    for (int c = 0; c < n; c += 16) {
        vf16 d0 = *(const vf16 *)(d[0] + c), d1 = *(const vf16 *)(d[1] + c),
             d2 = *(const vf16 *)(d[2] + c), d3 = *(const vf16 *)(d[3] + c),
             d4 = *(const vf16 *)(d[4] + c), d5 = *(const vf16 *)(d[5] + c);
        *(vf16 *)(o[0] + c) = 4 * d0 - 5 * d2 + d4;
        *(vf16 *)(o[1] + c) = d3 + d4 - 4 * (d1 + d2);
        *(vf16 *)(o[2] + c) = 4 * (d1 - d2) + d4 - d3;
        *(vf16 *)(o[3] + c) = 2 * (d3 - d1) + d4 - d2;
        *(vf16 *)(o[4] + c) = 2 * (d1 - d3) + d4 - d2;
        *(vf16 *)(o[5] + c) = 4 * d1 - 5 * d3 + d5;
    }
}

// o[0..3] = Aᵀ·(m[0..5]) (+ bias, + o itself when acc; o[i] NULL: not stored)
// over n channels.
static void output_rows(float *const o[T4], const float *const m[T6], const float *bias, int acc,
                        int n)
{
    for (int c = 0; c < n; c += 16) {
        vf16 m0 = *(const vf16 *)(m[0] + c), m1 = *(const vf16 *)(m[1] + c),
             m2 = *(const vf16 *)(m[2] + c), m3 = *(const vf16 *)(m[3] + c),
             m4 = *(const vf16 *)(m[4] + c), m5 = *(const vf16 *)(m[5] + c);
        vf16 s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
        vf16 y[T4] = {m0 + s12 + s34, d12 + 2 * d34, s12 + 4 * s34, d12 + 8 * d34 + m5};
        for (int r = 0; r < T4; r++) {
            if (!o[r]) continue;
            if (bias) y[r] += *(const vf16 *)(bias + c);
            if (acc) y[r] += *(vf16 *)(o[r] + c);
            *(vf16 *)(o[r] + c) = y[r];
        }
    }
}

typedef struct wino_shape {
    int B, H, W, cin, cout, th, tw; // tiles th × tw per frame
} wino_shape;

// V[ξ][i] (row i of nt, cin floats) = Bᵀ·d·B of tile t, read in place from the
// input (zero: a row of zeros for the padding); e is 36 × cin floats of work.
static void transform_tile(float *V, int nt, int i, float *e, const float *zero, const float *in,
                           int t, const wino_shape *s)
{
    int cin = s->cin, b = t / (s->th * s->tw), y0 = (t / s->tw) % s->th * T4 - 1,
        x0 = t % s->tw * T4 - 1;
    const float *frame = in + (size_t)b * s->H * s->W * cin;
    // Columns first: e[r'][c] = Σ_r Bᵀ[r'][r] d[r][c]; then rows into V.
    for (int c = 0; c < T6; c++) {
        const float *di[T6];
        float *eo[T6];
        int x = x0 + c;
        for (int r = 0; r < T6; r++) {
            int y = y0 + r;
            di[r] = y < 0 || y >= s->H || x < 0 || x >= s->W
                        ? zero
                        : frame + ((size_t)y * s->W + (size_t)x) * cin;
            eo[r] = e + (size_t)(r * T6 + c) * cin;
        }
        input_rows(eo, di, cin);
    }
    for (int r = 0; r < T6; r++) {
        const float *ei[T6];
        float *vo[T6];
        for (int c = 0; c < T6; c++)
            ei[c] = e + (size_t)(r * T6 + c) * cin,
            vo[c] = V + ((size_t)(r * T6 + c) * nt + i) * cin;
        input_rows(vo, ei, cin);
    }
}

// Output block of tile t from M[ξ][i] (cout floats each): Aᵀ·M·A + bias; e is
// 24 × cout floats of work.
static void untransform_tile(float *out, const float *M, int nt, int i, float *e, const vq_conv *p,
                             int t, const wino_shape *s, int accumulate)
{
    int cout = s->cout, b = t / (s->th * s->tw), y0 = (t / s->tw) % s->th * T4, x0 = t % s->tw * T4;
    for (int c = 0; c < T6; c++) { // e[r'][c], r' < 4
        const float *mi[T6];
        float *eo[T4];
        for (int r = 0; r < T6; r++) mi[r] = M + ((size_t)(r * T6 + c) * nt + i) * cout;
        for (int r = 0; r < T4; r++) eo[r] = e + (size_t)(r * T6 + c) * cout;
        output_rows(eo, mi, NULL, 0, cout);
    }
    for (int r = 0; r < T4 && y0 + r < s->H; r++) { // out[y0 + r][x0 + c'], c' < 4
        const float *ei[T6];
        float *yo[T4];
        for (int c = 0; c < T6; c++) ei[c] = e + (size_t)(r * T6 + c) * cout;
        for (int c = 0; c < T4; c++)
            yo[c] =
                x0 + c < s->W
                    ? out + (((size_t)b * s->H + (size_t)(y0 + r)) * s->W + (size_t)(x0 + c)) * cout
                    : NULL;
        output_rows(yo, ei, p->b, accumulate, cout);
    }
}

// Tiles per block: a multiple of the kernel's rows, V + M near BLOCK_TARGET_FLOATS,
// within the thread's scratch (which also holds d, e and y).
static int block_tiles(const vq_conv *p, const vq_ukernel *uk, size_t scratch)
{
    size_t per_tile = (size_t)XI * (size_t)(p->cin + p->cout);
    size_t work = (size_t)XI * (size_t)(p->cin > p->cout ? p->cin : p->cout) + (size_t)p->cin;
    size_t target = BLOCK_TARGET_FLOATS < scratch ? BLOCK_TARGET_FLOATS : scratch;
    int nt = (int)(target / per_tile) / uk->mr * uk->mr;
    if (nt < uk->mr) nt = uk->mr;
    while (nt > uk->mr && (size_t)nt * per_tile + work > scratch) nt -= uk->mr;
    return (size_t)nt * per_tile + work <= scratch ? nt : 0;
}

// M[ξ] = V[ξ]·U[ξ] for the 36 positions of a block of rows tiles (a multiple of
// the kernel's rows; V's rows past the block's tiles are zero). In bf16 mode V
// is rounded to bf16 in place first.
static void multiply_block(float *M, float *V, int nt, int rows, const vq_conv *p)
{
    const vq_ukernel *uk = p->wino_kernel;
    int cin = p->cin, cout = p->cout, panels = cout / uk->nr;
    if (p->wino_bf16) {
        uint16_t *Vb = (uint16_t *)V;
        vqgan_bf16_convert(Vb, V, (size_t)XI * nt * cin);
        for (int xi = 0; xi < XI; xi++)
            vqgan_bf16_gemm(rows, cin, Vb + (size_t)xi * nt * cin, cin,
                            p->wino_bf16 + (size_t)xi * cin * cout, cout,
                            M + (size_t)xi * nt * cout, cout, 0);
        return;
    }
    for (int xi = 0; xi < XI; xi++) {
        const float *Vx = V + (size_t)xi * nt * cin;
        float *Mx = M + (size_t)xi * nt * cout;
        for (int k0 = 0; k0 < cin; k0 += KC) {
            int kc = cin - k0 < KC ? cin - k0 : KC;
            for (int j = 0; j < panels; j++) {
                const float *U = p->wino + (((size_t)xi * panels + j) * cin + k0) * uk->nr;
                for (int i = 0; i < rows; i += uk->mr)
                    uk->fn(kc, Vx + (size_t)i * cin + k0, cin, U,
                           Mx + (size_t)i * cout + j * uk->nr, cout, k0 > 0);
            }
        }
    }
}

static void conv_winograd(float *out, const float *in, const vq_conv *p, int B, int H, int W,
                          vq_geom g, int accumulate, vq_scratch *s)
{
    const vq_ukernel *uk = p->wino_kernel;
    int same = g.stride == 1 && g.upsample == 1 && g.pad_top == 1 && g.pad_left == 1 &&
               g.pad_bottom == 1 && g.pad_right == 1;
    int nt = (p->wino || p->wino_bf16) && same ? block_tiles(p, uk, s->tile_floats) : 0;
    if (!nt) {
        vqgan_kernels_gemm.conv(out, in, p, B, H, W, g, accumulate, s);
        return;
    }
    wino_shape sh = {B, H, W, p->cin, p->cout, (H + T4 - 1) / T4, (W + T4 - 1) / T4};
    int T = B * sh.th * sh.tw, blocks = (T + nt - 1) / nt, cin = p->cin, cout = p->cout;
#pragma omp parallel for schedule(dynamic, 1) num_threads(s->threads)
    for (int blk = 0; blk < blocks; blk++) {
        float *V = s->tiles + (size_t)omp_get_thread_num() * s->tile_floats;
        float *M = V + (size_t)XI * nt * cin, *e = M + (size_t)XI * nt * cout;
        float *zero = e + (size_t)XI * (cin > cout ? cin : cout);
        memset(zero, 0, sizeof(float) * (size_t)cin);
        int t0 = blk * nt, n = T - t0 < nt ? T - t0 : nt, rows = (n + uk->mr - 1) / uk->mr * uk->mr;
        for (int i = 0; i < n; i++) transform_tile(V, nt, i, e, zero, in, t0 + i, &sh);
        for (int xi = 0; xi < XI; xi++)
            for (int i = n; i < rows; i++)
                memset(V + ((size_t)xi * nt + i) * cin, 0, sizeof(float) * cin);
        multiply_block(M, V, nt, rows, p);
        for (int i = 0; i < n; i++) untransform_tile(out, M, nt, i, e, p, t0 + i, &sh, accumulate);
    }
}

const vq_kernels vqgan_kernels_winograd = {"winograd", conv_winograd};
