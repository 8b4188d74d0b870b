// Convolutions, NHWC with HWIO kernels. B frames of H×W×cin in, B frames of
// Ho×Wo×cout out; k×k kernel; a vq_geom says stride, zero padding per side and
// a fused nearest ×2 upsampling of the input (the upsampled tensor is never
// stored: the gather reads pixel (y/2, x/2)).
//
// Two kernels behind one table (STYLE §6): conv_gemm gathers an im2col tile of
// output rows × (k·k·cin) and multiplies it (lwm_sgemm) by the kernel, which in HWIO order
// already is the [k·k·cin × cout] matrix; a 1×1 stride-1 conv needs no gather
// at all. conv_direct is the naive triple loop, the reference the tests check
// conv_gemm against.
#include <omp.h>
#include <string.h>

#include "internal.h"

const vq_geom VQ_SAME = {1, 1, 1, 1, 1, 1};
const vq_geom VQ_DOWN = {2, 0, 0, 1, 1, 1}; // zero pad bottom/right only, VALID, stride 2
const vq_geom VQ_UP = {1, 1, 1, 1, 1, 2};
const vq_geom VQ_POINT = {1, 0, 0, 0, 0, 1};

// Aim for im2col tiles of about 4 MiB: big enough that SGEMM amortises its
// packing of the kernel matrix, small enough to stay near the cache.
#define TILE_TARGET_FLOATS (1u << 20)
#define TILE_MIN_ROWS 32

void vqgan_conv_out_size(int H, int W, int k, vq_geom g, int *Ho, int *Wo)
{
    *Ho = (H * g.upsample + g.pad_top + g.pad_bottom - k) / g.stride + 1;
    *Wo = (W * g.upsample + g.pad_left + g.pad_right - k) / g.stride + 1;
}

size_t vqgan_conv_tile_floats(int max_cin, int k)
{
    size_t row = (size_t)k * (size_t)k * (size_t)max_cin;
    size_t min = row * TILE_MIN_ROWS;
    return min > TILE_TARGET_FLOATS ? min : TILE_TARGET_FLOATS;
}

void vqgan_im2col(float *A, const float *in, int r0, int r1, int H, int W, int cin, int k,
                  vq_geom g, int Ho, int Wo)
{
    size_t K = (size_t)k * k * cin, cin_bytes = (size_t)cin * sizeof(float);
    int He = H * g.upsample, We = W * g.upsample;
    for (int r = r0; r < r1; r++) {
        int b = r / (Ho * Wo), oy = (r / Wo) % Ho, ox = r % Wo;
        float *dst = A + (size_t)(r - r0) * K;
        const float *frame = in + (size_t)b * H * W * cin;
        int ix0 = ox * g.stride - g.pad_left;
        // Without upsampling, a kernel row's k taps are k neighbouring input
        // pixels: one copy of k·cin floats when they are all inside the frame.
        int whole_rows = g.upsample == 1 && ix0 >= 0 && ix0 + k <= W;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * g.stride + ky - g.pad_top;
            if (whole_rows && iy >= 0 && iy < He) {
                memcpy(dst, frame + ((size_t)iy * W + (size_t)ix0) * cin, cin_bytes * (size_t)k);
                dst += (size_t)k * cin;
                continue;
            }
            for (int kx = 0; kx < k; kx++, dst += cin) {
                int ix = ox * g.stride + kx - g.pad_left;
                if (iy < 0 || iy >= He || ix < 0 || ix >= We) {
                    memset(dst, 0, cin_bytes);
                    continue;
                }
                size_t src = ((size_t)(iy / g.upsample) * W + (size_t)(ix / g.upsample)) * cin;
                memcpy(dst, frame + src, cin_bytes);
            }
        }
    }
}

