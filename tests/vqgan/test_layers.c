// Every layer type against the PyTorch float64 reference (ref_vqgan.py layers):
// conv 3×3 / 1×1 / downsample / fused upsample with every kernel (GEMM, the
// direct reference, and Winograd F(4,3) on each vector level's micro-kernel the
// CPU has: AVX-512, AVX2 and the portable one), GroupNorm with and without SiLU, resnet blocks
// with and
// without the 1×1 shortcut, and the quantizer (exact float64 argmin, ties low).
// The bf16 convs (AVX512_BF16) against a bound derived from bf16 rounding.
#include <cjson/cJSON.h>
#include <omp.h>

#include "harness.h"
#include "vqgan_test.h"

#define TOL 1e-4

static vq_file cases_file;
static cJSON *cases;

static int load_cases(void)
{
    if (cases) return 0;
    char path[1024], args[1200];
    snprintf(path, sizeof path, "%s/layers.safetensors", test_tmpdir());
    snprintf(args, sizeof args, "layers %s", path);
    if (run_reference(args) != 0) return -1;
    lwm_error err = {0};
    if (vqgan_file_open(&cases_file, path, NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    cases = cJSON_Parse(vqgan_file_meta(&cases_file, "cases"));
    return cases ? 0 : -1;
}

static const vq_tensor *tensor(const char *cname, const char *leaf)
{
    char n[256];
    snprintf(n, sizeof n, "%s/%s", cname, leaf);
    return need(&cases_file, n);
}

static int field(const cJSON *c, const char *k)
{
    return cJSON_GetObjectItem(c, k)->valueint;
}

// Compares got with the reference tensor of case cname; returns the error.
static double compare(const float *got, const char *cname)
{
    const vq_tensor *ref = tensor(cname, "ref");
    double *r = to_double(ref->data, ref->count);
    double e = max_rel_err(got, r, ref->count);
    free(r);
    fprintf(stderr, "%s: max rel err %.3g\n", cname, e);
    return e;
}

static vq_scratch scratch(int k, int cin)
{
    vq_scratch s = {0};
    s.threads = omp_get_max_threads();
    s.tile_floats = vqgan_conv_tile_floats(cin, k);
    s.tiles = malloc(s.tile_floats * (size_t)s.threads * sizeof(float));
    return s;
}

// A conv case's layer (weights in the cases file) and geometry.
static vq_conv conv_case(const cJSON *c, vq_geom *g)
{
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    const char *mode = cJSON_GetObjectItem(c, "mode")->valuestring;
    *g = strcmp(mode, "down") == 0 ? VQ_DOWN
         : strcmp(mode, "up") == 0 ? VQ_UP
         : field(c, "k") == 3      ? VQ_SAME
                                   : VQ_POINT;
    return (vq_conv){tensor(name, "kernel")->data,
                     tensor(name, "bias")->data,
                     field(c, "k"),
                     field(c, "cin"),
                     field(c, "cout"),
                     NULL,
                     NULL,
                     NULL,
                     NULL};
}

static void run_convs_on(const vq_kernels *kern, const vq_ukernel *uk)
{
    REQUIRE(load_cases() == 0, "reference script failed");
    const cJSON *c;
    int n = 0, wino = 0;
    cJSON_ArrayForEach(c, cases)
    {
        if (strcmp(cJSON_GetObjectItem(c, "op")->valuestring, "conv") != 0) continue;
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const char *mode = cJSON_GetObjectItem(c, "mode")->valuestring;
        vq_geom g;
        vq_conv p = conv_case(c, &g);
        const vq_tensor *ref = tensor(name, "ref");
        float *out = calloc(ref->count, sizeof(float)), *U = NULL;
        if (uk && vqgan_winograd_fits(&p, uk)) {
            U = lwm_aligned_alloc(NULL, vqgan_winograd_weight_floats(&p) * sizeof(float));
            vqgan_winograd_weights(U, &p, uk);
            p.wino = U, p.wino_kernel = uk;
        }
        vq_scratch s = scratch(p.k, p.cin);
        kern->conv(out, tensor(name, "x")->data, &p, field(c, "B"), field(c, "H"), field(c, "W"), g,
                   0, &s);
        CHECK(compare(out, name) < TOL, "%s (%s kernel) differs from torch", name, kern->name);
        // Accumulate mode adds onto what is there: run again, expect twice the result.
        kern->conv(out, tensor(name, "x")->data, &p, field(c, "B"), field(c, "H"), field(c, "W"), g,
                   1, &s);
        for (size_t i = 0; i < ref->count; i++) out[i] *= 0.5f;
        CHECK(compare(out, name) < TOL, "%s (%s kernel) accumulate mode wrong", name, kern->name);
        free(s.tiles);
        free(out);
        lwm_aligned_free(NULL, U);
        n++;
        wino += U != NULL && strcmp(mode, "same") == 0; // the others fall back to GEMM
    }
    CHECK(n == 6, "expected 6 conv cases, found %d", n);
    if (uk)
        CHECK(wino == 2, "%d conv cases took Winograd (%s), expected 2", wino,
              lwm_simd_name(uk->level));
}

static void run_convs(const vq_kernels *kern)
{
    run_convs_on(kern, NULL);
}

TEST(conv_gemm_matches_torch)
{
    run_convs(&vqgan_kernels_gemm);
}
TEST(conv_direct_matches_torch)
{
    run_convs(&vqgan_kernels_direct);
}

// Every level this CPU has, whatever LWM_SIMD says (it only caps the default).
TEST(conv_winograd_matches_torch)
{
    __builtin_cpu_init();
    int top = __builtin_cpu_supports("avx512f")                                 ? LWM_SIMD_AVX512
              : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? LWM_SIMD_AVX2
                                                                                : LWM_SIMD_SCALAR;
    for (int level = LWM_SIMD_SCALAR; level <= top; level++) {
        fprintf(stderr, "winograd on the %s micro-kernel\n", lwm_simd_name(level));
        run_convs_on(&vqgan_kernels_winograd, vqgan_ukernel(level));
    }
}

// ------------------------------------------------------------ bf16

// bf16 keeps 8 significant bits: rounding to nearest gives a relative error of
// at most u = 2^-8 per operand, so a product of two rounded operands is off by
// at most (2u + u²)·|x·w|, and a sum of such products by (2u + u²)·S where S is
// the same sum over absolute values. fp32 accumulation and the fp32 transforms
// add about K·2^-24·S, covered by the slack term.
#define BF16_U (1.0 / 256)
#define BF16_GAMMA (2 * BF16_U + BF16_U * BF16_U + 1e-5)

// S for the im2col path: the conv of |x| with |w|, without bias, in float64.
static double abs_conv_at(const float *x, const float *w, int H, int W, int cin, int cout, int k,
                          vq_geom g, int b, int oy, int ox, int co)
{
    double s = 0;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int iy = oy * g.stride + ky - g.pad_top, ix = ox * g.stride + kx - g.pad_left;
            if (iy < 0 || iy >= H * g.upsample || ix < 0 || ix >= W * g.upsample) continue;
            const float *xi = x + (((size_t)b * H + iy / g.upsample) * W + ix / g.upsample) * cin;
            for (int ci = 0; ci < cin; ci++)
                s += fabs(xi[ci]) * fabs(w[((size_t)(ky * k + kx) * cin + ci) * cout + co]);
        }
    return s;
}

// F(4,3) from Lavin & Gray (2016): Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A.
static const double WBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double WG[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};
static const double WAT[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// S for the Winograd path: |Aᵀ|·[Σ_ci |U| ⊙ |V|]·|A| of the 4×4 block at
// (ty, tx) of frame b for output channel co, U and V in float64 (rounding them
// to bf16 is what the bf16 mode adds).
static void abs_winograd_block(double S[4][4], const float *x, const float *w, int H, int W,
                               int cin, int cout, int b, int ty, int tx, int co)
{
    double T[6][6] = {{0}};
    for (int ci = 0; ci < cin; ci++) {
        double d[6][6], g[3][3];
        for (int p = 0; p < 6; p++)
            for (int q = 0; q < 6; q++) {
                int y = ty * 4 - 1 + p, xx = tx * 4 - 1 + q;
                d[p][q] = y < 0 || y >= H || xx < 0 || xx >= W
                              ? 0
                              : x[(((size_t)b * H + y) * W + xx) * cin + ci];
            }
        for (int p = 0; p < 3; p++)
            for (int q = 0; q < 3; q++) g[p][q] = w[((size_t)(p * 3 + q) * cin + ci) * cout + co];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 6; j++) {
                double v = 0, u = 0;
                for (int p = 0; p < 6; p++)
                    for (int q = 0; q < 6; q++) v += WBT[i][p] * WBT[j][q] * d[p][q];
                for (int p = 0; p < 3; p++)
                    for (int q = 0; q < 3; q++) u += WG[i][p] * WG[j][q] * g[p][q];
                T[i][j] += fabs(u) * fabs(v);
            }
    }
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            S[r][c] = 0;
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) S[r][c] += fabs(WAT[r][i]) * fabs(WAT[c][j]) * T[i][j];
        }
}

