// Pretrained weights into a new run (`lwm train --init W`): a Hugging Face LLaMA checkpoint
// (config.json and model.safetensors, or shards listed by model.safetensors.index.json) or a
// weights file of this trainer. Files are mapped, never read whole; each tensor is checked
// (present, shape, finite) and converted (hf_layout.c) straight into the parameter slab.
#include <cjson/cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum { MAX_SHARDS = 1024 };

typedef struct hf_source {
    char dir[4096];
    cJSON *index;            // model.safetensors.index.json, or NULL (one file)
    const cJSON *weight_map; // its tensor -> file object
    train_st_map *files;     // MAX_SHARDS slots, filled as tensors ask for them
    int nfiles;
    int tied;       // tie_word_embeddings: lm_head is embed_tokens
    float *scratch; // one tensor, for those rearranged on the way in
    double rope_theta, eps;
} hf_source;

int train_st_map_open(train_st_map *f, const char *path, lwm_error *err)
{
    memset(f, 0, sizeof *f);
    LWM_TRY(lwm_format(f->path, sizeof f->path, "%s", path));
    return lwm_st_file_open(&f->st, path, NULL, 1, err);
}

void train_st_map_close(train_st_map *f)
{
    lwm_st_file_close(&f->st);
}

// ------------------------------------------------------------------ config.json

static int config_int(const cJSON *c, const char *key, int64_t want, const char *ours,
                      const char *path, lwm_error *err)
{
    int64_t v = 0;
    LWM_TRY(lwm_json_get_int(c, key, 1, &v, path, err));
    LWM_CHECK(err, v == want, LWM_EINVAL, "%s: %s is %lld, the training config has %s %lld", path,
              key, (long long)v, ours, (long long)want);
    return 0;
}

// The checkpoint's config against the training config: every shape field equal, plain LLaMA
// (no grouped-query attention, no RoPE scaling, SiLU).
static int check_config(hf_source *s, const cJSON *c, const train_model_shape *m, const char *path,
                        lwm_error *err)
{
    int64_t heads = 0, kv = 0;
    LWM_TRY(lwm_json_get_int(c, "num_attention_heads", 1, &heads, path, err));
    kv = heads;
    LWM_TRY(lwm_json_get_int(c, "num_key_value_heads", 0, &kv, path, err));
    LWM_CHECK(err, kv == heads, LWM_EUNSUPPORTED,
              "%s: num_key_value_heads %lld differs from num_attention_heads %lld: grouped-query "
              "attention is not supported (LWM's model has one key/value head per query head)",
              path, (long long)kv, (long long)heads);
    LWM_TRY(config_int(c, "num_attention_heads", m->heads, "heads", path, err));
    LWM_TRY(config_int(c, "hidden_size", m->dim, "dim", path, err));
    LWM_TRY(config_int(c, "num_hidden_layers", m->layers, "layers", path, err));
    LWM_TRY(config_int(c, "intermediate_size", m->ffn_dim, "ffn_dim", path, err));
    LWM_TRY(config_int(c, "vocab_size", m->text_vocab, "text_vocab", path, err));
    const char *act = "silu";
    LWM_TRY(lwm_json_get_string(c, "hidden_act", 0, &act, path, err));
    LWM_CHECK(err, strcmp(act, "silu") == 0, LWM_EUNSUPPORTED,
              "%s: hidden_act is %.40s, LWM's model uses silu", path, act);
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(c, "rope_scaling");
    LWM_CHECK(err, !scaling || cJSON_IsNull(scaling), LWM_EUNSUPPORTED,
              "%s: rope_scaling is not supported (LWM raises rope theta per stage instead)", path);
    s->eps = 1e-6, s->rope_theta = 10000;
    LWM_TRY(lwm_json_get_double(c, "rms_norm_eps", 0, &s->eps, path, err));
    LWM_TRY(lwm_json_get_double(c, "rope_theta", 0, &s->rope_theta, path, err));
    LWM_CHECK(err, s->eps == m->norm_eps, LWM_EINVAL,
              "%s: rms_norm_eps is %g, the training config has norm_eps %g", path, s->eps,
              m->norm_eps);
    s->tied = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "tie_word_embeddings"));
    return 0;
}

static int open_source(hf_source *s, const char *dir, const char *index_path,
                       const train_model_shape *m, lwm_error *err)
{
    char path[4200];
    LWM_TRY(lwm_format(s->dir, sizeof s->dir, "%s", dir));
    LWM_TRY(lwm_path_join(path, sizeof path, dir, "config.json"));
    cJSON *c = NULL;
    LWM_TRY(lwm_json_load_file(path, &c, err));
    int rc = check_config(s, c, m, path, err);
    cJSON_Delete(c);
    LWM_TRY(rc);
    s->files = calloc(MAX_SHARDS, sizeof *s->files);
    LWM_CHECK(err, s->files, -ENOMEM, "out of memory");
    if (!index_path) return 0;
    LWM_TRY(lwm_json_load_file(index_path, &s->index, err));
    s->weight_map = cJSON_GetObjectItemCaseSensitive(s->index, "weight_map");
    LWM_CHECK(err, cJSON_IsObject(s->weight_map), LWM_EFORMAT, "%s: no weight_map object",
              index_path);
    return 0;
}

