// Training config (configs/*.json), the parameter slab layout and the one sizing function.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

// ------------------------------------------------------------------ config

static int get_int(const cJSON *o, const char *key, int required, int64_t *out, int64_t min,
                   const char *what, lwm_error *err)
{
    if (!o) {
        LWM_CHECK(err, !required, LWM_EFORMAT, "%s: missing \"%s\"", what, key);
        return 0;
    }
    LWM_TRY(lwm_json_get_int(o, key, required, out, what, err));
    LWM_CHECK(err, *out >= min, LWM_EINVAL, "%s: \"%s\" is %lld, must be >= %lld", what, key,
              (long long)*out, (long long)min);
    return 0;
}

static int get_num(const cJSON *o, const char *key, int required, double *out, double min,
                   const char *what, lwm_error *err)
{
    if (!o) {
        LWM_CHECK(err, !required, LWM_EFORMAT, "%s: missing \"%s\"", what, key);
        return 0;
    }
    LWM_TRY(lwm_json_get_double(o, key, required, out, what, err));
    LWM_CHECK(err, *out >= min, LWM_EINVAL, "%s: \"%s\" is %g, must be >= %g", what, key, *out,
              min);
    return 0;
}

static int parse_model(train_model_shape *m, const cJSON *o, const char *what, lwm_error *err)
{
    LWM_CHECK(err, o && cJSON_IsObject(o), LWM_EFORMAT, "%s: missing object \"model\"", what);
    int64_t v;
    LWM_TRY(get_int(o, "dim", 1, &v, 2, what, err));
    m->dim = (int)v;
    LWM_TRY(get_int(o, "layers", 1, &v, 1, what, err));
    LWM_CHECK(err, v <= 256, LWM_EINVAL, "%s: \"layers\" %lld exceeds 256", what, (long long)v);
    m->layers = (int)v;
    LWM_TRY(get_int(o, "heads", 1, &v, 1, what, err));
    m->heads = (int)v;
    LWM_TRY(get_int(o, "ffn_dim", 1, &v, 1, what, err));
    m->ffn_dim = (int)v;
    v = 32000;
    LWM_TRY(get_int(o, "text_vocab", 0, &v, 1, what, err));
    m->text_vocab = (int)v;
    v = 8448;
    LWM_TRY(get_int(o, "vision_vocab", 0, &v, 1, what, err));
    m->vision_vocab = (int)v;
    m->norm_eps = 1e-6;
    LWM_TRY(get_num(o, "norm_eps", 0, &m->norm_eps, 0, what, err));
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
        train_stage *st = &cfg->stages[i];
        LWM_TRY(get_int(s, "seq_len", 1, &st->seq_len, 2, sw, err));
        st->rope_theta = 10000;
        LWM_TRY(get_num(s, "rope_theta", 0, &st->rope_theta, 1, sw, err));
        LWM_TRY(get_int(s, "tokens_per_batch", 1, &st->tokens_per_batch, 1, sw, err));
        LWM_TRY(get_int(s, "total_tokens", 1, &st->total_tokens, 1, sw, err));
        LWM_CHECK(err, st->tokens_per_batch % st->seq_len == 0, LWM_EINVAL,
                  "%s: tokens_per_batch %lld is not a multiple of seq_len %lld", sw,
                  (long long)st->tokens_per_batch, (long long)st->seq_len);
        LWM_CHECK(err, st->seq_len < 2147483647, LWM_EINVAL, "%s: seq_len too large", sw);
    }
    cfg->nstages = n;
    return 0;
}