// The rounding bound S of output (b, oy, ox, co); blk caches the Winograd
// block last computed (key: b, ty, tx, co).
static double bound_at(const float *x, const vq_conv *p, int H, int W, vq_geom g, int wino, int b,
                       int oy, int ox, int co, double blk[4][4], int key[4])
{
    if (!wino) return abs_conv_at(x, p->w, H, W, p->cin, p->cout, p->k, g, b, oy, ox, co);
    if (key[0] != b || key[1] != oy / 4 || key[2] != ox / 4 || key[3] != co) {
        abs_winograd_block(blk, x, p->w, H, W, p->cin, p->cout, b, oy / 4, ox / 4, co);
        key[0] = b, key[1] = oy / 4, key[2] = ox / 4, key[3] = co;
    }
    return blk[oy % 4][ox % 4];
}

// Worst |got − ref| / (γ·S) over one conv case; *rel gets max |got − ref| / max |ref|.
static double bf16_worst_ratio(const float *got, const vq_tensor *ref, const float *x,
                               const vq_conv *p, int B, int H, int W, vq_geom g, int wino,
                               double *rel)
{
    int Ho, Wo, key[4] = {-1, -1, -1, -1};
    vqgan_conv_out_size(H, W, p->k, g, &Ho, &Wo);
    double worst = 0, err = 0, scale = 1e-30, blk[4][4];
    // Winograd blocks outermost, so each block's bound is computed once per channel.
    for (int b = 0; b < B; b++)
        for (int ty = 0; ty < Ho; ty += 4)
            for (int tx = 0; tx < Wo; tx += 4)
                for (int co = 0; co < p->cout; co++)
                    for (int oy = ty; oy < ty + 4 && oy < Ho; oy++)
                        for (int ox = tx; ox < tx + 4 && ox < Wo; ox++) {
                            double S = bound_at(x, p, H, W, g, wino, b, oy, ox, co, blk, key);
                            size_t i = (((size_t)b * Ho + oy) * Wo + ox) * p->cout + co;
                            double e = fabs(got[i] - (double)ref->data[i]);
                            worst = fmax(worst, e / (BF16_GAMMA * S + 1e-30));
                            err = fmax(err, e), scale = fmax(scale, fabs(ref->data[i]));
                        }
    *rel = err / scale;
    return worst;
}

