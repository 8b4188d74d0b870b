// The data source over loader/loader.h: a corpus (store directory or LWM JSONL file) packed
// into rows, zigzag-sliced for this ring rank, with the curriculum of the same config. The
// loader and the trainer count stage steps with the same function (lwm_loader_stage_steps);
// a batch from another stage than the trainer's is an error.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "loader/loader.h"

typedef struct lsrc {
    lwm_loader_options opt;
    lwm_loader_stage stages[TRAIN_MAX_STAGES];
    const char *datasets[1];
    char data_dir[2048], tokenizer[2048], fields_spec[1024];
    lwm_loader *ld;
    lwm_loader_state state; // after the last batch handed out (or the restored one)
    int have_state;
    int stage; // the trainer's current stage
} lsrc;

// The "data" options of the config (tokenizer, fields_spec, layout), read as lwm pack
// --curriculum reads them, so that pack prints the rows this trainer trains on. Left out,
// tokenizer and fields_spec are the dataset's (lwm ingest --tokenizer, --fields; the loader
// resolves them), so a shipped config trains any ingested corpus unedited.
static int read_data_options(lsrc *s, const char *config_path, const lwm_mem *mem, lwm_error *err)
{
    lwm_loader_run_config rc;
    LWM_TRY(lwm_loader_run_config_load(config_path, mem, &rc, err));
    lwm_free(mem, rc.stages); // the trainer's own parse holds the same stages
    memcpy(s->tokenizer, rc.tokenizer, sizeof s->tokenizer);
    memcpy(s->fields_spec, rc.fields_spec, sizeof s->fields_spec);
    s->opt.tokenizer = s->tokenizer[0] ? s->tokenizer : NULL;
    s->opt.fields_spec = s->fields_spec[0] ? s->fields_spec : NULL;
    s->opt.layout = rc.layout;
    s->opt.force_tokenizer = rc.force_tokenizer;
    s->opt.drop_no_loss = rc.drop_no_loss;
    return 0;
}

static int open_loader(lsrc *s, lwm_error *err)
{
    int rc = lwm_loader_create(&s->ld, &s->opt, s->have_state ? &s->state : NULL, err);
    if (rc < 0) return lwm_error_prefix(err, "%s", s->data_dir);
    lwm_loader_info info;
    lwm_loader_get_info(s->ld, &info);
    const lwm_loader_stage *st = &s->stages[0];
    LWM_CHECK(err, info.tokens >= st->tokens_per_batch, LWM_EINVAL,
              "%s: the dataset holds %lld tokens, fewer than one batch (%lld tokens)", s->data_dir,
              (long long)info.tokens, (long long)st->tokens_per_batch);
    if (!s->have_state) s->state = lwm_loader_get_state(s->ld);
    return 0;
}

static int src_set_stage(void *ctx, int stage, const train_stage *st, int64_t c, lwm_error *err)
{
    lsrc *s = ctx;
    (void)st, (void)c;
    s->stage = stage;
    return s->ld ? 0 : open_loader(s, err);
}

static int src_next(void *ctx, train_batch *out, lwm_error *err)
{
    lsrc *s = ctx;
    lwm_loader_batch b;
    int rc = lwm_loader_next(s->ld, &b);
    if (rc == LWM_EOF) return rc;
    if (rc < 0) return lwm_error_set(err, rc, "%s", lwm_loader_errmsg(s->ld));
    LWM_CHECK(err, b.stage == s->stage, LWM_EINTERNAL,
              "%s: the loader is at stage %d, the trainer at stage %d", s->data_dir, b.stage,
              s->stage);
    s->state = b.state;
    *out = (train_batch){(int)b.rows,           b.len,
                         b.input_tokens,        b.target_tokens,
                         b.segment_ids,         b.positions,
                         b.loss_masks,          b.input_vision_masks,
                         b.target_vision_masks, (int)b.rows_no_loss};
    return 0;
}

static size_t src_state_size(void *ctx)
{
    (void)ctx;
    return LWM_LOADER_STATE_BYTES;
}

static int src_save(void *ctx, void *buf, size_t cap, lwm_error *err)
{
    lsrc *s = ctx;
    LWM_CHECK(err, cap >= LWM_LOADER_STATE_BYTES, LWM_EINTERNAL, "state buffer too small");
    lwm_loader_state_save(buf, &s->state);
    return 0;
}

static int src_restore(void *ctx, const void *buf, size_t size, lwm_error *err)
{
    lsrc *s = ctx;
    LWM_CHECK(err, size >= 12, LWM_EFORMAT,
              "checkpoint holds %zu bytes of loader state, expected %d (not a corpus run?)", size,
              LWM_LOADER_STATE_BYTES);
    LWM_CHECK(err, !s->ld, LWM_EINTERNAL, "loader state restored after the loader opened");
    if (lwm_loader_state_parse(&s->state, buf, size, err) < 0)
        return lwm_error_prefix(err, "checkpoint's loader state");
    s->have_state = 1;
    return 0;
}

static void src_free(void *ctx)
{
    lsrc *s = ctx;
    if (!s) return;
    lwm_loader_free(s->ld);
    lwm_mem mem = s->opt.mem;
    lwm_free(&mem, s);
}

int source_loader_create(train_source *src, const train_config *cfg, const char *config_path,
                         const char *data_dir, const train_ring *ring, const lwm_mem *mem,
                         lwm_error *err)
{
    lsrc *s = lwm_calloc(mem, 1, sizeof *s);
    LWM_CHECK(err, s, -ENOMEM, "out of memory");
    if (mem) s->opt.mem = *mem; // the loader allocates through the trainer's hook too
    int rc = lwm_format(s->data_dir, sizeof s->data_dir, "%s", data_dir);
    if (rc == 0) rc = read_data_options(s, config_path, mem, err);
    if (rc < 0) {
        lwm_free(mem, s);
        return rc < 0 && !err->msg[0] ? lwm_error_set(err, rc, "%s: path too long", data_dir) : rc;
    }
    for (int i = 0; i < cfg->nstages; i++) s->stages[i] = cfg->stages[i];
    s->datasets[0] = s->data_dir;
    s->opt.datasets = s->datasets;
    s->opt.n_datasets = 1;
    s->opt.stages = s->stages;
    s->opt.n_stages = cfg->nstages;
    s->opt.seed = cfg->seed;
    s->opt.dp_rank = ring->dp_rank, s->opt.dp_size = ring->dp_size;
    s->opt.sp_rank = ring->rank, s->opt.sp_size = ring->size;
    s->opt.ring_layout = LWM_RING_ZIGZAG;
    if (cfg->tokenizer) s->opt.tokenizer = cfg->tokenizer; // lwm train --tokenizer / --fields
    if (cfg->fields_spec) s->opt.fields_spec = cfg->fields_spec;
    *src =
        (train_source){s, src_set_stage, src_next, src_state_size, src_save, src_restore, src_free};
    return 0;
}
