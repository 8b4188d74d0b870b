// The training run: rank layout, curriculum walk, one optimizer step (gradient accumulation,
// one all-reduce, clipping, AdamW), NaN skips, checkpoints and the step log.
//
// Ranks. The world splits into rings (the config's "ring" ranks each; a row's tokens are
// spread over a ring in the zigzag layout) and data-parallel groups across them (each ring
// takes its own rows of a step). Every rank holds all the weights and the AdamW state;
// gradients are summed over the whole world, so after the all-reduce every rank applies the
// same update to the same weights and no rank ever sends weights.
//
// Lockstep. Every rank runs the same sequence of collective operations in the same order:
// the same number of rows per step (check_stages), the same stage walk, the same NaN-skip
// decision (made from all-reduced numbers). A rank that decided anything alone would
// deadlock the others in their next collective, so nothing here branches on local data
// except rank 0's file writes.
//
// State. `st` (ckpt_state) is everything a resume needs besides the weights, the AdamW
// moments and the data source's own state: step, stage, step within the stage, tokens and
// the NaN-skip streak. A resumed run continues bit for bit because all four are restored
// and the data source (loader/) replays from its state, whatever the number of ranks.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

struct lwm_train {
    lwm_train_options opts;
    char out_dir[2048], log_path[2100], ckpt_path[2100], weights_path[2100];
    char tokenizer[2048]; // the corpus's, recorded in the weights' metadata ("" = none)
    train_config cfg;
    train_ring ring;
    train_model *model;
    train_source src;
    ckpt_state st;
    int64_t total_steps; // steps of the whole curriculum (learning-rate schedule)
    int prepared_stage;  // stage whose buffers are sized; -1 = none
    int restore_pending; // source state read from the checkpoint, not yet applied
    void *src_state;
    size_t src_state_cap;
    FILE *log;
    char progress_detail[128]; // the last step's, kept for the final progress line
};

// Refuses a curriculum this rank layout cannot run before any work: each stage's rows must
// split evenly over the data-parallel ranks (synthetic sources load rows_per_load at a
// time), and its seq_len over 2 x ring size (the zigzag layout gives each ring rank two
// equal chunks). Every rank checks the same config, so all refuse together.
static int check_stages(const train_config *cfg, const train_ring *r, lwm_error *err)
{
    for (int i = 0; i < cfg->nstages; i++) {
        const train_stage *s = &cfg->stages[i];
        int64_t rows = s->tokens_per_batch / s->seq_len, per = (int64_t)r->dp_size;
        if (strcmp(cfg->data_kind, "loader") != 0) per *= cfg->rows_per_load; // synthetic loads
        LWM_CHECK(err, r->size == 1 || s->seq_len % (2 * r->size) == 0, LWM_EINVAL,
                  "stage %d: seq_len %lld is not divisible by 2 x %d ring ranks (zigzag layout)", i,
                  (long long)s->seq_len, r->size);
        LWM_CHECK(err, rows % per == 0, LWM_EINVAL,
                  "stage %d: %lld rows per step do not split over %d data-parallel ranks x %lld "
                  "rows per load",
                  i, (long long)rows, r->dp_size, (long long)cfg->rows_per_load);
    }
    return 0;
}

// ------------------------------------------------------------------ create / free

// Rank 0 checks (and with overwrite clears) the run directory; every rank returns its verdict.
// One rank decides because the ranks may share the directory (one file system) and two
// ranks clearing it at once would race; broadcasting the verdict and message lets every
// rank exit with the same status instead of some waiting in the next collective.
static int prepare_run_dir(lwm_train *t, lwm_error *err)
{
    int rc = 0;
    if (t->ring.world_rank == 0) {
        rc = run_dir_prepare(t->out_dir, t->opts.resume, t->opts.overwrite, err);
        if (rc == 0) rc = run_dir_make(t->out_dir, err);
    }
    if (!t->ring.use_mpi || t->ring.world_size == 1) return rc;
    int sent[2] = {rc, rc < 0 ? err->code : 0};
    LWM_TRY(train_mpi_check(MPI_Bcast(sent, 2, MPI_INT, 0, t->ring.world),
                            "MPI_Bcast run directory", err));
    LWM_TRY(train_mpi_check(MPI_Bcast(err->msg, (int)sizeof err->msg, MPI_CHAR, 0, t->ring.world),
                            "MPI_Bcast run directory", err));
    err->code = sent[1];
    return sent[0];
}