// C rows [r0, r1) = bias (or += bias when accumulating a residual already there).
static void init_rows(float *out, const float *bias, int rows, int cout, int accumulate)
{
    for (int r = 0; r < rows; r++) {
        float *o = out + (size_t)r * cout;
        if (accumulate)
            for (int c = 0; c < cout; c++) o[c] += bias[c];
        else
            memcpy(o, bias, (size_t)cout * sizeof(float));
    }
}

// Each thread gathers and multiplies its own tiles of output rows: the GEMM
// is the project's lwm_sgemm (oneDNN, AVX-512 where cpuid has it), run on one
// thread per tile. Tiles are as big as the scratch allows (the kernel matrix is
// re-packed per tile, about 1/(2·rows) of the multiply), and their count a
// multiple of the thread count, so no thread idles at the end of a layer.
static void conv_gemm(float *out, const float *in, const vq_conv *p, int B, int H, int W, vq_geom g,
                      int accumulate, vq_scratch *s)
{
    int Ho, Wo;
    vqgan_conv_out_size(H, W, p->k, g, &Ho, &Wo);
    int M = B * Ho * Wo, K = p->k * p->k * p->cin, N = p->cout;
    int pointwise = p->k == 1 && g.stride == 1 && g.upsample == 1 && g.pad_top == 0;
    int max_rows = (int)(s->tile_floats / (size_t)K);
    if (max_rows < 1) max_rows = 1;
    int tiles = (M + max_rows - 1) / max_rows;
    tiles = (tiles + s->threads - 1) / s->threads * s->threads;
    int rows = (M + tiles - 1) / tiles;
    tiles = (M + rows - 1) / rows;
#pragma omp parallel for schedule(static, 1) num_threads(s->threads)
    for (int t = 0; t < tiles; t++) {
        int r0 = t * rows, r1 = r0 + rows < M ? r0 + rows : M;
        float *A = s->tiles + (size_t)omp_get_thread_num() * s->tile_floats;
        const float *a = in + (size_t)r0 * K;
        if (!pointwise) {
            vqgan_im2col(A, in, r0, r1, H, W, p->cin, p->k, g, Ho, Wo);
            a = A;
        }
        float *c = out + (size_t)r0 * N;
        init_rows(c, p->b, r1 - r0, N, accumulate);
        // Fails only on invalid dimensions, which the layer geometry excludes.
        (void)lwm_sgemm(0, 0, r1 - r0, N, K, 1.0f, a, K, p->w, N, 1.0f, c, N);
    }
}

static void conv_direct(float *out, const float *in, const vq_conv *p, int B, int H, int W,
                        vq_geom g, int accumulate, vq_scratch *s)
{
    int Ho, Wo, k = p->k, cin = p->cin, cout = p->cout;
    vqgan_conv_out_size(H, W, k, g, &Ho, &Wo);
    int He = H * g.upsample, We = W * g.upsample, M = B * Ho * Wo;
#pragma omp parallel for schedule(static) num_threads(s->threads)
    for (int r = 0; r < M; r++) {
        int b = r / (Ho * Wo), oy = (r / Wo) % Ho, ox = r % Wo;
        float *o = out + (size_t)r * cout;
        init_rows(o, p->b, 1, cout, accumulate);
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                int iy = oy * g.stride + ky - g.pad_top, ix = ox * g.stride + kx - g.pad_left;
                if (iy < 0 || iy >= He || ix < 0 || ix >= We) continue;
                const float *x = in + (((size_t)b * H + (size_t)(iy / g.upsample)) * W +
                                       (size_t)(ix / g.upsample)) *
                                          cin;
                const float *w = p->w + (size_t)(ky * k + kx) * cin * cout;
                for (int ci = 0; ci < cin; ci++)
                    for (int co = 0; co < cout; co++) o[co] += x[ci] * w[(size_t)ci * cout + co];
            }
    }
}

const vq_kernels vqgan_kernels_gemm = {"gemm", conv_gemm};
const vq_kernels vqgan_kernels_direct = {"direct", conv_direct};
