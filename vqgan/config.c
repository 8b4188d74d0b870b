// The architecture from a config: JSON reading, checks, and the one walk over
// every parameter (names, shapes, binding) that loader, writer and import share.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

// ---------------------------------------------------------------- config

int lwm_vqgan_config_check(const lwm_vqgan_config *c, lwm_error *err)
{
    LWM_CHECK(err, c->num_levels >= 1 && c->num_levels <= LWM_VQGAN_MAX_LEVELS, LWM_EINVAL,
              "config %s: num_levels %d not in 1..%d", c->name, c->num_levels,
              LWM_VQGAN_MAX_LEVELS);
    LWM_CHECK(err, c->in_channels >= 1 && c->in_channels <= 4, LWM_EINVAL,
              "config %s: in_channels %d not in 1..4", c->name, c->in_channels);
    LWM_CHECK(err, c->num_res_blocks >= 1 && c->num_res_blocks < VQ_MAX_RES_BLOCKS, LWM_EINVAL,
              "config %s: num_res_blocks %d not in 1..%d", c->name, c->num_res_blocks,
              VQ_MAX_RES_BLOCKS - 1);
    int shrink = 1 << (c->num_levels - 1);
    LWM_CHECK(err, c->resolution >= shrink && c->resolution % shrink == 0 && c->resolution <= 4096,
              LWM_EINVAL, "config %s: resolution %d not a multiple of 2^(num_levels-1) = %d",
              c->name, c->resolution, shrink);
    LWM_CHECK(err, c->hidden_channels > 0 && c->hidden_channels <= 4096, LWM_EINVAL,
              "config %s: hidden_channels %d out of range", c->name, c->hidden_channels);
    for (int i = 0; i < c->num_levels; i++) {
        int ch = c->channel_mult[i] * c->hidden_channels;
        LWM_CHECK(err, c->channel_mult[i] > 0 && ch % VQ_GROUPS == 0 && ch <= 8192, LWM_EINVAL,
                  "config %s: level %d has %d channels: must be a positive multiple of %d", c->name,
                  i, ch, VQ_GROUPS);
    }
    LWM_CHECK(err, c->hidden_channels % VQ_GROUPS == 0, LWM_EINVAL,
              "config %s: hidden_channels %d not a multiple of %d", c->name, c->hidden_channels,
              VQ_GROUPS);
    LWM_CHECK(err, c->z_channels > 0 && c->z_channels == c->embed_dim, LWM_EINVAL,
              "config %s: embed_dim %d must equal z_channels %d", c->name, c->embed_dim,
              c->z_channels);
    LWM_CHECK(err, c->num_embeddings >= 1 && c->num_embeddings <= 65536, LWM_EINVAL,
              "config %s: num_embeddings %d not in 1..65536", c->name, c->num_embeddings);
    return 0;
}

int lwm_vqgan_config_codes_per_frame(const lwm_vqgan_config *c)
{
    int side = c->resolution >> (c->num_levels - 1);
    return side * side;
}

int vqgan_config_from_json(lwm_vqgan_config *c, const cJSON *obj, const char *what, lwm_error *err)
{
    memset(c, 0, sizeof *c);
    const char *name = "custom";
    LWM_TRY(lwm_json_get_string(obj, "name", 0, &name, what, err));
    LWM_TRY(lwm_format(c->name, sizeof c->name, "%s", name) == 0
                ? 0
                : lwm_error_set(err, LWM_EINVAL, "%s: name too long", what));
    static const char *const keys[] = {"resolution",     "in_channels", "hidden_channels",
                                       "num_res_blocks", "z_channels",  "num_embeddings",
                                       "embed_dim"};
    int *dest[] = {&c->resolution, &c->in_channels,    &c->hidden_channels, &c->num_res_blocks,
                   &c->z_channels, &c->num_embeddings, &c->embed_dim};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        int64_t v = 0;
        LWM_TRY(lwm_json_get_int(obj, keys[i], 1, &v, what, err));
        LWM_CHECK(err, v > 0 && v <= 1 << 20, LWM_EINVAL, "%s: field %s = %lld out of range", what,
                  keys[i], (long long)v);
        *dest[i] = (int)v;
    }
    const cJSON *mult = cJSON_GetObjectItemCaseSensitive(obj, "channel_mult");
    LWM_CHECK(err, cJSON_IsArray(mult), LWM_EFORMAT, "%s: field channel_mult missing or not a list",
              what);
    int n = cJSON_GetArraySize(mult);
    LWM_CHECK(err, n >= 1 && n <= LWM_VQGAN_MAX_LEVELS, LWM_EINVAL,
              "%s: channel_mult has %d entries, expected 1..%d", what, n, LWM_VQGAN_MAX_LEVELS);
    for (int i = 0; i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(mult, i);
        LWM_CHECK(err, cJSON_IsNumber(m) && m->valuedouble >= 1 && m->valuedouble <= 64, LWM_EINVAL,
                  "%s: channel_mult[%d] not an integer in 1..64", what, i);
        c->channel_mult[i] = m->valueint;
    }
    c->num_levels = n;
    LWM_TRY(lwm_vqgan_config_check(c, err));
    return 0;
}