static int open_outputs(lwm_train *t, lwm_error *err)
{
    const char *dir = t->opts.out_dir ? t->opts.out_dir : "run";
    LWM_TRY(lwm_format(t->out_dir, sizeof t->out_dir, "%s", dir));
    LWM_TRY(lwm_path_join(t->log_path, sizeof t->log_path, dir, "log.jsonl"));
    LWM_TRY(lwm_path_join(t->ckpt_path, sizeof t->ckpt_path, dir, "checkpoint.bin"));
    LWM_TRY(lwm_path_join(t->weights_path, sizeof t->weights_path, dir, "weights.safetensors"));
    LWM_TRY(prepare_run_dir(t, err));
    if (t->ring.world_rank != 0) return 0;
    t->log = fopen(t->log_path, t->opts.resume ? "a" : "w");
    LWM_CHECK(err, t->log, -errno, "%s: cannot open: %s", t->log_path, strerror(errno));
    return 0;
}

// Reads RUN/checkpoint.bin into the weights, moments and st. The data source's state is
// only kept here: it is applied in prepare_stage, once the source is sized for the
// checkpoint's stage (the loader must open at the restored stage, not stage 0).
static int restore(lwm_train *t, lwm_error *err)
{
    train_model *m = t->model;
    t->src_state_cap = 1 << 20;
    t->src_state = lwm_malloc(&t->opts.mem, t->src_state_cap);
    LWM_CHECK(err, t->src_state, -ENOMEM, "out of memory");
    LWM_TRY(ckpt_read(t->ckpt_path, &t->opts.mem, &t->st, t->src_state, t->src_state_cap, &m->lay,
                      m->params, m->adam_m, m->adam_v, err));
    LWM_CHECK(err, t->st.stage >= 0 && t->st.stage <= t->cfg.nstages, LWM_EINVAL,
              "%s: stage %d outside the config's %d stages", t->ckpt_path, t->st.stage,
              t->cfg.nstages);
    t->restore_pending = 1;
    lwm_log(&t->opts.log, LWM_LOG_INFO, "resumed %s at step %lld, stage %d", t->ckpt_path,
            (long long)t->st.step, t->st.stage);
    return 0;
}

static int create_source(lwm_train *t, lwm_error *err)
{
    if (strcmp(t->cfg.data_kind, "loader") != 0)
        return source_synthetic_create(&t->src, &t->cfg, &t->ring, &t->opts.mem, err);
    return source_loader_create(&t->src, &t->cfg, t->opts.config_path, t->opts.data_dir, &t->ring,
                                &t->opts.mem, err);
}

