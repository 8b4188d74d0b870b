// `lwm export RUN --format hf|lwm --out DIR`: a run's weights as a Hugging Face LLaMA
// checkpoint (config.json, model.safetensors with q/k rows back in rotate-half order, LWM's
// vision embedding and head as two extra tensors) or under the trainer's own names, with the
// corpus's tokenizer copied. Streams one tensor at a time from the mapped weights file.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

static int write_hf_config(const char *dir, const train_weights_info *info, lwm_error *err)
{
    const train_model_shape *m = &info->model;
    cJSON *c = cJSON_CreateObject();
    LWM_CHECK(err, c, -ENOMEM, "out of memory");
    cJSON_AddItemToObject(c, "architectures",
                          cJSON_CreateStringArray((const char *[]){"LlamaForCausalLM"}, 1));
    cJSON_AddStringToObject(c, "model_type", "llama");
    const struct {
        const char *key;
        double value;
    } f[] = {{"hidden_size", m->dim},
             {"intermediate_size", m->ffn_dim},
             {"num_hidden_layers", m->layers},
             {"num_attention_heads", m->heads},
             {"num_key_value_heads", m->heads},
             {"vocab_size", m->text_vocab},
             {"rms_norm_eps", m->norm_eps},
             {"rope_theta", info->rope_theta},
             {"max_position_embeddings", (double)info->seq_len},
             {"bos_token_id", 1},
             {"eos_token_id", 2},
             {"lwm_vision_vocab_size", m->vision_vocab}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        cJSON_AddNumberToObject(c, f[i].key, f[i].value);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddFalseToObject(c, "tie_word_embeddings");
    cJSON_AddStringToObject(c, "torch_dtype", "float32");
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    LWM_CHECK(err, text, -ENOMEM, "out of memory");
    char path[4200];
    int rc = lwm_path_join(path, sizeof path, dir, "config.json");
    if (rc == 0) rc = lwm_write_file_atomic(path, text, strlen(text), err);
    cJSON_free(text);
    return rc;
}

// What transformers needs to load tokenizer.model as LLaMA's SentencePiece tokenizer (LWM's
// special ids: <unk> 0, <s> 1, </s> 2; BOS added, as LWM's data pipeline does).
static const char TOKENIZER_CONFIG[] =
    "{\"tokenizer_class\": \"LlamaTokenizer\", \"unk_token\": \"<unk>\", \"bos_token\": \"<s>\",\n"
    " \"eos_token\": \"</s>\", \"add_bos_token\": true, \"add_eos_token\": false}\n";

static int copy_file(const char *from, const char *to, lwm_error *err)
{
    char *data = NULL;
    size_t size = 0;
    LWM_TRY(lwm_read_file(NULL, from, &data, &size, err));
    int rc = lwm_write_file_atomic(to, data, size, err);
    lwm_free(NULL, data);
    return rc;
}

// The run's weights and their metadata (a run directory or the weights file itself).
static int open_weights(train_st_map *f, train_weights_info *info, train_layout *lay,
                        const char *run, lwm_error *err)
{
    char path[4200];
    struct stat st;
    if (stat(run, &st) == 0 && S_ISDIR(st.st_mode))
        LWM_TRY(lwm_path_join(path, sizeof path, run, "weights.safetensors"));
    else
        LWM_TRY(lwm_format(path, sizeof path, "%s", run));
    LWM_TRY(train_st_map_open(f, path, err));
    LWM_TRY(train_weights_info_read(info, &f->st.hdr, path, err));
    LWM_CHECK(err, info->model.dim > 0, LWM_EFORMAT,
              "%s: no model metadata (not written by lwm train, or by a version before it "
              "recorded the model): continue the run one step to rewrite it",
              path);
    LWM_CHECK(err,
              info->model.heads > 0 && info->model.dim % info->model.heads == 0 &&
                  (info->model.dim / info->model.heads) % 2 == 0,
              LWM_EFORMAT, "%s: model metadata: dim %d does not split into %d heads of even width",
              path, info->model.dim, info->model.heads);
    LWM_TRY(train_layout_build(lay, &info->model, err));
    // Every tensor present with its shape before anything is sized from the metadata.
    for (int i = 0; i < lay->ntensors; i++) {
        const train_tensor *t = &lay->t[i];
        const lwm_st_tensor *s = lwm_st_find(&f->st.hdr, t->name);
        LWM_CHECK(err,
                  s && s->ndim == t->rank && s->shape[0] == t->shape[0] &&
                      (t->rank == 1 || s->shape[1] == t->shape[1]),
                  LWM_EFORMAT, "%s: tensor %s missing or not of the shape the metadata gives", path,
                  t->name);
    }
    return 0;
}

// Each tensor of the run in the Hugging Face layout, streamed through two scratch tensors.
static int write_hf_tensors(const char *out, const train_st_map *f, const train_layout *lay,
                            const train_weights_info *info, lwm_error *err)
{
    lwm_st_entry *e = calloc((size_t)lay->ntensors, sizeof *e);
    size_t most = 0;
    for (int i = 0; i < lay->ntensors; i++) most = lay->t[i].size > most ? lay->t[i].size : most;
    float *in = malloc(most * sizeof(float)), *hf = malloc(most * sizeof(float));
    int rc = e && in && hf ? 0 : lwm_error_set(err, -ENOMEM, "out of memory");
    hf_tensor h;
    for (int i = 0; rc == 0 && i < lay->ntensors; i++) {
        const train_tensor *t = &lay->t[i];
        hf_tensor_of(&h, lay, i);
        snprintf(e[i].name, sizeof e[i].name, "%s", h.name);
        e[i].ndim = t->rank;
        e[i].shape[0] = t->shape[h.transpose], e[i].shape[1] = t->shape[!h.transpose];
    }
    lwm_st_writer *w = NULL;
    const char *meta[] = {"format", "pt", NULL};
    if (rc == 0) rc = lwm_st_writer_begin(&w, out, e, lay->ntensors, meta, err);
    const int hd = info->model.dim / info->model.heads;
    for (int i = 0; rc == 0 && i < lay->ntensors; i++) {
        const train_tensor *t = &lay->t[i];
        hf_tensor_of(&h, lay, i);
        rc = train_st_tensor(in, f, t->name, t->shape, t->rank, err);
        if (rc == 0) hf_convert(hf, in, &h, e[i].shape[0], t->rank == 2 ? e[i].shape[1] : 1, hd, 0);
        if (rc == 0) rc = lwm_st_writer_put(w, hf, t->size, err);
    }
    if (rc == 0)
        rc = lwm_st_writer_commit(w, err);
    else
        lwm_st_writer_abort(w);
    free(e), free(in), free(hf);
    return rc;
}

// Today's names: the tensors read whole and written back with the same metadata.
static int write_lwm(const char *out, const train_st_map *f, const train_layout *lay,
                     const train_weights_info *info, lwm_error *err)
{
    float *p = malloc(lay->total * sizeof(float));
    LWM_CHECK(err, p, -ENOMEM, "out of memory for %zu parameters", lay->total);
    int rc = 0;
    for (int i = 0; rc == 0 && i < lay->ntensors; i++)
        rc = train_st_tensor(p + lay->t[i].offset, f, lay->t[i].name, lay->t[i].shape,
                             lay->t[i].rank, err);
    if (rc == 0) rc = safetensors_write(out, lay, p, info, err);
    free(p);
    return rc;
}

int lwm_train_export(const char *run, const char *format, const char *out_dir,
                     const lwm_logger *log, lwm_error *err)
{
    int hf = strcmp(format, "hf") == 0;
    LWM_CHECK(err, hf || strcmp(format, "lwm") == 0, LWM_EINVAL,
              "format %.40s: weights export as hf or lwm", format);
    train_st_map f;
    train_weights_info info;
    static train_layout lay; // 37 KB: kept off the stack
    int rc = open_weights(&f, &info, &lay, run, err);
    char path[4200];
    if (rc == 0) rc = lwm_mkdirs(out_dir, err);
    if (rc == 0)
        rc = lwm_path_join(path, sizeof path, out_dir,
                           hf ? "model.safetensors" : "weights.safetensors");
    if (rc == 0)
        rc = hf ? write_hf_tensors(path, &f, &lay, &info, err)
                : write_lwm(path, &f, &lay, &info, err);
    if (rc == 0 && hf) rc = write_hf_config(out_dir, &info, err);
    if (rc == 0 && info.tokenizer[0]) {
        rc = lwm_path_join(path, sizeof path, out_dir, "tokenizer.model");
        if (rc == 0) rc = copy_file(info.tokenizer, path, err);
        if (rc < 0) lwm_error_prefix(err, "copying the run's tokenizer");
        if (rc == 0 && hf) rc = lwm_path_join(path, sizeof path, out_dir, "tokenizer_config.json");
        if (rc == 0 && hf)
            rc = lwm_write_file_atomic(path, TOKENIZER_CONFIG, strlen(TOKENIZER_CONFIG), err);
    } else if (rc == 0) {
        lwm_log(log, LWM_LOG_WARN, "%s: the run records no tokenizer (synthetic data): none copied",
                run);
    }
    train_st_map_close(&f);
    if (rc == 0)
        lwm_log(log, LWM_LOG_INFO, "exported %d tensors of %s to %s (%s layout)", lay.ntensors, run,
                out_dir, hf ? "Hugging Face LLaMA" : "lwm");
    return rc;
}
