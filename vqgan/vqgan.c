// The public API: a context maps one weights file, binds the model's tensors
// into the mapping, and runs encode/decode batches in its scratch arena.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct lwm_vqgan {
    lwm_vqgan_options opt;
    const vq_kernels *kernels;
    int threads, batch;
    lwm_error err;
    char path[512];
    vq_file file;
    int loaded, untrained;
    lwm_vqgan_config cfg;
    vq_model model;
    vq_codebook cb;
    float *e_norm;
    float *wino;    // transformed Winograd weights of the convs that use them
    uint16_t *bf16; // bf16 mode: every encoder conv's packed bf16 weights
    char hash[33];
    // Scratch arena (STYLE §5: sized from config and batch, allocated once).
    float *arena;
    size_t arena_floats, act_floats;
    vq_buffers buf;
};

lwm_vqgan *lwm_vqgan_create(const lwm_vqgan_options *opt)
{
    lwm_vqgan_options o = {0};
    if (opt) o = *opt;
    lwm_vqgan *ctx = lwm_calloc(&o.mem, 1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->opt = o;
    ctx->kernels = o.conv_kind == LWM_VQGAN_CONV_DIRECT   ? &vqgan_kernels_direct
                   : o.conv_kind == LWM_VQGAN_CONV_IM2COL ? &vqgan_kernels_gemm
                   : o.precision == LWM_VQGAN_BF16        ? &vqgan_kernels_bf16
                                                          : &vqgan_kernels_winograd;
    ctx->threads = o.threads > 0 ? o.threads : omp_get_max_threads();
    ctx->batch = o.max_batch > 0 ? o.max_batch : 1;
    ctx->file.mem = &ctx->opt.mem;
    return ctx;
}

void lwm_vqgan_free(lwm_vqgan *ctx)
{
    if (!ctx) return;
    lwm_mem mem = ctx->opt.mem;
    vqgan_file_close(&ctx->file);
    lwm_free(&mem, ctx->e_norm);
    lwm_aligned_free(&mem, ctx->wino);
    lwm_aligned_free(&mem, ctx->bf16);
    lwm_aligned_free(&mem, ctx->arena);
    lwm_free(&mem, ctx);
}

const char *lwm_vqgan_precision_name(int precision)
{
    return precision == LWM_VQGAN_FP32 ? "fp32" : precision == LWM_VQGAN_BF16 ? "bf16" : NULL;
}

int lwm_vqgan_precision_parse(const char *name)
{
    return !name                       ? -1
           : strcmp(name, "fp32") == 0 ? LWM_VQGAN_FP32
           : strcmp(name, "bf16") == 0 ? LWM_VQGAN_BF16
                                       : -1;
}

const char *lwm_vqgan_errmsg(const lwm_vqgan *ctx)
{
    return ctx ? ctx->err.msg : "no context";
}

const lwm_vqgan_config *lwm_vqgan_config_of(const lwm_vqgan *ctx)
{
    return ctx && ctx->loaded ? &ctx->cfg : NULL;
}

const char *lwm_vqgan_weights_hash(const lwm_vqgan *ctx)
{
    return ctx && ctx->loaded ? ctx->hash : "";
}

int lwm_vqgan_untrained(const lwm_vqgan *ctx)
{
    return ctx && ctx->loaded ? ctx->untrained : 0;
}

// ---------------------------------------------------------------- load

typedef struct binder {
    lwm_vqgan *ctx;
    lwm_hasher hasher;
} binder;

static int all_finite(const float *x, size_t n)
{
    const uint32_t *u = (const uint32_t *)x;
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
    return !bad;
}

static int bind_tensor(void *opaque, const char *name, int ndim, const int64_t *shape,
                       const float **slot)
{
    binder *bd = opaque;
    lwm_vqgan *ctx = bd->ctx;
    vq_tensor *t = vqgan_file_find(&ctx->file, name);
    LWM_CHECK(&ctx->err, t, LWM_EFORMAT, "%s: missing tensor %s", ctx->path, name);
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    if (!same) {
        char want[96] = "", got[96] = "";
        for (int d = 0; d < ndim; d++)
            lwm_format(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "",
                       (long long)shape[d]);
        for (int d = 0; d < t->ndim; d++)
            lwm_format(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "",
                       (long long)t->shape[d]);
        return lwm_error_set(&ctx->err, LWM_EFORMAT, "%s: tensor %s has shape (%s), expected (%s)",
                             ctx->path, name, got, want);
    }
    LWM_CHECK(&ctx->err, !t->used, LWM_EINTERNAL, "%s: tensor %s bound twice", ctx->path, name);
    LWM_CHECK(&ctx->err, all_finite(t->data, t->count), LWM_ENUMERIC,
              "%s: tensor %s contains NaN or Inf", ctx->path, name);
    t->used = 1;
    *slot = t->data;
    int32_t nd = ndim;
    lwm_hasher_update(&bd->hasher, name, strlen(name) + 1);
    lwm_hasher_update(&bd->hasher, &nd, sizeof nd);
    lwm_hasher_update(&bd->hasher, shape, sizeof *shape * (size_t)ndim);
    lwm_hasher_update(&bd->hasher, t->data, t->count * sizeof(float));
    return 0;
}

static const vq_tensor *file_lookup(void *opaque, const char *name, int64_t *shape, int *ndim)
{
    const vq_tensor *t = vqgan_file_find(opaque, name);
    if (!t) return NULL;
    memcpy(shape, t->shape, sizeof t->shape);
    *ndim = t->ndim;
    return t;
}

static int read_config(lwm_vqgan *ctx)
{
    const char *text = vqgan_file_meta(&ctx->file, "config");
    if (!text) return vqgan_infer_config(&ctx->cfg, file_lookup, &ctx->file, ctx->path, &ctx->err);
    cJSON *obj = cJSON_Parse(text);
    char what[600];
    lwm_format(what, sizeof what, "%s: metadata config", ctx->path);
    int rc = obj ? vqgan_config_from_json(&ctx->cfg, obj, what, &ctx->err)
                 : lwm_error_set(&ctx->err, LWM_EFORMAT, "%s is not JSON", what);
    cJSON_Delete(obj);
    return rc;
}

static int bind_model(lwm_vqgan *ctx)
{
    binder bd = {.ctx = ctx};
    LWM_CHECK(&ctx->err, lwm_hasher_init(&bd.hasher) == 0, -ENOMEM, "out of memory");
    int rc = vqgan_model_walk(&ctx->model, &ctx->cfg, bind_tensor, &bd);
    lwm_hasher_final(&bd.hasher, ctx->hash);
    if (rc < 0) return rc;
    for (int i = 0; i < ctx->file.num_tensors; i++)
        LWM_CHECK(&ctx->err, ctx->file.tensors[i].used, LWM_EFORMAT,
                  "%s: unexpected tensor %s (not part of the %s architecture)", ctx->path,
                  ctx->file.tensors[i].name, ctx->cfg.name);
    return 0;
}

static int prepare_codebook(lwm_vqgan *ctx)
{
    int K = ctx->cfg.num_embeddings, D = ctx->cfg.embed_dim;
    ctx->e_norm = lwm_malloc(&ctx->opt.mem, (size_t)K * sizeof(float));
    LWM_CHECK(&ctx->err, ctx->e_norm, -ENOMEM, "%s: out of memory", ctx->path);
    double emax = 0;
    for (int k = 0; k < K; k++) {
        double n = 0;
        for (int i = 0; i < D; i++)
            n += (double)ctx->model.codebook[(size_t)k * D + i] *
                 ctx->model.codebook[(size_t)k * D + i];
        ctx->e_norm[k] = (float)n;
        if (n > emax) emax = n;
    }
    ctx->cb = (vq_codebook){ctx->model.codebook, ctx->e_norm, (float)sqrt(emax), K, D};
    return 0;
}

// The encoder's stride-1 3×3 convs of up to 256 channels (the high-resolution
// levels, about three quarters of the encoder's FLOPs) get Winograd weights for
// the micro-kernel of this CPU's vector level: 36/9 = 4× their own size (80 MiB
// for the lwm preset); the wider levels stay im2col GEMMs.
#define WINO_MAX_CHANNELS 256

static int wino_wanted(const vq_conv *c, const vq_ukernel *uk)
{
    return vqgan_winograd_fits(c, uk) && c->cin <= WINO_MAX_CHANNELS &&
           c->cout <= WINO_MAX_CHANNELS;
}

// The encoder's convs, in model order; the resnet blocks' 3×3 convs first
// (*n_res of them: the Winograd candidates).
static int encoder_convs(vq_model *m, const lwm_vqgan_config *cfg, vq_conv **convs, int *n_res)
{
    int n = 0;
    for (int i = 0; i < cfg->num_levels; i++)
        for (int j = 0; j < m->enc[i].num_res; j++)
            convs[n++] = &m->enc[i].res[j].conv0, convs[n++] = &m->enc[i].res[j].conv1;
    *n_res = n;
    for (int i = 0; i < cfg->num_levels; i++) {
        for (int j = 0; j < m->enc[i].num_res; j++)
            if (m->enc[i].res[j].shortcut.w) convs[n++] = &m->enc[i].res[j].shortcut;
        if (m->enc[i].has_resample) convs[n++] = &m->enc[i].resample;
    }
    for (int j = 0; j < 2; j++) {
        convs[n++] = &m->enc_mid[j].conv0, convs[n++] = &m->enc_mid[j].conv1;
        if (m->enc_mid[j].shortcut.w) convs[n++] = &m->enc_mid[j].shortcut;
    }
    convs[n++] = &m->enc_in, convs[n++] = &m->enc_out, convs[n++] = &m->quant_conv;
    return n;
}

#define MAX_ENCODER_CONVS (3 * LWM_VQGAN_MAX_LEVELS * VQ_MAX_RES_BLOCKS + LWM_VQGAN_MAX_LEVELS + 9)

static int prepare_winograd(lwm_vqgan *ctx)
{
    if (ctx->kernels != &vqgan_kernels_winograd) return 0;
    const vq_ukernel *uk = vqgan_ukernel(lwm_simd_level());
    vq_conv *convs[MAX_ENCODER_CONVS];
    int n = 0, n_res;
    encoder_convs(&ctx->model, &ctx->cfg, convs, &n_res);
    for (int i = 0; i < n_res; i++)
        if (wino_wanted(convs[i], uk)) convs[n++] = convs[i];
    size_t total = 0;
    for (int i = 0; i < n; i++) total += vqgan_winograd_weight_floats(convs[i]);
    if (!n) return 0;
    ctx->wino = lwm_aligned_alloc(&ctx->opt.mem, total * sizeof(float));
    LWM_CHECK(&ctx->err, ctx->wino, -ENOMEM, "%s: out of memory for %zu MiB of Winograd weights",
              ctx->path, total * sizeof(float) >> 20);
    float *u = ctx->wino;
    for (int i = 0; i < n; i++) {
        vqgan_winograd_weights(u, convs[i], uk);
        convs[i]->wino = u, convs[i]->wino_kernel = uk;
        u += vqgan_winograd_weight_floats(convs[i]);
    }
    return 0;
}

// bf16 mode: every encoder conv with a multiple of 16 output channels gets bf16
// weights (the Winograd transform where fp32 mode would use Winograd, the
// kernel itself elsewhere). Refused where vdpbf16ps is not to be used.
static int prepare_bf16(lwm_vqgan *ctx)
{
    if (ctx->kernels != &vqgan_kernels_bf16) return 0;
    LWM_CHECK(&ctx->err, lwm_simd_bf16(), LWM_EINVAL,
              "vqgan: bf16 precision needs AVX512_BF16 (vdpbf16ps) at the AVX-512 level; this "
              "run has %s%s (use fp32)",
              lwm_simd_name(lwm_simd_level()),
              __builtin_cpu_supports("avx512bf16") ? ", capped by LWM_SIMD"
                                                   : " without AVX512_BF16");
    const vq_ukernel *uk = vqgan_ukernel(LWM_SIMD_AVX512);
    vq_conv *convs[MAX_ENCODER_CONVS];
    int n_res, n = encoder_convs(&ctx->model, &ctx->cfg, convs, &n_res);
    size_t total = 0, work = 0;
    for (int i = 0; i < n; i++) {
        int wino = i < n_res && wino_wanted(convs[i], uk);
        if (wino && vqgan_winograd_weight_floats(convs[i]) > work)
            work = vqgan_winograd_weight_floats(convs[i]);
        if (vqgan_bf16_fits(convs[i]))
            total += (vqgan_bf16_weight_count(convs[i], wino) + 31) / 32 * 32;
    }
    ctx->bf16 = lwm_aligned_alloc(&ctx->opt.mem, total * sizeof(uint16_t));
    float *U = work ? lwm_aligned_alloc(&ctx->opt.mem, work * sizeof(float)) : NULL;
    if (!ctx->bf16 || (work && !U)) {
        lwm_aligned_free(&ctx->opt.mem, U);
        return lwm_error_set(&ctx->err, -ENOMEM, "%s: out of memory for %zu MiB of bf16 weights",
                             ctx->path, total * sizeof(uint16_t) >> 20);
    }
    uint16_t *w = ctx->bf16;
    for (int i = 0; i < n; i++) {
        if (!vqgan_bf16_fits(convs[i])) continue;
        int wino = i < n_res && wino_wanted(convs[i], uk);
        vqgan_bf16_pack(w, convs[i], wino, U);
        if (wino)
            convs[i]->wino_bf16 = w, convs[i]->wino_kernel = uk;
        else
            convs[i]->bf16 = w;
        w +=
            (vqgan_bf16_weight_count(convs[i], wino) + 31) / 32 * 32; // panels stay 64-byte aligned
    }
    lwm_aligned_free(&ctx->opt.mem, U);
    return 0;
}

int lwm_vqgan_load(lwm_vqgan *ctx, const char *path)
{
    LWM_CHECK(&ctx->err, !ctx->loaded, LWM_EINVAL, "%s: this context already holds weights", path);
    lwm_format(ctx->path, sizeof ctx->path, "%s", path);
    int rc;
    LWM_TRY_GOTO(rc, vqgan_file_open(&ctx->file, path, &ctx->opt.mem, &ctx->err), fail);
    LWM_TRY_GOTO(rc, read_config(ctx), fail);
    LWM_TRY_GOTO(rc, bind_model(ctx), fail);
    LWM_TRY_GOTO(rc, prepare_codebook(ctx), fail);
    LWM_TRY_GOTO(rc, prepare_winograd(ctx), fail);
    LWM_TRY_GOTO(rc, prepare_bf16(ctx), fail);
    const char *u = vqgan_file_meta(&ctx->file, "untrained");
    ctx->untrained = u && strcmp(u, "0") != 0;
    ctx->loaded = 1;
    lwm_log(&ctx->opt.log, LWM_LOG_DEBUG, "%s: vqgan %s, weights %s%s", path, ctx->cfg.name,
            ctx->hash, ctx->untrained ? " (untrained)" : "");
    return 0;
fail:
    vqgan_file_close(&ctx->file);
    lwm_free(&ctx->opt.mem, ctx->e_norm);
    lwm_aligned_free(&ctx->opt.mem, ctx->wino);
    lwm_aligned_free(&ctx->opt.mem, ctx->bf16);
    ctx->e_norm = NULL, ctx->wino = NULL, ctx->bf16 = NULL;
    return rc;
}

// ---------------------------------------------------------------- arena

static size_t max_cin(const lwm_vqgan_config *c)
{
    int m = c->z_channels;
    for (int i = 0; i < c->num_levels; i++)
        if (c->channel_mult[i] * c->hidden_channels > m)
            m = c->channel_mult[i] * c->hidden_channels;
    return (size_t)m;
}

static size_t tile_floats(const lwm_vqgan *ctx)
{
    size_t t = vqgan_conv_tile_floats((int)max_cin(&ctx->cfg), 3);
    size_t q = (size_t)VQ_QUANT_TILE * (size_t)ctx->cfg.num_embeddings;
    return t > q ? t : q;
}

size_t lwm_vqgan_scratch_bytes(const lwm_vqgan *ctx, int frames, int decode)
{
    if (!ctx || !ctx->loaded) return 0;
    size_t act = vqgan_max_activation(&ctx->cfg, decode != 0);
    return (4 * act * (size_t)frames + (size_t)ctx->threads * tile_floats(ctx)) * sizeof(float);
}

static int ensure_arena(lwm_vqgan *ctx, int decoder)
{
    size_t act = vqgan_max_activation(&ctx->cfg, decoder) * (size_t)ctx->batch;
    if (ctx->arena && act <= ctx->act_floats) return 0;
    size_t tiles = tile_floats(ctx), total = 4 * act + (size_t)ctx->threads * tiles;
    lwm_aligned_free(&ctx->opt.mem, ctx->arena);
    ctx->arena = lwm_aligned_alloc(&ctx->opt.mem, total * sizeof(float));
    ctx->arena_floats = ctx->arena ? total : 0;
    ctx->act_floats = ctx->arena ? act : 0;
    LWM_CHECK(&ctx->err, ctx->arena, -ENOMEM, "vqgan: out of memory for a %zu MiB arena",
              total * sizeof(float) >> 20);
    float *p = ctx->arena;
    ctx->buf = (vq_buffers){p,
                            p + act,
                            p + 2 * act,
                            p + 3 * act,
                            {p + 4 * act, tiles, ctx->threads},
                            ctx->kernels,
                            ctx->threads};
    return 0;
}

// ---------------------------------------------------------------- encode / decode

static int encode_batch(lwm_vqgan *ctx, uint16_t *codes, float *z_out, const float *frames, int B,
                        int first)
{
    const lwm_vqgan_config *c = &ctx->cfg;
    size_t frame_floats = (size_t)c->resolution * c->resolution * c->in_channels;
    for (int f = 0; f < B; f++)
        LWM_CHECK(&ctx->err, all_finite(frames + f * frame_floats, frame_floats), LWM_ENUMERIC,
                  "vqgan encode: frame %d contains NaN or Inf", first + f);
    float *z = vqgan_encoder_forward(&ctx->model, c, frames, B, &ctx->buf);
    int per = lwm_vqgan_config_codes_per_frame(c);
    size_t zf = (size_t)per * c->embed_dim;
    for (int f = 0; f < B; f++)
        LWM_CHECK(&ctx->err, all_finite(z + f * zf, zf), LWM_ENUMERIC,
                  "vqgan encode: frame %d: latent is not finite (weights overflow)", first + f);
    vqgan_quantize_forward(codes, z, B * per, &ctx->cb, ctx->buf.scratch.tiles, ctx->threads);
    if (z_out) memcpy(z_out, z, (size_t)B * zf * sizeof(float));
    return 0;
}

static int check_ready(lwm_vqgan *ctx, int n, const void *out, const void *in, const char *what)
{
    LWM_CHECK(&ctx->err, ctx->loaded, LWM_EINVAL, "vqgan %s: no weights loaded", what);
    LWM_CHECK(&ctx->err, n >= 0 && (n == 0 || (out && in)), LWM_EINVAL,
              "vqgan %s: bad arguments (n = %d)", what, n);
    return 0;
}

// One body for both input kinds: exactly one of frames / rgb is set. RGB24 is
// converted batch by batch into the spare buffer y, which is free until the
// first conv has read the frames.
static int encode_all(lwm_vqgan *ctx, float *z, uint16_t *codes, const float *frames,
                      const uint8_t *rgb, int n)
{
    LWM_TRY(check_ready(ctx, n, codes, frames ? (const void *)frames : rgb, "encode"));
    LWM_TRY(ensure_arena(ctx, 0));
    const lwm_vqgan_config *c = &ctx->cfg;
    size_t frame_floats = (size_t)c->resolution * c->resolution * c->in_channels;
    int per = lwm_vqgan_config_codes_per_frame(c);
    for (int f = 0; f < n; f += ctx->batch) {
        int B = n - f < ctx->batch ? n - f : ctx->batch;
        const float *in = frames ? frames + f * frame_floats : ctx->buf.y;
        for (size_t i = 0; !frames && i < B * frame_floats; i++)
            ctx->buf.y[i] = (float)rgb[f * frame_floats + i] / 127.5f - 1.0f;
        float *zb = z ? z + (size_t)f * per * c->embed_dim : NULL;
        LWM_TRY(encode_batch(ctx, codes + (size_t)f * per, zb, in, B, f));
    }
    return 0;
}

int lwm_vqgan_encode(lwm_vqgan *ctx, uint16_t *codes, const float *frames, int n)
{
    return encode_all(ctx, NULL, codes, frames, NULL, n);
}

int vqgan_encode_latents(lwm_vqgan *ctx, float *z, uint16_t *codes, const float *frames, int n)
{
    return encode_all(ctx, z, codes, frames, NULL, n);
}

int lwm_vqgan_encode_rgb(lwm_vqgan *ctx, uint16_t *codes, const uint8_t *rgb, int n)
{
    return encode_all(ctx, NULL, codes, NULL, rgb, n);
}

static int decode_batch(lwm_vqgan *ctx, float *out, const uint16_t *codes, int B, int first)
{
    const lwm_vqgan_config *c = &ctx->cfg;
    int per = lwm_vqgan_config_codes_per_frame(c), D = c->embed_dim;
    float *zq = ctx->buf.y;
    for (int i = 0; i < B * per; i++) {
        LWM_CHECK(&ctx->err, codes[i] < c->num_embeddings, LWM_EINVAL,
                  "vqgan decode: frame %d, position %d: code %u is not below the codebook size %d",
                  first + i / per, i % per, codes[i], c->num_embeddings);
        memcpy(zq + (size_t)i * D, ctx->model.codebook + (size_t)codes[i] * D,
               (size_t)D * sizeof(float));
    }
    vqgan_decoder_forward(&ctx->model, c, out, zq, B, &ctx->buf);
    return 0;
}

// One body for both output kinds: exactly one of frames / rgb is set. For RGB24
// the decoder writes into buffer u (free once the last conv, t → out, runs).
static int decode_all(lwm_vqgan *ctx, float *frames, uint8_t *rgb, const uint16_t *codes, int n)
{
    LWM_TRY(check_ready(ctx, n, frames ? (void *)frames : rgb, codes, "decode"));
    LWM_TRY(ensure_arena(ctx, 1));
    const lwm_vqgan_config *c = &ctx->cfg;
    size_t frame_floats = (size_t)c->resolution * c->resolution * c->in_channels;
    int per = lwm_vqgan_config_codes_per_frame(c);
    for (int f = 0; f < n; f += ctx->batch) {
        int B = n - f < ctx->batch ? n - f : ctx->batch;
        float *out = frames ? frames + f * frame_floats : ctx->buf.u;
        LWM_TRY(decode_batch(ctx, out, codes + (size_t)f * per, B, f));
        for (size_t i = 0; !frames && i < B * frame_floats; i++)
            rgb[f * frame_floats + i] = (uint8_t)((out[i] + 1.0f) * 127.5f);
    }
    return 0;
}

int lwm_vqgan_decode(lwm_vqgan *ctx, float *frames, const uint16_t *codes, int n)
{
    return decode_all(ctx, frames, NULL, codes, n);
}

int lwm_vqgan_decode_rgb(lwm_vqgan *ctx, uint8_t *rgb, const uint16_t *codes, int n)
{
    return decode_all(ctx, NULL, rgb, codes, n);
}