int lwm_vqgan_config_load(lwm_vqgan_config *cfg, const char *path, lwm_error *err)
{
    cJSON *root = NULL;
    LWM_TRY(lwm_json_load_file(path, &root, err));
    int rc = vqgan_config_from_json(cfg, root, path, err);
    cJSON_Delete(root);
    return rc;
}

char *vqgan_config_to_json(const lwm_vqgan_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddNumberToObject(o, "resolution", c->resolution);
    cJSON_AddNumberToObject(o, "in_channels", c->in_channels);
    cJSON_AddNumberToObject(o, "hidden_channels", c->hidden_channels);
    cJSON_AddItemToObject(o, "channel_mult", cJSON_CreateIntArray(c->channel_mult, c->num_levels));
    cJSON_AddNumberToObject(o, "num_res_blocks", c->num_res_blocks);
    cJSON_AddNumberToObject(o, "z_channels", c->z_channels);
    cJSON_AddNumberToObject(o, "num_embeddings", c->num_embeddings);
    cJSON_AddNumberToObject(o, "embed_dim", c->embed_dim);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

// ---------------------------------------------------------------- the walk

typedef struct walker {
    vq_visit_fn visit;
    void *opaque;
    char prefix[VQ_MAX_NAME];
} walker;

static int leaf(walker *wk, const char *path, const char *leafname, int ndim, const int64_t *shape,
                const float **slot)
{
    char name[VQ_MAX_NAME];
    if (lwm_format(name, sizeof name, "%s/%s", path, leafname) < 0) return LWM_EINTERNAL;
    return wk->visit(wk->opaque, name, ndim, shape, slot);
}

static int walk_conv(walker *wk, vq_conv *c, const char *path, int k, int cin, int cout)
{
    c->k = k, c->cin = cin, c->cout = cout;
    int64_t ks[4] = {k, k, cin, cout}, bs[1] = {cout};
    LWM_TRY(leaf(wk, path, "kernel", 4, ks, &c->w));
    return leaf(wk, path, "bias", 1, bs, &c->b);
}

static int walk_norm(walker *wk, vq_norm *n, const char *path, int c)
{
    n->c = c;
    int64_t s[1] = {c};
    LWM_TRY(leaf(wk, path, "scale", 1, s, &n->scale));
    return leaf(wk, path, "bias", 1, s, &n->bias);
}

static int walk_res(walker *wk, vq_resblock *r, const char *path, int cin, int cout)
{
    char p[VQ_MAX_NAME];
    r->cin = cin, r->cout = cout;
#define SUB(fmt) (lwm_format(p, sizeof p, fmt, path) == 0 ? p : "")
    LWM_TRY(walk_norm(wk, &r->norm0, SUB("%s/GroupNorm_0"), cin));
    LWM_TRY(walk_conv(wk, &r->conv0, SUB("%s/Conv_0"), 3, cin, cout));
    LWM_TRY(walk_norm(wk, &r->norm1, SUB("%s/GroupNorm_1"), cout));
    LWM_TRY(walk_conv(wk, &r->conv1, SUB("%s/Conv_1"), 3, cout, cout));
    memset(&r->shortcut, 0, sizeof r->shortcut);
    if (cin != cout) LWM_TRY(walk_conv(wk, &r->shortcut, SUB("%s/Conv_2"), 1, cin, cout));
#undef SUB
    return 0;
}

static int walk_level(walker *wk, vq_level *lv, const char *path, int nres, int cin, int cout,
                      int resample, const char *resample_name)
{
    char p[VQ_MAX_NAME];
    lv->num_res = nres;
    for (int j = 0; j < nres; j++) {
        if (lwm_format(p, sizeof p, "%s/ResnetBlock_%d", path, j) < 0) return LWM_EINTERNAL;
        LWM_TRY(walk_res(wk, &lv->res[j], p, j == 0 ? cin : cout, cout));
    }
    lv->has_resample = resample;
    memset(&lv->resample, 0, sizeof lv->resample);
    if (!resample) return 0;
    if (lwm_format(p, sizeof p, "%s/%s/Conv_0", path, resample_name) < 0) return LWM_EINTERNAL;
    return walk_conv(wk, &lv->resample, p, 3, cout, cout);
}

static int walk_encoder(walker *wk, vq_model *m, const lwm_vqgan_config *c)
{
    int L = c->num_levels, hid = c->hidden_channels;
    char p[VQ_MAX_NAME];
    LWM_TRY(walk_conv(wk, &m->enc_in, "encoder/Conv_0", 3, c->in_channels, hid));
    int block_in = hid;
    for (int i = 0; i < L; i++) {
        int block_out = hid * c->channel_mult[i];
        if (lwm_format(p, sizeof p, "encoder/DownsamplingBlock_%d", i) < 0) return LWM_EINTERNAL;
        LWM_TRY(walk_level(wk, &m->enc[i], p, c->num_res_blocks, block_in, block_out, i != L - 1,
                           "Downsample_0"));
        block_in = block_out;
    }
    LWM_TRY(walk_res(wk, &m->enc_mid[0], "encoder/MidBlock_0/ResnetBlock_0", block_in, block_in));
    LWM_TRY(walk_res(wk, &m->enc_mid[1], "encoder/MidBlock_0/ResnetBlock_1", block_in, block_in));
    LWM_TRY(walk_norm(wk, &m->enc_norm, "encoder/GroupNorm_0", block_in));
    return walk_conv(wk, &m->enc_out, "encoder/Conv_1", 3, block_in, c->z_channels);
}

static int walk_decoder(walker *wk, vq_model *m, const lwm_vqgan_config *c)
{
    int L = c->num_levels, hid = c->hidden_channels;
    char p[VQ_MAX_NAME];
    int block_in = hid * c->channel_mult[L - 1];
    LWM_TRY(walk_conv(wk, &m->dec_in, "decoder/Conv_0", 3, c->z_channels, block_in));
    LWM_TRY(walk_res(wk, &m->dec_mid[0], "decoder/MidBlock_0/ResnetBlock_0", block_in, block_in));
    LWM_TRY(walk_res(wk, &m->dec_mid[1], "decoder/MidBlock_0/ResnetBlock_1", block_in, block_in));
    // Flax numbers the decoder's blocks from the lowest resolution up.
    for (int i = 0; i < L; i++) {
        int level = L - 1 - i, block_out = hid * c->channel_mult[level];
        if (lwm_format(p, sizeof p, "decoder/UpsamplingBlock_%d", i) < 0) return LWM_EINTERNAL;
        LWM_TRY(walk_level(wk, &m->dec[i], p, c->num_res_blocks + 1, block_in, block_out,
                           level != 0, "Upsample_0"));
        block_in = block_out;
    }
    LWM_TRY(walk_norm(wk, &m->dec_norm, "decoder/GroupNorm_0", block_in));
    return walk_conv(wk, &m->dec_out, "decoder/Conv_1", 3, block_in, c->in_channels);
}

int vqgan_model_walk(vq_model *m, const lwm_vqgan_config *c, vq_visit_fn visit, void *opaque)
{
    walker wk = {.visit = visit, .opaque = opaque};
    LWM_TRY(walk_encoder(&wk, m, c));
    LWM_TRY(walk_conv(&wk, &m->quant_conv, "quant_conv", 1, c->z_channels, c->embed_dim));
    int64_t cb[2] = {c->num_embeddings, c->embed_dim};
    LWM_TRY(visit(opaque, "quantize/embeddings", 2, cb, &m->codebook));
    LWM_TRY(walk_conv(&wk, &m->post_quant_conv, "post_quant_conv", 1, c->embed_dim, c->z_channels));
    return walk_decoder(&wk, m, c);
}

size_t vqgan_max_activation(const lwm_vqgan_config *c, int decoder)
{
    size_t best = 0;
    int L = c->num_levels;
    for (int i = 0; i < L; i++) {
        size_t side = (size_t)(c->resolution >> i);
        size_t ch = (size_t)c->hidden_channels * (size_t)c->channel_mult[i];
        size_t in_ch = (size_t)c->hidden_channels * (size_t)(i ? c->channel_mult[i - 1] : 1);
        // Decoder level i+1 upsamples into level i's resolution with its own channels.
        if (decoder && i + 1 < L)
            in_ch = (size_t)c->hidden_channels * (size_t)c->channel_mult[i + 1];
        size_t m = side * side * (ch > in_ch ? ch : in_ch);
        if (m > best) best = m;
    }
    size_t io = (size_t)c->resolution * (size_t)c->resolution * (size_t)c->in_channels;
    return best > io ? best : io;
}

// ---------------------------------------------------------------- inference from shapes

int vqgan_infer_config(lwm_vqgan_config *c, vq_lookup_fn lookup, void *opaque, const char *what,
                       lwm_error *err)
{
    memset(c, 0, sizeof *c);
    int64_t s[VQ_MAX_DIMS];
    int nd = 0;
    char name[VQ_MAX_NAME];
    LWM_CHECK(err, lookup(opaque, "encoder/Conv_0/kernel", s, &nd) && nd == 4, LWM_EFORMAT,
              "%s: tensor encoder/Conv_0/kernel (conv_in) missing or not 4-D", what);
    c->in_channels = (int)s[2];
    c->hidden_channels = (int)s[3];
    for (int i = 0; i < LWM_VQGAN_MAX_LEVELS; i++) {
        lwm_format(name, sizeof name, "encoder/DownsamplingBlock_%d/ResnetBlock_0/Conv_0/kernel",
                   i);
        if (!lookup(opaque, name, s, &nd)) break;
        LWM_CHECK(err, nd == 4 && c->hidden_channels > 0 && s[3] % c->hidden_channels == 0,
                  LWM_EFORMAT, "%s: tensor %s: channels not a multiple of %d", what, name,
                  c->hidden_channels);
        c->channel_mult[i] = (int)(s[3] / c->hidden_channels);
        c->num_levels = i + 1;
    }
    LWM_CHECK(err, c->num_levels > 0, LWM_EFORMAT, "%s: no encoder/DownsamplingBlock_0 tensors",
              what);
    for (int j = 0; j < VQ_MAX_RES_BLOCKS; j++) {
        lwm_format(name, sizeof name, "encoder/DownsamplingBlock_0/ResnetBlock_%d/Conv_0/kernel",
                   j);
        if (!lookup(opaque, name, s, &nd)) break;
        c->num_res_blocks = j + 1;
    }
    LWM_CHECK(err, lookup(opaque, "encoder/Conv_1/kernel", s, &nd) && nd == 4, LWM_EFORMAT,
              "%s: tensor encoder/Conv_1/kernel (conv_out) missing or not 4-D", what);
    c->z_channels = (int)s[3];
    LWM_CHECK(err, lookup(opaque, "quantize/embeddings", s, &nd) && nd == 2, LWM_EFORMAT,
              "%s: tensor quantize/embeddings (codebook) missing or not 2-D", what);
    c->num_embeddings = (int)s[0];
    c->embed_dim = (int)s[1];
    // The frame side is not in the weights; LWM's is 256 whenever the grid allows it.
    c->resolution = 256;
    lwm_format(c->name, sizeof c->name, "imported");
    return lwm_vqgan_config_check(c, err);
}