// The order matters: the ring layout before anything sized by it (stage checks, the model's
// local length), the run directory before any file is written, the seeded init before
// --init overwrites what it brings (vision rows keep the seeded values), the checkpoint
// last (it overwrites both).
int lwm_train_create(lwm_train **out, const lwm_train_options *opts, MPI_Comm comm, lwm_error *err)
{
    *out = NULL;
    LWM_CHECK(err, opts->config_path && opts->data_dir, LWM_EINVAL,
              "a config and a data directory are required");
    lwm_train *t = lwm_calloc(&opts->mem, 1, sizeof *t);
    LWM_CHECK(err, t, -ENOMEM, "out of memory");
    t->opts = *opts;
    t->prepared_stage = -1;
    train_ring_reset(&t->ring);
    int rc;
    LWM_TRY_GOTO(rc, train_config_parse(&t->cfg, opts->config_path, err), fail);
    t->cfg.tokenizer = opts->tokenizer;
    t->cfg.fields_spec = opts->fields_spec;
    LWM_TRY_GOTO(rc, train_ring_init(&t->ring, t->cfg.ring, comm, &t->opts.mem, err), fail);
    LWM_TRY_GOTO(rc, check_stages(&t->cfg, &t->ring, err), fail);
    for (int i = 0; i < t->cfg.nstages; i++)
        t->total_steps += lwm_loader_stage_steps(&t->cfg.stages[i]);
    LWM_TRY_GOTO(rc, open_outputs(t, err), fail);
    int64_t c0 = t->cfg.stages[0].seq_len / t->ring.size;
    LWM_TRY_GOTO(
        rc,
        model_create(&t->model, &t->cfg, &t->ring, c0, omp_get_max_threads(), &t->opts.mem, err),
        fail);
    model_init_params(t->model, t->cfg.seed);
    if (strcmp(t->cfg.data_kind, "loader") == 0)
        train_run_tokenizer(t->tokenizer, sizeof t->tokenizer, opts->config_path, opts->data_dir);
    LWM_TRY_GOTO(
        rc, train_init_weights(opts, &t->cfg, &t->model->lay, t->model->params, t->tokenizer, err),
        fail);
    const train_model_shape *ms = &t->cfg.model;
    int32_t shape[6] = {ms->dim,     ms->layers,     ms->heads,
                        ms->ffn_dim, ms->text_vocab, ms->vision_vocab};
    memcpy(t->st.shape, shape, sizeof shape);
    LWM_TRY_GOTO(rc, create_source(t, err), fail);
    if (opts->resume) {
        LWM_TRY_GOTO(rc, restore(t, err), fail);
    } else if (opts->export_init && t->ring.world_rank == 0) {
        train_weights_info info;
        train_weights_info_fill(&info, &t->cfg, 0, 0, t->tokenizer);
        LWM_TRY_GOTO(
            rc, safetensors_write(opts->export_init, &t->model->lay, t->model->params, &info, err),
            fail);
    }
    *out = t;
    return 0;
fail:
    lwm_train_free(t);
    return rc;
}

void lwm_train_free(lwm_train *t)
{
    if (!t) return;
    if (t->src.free) t->src.free(t->src.ctx);
    model_free(t->model);
    if (t->log) fclose(t->log);
    lwm_mem mem = t->opts.mem;
    lwm_free(&mem, t->src_state);
    train_ring_free(&t->ring);
    lwm_free(&mem, t);
}

// ------------------------------------------------------------------ checkpoints and log

// Rank 0 writes: the weights and moments are the same on every rank (see Ranks above). The
// checkpoint goes to checkpoints/step-N.bin, the weights beside it, then run_dir_publish
// swaps the latest link and drops checkpoints beyond keep_checkpoints, so a crash at any
// point leaves a complete checkpoint named.
static int save_checkpoint(lwm_train *t, lwm_error *err)
{
    if (t->ring.world_rank != 0) return 0;
    // The data source's state is the same on every rank (it counts rows of the whole run).
    size_t n = t->src.state_size(t->src.ctx);
    char buf[4096];
    LWM_CHECK(err, n <= sizeof buf, LWM_EINTERNAL, "data source state of %zu bytes", n);
    LWM_TRY(t->src.save(t->src.ctx, buf, sizeof buf, err));
    t->st.source_state_size = n;
    train_model *m = t->model;
    char path[2200];
    LWM_TRY(run_dir_checkpoint_path(path, sizeof path, t->out_dir, t->st.step));
    LWM_TRY(ckpt_write(path, &t->st, buf, &m->lay, m->params, m->adam_m, m->adam_v, err));
    train_weights_info info;
    train_weights_info_fill(&info, &t->cfg, t->st.stage, t->st.stage_step, t->tokenizer);
    LWM_TRY(safetensors_write(t->weights_path, &m->lay, m->params, &info, err));
    return run_dir_publish(t->out_dir, t->st.step, t->cfg.keep_checkpoints, err);
}