static void close_source(hf_source *s)
{
    for (int i = 0; i < s->nfiles; i++) train_st_map_close(&s->files[i]);
    free(s->files);
    free(s->scratch);
    cJSON_Delete(s->index);
}

// The mapped file holding tensor name (opened on first use); NULL with *rc 0 when the index
// does not list it.
static train_st_map *file_of(hf_source *s, const char *name, const char *single, int *rc,
                             lwm_error *err)
{
    const char *file = single;
    *rc = 0;
    if (s->weight_map) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(s->weight_map, name);
        if (!f) return NULL;
        if (!cJSON_IsString(f) || strchr(f->valuestring, '/') || f->valuestring[0] == '.') {
            *rc = lwm_error_set(err, LWM_EFORMAT,
                                "%s/model.safetensors.index.json: tensor %s: file is not a plain "
                                "file name in the model's directory",
                                s->dir, name);
            return NULL;
        }
        file = f->valuestring;
    }
    char path[4200];
    if ((*rc = lwm_path_join(path, sizeof path, s->dir, file)) < 0) return NULL;
    if (single && strchr(single, '/')) snprintf(path, sizeof path, "%s", single);
    for (int i = 0; i < s->nfiles; i++)
        if (strcmp(s->files[i].path, path) == 0) return &s->files[i];
    if (s->nfiles == MAX_SHARDS) {
        *rc = lwm_error_set(err, LWM_EUNSUPPORTED, "%s: more than %d shards", s->dir, MAX_SHARDS);
        return NULL;
    }
    train_st_map *m = &s->files[s->nfiles];
    if ((*rc = train_st_map_open(m, path, err)) < 0) {
        train_st_map_close(m);
        return NULL;
    }
    s->nfiles++;
    return m;
}

// ------------------------------------------------------------------ tensors

static void shape_text(char *out, size_t cap, const int64_t *shape, int ndim)
{
    size_t n = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(out + n, cap - n, "]");
}

int train_st_tensor(float *out, const train_st_map *f, const char *name, const int64_t *want,
                    int rank, lwm_error *err)
{
    const lwm_st_tensor *st = lwm_st_find(&f->st.hdr, name);
    LWM_CHECK(err, st, LWM_ENOTFOUND, "%s: tensor %s missing", f->path, name);
    int ok = st->ndim == rank;
    for (int r = 0; ok && r < rank; r++) ok = st->shape[r] == want[r];
    if (!ok) {
        char got[120], need[120];
        shape_text(got, sizeof got, st->shape, st->ndim);
        shape_text(need, sizeof need, want, rank);
        return lwm_error_set(err, LWM_EINVAL, "%s: tensor %s has shape %s, the config needs %s",
                             f->path, name, got, need);
    }
    lwm_st_to_float(out, (const char *)f->st.map + st->offset, st->count, st->dtype);
    return train_check_finite(out, st->count, f->path, name, err);
}

// One HF tensor into the trainer's tensor t (through scratch when it is rearranged).
static int load_tensor(float *dst, float *scratch, const train_tensor *t, const hf_tensor *h,
                       const train_st_map *f, int hd, lwm_error *err)
{
    int64_t want[2] = {t->shape[h->transpose], t->shape[!h->transpose]};
    LWM_TRY(train_st_tensor(h->transpose ? scratch : dst, f, h->name, want, t->rank, err));
    if (h->transpose) hf_convert(dst, scratch, h, want[0], want[1], hd, 1);
    return 0;
}

// Tensor i from the source: 1 when loaded, 0 when an optional one is absent.
static int import_one(hf_source *s, const char *single, const train_layout *lay, int i,
                      float *params, int hd, lwm_error *err)
{
    hf_tensor h;
    hf_tensor_of(&h, lay, i);
    int rc = 0;
    if (s->tied && strcmp(h.name, "lm_head.weight") == 0) // the output head is the embedding
        snprintf(h.name, sizeof h.name, "model.embed_tokens.weight");
    train_st_map *f = file_of(s, h.name, single, &rc, err);
    LWM_TRY(rc);
    if (h.optional && (!f || !lwm_st_find(&f->st.hdr, h.name))) return 0;
    LWM_CHECK(err, f, LWM_ENOTFOUND, "%s: tensor %s is in none of the index's files", s->dir,
              h.name);
    if (!s->scratch) {
        size_t most = 0;
        for (int j = 0; j < lay->ntensors; j++)
            most = lay->t[j].size > most ? lay->t[j].size : most;
        s->scratch = malloc(most * sizeof(float));
        LWM_CHECK(err, s->scratch, -ENOMEM, "out of memory for a %zu-float tensor", most);
    }
    LWM_TRY(load_tensor(params + lay->t[i].offset, s->scratch, &lay->t[i], &h, f, hd, err));
    return 1;
}

