// The whole encoder and decoder against the PyTorch float64 reference
// (ref_vqgan.py model), on seeded random weights: the small and tiny presets
// within 1e-4 relative error, and the full lwm preset on one frame (a
// real one from $LWM_SHARED_DATA when present, else a generated one): at least
// 99.9% of codes equal to the float64 reference, decoded pixels within 1e-3
// mean absolute error, and every code equal to the float64 argmin of our own
// latents (the quantizer is exact). The lwm preset's frame is also encoded in
// bf16 mode where the CPU has AVX512_BF16, and its codes compared with the same
// float64 reference.
#include <omp.h>

#include "harness.h"
#include "vqgan_test.h"

// Under the sanitizers (SAN=1) the full preset runs the C side only, with the
// quantizer's exactness checked; the float64 model comparison of the normal run
// would take minutes and tests numerics, not memory safety.
static int sanitizer_run(const char *preset)
{
    const char *san = getenv("SAN");
    return san && strcmp(san, "1") == 0 && strcmp(preset, "lwm") == 0;
}

// bf16 codes agree with float64 less than fp32's (99.9 %): the Winograd
// transforms amplify bf16's 2^-9 rounding (layer errors of ~6 % of the largest
// output against ~0.25 % on the im2col layers, test_layers). Measured on real
// frames: see bench/RESULTS.md; the bar sits below the worst frame measured.
#define BF16_MIN_AGREEMENT 0.80

typedef struct result {
    double z_err, pixel_err, pixel_mae;
    int codes, same_codes, exact_codes;
    int bf16_same_codes; // -1: bf16 mode not run
} result;

// Codes of B frames in bf16 mode (lwm preset, AVX512_BF16 present), else NULL.
static uint16_t *bf16_codes(const char *preset, const char *weights, const float *frames, int B,
                            int per)
{
    if (strcmp(preset, "lwm") != 0 || !lwm_simd_bf16()) return NULL;
    lwm_vqgan *ctx = lwm_vqgan_create(&(lwm_vqgan_options){.precision = LWM_VQGAN_BF16});
    uint16_t *codes = malloc((size_t)B * per * sizeof *codes);
    if (lwm_vqgan_load(ctx, weights) < 0 || lwm_vqgan_encode(ctx, codes, frames, B) < 0) {
        fprintf(stderr, "bf16: %s\n", lwm_vqgan_errmsg(ctx));
        free(codes);
        codes = NULL;
    }
    lwm_vqgan_free(ctx);
    return codes;
}

// Grabs one real frame: the middle of a shared test video, short side 256,
// centre crop, as ffmpeg's command line does it (independent of our ingest).
static int real_frame(float *x, int side)
{
    const char *data = test_shared_data();
    if (!data || side != 256) return 0;
    char cmd[2048], raw[1024];
    snprintf(raw, sizeof raw, "%s/real.rgb", test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "ffmpeg -v error -y -ss 5 -i %s/video/nasa_13013.mp4 -frames:v 1 -vf "
             "scale=-2:256:flags=bicubic,crop=256:256 -f rawvideo -pix_fmt rgb24 %s",
             data, raw);
    if (system(cmd) != 0) return -1;
    FILE *f = fopen(raw, "rb");
    if (!f) return -1;
    unsigned char *px = malloc((size_t)side * side * 3);
    size_t got = fread(px, 1, (size_t)side * side * 3, f);
    fclose(f);
    for (size_t i = 0; i < got; i++) x[i] = px[i] / 127.5f - 1.0f;
    free(px);
    return got == (size_t)side * side * 3 ? 1 : -1;
}