cJSON *lwm_train_step_json(const lwm_train_step *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "step", (double)s->step);
    cJSON_AddNumberToObject(o, "stage", s->stage);
    cJSON_AddNumberToObject(o, "seq_len", (double)s->seq_len);
    cJSON_AddNumberToObject(o, "loss", s->loss);
    cJSON_AddNumberToObject(o, "text_loss", s->text_loss);
    cJSON_AddNumberToObject(o, "vision_loss", s->vision_loss);
    cJSON_AddNumberToObject(o, "grad_norm", s->grad_norm);
    cJSON_AddNumberToObject(o, "lr", s->lr);
    cJSON_AddNumberToObject(o, "tokens_per_s", s->tokens_per_s);
    cJSON_AddNumberToObject(o, "peak_memory", (double)s->peak_memory);
    cJSON_AddNumberToObject(o, "tokens", (double)s->tokens);
    cJSON_AddBoolToObject(o, "skipped", s->skipped);
    cJSON_AddNumberToObject(o, "grad_slices", s->grad_slices);
    cJSON_AddNumberToObject(o, "grad_slices_early", s->grad_slices_early);
    cJSON_AddNumberToObject(o, "grad_wait_s", s->grad_wait_s);
    cJSON_AddNumberToObject(o, "grad_wait_min_s", s->grad_wait_min_s);
    cJSON_AddNumberToObject(o, "grad_wait_max_s", s->grad_wait_max_s);
    cJSON_AddNumberToObject(o, "rows_no_loss", (double)s->rows_no_loss);
    return o;
}

static void log_step(lwm_train *t, const lwm_train_step *s)
{
    if (t->ring.world_rank != 0) return;
    cJSON *o = lwm_train_step_json(s);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    if (text && t->log) {
        fputs(text, t->log);
        fputc('\n', t->log);
        fflush(t->log);
    }
    cJSON_free(text);
    cJSON_Delete(o);
    if (s->skipped)
        lwm_log(&t->opts.log, LWM_LOG_WARN,
                "step %lld: loss %g / grad norm %g not finite: update skipped", (long long)s->step,
                s->loss, s->grad_norm);
    if (t->opts.on_step) t->opts.on_step(t->opts.on_step_opaque, s);
    if (t->opts.progress) {
        snprintf(t->progress_detail, sizeof t->progress_detail,
                 "stage %d, seq %lld, loss %.4f, %.0f tokens/s", s->stage, (long long)s->seq_len,
                 s->loss, s->tokens_per_s);
        lwm_progress_update(t->opts.progress, s->step, t->progress_detail);
    }
}

// ------------------------------------------------------------------ one step

static int allreduce_sum(const train_ring *r, void *buf, int n, MPI_Datatype type, const char *what,
                         lwm_error *err)
{
    if (!r->use_mpi || r->world_size == 1) return 0;
    return train_mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf, n, type, MPI_SUM, r->world), what, err);
}