// Each conv case through the bf16 kernels (Winograd where the default mode
// would use it) against the float64 reference, element by element within the
// bf16 rounding bound; the error must also be above fp32's, or bf16 did not run.
TEST(conv_bf16_within_rounding_bound)
{
    if (!lwm_simd_bf16()) {
        fprintf(stderr, "bf16 not available at this level (LWM_SIMD or CPU): nothing to check\n");
        return;
    }
    REQUIRE(load_cases() == 0, "reference script failed");
    const vq_ukernel *uk = vqgan_ukernel(LWM_SIMD_AVX512);
    const cJSON *c;
    int n = 0, wino_cases = 0;
    cJSON_ArrayForEach(c, cases)
    {
        if (strcmp(cJSON_GetObjectItem(c, "op")->valuestring, "conv") != 0) continue;
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        const char *mode = cJSON_GetObjectItem(c, "mode")->valuestring;
        vq_geom g;
        vq_conv p = conv_case(c, &g);
        int wino = strcmp(mode, "same") == 0 && vqgan_winograd_fits(&p, uk);
        uint16_t *wb = lwm_aligned_alloc(NULL, vqgan_bf16_weight_count(&p, wino) * sizeof *wb);
        float *work = malloc(vqgan_winograd_weight_floats(&p) * sizeof(float));
        vqgan_bf16_pack(wb, &p, wino, work);
        if (wino)
            p.wino_bf16 = wb, p.wino_kernel = uk;
        else
            p.bf16 = wb;
        const vq_tensor *ref = tensor(name, "ref");
        const float *x = tensor(name, "x")->data;
        float *out = calloc(ref->count, sizeof(float));
        vq_scratch s = scratch(p.k, p.cin);
        int B = field(c, "B"), H = field(c, "H"), W = field(c, "W");
        vqgan_kernels_bf16.conv(out, x, &p, B, H, W, g, 0, &s);
        double rel, ratio = bf16_worst_ratio(out, ref, x, &p, B, H, W, g, wino, &rel);
        fprintf(stderr, "%s (bf16%s): max rel err %.3g, worst error / bound %.3f\n", name,
                wino ? " winograd" : "", rel, ratio);
        CHECK(ratio <= 1, "%s: bf16 error exceeds the rounding bound (%.3f of it)", name, ratio);
        CHECK(rel > 1e-5, "%s: error %.3g is fp32-sized: bf16 rounding did not happen", name, rel);
        // Accumulate mode adds the same result onto what is there.
        float *twice = malloc(ref->count * sizeof(float));
        memcpy(twice, out, ref->count * sizeof(float));
        vqgan_kernels_bf16.conv(twice, x, &p, B, H, W, g, 1, &s);
        double *once = to_double(out, ref->count);
        for (size_t i = 0; i < ref->count; i++) twice[i] *= 0.5f;
        CHECK(max_rel_err(twice, once, ref->count) < 1e-6, "%s: bf16 accumulate mode wrong", name);
        free(twice), free(once);
        free(s.tiles), free(out), free(work);
        lwm_aligned_free(NULL, wb);
        n++, wino_cases += wino;
    }
    CHECK(n == 6 && wino_cases == 2, "%d conv cases, %d on Winograd (expected 6 and 2)", n,
          wino_cases);
}

