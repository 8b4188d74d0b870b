// Training config (configs/*.json), the parameter slab layout and the one sizing function.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "loader/loader.h"

// ------------------------------------------------------------------ config
// Every field has a range. The integer bounds keep each buffer size (train_sizes_compute,
// train_layout_build: products of dim, ffn_dim, vocabularies, layers, chunk, tile and the
// local length) far inside size_t and every BLAS/MPI dimension inside int; the real bounds
// keep the optimizer's arithmetic finite in float32.

#define MAX_DIM (1 << 16)
#define MAX_VOCAB (1 << 24)
#define MAX_STEPS ((int64_t)1 << 40)
#define MAX_TOKENS ((int64_t)1 << 50)
#define MAX_REAL 1e30 // float32 parameters: FLT_MAX is 3.4e38

static int get_int(const cJSON *o, const char *key, int required, int64_t *out, int64_t min,
                   int64_t max, const char *what, lwm_error *err)
{
    if (!o) {
        LWM_CHECK(err, !required, LWM_EFORMAT, "%s: missing \"%s\"", what, key);
        return 0;
    }
    LWM_TRY(lwm_json_get_int(o, key, required, out, what, err));
    LWM_CHECK(err, *out >= min && *out <= max, LWM_EINVAL,
              "%s: \"%s\" is %lld, must be in [%lld, %lld]", what, key, (long long)*out,
              (long long)min, (long long)max);
    return 0;
}

// get_int into an int field (bounds within int); *out keeps its default when absent.
static int get_small(const cJSON *o, const char *key, int required, int *out, int min, int max,
                     const char *what, lwm_error *err)
{
    int64_t v = *out;
    LWM_TRY(get_int(o, key, required, &v, min, max, what, err));
    *out = (int)v;
    return 0;
}

enum { OPEN_LO = 1, OPEN_HI = 2 }; // get_num: the bound itself is excluded

static int get_num(const cJSON *o, const char *key, double *out, double lo, double hi, int open,
                   const char *what, lwm_error *err)
{
    if (!o) return 0;
    LWM_TRY(lwm_json_get_double(o, key, 0, out, what, err));
    int above = (open & OPEN_LO) ? *out > lo : *out >= lo;
    int below = (open & OPEN_HI) ? *out < hi : *out <= hi;
    LWM_CHECK(err, above && below, LWM_EINVAL, "%s: \"%s\" is %g, must be in %c%g, %g%c", what, key,
              *out, (open & OPEN_LO) ? '(' : '[', lo, hi, (open & OPEN_HI) ? ')' : ']');
    return 0;
}

static int parse_model(train_model_shape *m, const cJSON *o, const char *what, lwm_error *err)
{
    LWM_CHECK(err, o && cJSON_IsObject(o), LWM_EFORMAT, "%s: missing object \"model\"", what);
    m->text_vocab = 32000;
    m->vision_vocab = 8448;
    m->norm_eps = 1e-6;
    LWM_TRY(get_small(o, "dim", 1, &m->dim, 2, MAX_DIM, what, err));
    LWM_TRY(get_small(o, "layers", 1, &m->layers, 1, 256, what, err));
    LWM_TRY(get_small(o, "heads", 1, &m->heads, 1, MAX_DIM, what, err));
    LWM_TRY(get_small(o, "ffn_dim", 1, &m->ffn_dim, 1, 4 * MAX_DIM, what, err));
    LWM_TRY(get_small(o, "text_vocab", 0, &m->text_vocab, 1, MAX_VOCAB, what, err));
    LWM_TRY(get_small(o, "vision_vocab", 0, &m->vision_vocab, 1, MAX_VOCAB, what, err));
    LWM_TRY(get_num(o, "norm_eps", &m->norm_eps, 0, 1, OPEN_LO, what, err));
    LWM_CHECK(err, m->dim % m->heads == 0 && (m->dim / m->heads) % 2 == 0, LWM_EINVAL,
              "%s: dim %d must split into %d heads of even width", what, m->dim, m->heads);
    LWM_CHECK(err, m->dim / m->heads <= 1024, LWM_EINVAL, "%s: head width over 1024", what);
    return 0;
}