// Forward and backward of this rank's rows of one step, gradients summed into m->grads.
// Each row's loss is scaled by 1/rows (rows of the whole step, all ranks), so the world's
// sum is the step's mean. Only the last row's backward hands slices to the reduction as
// they become final: earlier rows would still add to them.
static int accumulate(lwm_train *t, double sums[3], grad_sync *sync, const train_stage *s,
                      lwm_error *err)
{
    train_model *m = t->model;
    const int64_t rows = s->tokens_per_batch / s->seq_len, mine = rows / t->ring.dp_size;
    for (int64_t done = 0; done < mine;) {
        train_batch bt;
        int rc = t->src.next(t->src.ctx, &bt, err);
        if (rc == LWM_EOF)
            return lwm_error_set(
                err, LWM_EINVAL,
                "%s: the dataset ran out before one batch of %lld rows x %lld tokens",
                t->opts.data_dir, (long long)rows, (long long)s->seq_len);
        LWM_TRY(rc);
        LWM_CHECK(err, bt.len == m->c && bt.rows > 0 && done + bt.rows <= mine, LWM_EINTERNAL,
                  "data source gave %d x %lld tokens, expected up to %lld x %lld", bt.rows,
                  (long long)bt.len, (long long)(mine - done), (long long)m->c);
        done += bt.rows;
        sums[2] +=
            (double)bt.rows_no_loss / t->ring.size; // each ring rank counts its rows' whole rows
        for (int b = 0; b < bt.rows; b++) {
            if (done == mine && b == bt.rows - 1 && sync->comm != MPI_COMM_NULL)
                model_set_sync(m, sync); // the step's last row: reduce slices as they are final
            row_loss rl;
            LWM_TRY(model_row_step(m, &rl, &bt, b, s->rope_theta, 1.0 / (double)rows, err));
            sums[0] += rl.text;
            sums[1] += rl.vision;
        }
    }
    return 0;
}

// One optimizer step. A step whose loss or gradient norm is not finite is skipped (no
// update, the counters still advance, so the data moves on); max_nan_skips in a row stops
// the run. Both numbers are all-reduced first, so every rank skips the same steps.
static int one_step(lwm_train *t, const train_stage *s, lwm_error *err)
{
    train_model *m = t->model;
    double t0 = lwm_now(), sums[3] = {0, 0, 0};
    memset(m->grads, 0, m->lay.total * sizeof(float));
    grad_sync sync;
    grad_sync_begin(&sync, t->ring.comm ? t->ring.world : MPI_COMM_NULL, t->ring.comm);
    int rc = accumulate(t, sums, &sync, s, err);
    model_set_sync(m, NULL);
    if (rc < 0 && t->ring.comm) train_comm_forget(t->ring.comm); // sync dies with this frame
    LWM_TRY(rc);
    LWM_TRY(grad_sync_finish(&sync, err));
    LWM_TRY(allreduce_sum(&t->ring, sums, 3, MPI_DOUBLE, "loss all-reduce", err));
    lwm_train_step rec = {0};
    rec.grad_slices = sync.posted;
    rec.grad_slices_early = sync.early;
    rec.grad_wait_s = sync.wait_s;
    LWM_TRY(grad_wait_spread(&sync, &rec.grad_wait_min_s, &rec.grad_wait_max_s, err));
    rec.text_loss = sums[0];
    rec.vision_loss = sums[1];
    rec.rows_no_loss = (int64_t)(sums[2] + 0.5);
    rec.loss = 0.5 * (sums[0] + sums[1]);
    rec.grad_norm = grad_global_norm(m->grads, m->lay.total);
    rec.lr = lr_at(&t->cfg, t->st.step, t->total_steps);
    rec.skipped = !isfinite(rec.loss) || !isfinite(rec.grad_norm);
    if (rec.skipped) {
        t->st.nan_skips++;
    } else {
        t->st.nan_skips = 0;
        if (t->cfg.grad_clip > 0 && rec.grad_norm > t->cfg.grad_clip)
            grad_scale(m->grads, m->lay.total, (float)(t->cfg.grad_clip / rec.grad_norm));
        adamw_params ap = {rec.lr,          t->cfg.beta1,        t->cfg.beta2,
                           t->cfg.adam_eps, t->cfg.weight_decay, t->st.step + 1};
        adamw_update(m->params, m->grads, m->adam_m, m->adam_v, &m->lay, &ap);
    }
    t->st.step++;
    t->st.stage_step++;
    t->st.tokens += s->tokens_per_batch;
    int64_t peak = lwm_peak_rss();
    if (t->ring.use_mpi && t->ring.world_size > 1)
        LWM_TRY(train_mpi_check(
            MPI_Allreduce(MPI_IN_PLACE, &peak, 1, MPI_INT64_T, MPI_MAX, t->ring.world),
            "MPI_Allreduce peak memory", err));
    rec.step = t->st.step;
    rec.stage = t->st.stage;
    rec.seq_len = s->seq_len;
    rec.tokens = t->st.tokens;
    rec.peak_memory = peak;
    rec.tokens_per_s = (double)s->tokens_per_batch / (lwm_now() - t0);
    log_step(t, &rec);
    LWM_CHECK(err, t->st.nan_skips < t->cfg.max_nan_skips, LWM_ENUMERIC,
              "loss or gradient not finite for %d consecutive steps (last at step %lld): stopping",
              t->st.nan_skips, (long long)t->st.step);
    return 0;
}

