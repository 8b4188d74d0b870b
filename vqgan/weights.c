// Making weights files: seeded random weights (init) and conversion from the
// two public layouts (import). Both list the tensors with the model walk, write
// the header, then stream each tensor's data in walk order.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct entry_list {
    vq_writer_entry *e;
    int n, cap;
} entry_list;

static int collect(void *opaque, const char *name, int ndim, const int64_t *shape,
                   const float **slot)
{
    (void)slot;
    entry_list *l = opaque;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        vq_writer_entry *e = realloc(l->e, (size_t)cap * sizeof *e);
        if (!e) return -ENOMEM;
        l->e = e, l->cap = cap;
    }
    vq_writer_entry *e = &l->e[l->n++];
    lwm_format(e->name, sizeof e->name, "%s", name);
    e->ndim = ndim;
    memcpy(e->shape, shape, sizeof *shape * (size_t)ndim);
    return 0;
}

static size_t entry_count(const vq_writer_entry *e)
{
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

static int list_entries(entry_list *l, const lwm_vqgan_config *cfg, lwm_error *err)
{
    vq_model m;
    memset(l, 0, sizeof *l);
    int rc = vqgan_model_walk(&m, cfg, collect, l);
    if (rc < 0) free(l->e);
    return rc < 0 ? lwm_error_set(err, rc, "out of memory listing tensors") : 0;
}

// ---------------------------------------------------------------- init

// Uniform in [-bound, bound), from 24 random bits (exact in float).
static float uniform(uint64_t *s, float bound)
{
    return ((float)(lwm_splitmix64(s) >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * bound;
}

#define CODEBOOK_STD 0.2f // close to the latent scale of a randomly initialised encoder

static void fill_random(float *x, const vq_writer_entry *e, uint64_t seed, int index)
{
    uint64_t s = seed ^ (0x5851f42d4c957f2dull * (uint64_t)(index + 1));
    size_t n = entry_count(e);
    const char *leaf = strrchr(e->name, '/') + 1;
    int norm = strstr(e->name, "GroupNorm") != NULL;
    float bound = 0.05f, offset = 0;
    if (strcmp(leaf, "kernel") == 0)
        bound = 1.0f / sqrtf((float)(e->shape[0] * e->shape[1] * e->shape[2]));
    else if (strcmp(leaf, "embeddings") == 0)
        bound = CODEBOOK_STD * sqrtf(3.0f);
    else if (norm && strcmp(leaf, "scale") == 0)
        bound = 0.1f, offset = 1.0f;
    else if (norm)
        bound = 0.1f;
    for (size_t i = 0; i < n; i++) x[i] = offset + uniform(&s, bound);
}

static size_t max_count(const entry_list *l)
{
    size_t m = 0;
    for (int i = 0; i < l->n; i++)
        if (entry_count(&l->e[i]) > m) m = entry_count(&l->e[i]);
    return m;
}

// Fills buf with tensor number index (entry e); 0 or a negative code with err set.
typedef int (*fill_fn)(void *opaque, float *buf, const vq_writer_entry *e, int index,
                       lwm_error *err);

// The one writer of weights files: the config's tensors in walk order, each
// filled by fill(), metadata format/version/config/untrained plus one
// provenance pair; check() (may be NULL) runs before the file is committed.
static int write_weights(const char *out_path, const lwm_vqgan_config *cfg, const char *untrained,
                         const char *key, const char *value, fill_fn fill,
                         int (*check)(void *opaque, lwm_error *err), void *opaque, lwm_error *err)
{
    entry_list l;
    LWM_TRY(list_entries(&l, cfg, err));
    char *config = vqgan_config_to_json(cfg);
    const char *meta[] = {
        "format",    "lwm-vqgan", "version", "1",   "config", config ? config : "",
        "untrained", untrained,   key,       value, NULL};
    float *buf = malloc(max_count(&l) * sizeof(float));
    lwm_st_writer *w = NULL;
    int rc = !config || !buf ? lwm_error_set(err, -ENOMEM, "%s: out of memory", out_path) : 0;
    if (rc == 0) rc = lwm_st_writer_begin(&w, out_path, l.e, l.n, meta, err);
    for (int i = 0; rc == 0 && i < l.n; i++) {
        rc = fill(opaque, buf, &l.e[i], i, err);
        if (rc == 0) rc = lwm_st_writer_put(w, buf, entry_count(&l.e[i]), err);
    }
    if (rc == 0 && check) rc = check(opaque, err);
    if (rc == 0)
        rc = lwm_st_writer_commit(w, err);
    else
        lwm_st_writer_abort(w);
    free(buf);
    free(l.e);
    cJSON_free(config);
    return rc;
}

static int fill_seeded(void *opaque, float *buf, const vq_writer_entry *e, int index,
                       lwm_error *err)
{
    (void)err;
    fill_random(buf, e, *(const uint64_t *)opaque, index);
    return 0;
}

int lwm_vqgan_init_weights(const char *out_path, const lwm_vqgan_config *cfg, uint64_t seed,
                           lwm_error *err)
{
    LWM_TRY(lwm_vqgan_config_check(cfg, err));
    char seed_text[32];
    lwm_format(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
    return write_weights(out_path, cfg, "1", "seed", seed_text, fill_seeded, NULL, &seed, err);
}

// ---------------------------------------------------------------- import

typedef struct source {
    vq_file f;
    int layout;
    const char *path;
} source;

// LWM name segment → diffusers name segment, given the parent segment.
static int map_segment(char *out, size_t cap, const char *seg, const char *parent)
{
    int i;
    int in_res = strncmp(parent, "ResnetBlock_", 12) == 0;
    int in_resample = strcmp(parent, "Downsample_0") == 0 || strcmp(parent, "Upsample_0") == 0;
    int top = strcmp(parent, "encoder") == 0 || strcmp(parent, "decoder") == 0;
    if (sscanf(seg, "DownsamplingBlock_%d", &i) == 1)
        return lwm_format(out, cap, "down_blocks.%d", i);
    if (sscanf(seg, "UpsamplingBlock_%d", &i) == 1) return lwm_format(out, cap, "up_blocks.%d", i);
    if (sscanf(seg, "ResnetBlock_%d", &i) == 1) return lwm_format(out, cap, "resnets.%d", i);
    static const char *const fixed[][4] = {
        // segment, in a resnet block, in a resample block, at encoder/decoder top
        {"Conv_0", "conv1", "conv", "conv_in"}, {"Conv_1", "conv2", "", "conv_out"},
        {"Conv_2", "conv_shortcut", "", ""},    {"GroupNorm_0", "norm1", "", "conv_norm_out"},
        {"GroupNorm_1", "norm2", "", ""},
    };
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
        if (strcmp(seg, fixed[k][0]) == 0)
            return lwm_format(out, cap, "%s",
                              in_res        ? fixed[k][1]
                              : in_resample ? fixed[k][2]
                              : top         ? fixed[k][3]
                                            : "");
    static const char *const plain[][2] = {
        {"MidBlock_0", "mid_block"},
        {"Downsample_0", "downsamplers.0"},
        {"Upsample_0", "upsamplers.0"},
        {"kernel", "weight"},
        {"scale", "weight"},
        {"embeddings", "embedding.weight"},
    };
    for (size_t k = 0; k < sizeof plain / sizeof plain[0]; k++)
        if (strcmp(seg, plain[k][0]) == 0) return lwm_format(out, cap, "%s", plain[k][1]);
    return lwm_format(out, cap, "%s", seg); // encoder, decoder, quant_conv, bias, ...
}

static int diffusers_name(char *out, size_t cap, const char *lwm)
{
    char copy[VQ_MAX_NAME], *save = NULL, parent[VQ_MAX_NAME] = "";
    lwm_format(copy, sizeof copy, "%s", lwm);
    out[0] = '\0';
    for (char *seg = strtok_r(copy, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        char mapped[VQ_MAX_NAME];
        if (map_segment(mapped, sizeof mapped, seg, parent) < 0 || !mapped[0]) return -1;
        size_t n = strlen(out);
        if (lwm_format(out + n, cap - n, "%s%s", n ? "." : "", mapped) < 0) return -1;
        lwm_format(parent, sizeof parent, "%s", seg);
    }
    return 0;
}

static vq_tensor *source_find(source *s, const char *lwm_name)
{
    if (s->layout == LWM_VQGAN_LAYOUT_LWM) return vqgan_file_find(&s->f, lwm_name);
    char name[VQ_MAX_NAME * 2];
    if (diffusers_name(name, sizeof name, lwm_name) < 0) return NULL;
    return vqgan_file_find(&s->f, name);
}

static const vq_tensor *source_lookup(void *opaque, const char *lwm_name, int64_t *shape, int *ndim)
{
    source *s = opaque;
    const vq_tensor *t = source_find(s, lwm_name);
    if (!t) return NULL;
    *ndim = t->ndim;
    memcpy(shape, t->shape, sizeof t->shape);
    if (s->layout == LWM_VQGAN_LAYOUT_DIFFUSERS && t->ndim == 4) { // OIHW → HWIO
        shape[0] = t->shape[2], shape[1] = t->shape[3], shape[2] = t->shape[1],
        shape[3] = t->shape[0];
    }
    return t;
}

static int detect_layout(const vq_file *f)
{
    for (int i = 0; i < f->num_tensors; i++) {
        if (strstr(f->tensors[i].name, "DownsamplingBlock_")) return LWM_VQGAN_LAYOUT_LWM;
        if (strncmp(f->tensors[i].name, "encoder.down_blocks.", 20) == 0)
            return LWM_VQGAN_LAYOUT_DIFFUSERS;
    }
    return LWM_VQGAN_LAYOUT_UNKNOWN;
}

// Copies one tensor (transposing diffusers kernels) into buf after checking it.
static int convert_tensor(float *buf, source *s, const vq_writer_entry *e, lwm_error *err)
{
    vq_tensor *t = source_find(s, e->name);
    LWM_CHECK(err, t, LWM_EFORMAT, "%s: missing tensor %s", s->path, e->name);
    int64_t shape[VQ_MAX_DIMS];
    int nd;
    source_lookup(s, e->name, shape, &nd);
    int same = nd == e->ndim;
    for (int d = 0; same && d < nd; d++) same = shape[d] == e->shape[d];
    LWM_CHECK(err, same, LWM_EFORMAT,
              "%s: tensor %s (for %s) has a shape that does not fit the "
              "architecture inferred from the other tensors",
              s->path, t->name, e->name);
    t->used = 1;
    size_t n = t->count;
    if (s->layout == LWM_VQGAN_LAYOUT_DIFFUSERS && nd == 4) {
        int64_t O = t->shape[0], I = t->shape[1], KH = t->shape[2], KW = t->shape[3];
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++)
                for (int64_t y = 0; y < KH; y++)
                    for (int64_t x = 0; x < KW; x++)
                        buf[((y * KW + x) * I + i) * O + o] =
                            t->data[((o * I + i) * KH + y) * KW + x];
    } else
        memcpy(buf, t->data, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        LWM_CHECK(err, isfinite(buf[i]), LWM_ENUMERIC, "%s: tensor %s contains NaN or Inf", s->path,
                  t->name);
    return 0;
}

static int fill_converted(void *opaque, float *buf, const vq_writer_entry *e, int index,
                          lwm_error *err)
{
    (void)index;
    return convert_tensor(buf, opaque, e, err);
}

static int check_all_used(void *opaque, lwm_error *err)
{
    source *s = opaque;
    for (int i = 0; i < s->f.num_tensors; i++)
        LWM_CHECK(err, s->f.tensors[i].used, LWM_EFORMAT,
                  "%s: unexpected tensor %s (not part of the inferred architecture)", s->path,
                  s->f.tensors[i].name);
    return 0;
}

int lwm_vqgan_import(const char *out_path, const char *src_path, int *layout, lwm_error *err)
{
    source s = {.path = src_path};
    LWM_TRY(vqgan_file_open(&s.f, src_path, NULL, err));
    s.layout = detect_layout(&s.f);
    if (layout) *layout = s.layout;
    lwm_vqgan_config cfg;
    int rc = 0;
    if (s.layout == LWM_VQGAN_LAYOUT_UNKNOWN)
        rc = lwm_error_set(err, LWM_EFORMAT,
                           "%s: neither LWM (encoder/DownsamplingBlock_*) nor "
                           "diffusers (encoder.down_blocks.*) tensor names",
                           src_path);
    if (rc == 0) rc = vqgan_infer_config(&cfg, source_lookup, &s, src_path, err);
    const char *base = strrchr(src_path, '/') ? strrchr(src_path, '/') + 1 : src_path;
    if (rc == 0)
        rc = write_weights(out_path, &cfg, "0", "source", base, fill_converted, check_all_used, &s,
                           err);
    vqgan_file_close(&s.f);
    return rc;
}