static int parse_stages(train_config *cfg, const cJSON *arr, const char *what, lwm_error *err)
{
    LWM_CHECK(err, cJSON_IsArray(arr) && cJSON_GetArraySize(arr) > 0, LWM_EFORMAT,
              "%s: \"stages\" must be a non-empty array", what);
    int n = cJSON_GetArraySize(arr);
    LWM_CHECK(err, n <= TRAIN_MAX_STAGES, LWM_EINVAL, "%s: %d stages, at most %d", what, n,
              TRAIN_MAX_STAGES);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(arr, i);
        char sw[340];
        snprintf(sw, sizeof sw, "%s: stages[%d]", what, i);
        LWM_CHECK(err, cJSON_IsObject(s), LWM_EFORMAT, "%s: not an object", sw);
        train_stage *st = &cfg->stages[i];
        LWM_TRY(get_int(s, "seq_len", 1, &st->seq_len, 2, 1 << 30, sw, err));
        st->rope_theta = 10000;
        LWM_TRY(get_num(s, "rope_theta", &st->rope_theta, 1, MAX_REAL, 0, sw, err));
        LWM_TRY(get_int(s, "tokens_per_batch", 1, &st->tokens_per_batch, 1, MAX_TOKENS, sw, err));
        LWM_TRY(get_int(s, "total_tokens", 1, &st->total_tokens, 1, MAX_TOKENS, sw, err));
        LWM_CHECK(err, st->tokens_per_batch % st->seq_len == 0, LWM_EINVAL,
                  "%s: tokens_per_batch %lld is not a multiple of seq_len %lld", sw,
                  (long long)st->tokens_per_batch, (long long)st->seq_len);
    }
    cfg->nstages = n;
    return 0;
}

static int parse_optimizer(train_config *cfg, const cJSON *opt, const char *what, lwm_error *err)
{
    cfg->lr = 3e-4, cfg->min_lr = 3e-5, cfg->weight_decay = 0.1, cfg->beta1 = 0.9;
    cfg->beta2 = 0.95, cfg->adam_eps = 1e-8, cfg->grad_clip = 1.0;
    cfg->warmup_steps = 10;
    LWM_TRY(get_num(opt, "lr", &cfg->lr, 0, MAX_REAL, OPEN_LO, what, err));
    LWM_TRY(get_num(opt, "min_lr", &cfg->min_lr, 0, MAX_REAL, 0, what, err));
    LWM_TRY(get_num(opt, "weight_decay", &cfg->weight_decay, 0, 1, 0, what, err));
    LWM_TRY(get_num(opt, "beta1", &cfg->beta1, 0, 1, OPEN_HI, what, err));
    LWM_TRY(get_num(opt, "beta2", &cfg->beta2, 0, 1, OPEN_HI, what, err));
    LWM_TRY(get_num(opt, "eps", &cfg->adam_eps, 0, 1, OPEN_LO, what, err));
    LWM_TRY(get_num(opt, "grad_clip", &cfg->grad_clip, 0, MAX_REAL, OPEN_LO, what, err));
    return get_int(opt, "warmup_steps", 0, &cfg->warmup_steps, 0, MAX_STEPS, what, err);
}