// ------------------------------------------------------------------ the run

// Sizes the model for the current stage's local length and moves the data source to it
// (restoring its state first after a resume). A no-op within a stage.
static int prepare_stage(lwm_train *t, lwm_error *err)
{
    if (t->prepared_stage == t->st.stage) return 0;
    const train_stage *s = &t->cfg.stages[t->st.stage];
    int64_t c = s->seq_len / t->ring.size;
    if (c != t->model->c) LWM_TRY(model_set_len(t->model, c, err));
    if (t->restore_pending) { // before set_stage: the loader opens at the restored state
        LWM_TRY(t->src.restore(t->src.ctx, t->src_state, t->st.source_state_size, err));
        t->restore_pending = 0;
    }
    LWM_TRY(t->src.set_stage(t->src.ctx, t->st.stage, s, c, err));
    t->prepared_stage = t->st.stage;
    lwm_log(&t->opts.log, LWM_LOG_INFO,
            "stage %d: seq_len %lld, rope theta %g, %lld tokens per batch, %lld steps", t->st.stage,
            (long long)s->seq_len, s->rope_theta, (long long)s->tokens_per_batch,
            (long long)lwm_loader_stage_steps(s));
    return 0;
}

// Walks the curriculum from st to the end, or to max_steps counted over the whole run
// (resumed steps included), checkpointing every checkpoint_every steps and at the end.
int lwm_train_run(lwm_train *t, lwm_error *err)
{
    int64_t limit = t->opts.max_steps > 0 && t->opts.max_steps < t->total_steps ? t->opts.max_steps
                                                                                : t->total_steps;
    if (t->opts.progress && t->ring.world_rank == 0) {
        lwm_progress_start(t->opts.progress, "train", "steps", limit);
        lwm_progress_resume(t->opts.progress, t->st.step);
    }
    while (t->st.stage < t->cfg.nstages && t->st.step < limit) {
        const train_stage *s = &t->cfg.stages[t->st.stage];
        if (t->st.stage_step >= lwm_loader_stage_steps(s)) {
            t->st.stage++;
            t->st.stage_step = 0;
            continue;
        }
        LWM_TRY(prepare_stage(t, err));
        LWM_TRY(one_step(t, s, err));
        if (t->cfg.checkpoint_every > 0 && t->st.step % t->cfg.checkpoint_every == 0)
            LWM_TRY(save_checkpoint(t, err));
    }
    LWM_TRY(save_checkpoint(t, err));
    if (t->opts.progress && t->ring.world_rank == 0)
        lwm_progress_finish(t->opts.progress, t->st.step,
                            t->progress_detail[0] ? t->progress_detail : NULL);
    return 0;
}

int lwm_train_predict_bytes(int64_t *bytes, const char *config_path, int64_t seq_len, int ring,
                            int threads, lwm_error *err)
{
    train_config cfg;
    LWM_TRY(train_config_parse(&cfg, config_path, err));
    train_sizes s;
    train_sizes_compute(&s, &cfg.model, seq_len / (ring > 0 ? ring : 1), ring, cfg.attn_tile,
                        cfg.chunk, threads);
    *bytes = (int64_t)s.total_bytes;
    return 0;
}