// frames_wanted generated frames, plus a real one when shared data is present
// (with real_only, the real one replaces the generated ones).
static int run_preset(const char *preset, int frames_wanted, int real_only, result *r)
{
    char cfg_path[1024], w[1024], fr[1024], co[1024], ref[1024], args[4200];
    const char *root = getenv("LWM_ROOT"), *tmp = test_tmpdir();
    snprintf(cfg_path, sizeof cfg_path, "%s/configs/vqgan/%s.json", root ? root : ".", preset);
    snprintf(w, sizeof w, "%s/%s.safetensors", tmp, preset);
    snprintf(fr, sizeof fr, "%s/%s-frames.safetensors", tmp, preset);
    snprintf(co, sizeof co, "%s/%s-c.safetensors", tmp, preset);
    snprintf(ref, sizeof ref, "%s/%s-ref.safetensors", tmp, preset);
    lwm_vqgan_config cfg;
    lwm_error err = {0};
    if (lwm_vqgan_config_load(&cfg, cfg_path, &err) < 0 ||
        lwm_vqgan_init_weights(w, &cfg, 7, &err) < 0)
        return fprintf(stderr, "%s\n", err.msg), -1;
    int side = cfg.resolution, per = lwm_vqgan_config_codes_per_frame(&cfg), D = cfg.embed_dim;
    size_t ff = (size_t)side * side * 3;
    float *frames = malloc(ff * (size_t)(frames_wanted + 1) * sizeof(float));
    int real = real_frame(frames, side), B = real;
    if (real < 0) return fprintf(stderr, "could not extract a real frame\n"), -1;
    for (int i = 0; i < frames_wanted && !(real && real_only); i++, B++)
        synthetic_frame(frames + B * ff, side, i);
    lwm_vqgan *ctx = lwm_vqgan_create(&(lwm_vqgan_options){.max_batch = 2});
    float *z = malloc((size_t)B * per * D * sizeof(float)), *px = malloc(ff * B * sizeof(float));
    uint16_t *codes = malloc((size_t)B * per * sizeof *codes);
    float *codes_f = malloc((size_t)B * per * sizeof(float));
    int rc = lwm_vqgan_load(ctx, w);
    if (rc == 0) rc = vqgan_encode_latents(ctx, z, codes, frames, B);
    if (rc == 0) rc = lwm_vqgan_decode(ctx, px, codes, B);
    if (rc < 0) fprintf(stderr, "%s\n", lwm_vqgan_errmsg(ctx));
    for (int i = 0; i < B * per; i++) codes_f[i] = codes[i];
    // Under the sanitizers only the quantizer is compared: no bf16 encode either.
    uint16_t *codes16 =
        rc == 0 && !sanitizer_run(preset) ? bf16_codes(preset, w, frames, B, per) : NULL;
    r->bf16_same_codes = -1;
    int h = side >> (cfg.num_levels - 1);
    test_tensor in[] = {{"frames", 4, {B, side, side, 3}, frames}};
    test_tensor out[] = {{"z", 4, {B, h, h, D}, z}, {"codes", 2, {B, per}, codes_f}};
    if (rc == 0) rc = write_tensors(fr, in, 1) || write_tensors(co, out, 2);
    int quick = sanitizer_run(preset);
    snprintf(args, sizeof args, "model %s %s %s %s %s", w, fr, co, ref,
             quick                          ? "quantize-only"
             : strcmp(preset, "small") == 0 ? "torch"
                                            : "numpy");
    if (rc == 0) rc = run_reference(args);
    vq_file f;
    if (rc == 0) rc = vqgan_file_open(&f, ref, NULL, &err);
    if (rc == 0 && quick) {
        r->codes = B * per;
        r->exact_codes = 0;
        for (int i = 0; i < B * per; i++)
            r->exact_codes += codes[i] == (uint16_t)need(&f, "codes_of_c_z")->data[i];
        r->same_codes = r->codes, r->z_err = r->pixel_err = r->pixel_mae = 0;
        fprintf(stderr, "%s under sanitizers (simd level %s): quantizer exactness only (%d/%d)\n",
                preset, lwm_simd_name(lwm_simd_level()), r->exact_codes, r->codes);
        vqgan_file_close(&f);
    } else if (rc == 0) {
        double *zr = to_double(need(&f, "z")->data, (size_t)B * per * D);
        double *pr = to_double(need(&f, "pixels")->data, ff * B);
        r->z_err = max_rel_err(z, zr, (size_t)B * per * D);
        r->pixel_err = max_rel_err(px, pr, ff * B);
        double mae = 0;
        for (size_t i = 0; i < ff * B; i++) mae += fabs(px[i] - pr[i]);
        r->pixel_mae = mae / (double)(ff * B);
        r->codes = B * per;
        r->same_codes = r->exact_codes = 0;
        for (int i = 0; i < B * per; i++) {
            r->same_codes += codes[i] == (uint16_t)need(&f, "codes")->data[i];
            r->exact_codes += codes[i] == (uint16_t)need(&f, "codes_of_c_z")->data[i];
        }
        if (codes16) r->bf16_same_codes = 0;
        for (int i = 0; codes16 && i < B * per; i++)
            r->bf16_same_codes += codes16[i] == (uint16_t)need(&f, "codes")->data[i];
        if (codes16)
            fprintf(stderr, "%s in bf16: codes %d/%d equal to float64\n", preset,
                    r->bf16_same_codes, r->codes);
        int distinct = 0;
        for (int i = 0; i < B * per; i++) {
            int seen = 0;
            for (int j = 0; j < i && !seen; j++) seen = codes[j] == codes[i];
            distinct += !seen;
        }
        fprintf(stderr,
                "%s (%d frames%s, simd level %s): z max rel err %.3g, pixels max rel err "
                "%.3g, MAE %.3g, codes %d/%d equal to float64, %d/%d exact argmin of our z, %d "
                "distinct\n",
                preset, B, real ? ", one real" : "", lwm_simd_name(lwm_simd_level()), r->z_err,
                r->pixel_err, r->pixel_mae, r->same_codes, r->codes, r->exact_codes, r->codes,
                distinct);
        free(zr), free(pr);
        vqgan_file_close(&f);
        if (distinct < r->codes / 16) {
            fprintf(stderr, "codes barely vary: weak test\n");
            rc = -1;
        }
    }
    lwm_vqgan_free(ctx);
    free(frames), free(z), free(px), free(codes), free(codes_f), free(codes16);
    if (!getenv("LWM_KEEP")) remove(w);
    return rc;
}

