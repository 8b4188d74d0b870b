// What the trainer records and checks about weights at the edges of a run: the corpus's
// tokenizer (kept in the weights' metadata for `lwm export`), the pretrained weights of
// `--init` with the tokenizer's vocabulary checked against their embedding, and the metadata
// of each weights file written.
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "loader/loader.h"

void train_run_tokenizer(char *out, size_t cap, const char *config_path, const char *data_dir)
{
    out[0] = '\0';
    lwm_loader_run_config rc;
    lwm_error err = {0};
    if (!data_dir || lwm_loader_run_config_load(config_path, NULL, &rc, &err) < 0) return;
    lwm_free(NULL, rc.stages);
    const char *datasets[1] = {data_dir};
    // Best effort: when this fails the loader reports the same problem with its context.
    if (lwm_loader_tokenizer_resolve(datasets, 1, rc.tokenizer[0] ? rc.tokenizer : NULL,
                                     rc.force_tokenizer, out, cap, &err) < 0)
        out[0] = '\0';
}

static int check_vocab(const char *tokenizer, const char *init, int text_vocab, lwm_error *err)
{
    lwm_loader_tokenizer *t = NULL;
    LWM_TRY(lwm_loader_tokenizer_open(&t, tokenizer, err));
    int n = lwm_loader_tokenizer_vocab_size(t);
    lwm_loader_tokenizer_free(t);
    LWM_CHECK(err, n == text_vocab, LWM_EINVAL,
              "%s: the tokenizer has %d pieces but the embedding of %s has %d rows: the model was "
              "trained with another vocabulary",
              tokenizer, n, init, text_vocab);
    return 0;
}

int train_init_weights(const lwm_train_options *o, const train_config *cfg, const train_layout *lay,
                       float *params, const char *tokenizer, lwm_error *err)
{
    if (!o->init_path) return 0;
    LWM_CHECK(err, !o->resume, LWM_EINVAL,
              "--init starts a new run from %s; --resume continues one: give one of them",
              o->init_path);
    LWM_TRY(train_import(o->init_path, &cfg->model, lay, params, &o->log, err));
    if (tokenizer && tokenizer[0])
        LWM_TRY(check_vocab(tokenizer, o->init_path, cfg->model.text_vocab, err));
    return 0;
}

void train_weights_info_fill(train_weights_info *info, const train_config *cfg, int stage,
                             int64_t stage_step, const char *tokenizer)
{
    memset(info, 0, sizeof *info);
    info->model = cfg->model;
    // stage is the next step's: with none done in it, the weights were trained in the one before.
    if (stage > 0 && (stage_step == 0 || stage >= cfg->nstages)) stage--;
    if (stage >= cfg->nstages) stage = cfg->nstages - 1;
    info->rope_theta = cfg->stages[stage].rope_theta;
    info->seq_len = cfg->stages[stage].seq_len;
    snprintf(info->tokenizer, sizeof info->tokenizer, "%s", tokenizer ? tokenizer : "");
}
