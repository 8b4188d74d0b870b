// Weights alone as safetensors, under the trainer's names (README.md, "Weights"), kernels
// stored [in, out]. The __metadata__ records what a reader cannot infer from the shapes (heads,
// norm epsilon, the RoPE theta and sequence length last trained at, the corpus's tokenizer), so
// that `lwm export` and `lwm train --init` need nothing but the file.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int safetensors_write(const char *path, const train_layout *lay, const float *params,
                      const train_weights_info *info, lwm_error *err)
{
    lwm_st_entry *e = calloc((size_t)lay->ntensors, sizeof *e);
    LWM_CHECK(err, e, -ENOMEM, "out of memory");
    for (int i = 0; i < lay->ntensors; i++) {
        snprintf(e[i].name, sizeof e[i].name, "%s", lay->t[i].name);
        e[i].ndim = lay->t[i].rank;
        e[i].shape[0] = lay->t[i].shape[0];
        e[i].shape[1] = lay->t[i].shape[1];
    }
    char model[512] = "", theta[40] = "", seq[40] = "";
    const char *meta[16] = {"format", "lwm-train", "layout", "kernels are [in, out]: y = x W"};
    if (info) {
        const train_model_shape *m = &info->model;
        snprintf(
            model, sizeof model,
            "{\"dim\": %d, \"layers\": %d, \"heads\": %d, \"ffn_dim\": %d, \"text_vocab\": %d, "
            "\"vision_vocab\": %d, \"norm_eps\": %.17g}",
            m->dim, m->layers, m->heads, m->ffn_dim, m->text_vocab, m->vision_vocab, m->norm_eps);
        snprintf(theta, sizeof theta, "%.17g", info->rope_theta);
        snprintf(seq, sizeof seq, "%lld", (long long)info->seq_len);
        const char *more[] = {"model",   model, "rope_theta", theta,
                              "seq_len", seq,   "tokenizer",  info->tokenizer};
        memcpy(meta + 4, more, sizeof more);
    }
    lwm_st_writer *w = NULL;
    int rc = lwm_st_writer_begin(&w, path, e, lay->ntensors, meta, err);
    free(e);
    for (int i = 0; rc == 0 && i < lay->ntensors; i++)
        rc = lwm_st_writer_put(w, params + lay->t[i].offset, lay->t[i].size, err);
    if (rc == 0) return lwm_st_writer_commit(w, err);
    lwm_st_writer_abort(w);
    return rc;
}

int train_check_finite(const float *x, size_t n, const char *path, const char *tensor,
                       lwm_error *err)
{
    for (size_t i = 0; i < n; i++)
        LWM_CHECK(err, isfinite(x[i]), LWM_ENUMERIC, "%s: tensor %s: element %zu is %g", path,
                  tensor, i, (double)x[i]);
    return 0;
}

int safetensors_read(const char *path, const train_layout *lay, float *params, lwm_error *err)
{
    char *data = NULL;
    size_t size = 0;
    LWM_TRY(lwm_read_file(NULL, path, &data, &size, err));
    lwm_st_header hdr;
    int rc = lwm_st_parse(&hdr, data, size, path, NULL, err);
    for (int i = 0; rc == 0 && i < lay->ntensors; i++) {
        const train_tensor *t = &lay->t[i];
        const lwm_st_tensor *s = lwm_st_find(&hdr, t->name);
        if (!s || s->ndim != t->rank) {
            rc = lwm_error_set(err, LWM_ENOTFOUND, "%s: tensor %s missing or not of rank %d", path,
                               t->name, t->rank);
            break;
        }
        for (int r = 0; rc == 0 && r < t->rank; r++)
            if (s->shape[r] != t->shape[r])
                rc = lwm_error_set(err, LWM_EINVAL,
                                   "%s: tensor %s has dimension %d = %lld, model needs %lld", path,
                                   t->name, r, (long long)s->shape[r], (long long)t->shape[r]);
        if (rc == 0) memcpy(params + t->offset, data + s->offset, t->size * sizeof(float));
        if (rc == 0) rc = train_check_finite(params + t->offset, t->size, path, t->name, err);
    }
    lwm_st_release(&hdr);
    lwm_free(NULL, data);
    return rc;
}

static int model_field(int *out, const cJSON *o, const char *key, const char *what, lwm_error *err)
{
    int64_t v = 0;
    LWM_TRY(lwm_json_get_int(o, key, 1, &v, what, err));
    LWM_CHECK(err, v > 0 && v < (1 << 30), LWM_EFORMAT, "%s: field %s is %lld", what, key,
              (long long)v);
    *out = (int)v;
    return 0;
}

// Missing metadata (a file from before it was recorded, or another tool's) leaves info zeroed
// and returns 0: the caller decides whether it needs it.
int train_weights_info_read(train_weights_info *info, const lwm_st_header *h, const char *path,
                            lwm_error *err)
{
    memset(info, 0, sizeof *info);
    const cJSON *md = h->metadata;
    const cJSON *model = md ? cJSON_GetObjectItemCaseSensitive(md, "model") : NULL;
    if (!cJSON_IsString(model)) return 0;
    char what[2200];
    snprintf(what, sizeof what, "%s: __metadata__ model", path);
    cJSON *o = cJSON_Parse(model->valuestring);
    int rc = o ? 0 : lwm_error_set(err, LWM_EFORMAT, "%s: not a JSON object", what);
    train_model_shape *m = &info->model;
    const char *keys[] = {"dim", "layers", "heads", "ffn_dim", "text_vocab", "vision_vocab"};
    int *vals[] = {&m->dim, &m->layers, &m->heads, &m->ffn_dim, &m->text_vocab, &m->vision_vocab};
    for (int i = 0; rc == 0 && i < 6; i++) rc = model_field(vals[i], o, keys[i], what, err);
    if (rc == 0) rc = lwm_json_get_double(o, "norm_eps", 1, &m->norm_eps, what, err);
    cJSON_Delete(o);
    if (rc < 0) return rc;
    const cJSON *theta = cJSON_GetObjectItemCaseSensitive(md, "rope_theta");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(md, "seq_len");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(md, "tokenizer");
    if (cJSON_IsString(theta)) info->rope_theta = strtod(theta->valuestring, NULL);
    if (cJSON_IsString(seq)) info->seq_len = strtoll(seq->valuestring, NULL, 10);
    if (cJSON_IsString(tok))
        snprintf(info->tokenizer, sizeof info->tokenizer, "%s", tok->valuestring);
    return 0;
}
