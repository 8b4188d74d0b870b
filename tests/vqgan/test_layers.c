// Every layer type against the PyTorch float64 reference (ref_vqgan.py layers):
// conv 3×3 / 1×1 / downsample / fused upsample with every kernel (GEMM, the
// direct reference, and Winograd F(4,3) on each vector level's micro-kernel the
// CPU has: AVX-512, AVX2 and the portable one), GroupNorm with and without SiLU, resnet blocks with and
// without the 1×1 shortcut, and the quantizer (exact float64 argmin, ties low).
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
        vq_geom g = strcmp(mode, "down") == 0 ? VQ_DOWN : strcmp(mode, "up") == 0 ? VQ_UP
                    : field(c, "k") == 3 ? VQ_SAME : VQ_POINT;
        vq_conv p = {tensor(name, "kernel")->data, tensor(name, "bias")->data, field(c, "k"),
                     field(c, "cin"), field(c, "cout"), NULL, NULL};
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
    if (uk) CHECK(wino == 2, "%d conv cases took Winograd (%s), expected 2", wino, lwm_simd_name(uk->level));
}

static void run_convs(const vq_kernels *kern)
{
    run_convs_on(kern, NULL);
}

TEST(conv_gemm_matches_torch) { run_convs(&vqgan_kernels_gemm); }
TEST(conv_direct_matches_torch) { run_convs(&vqgan_kernels_direct); }

// Every level this CPU has, whatever LWM_SIMD says (it only caps the default).
TEST(conv_winograd_matches_torch)
{
    __builtin_cpu_init();
    int top = __builtin_cpu_supports("avx512f") ? LWM_SIMD_AVX512
              : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? LWM_SIMD_AVX2
                                                                                : LWM_SIMD_SCALAR;
    for (int level = LWM_SIMD_SCALAR; level <= top; level++) {
        fprintf(stderr, "winograd on the %s micro-kernel\n", lwm_simd_name(level));
        run_convs_on(&vqgan_kernels_winograd, vqgan_ukernel(level));
    }
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
    return (vq_conv){w, tensor(name, n)->data, k, cin, cout, NULL, NULL};
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
        vq_resblock r = {norm_of(name, "GroupNorm_0", cin), norm_of(name, "GroupNorm_1", cout),
                         conv_of(name, "Conv_0", 3, cin, cout), conv_of(name, "Conv_1", 3, cout, cout),
                         {0}, cin, cout};
        if (cin != cout) r.shortcut = conv_of(name, "Conv_2", 1, cin, cout);
        size_t act = (size_t)B * H * W * (cin > cout ? cin : cout);
        float *bufs = calloc(4 * act, sizeof(float));
        vq_buffers b = {bufs, bufs + act, bufs + 2 * act, bufs + 3 * act, scratch(3, cin > cout ? cin : cout),
                        &vqgan_kernels_gemm, 2};
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
    CHECK(codes[0] == 3, "exact tie between codes 3 and 7 gave %u, expected the lower, 3", codes[0]);
    free(norm), free(codes), free(scores);
}

TEST_MAIN("vqgan/layers", T(conv_gemm_matches_torch), T(conv_direct_matches_torch),
          T(conv_winograd_matches_torch),
          T(group_norm_matches_torch), T(resnet_block_matches_torch),
          T(quantizer_matches_float64_argmin))