TEST(group_norm_matches_torch)
{
    REQUIRE(load_cases() == 0, "reference script failed");
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cases)
    {
        if (strcmp(cJSON_GetObjectItem(c, "op")->valuestring, "group_norm") != 0) continue;
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        vq_norm p = {tensor(name, "scale")->data, tensor(name, "bias")->data, field(c, "C")};
        const vq_tensor *x = tensor(name, "x");
        float *out = malloc(x->count * sizeof(float));
        vqgan_group_norm_forward(out, x->data, &p, field(c, "B"), field(c, "H") * field(c, "W"),
                                 field(c, "silu"), 2);
        CHECK(compare(out, name) < TOL, "%s differs from torch", name);
        free(out);
        n++;
    }
    CHECK(n == 2, "expected 2 group norm cases, found %d", n);
}

static vq_conv conv_of(const char *name, const char *leaf, int k, int cin, int cout)
{
    char n[128];
    snprintf(n, sizeof n, "%s/kernel", leaf);
    const float *w = tensor(name, n)->data;
    snprintf(n, sizeof n, "%s/bias", leaf);
    return (vq_conv){w, tensor(name, n)->data, k, cin, cout, NULL, NULL, NULL, NULL};
}

static vq_norm norm_of(const char *name, const char *leaf, int c)
{
    char n[128], m[128];
    snprintf(n, sizeof n, "%s/scale", leaf);
    snprintf(m, sizeof m, "%s/bias", leaf);
    return (vq_norm){tensor(name, n)->data, tensor(name, m)->data, c};
}