static int parse_train(train_config *cfg, const cJSON *root, const char *what, lwm_error *err)
{
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "train");
    int64_t seed = LWM_LOADER_TRAIN_SEED;
    cfg->rows_per_load = 1;
    cfg->attn_tile = 128;
    cfg->chunk = 64;
    cfg->max_nan_skips = 3;
    LWM_TRY(get_small(root, "ring", 0, &cfg->ring, 0, 1 << 20, what, err));
    LWM_TRY(get_int(tr, "seed", 0, &seed, 0, INT64_MAX, what, err));
    cfg->seed = (uint64_t)seed;
    LWM_TRY(get_int(tr, "checkpoint_every", 0, &cfg->checkpoint_every, 0, MAX_STEPS, what, err));
    cfg->keep_checkpoints = 2;
    LWM_TRY(get_small(tr, "keep_checkpoints", 0, &cfg->keep_checkpoints, 1, 1000, what, err));
    LWM_TRY(get_int(tr, "rows_per_load", 0, &cfg->rows_per_load, 1, 1 << 20, what, err));
    LWM_TRY(get_small(tr, "attn_tile", 0, &cfg->attn_tile, 1, 4096, what, err));
    LWM_TRY(get_small(tr, "chunk", 0, &cfg->chunk, 1, 1 << 16, what, err));
    return get_small(tr, "max_nan_skips", 0, &cfg->max_nan_skips, 1, 1 << 20, what, err);
}

static int parse_data(train_config *cfg, const cJSON *data, const char *what, lwm_error *err)
{
    const char *kind = "loader";
    if (data) LWM_TRY(lwm_json_get_string(data, "kind", 0, &kind, what, err));
    if (lwm_format(cfg->data_kind, sizeof cfg->data_kind, "%s", kind) < 0 ||
        (strcmp(kind, "loader") != 0 && strcmp(kind, "needle") != 0 && strcmp(kind, "mixed") != 0))
        return lwm_error_set(err, LWM_EINVAL, "%s: data.kind \"%s\" is not loader, needle or mixed",
                             what, kind);
    cfg->synth_values = 16;
    cfg->synth_fillers = 32;
    LWM_TRY(get_small(data, "values", 0, &cfg->synth_values, 1, MAX_VOCAB, what, err));
    return get_small(data, "fillers", 0, &cfg->synth_fillers, 1, MAX_VOCAB, what, err);
}

int train_config_parse(train_config *cfg, const char *path, lwm_error *err)
{
    cJSON *root = NULL;
    LWM_TRY(lwm_json_load_file(path, &root, err));
    memset(cfg, 0, sizeof *cfg);
    char what[300];
    snprintf(what, sizeof what, "config %s", path);
    int rc = 0;
    LWM_TRY_GOTO(
        rc, parse_model(&cfg->model, cJSON_GetObjectItemCaseSensitive(root, "model"), what, err),
        done);
    LWM_TRY_GOTO(
        rc, parse_optimizer(cfg, cJSON_GetObjectItemCaseSensitive(root, "optimizer"), what, err),
        done);
    LWM_TRY_GOTO(rc, parse_train(cfg, root, what, err), done);
    LWM_TRY_GOTO(rc, parse_stages(cfg, cJSON_GetObjectItemCaseSensitive(root, "stages"), what, err),
                 done);
    rc = parse_data(cfg, cJSON_GetObjectItemCaseSensitive(root, "data"), what, err);
done:
    cJSON_Delete(root);
    return rc < 0 ? rc : 0;
}

// ------------------------------------------------------------------ layout
// Tensor names follow LWM's Flax parameter tree joined with dots (documented in docs/train.md).