int train_config_parse(train_config *cfg, const char *path, lwm_error *err)
{
    cJSON *root = NULL;
    LWM_TRY(lwm_json_load_file(path, &root, err));
    memset(cfg, 0, sizeof *cfg);
    char what[300];
    snprintf(what, sizeof what, "config %s", path);
    int rc = parse_model(&cfg->model, cJSON_GetObjectItemCaseSensitive(root, "model"), what, err);
    if (rc < 0) goto done;
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(root, "optimizer");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "train");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    int64_t v = 0;
    cfg->lr = 3e-4, cfg->min_lr = 3e-5, cfg->weight_decay = 0.1, cfg->beta1 = 0.9;
    cfg->beta2 = 0.95, cfg->adam_eps = 1e-8, cfg->grad_clip = 1.0;
    LWM_TRY_GOTO(rc, get_num(opt, "lr", 0, &cfg->lr, 0, what, err), done);
    LWM_TRY_GOTO(rc, get_num(opt, "min_lr", 0, &cfg->min_lr, 0, what, err), done);
    LWM_TRY_GOTO(rc, get_num(opt, "weight_decay", 0, &cfg->weight_decay, 0, what, err), done);
    LWM_TRY_GOTO(rc, get_num(opt, "beta1", 0, &cfg->beta1, 0, what, err), done);
    LWM_TRY_GOTO(rc, get_num(opt, "beta2", 0, &cfg->beta2, 0, what, err), done);
    LWM_TRY_GOTO(rc, get_num(opt, "eps", 0, &cfg->adam_eps, 0, what, err), done);
    LWM_TRY_GOTO(rc, get_num(opt, "grad_clip", 0, &cfg->grad_clip, 0, what, err), done);
    cfg->warmup_steps = 10;
    LWM_TRY_GOTO(rc, get_int(opt, "warmup_steps", 0, &cfg->warmup_steps, 0, what, err), done);
    LWM_TRY_GOTO(rc, get_int(root, "ring", 0, &v, 0, what, err), done);
    cfg->ring = (int)v;
    v = 1;
    LWM_TRY_GOTO(rc, get_int(tr, "seed", 0, &v, 0, what, err), done);
    cfg->seed = (uint64_t)v;
    LWM_TRY_GOTO(rc, get_int(tr, "checkpoint_every", 0, &cfg->checkpoint_every, 0, what, err), done);
    cfg->rows_per_load = 1;
    LWM_TRY_GOTO(rc, get_int(tr, "rows_per_load", 0, &cfg->rows_per_load, 1, what, err), done);
    v = 128;
    LWM_TRY_GOTO(rc, get_int(tr, "attn_tile", 0, &v, 1, what, err), done);
    cfg->attn_tile = (int)v;
    v = 64;
    LWM_TRY_GOTO(rc, get_int(tr, "chunk", 0, &v, 1, what, err), done);
    cfg->chunk = (int)v;
    v = 3;
    LWM_TRY_GOTO(rc, get_int(tr, "max_nan_skips", 0, &v, 1, what, err), done);
    cfg->max_nan_skips = (int)v;
    LWM_TRY_GOTO(rc, parse_stages(cfg, cJSON_GetObjectItemCaseSensitive(root, "stages"), what, err),
                 done);
    const char *kind = "loader";
    if (data) LWM_TRY_GOTO(rc, lwm_json_get_string(data, "kind", 0, &kind, what, err), done);
    rc = lwm_format(cfg->data_kind, sizeof cfg->data_kind, "%s", kind);
    if (rc < 0 || (strcmp(kind, "loader") != 0 && strcmp(kind, "needle") != 0 &&
                   strcmp(kind, "mixed") != 0)) {
        rc = lwm_error_set(err, LWM_EINVAL, "%s: data.kind \"%s\" is not loader, needle or mixed",
                           what, kind);
        goto done;
    }
    v = 16;
    LWM_TRY_GOTO(rc, get_int(data, "values", 0, &v, 1, what, err), done);
    cfg->synth_values = (int)v;
    v = 32;
    LWM_TRY_GOTO(rc, get_int(data, "fillers", 0, &v, 1, what, err), done);
    cfg->synth_fillers = (int)v;
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

// ------------------------------------------------------------------ layout
// Tensor names follow LWM's Flax parameter tree joined with dots (documented in README.md).

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
    static const char *const mats[] = {"attention.wq", "attention.wk", "attention.wv", "attention.wo"};
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