// The small-preset bar: activations within 1e-4 of the reference, codes exact.
static void check_close(const char *preset, int generated)
{
    result r;
    REQUIRE(run_preset(preset, generated, 0, &r) == 0, "%s preset run failed", preset);
    CHECK(r.z_err < 1e-4, "latent max rel err %.3g >= 1e-4", r.z_err);
    CHECK(r.pixel_err < 1e-4, "decoded pixels max rel err %.3g >= 1e-4", r.pixel_err);
    CHECK(r.exact_codes == r.codes, "%d/%d codes differ from float64 argmin of our latents",
          r.codes - r.exact_codes, r.codes);
    CHECK(r.same_codes * 1000 >= r.codes * 999, "codes equal to float64: %d/%d", r.same_codes,
          r.codes);
}

TEST(small_preset_matches_torch)
{
    check_close("small", 2);
}
TEST(tiny_preset_matches_float64)
{
    check_close("tiny", 1);
}

TEST(lwm_preset_codes_and_pixels)
{
    result r;
    REQUIRE(run_preset("lwm", 1, 1, &r) == 0, "lwm preset run failed");
    CHECK(r.same_codes * 1000 >= r.codes * 999, "codes equal to float64: %d/%d (< 99.9%%)",
          r.same_codes, r.codes);
    CHECK(r.exact_codes == r.codes, "%d/%d codes differ from float64 argmin of our latents",
          r.codes - r.exact_codes, r.codes);
    CHECK(r.pixel_mae < 1e-3, "decoded pixel MAE %.3g >= 1e-3", r.pixel_mae);
    // bf16: BF16_MIN_AGREEMENT of the codes (see there).
    CHECK(r.bf16_same_codes < 0 || r.bf16_same_codes >= r.codes * BF16_MIN_AGREEMENT,
          "bf16 codes equal to float64: %d/%d (< %.0f%%)", r.bf16_same_codes, r.codes,
          100 * BF16_MIN_AGREEMENT);
}

TEST_MAIN("vqgan/model", T(small_preset_matches_torch), T(tiny_preset_matches_float64),
          T(lwm_preset_codes_and_pixels))