static int import_hf(const char *dir, const char *single, const char *index,
                     const train_model_shape *m, const train_layout *lay, float *params,
                     const lwm_logger *log, lwm_error *err)
{
    hf_source s;
    memset(&s, 0, sizeof s);
    int rc = open_source(&s, dir, index, m, err), vision = 0, loaded = 0;
    for (int i = 0; rc == 0 && i < lay->ntensors; i++) {
        rc = import_one(&s, single, lay, i, params, m->dim / m->heads, err);
        if (rc > 0) loaded++, vision += i == 1 || i == lay->ntensors - 1;
        if (rc > 0) rc = 0;
    }
    if (rc == 0) {
        lwm_log(log, LWM_LOG_INFO,
                "init: %d tensors from the Hugging Face LLaMA model %s (%d file%s, pretrained rope "
                "theta %g)",
                loaded, dir, s.nfiles, s.nfiles == 1 ? "" : "s", s.rope_theta);
        if (vision < 2)
            lwm_log(log, LWM_LOG_INFO,
                    "init: vision embedding [%d, %d] and vision head [%d, %d] are new: initialised "
                    "as LWM adds them (seeded normal, std 0.02)",
                    m->vision_vocab, m->dim, m->dim, m->vision_vocab);
        else
            lwm_log(log, LWM_LOG_INFO, "init: vision embedding and head loaded from the model");
    }
    close_source(&s);
    return rc;
}

// ------------------------------------------------------------------ this trainer's files

static int import_lwm(const char *path, const train_model_shape *m, const train_layout *lay,
                      float *params, const lwm_logger *log, lwm_error *err)
{
    train_st_map f;
    int rc = train_st_map_open(&f, path, err);
    train_weights_info info;
    if (rc == 0) rc = train_weights_info_read(&info, &f.st.hdr, path, err);
    train_st_map_close(&f);
    LWM_TRY(rc);
    const train_model_shape *w = &info.model;
    LWM_CHECK(err, !w->dim || (w->heads == m->heads && w->norm_eps == m->norm_eps), LWM_EINVAL,
              "%s: weights of a model with %d heads and norm_eps %g, the training config has %d "
              "and %g",
              path, w->heads, w->norm_eps, m->heads, m->norm_eps);
    LWM_TRY(safetensors_read(path, lay, params, err));
    lwm_log(log, LWM_LOG_INFO, "init: %d tensors from %s", lay->ntensors, path);
    return 0;
}

static int is_hf_file(const char *path, int *hf, lwm_error *err)
{
    train_st_map f;
    int rc = train_st_map_open(&f, path, err);
    *hf = 0;
    for (int i = 0; rc == 0 && i < f.st.hdr.n; i++)
        *hf |= strncmp(f.st.hdr.tensors[i].name, "model.", 6) == 0;
    train_st_map_close(&f);
    return rc;
}

static int exists(const char *dir, const char *name, char *path, size_t cap)
{
    return lwm_path_join(path, cap, dir, name) == 0 && access(path, F_OK) == 0;
}

int train_import(const char *path, const train_model_shape *m, const train_layout *lay,
                 float *params, const lwm_logger *log, lwm_error *err)
{
    struct stat st;
    LWM_CHECK(err, stat(path, &st) == 0, -errno, "%s: %s", path, strerror(errno));
    char dir[4096], file[4200];
    LWM_TRY(lwm_format(dir, sizeof dir, "%s", path));
    if (S_ISDIR(st.st_mode)) {
        if (exists(dir, "config.json", file, sizeof file)) {
            if (exists(dir, "model.safetensors.index.json", file, sizeof file))
                return import_hf(dir, NULL, file, m, lay, params, log, err);
            LWM_CHECK(err, exists(dir, "model.safetensors", file, sizeof file), LWM_ENOTFOUND,
                      "%s: config.json but neither model.safetensors nor "
                      "model.safetensors.index.json",
                      dir);
            return import_hf(dir, "model.safetensors", NULL, m, lay, params, log, err);
        }
        LWM_CHECK(err, exists(dir, "weights.safetensors", file, sizeof file), LWM_ENOTFOUND,
                  "%s: neither a Hugging Face model (config.json) nor a run (weights.safetensors)",
                  dir);
        return import_lwm(file, m, lay, params, log, err);
    }
    size_t n = strlen(path);
    char *parent = dirname(dir); // dirname may modify dir: it is our copy
    if (n > 11 && strcmp(path + n - 11, ".index.json") == 0)
        return import_hf(parent, NULL, path, m, lay, params, log, err);
    int hf = 0;
    LWM_TRY(is_hf_file(path, &hf, err));
    return hf ? import_hf(parent, path, NULL, m, lay, params, log, err)
              : import_lwm(path, m, lay, params, log, err);
}