TEST(resnet_block_matches_torch)
{
    REQUIRE(load_cases() == 0, "reference script failed");
    const cJSON *c;
    int n = 0;
    cJSON_ArrayForEach(c, cases)
    {
        if (strcmp(cJSON_GetObjectItem(c, "op")->valuestring, "resnet") != 0) continue;
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int cin = field(c, "cin"), cout = field(c, "cout"), B = field(c, "B"), H = field(c, "H"),
            W = field(c, "W");
        vq_resblock r = {norm_of(name, "GroupNorm_0", cin),
                         norm_of(name, "GroupNorm_1", cout),
                         conv_of(name, "Conv_0", 3, cin, cout),
                         conv_of(name, "Conv_1", 3, cout, cout),
                         {0},
                         cin,
                         cout};
        if (cin != cout) r.shortcut = conv_of(name, "Conv_2", 1, cin, cout);
        size_t act = (size_t)B * H * W * (cin > cout ? cin : cout);
        float *bufs = calloc(4 * act, sizeof(float));
        vq_buffers b = {bufs,
                        bufs + act,
                        bufs + 2 * act,
                        bufs + 3 * act,
                        scratch(3, cin > cout ? cin : cout),
                        &vqgan_kernels_gemm,
                        2};
        memcpy(b.x, tensor(name, "x")->data, tensor(name, "x")->count * sizeof(float));
        float *out = vqgan_resnet_forward(&r, b.x, b.y, B, H, W, &b);
        CHECK(compare(out, name) < TOL, "%s differs from torch", name);
        free(b.scratch.tiles);
        free(bufs);
        n++;
    }
    CHECK(n == 2, "expected 2 resnet cases, found %d", n);
}

TEST(quantizer_matches_float64_argmin)
{
    REQUIRE(load_cases() == 0, "reference script failed");
    const vq_tensor *z = tensor("quantize", "x"), *e = tensor("quantize", "codebook"),
                    *ref = tensor("quantize", "ref");
    int K = (int)e->shape[0], D = (int)e->shape[1], N = (int)z->shape[0];
    float *norm = malloc((size_t)K * sizeof(float)), emax = 0;
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (int i = 0; i < D; i++) s += (double)e->data[k * D + i] * e->data[k * D + i];
        norm[k] = (float)s;
        if (sqrt(s) > emax) emax = (float)sqrt(s);
    }
    vq_codebook cb = {e->data, norm, emax, K, D};
    uint16_t *codes = malloc((size_t)N * sizeof *codes);
    float *scores = malloc((size_t)VQ_QUANT_TILE * K * omp_get_max_threads() * sizeof(float));
    vqgan_quantize_forward(codes, z->data, N, &cb, scores, omp_get_max_threads());
    int bad = 0;
    for (int i = 0; i < N; i++) bad += codes[i] != (uint16_t)ref->data[i];
    CHECK(bad == 0, "%d of %d codes differ from the float64 argmin (first: z0 %u vs %g)", bad, N,
          codes[0], ref->data[0]);
    CHECK(codes[0] == 3, "exact tie between codes 3 and 7 gave %u, expected the lower, 3",
          codes[0]);
    free(norm), free(codes), free(scores);
}

TEST_MAIN("vqgan/layers", T(conv_gemm_matches_torch), T(conv_direct_matches_torch),
          T(conv_winograd_matches_torch), T(conv_bf16_within_rounding_bound),
          T(group_norm_matches_torch), T(resnet_block_matches_torch),
          T(quantizer_matches_float64_argmin))