static void add(train_layout *lay, const char *name, int rank, int64_t a, int64_t b, int decay)
{
    train_tensor *t = &lay->t[lay->ntensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rank = rank;
    t->shape[0] = a;
    t->shape[1] = rank == 2 ? b : 1;
    t->size = (size_t)a * (size_t)t->shape[1];
    t->offset = lay->total;
    t->decay = decay;
    lay->total += t->size;
}

int train_layout_build(train_layout *lay, const train_model_shape *m, lwm_error *err)
{
    LWM_CHECK(err, m->layers <= 256, LWM_EINVAL, "model: too many layers");
    memset(lay, 0, sizeof *lay);
    const int64_t d = m->dim, F = m->ffn_dim;
    add(lay, "transformer.wte.embedding", 2, m->text_vocab, d, 0);
    add(lay, "transformer.vte.embedding", 2, m->vision_vocab, d, 0);
    char name[64];
    static const char *const mats[] = {"attention.wq", "attention.wk", "attention.wv",
                                       "attention.wo"};
    for (int i = 0; i < m->layers; i++) {
        snprintf(name, sizeof name, "transformer.h.%d.attention_norm.kernel", i);
        add(lay, name, 1, d, 0, 0);
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "transformer.h.%d.%s.kernel", i, mats[j]);
            add(lay, name, 2, d, d, 1);
        }
        snprintf(name, sizeof name, "transformer.h.%d.ffn_norm.kernel", i);
        add(lay, name, 1, d, 0, 0);
        snprintf(name, sizeof name, "transformer.h.%d.feed_forward.w1.kernel", i);
        add(lay, name, 2, d, F, 1);
        snprintf(name, sizeof name, "transformer.h.%d.feed_forward.w3.kernel", i);
        add(lay, name, 2, d, F, 1);
        snprintf(name, sizeof name, "transformer.h.%d.feed_forward.w2.kernel", i);
        add(lay, name, 2, F, d, 1);
    }
    add(lay, "transformer.ln_f.kernel", 1, d, 0, 0);
    add(lay, "lm_head.kernel", 2, d, m->text_vocab, 1);
    add(lay, "vision_head.kernel", 2, d, m->vision_vocab, 1);
    return 0;
}

void train_layout_offsets(train_model_ofs *o, const train_layout *lay, int layers)
{
    o->wte = lay->t[0].offset;
    o->vte = lay->t[1].offset;
    for (int i = 0; i < layers; i++) {
        const train_tensor *t = &lay->t[2 + 9 * i];
        train_layer_ofs *l = &o->layer[i];
        l->attn_norm = t[0].offset, l->wq = t[1].offset, l->wk = t[2].offset;
        l->wv = t[3].offset, l->wo = t[4].offset, l->ffn_norm = t[5].offset;
        l->w1 = t[6].offset, l->w3 = t[7].offset, l->w2 = t[8].offset;
    }
    int end = 2 + 9 * layers;
    o->ln_f = lay->t[end].offset;
    o->lm_head = lay->t[end + 1].offset;
    o->vision_head = lay->t[end + 2].offset;
}

// ------------------------------------------------------------------ sizing

void train_sizes_compute(train_sizes *s, const train_model_shape *m, int64_t c, int ring_size,
                         int tile, int chunk, int threads)
{
    const size_t d = (size_t)m->dim, H = (size_t)m->heads, F = (size_t)m->ffn_dim;
    const size_t L = (size_t)m->layers, cc = (size_t)c, cf = (size_t)chunk;
    const size_t V = (size_t)(m->text_vocab > m->vision_vocab ? m->text_vocab : m->vision_vocab);
    memset(s, 0, sizeof *s);
    s->params = (size_t)m->dim * (m->text_vocab + m->vision_vocab) * 2 + d +
                L * (2 * d + 4 * d * d + 3 * d * F);
    s->saved_acts = (2 * L + 1) * cc * d; // layer inputs, attention outputs, final x
    s->saved_lse = L * H * cc;
    s->work = 12 * cc * d + 2 * cc + H * cc;
    s->ring = 5 * 2 * cc * d;
    s->chunk = cf * (4 * d + 4 * F + V + 1) + cf;
    s->attn_scratch = (size_t)threads * attn_scratch_floats(tile, m->dim / m->heads);
    s->row_meta = 2 * (size_t)ring_size * cc + 4 * cc;
    s->total_bytes = 4 * (4 * s->params + s->saved_acts + s->saved_lse + s->work + s->ring +
                          s->chunk + s->attn_scratch + s->row_meta);
}
