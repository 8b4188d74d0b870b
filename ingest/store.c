// What the run does with each finished sample, in manifest order: report a
// failure, count, remember ids so that a second line with the same id fails,
// and, when building a dataset, store the sample (or its failure) and commit
// in batches.
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "shard/shard.h"
#include "vqgan/vqgan.h"

#define COMMIT_SECONDS 2.0

typedef struct seen_id {
    char *id;     // NULL = empty slot
    int64_t line; // where it was first seen
} seen_id;

static int open_vqgan(run_state *r)
{
    lwm_vqgan_options vo = {.max_batch = ENCODE_BATCH,
                            .log = r->opt->log,
                            .mem = r->opt->decode.mem,
                            .precision = r->opt->vqgan_precision};
    r->vqgan = lwm_vqgan_create(&vo);
    if (!r->vqgan) return lwm_error_set(r->err, -ENOMEM, "out of memory for the VQGAN");
    int rc = lwm_vqgan_load(r->vqgan, r->vqgan_path);
    if (rc < 0) return lwm_error_set(r->err, rc, "%s", lwm_vqgan_errmsg(r->vqgan));
    r->keep_frames = 1;
    return 0;
}

static int open_dataset(run_state *r)
{
    const lwm_ingest_run_options *opt = r->opt;
    char *settings = run_settings_json(r, r->vqgan ? lwm_vqgan_weights_hash(r->vqgan) : "", r->err);
    if (!settings) return r->err->code ? r->err->code : -ENOMEM;
    lwm_shard_writer_options wo = {.log = opt->log, .mem = opt->decode.mem};
    r->writer = lwm_shard_writer_create(&wo);
    int rc = r->writer ? lwm_shard_writer_open(r->writer, opt->out_dir) : -ENOMEM;
    if (rc < 0) {
        cJSON_free(settings);
        return lwm_error_set(r->err, rc, "%s",
                             r->writer ? lwm_shard_writer_errmsg(r->writer)
                                       : "out of memory for the store");
    }
    lwm_shard_info info = {
        .vqgan_hash = r->vqgan ? lwm_vqgan_weights_hash(r->vqgan) : "",
        .vqgan_preset = r->vqgan ? lwm_vqgan_config_of(r->vqgan)->name : "",
        .vqgan_untrained = r->vqgan ? lwm_vqgan_untrained(r->vqgan) : 0,
        .tokenizer_hash = "",
        .tokenizer_name = "",
        .settings_json = settings,
        .origin = {.source_lines = r->total_lines,
                   .part = opt->parts > 0 ? opt->part : 0,
                   .parts = opt->parts > 0 ? opt->parts : 0,
                   .first_line = r->first_line,
                   .end_line = r->end_line,
                   .complete = 0},
    };
    lwm_format(info.origin.source_xxh3, sizeof info.origin.source_xxh3, "%s", r->manifest_xxh3);
    rc = lwm_shard_writer_set_info(r->writer, &info);
    cJSON_free(settings);
    if (rc < 0) return lwm_error_set(r->err, rc, "%s", lwm_shard_writer_errmsg(r->writer));
    if (opt->tokenizer)
        lwm_log(&opt->log, LWM_LOG_INFO,
                "--tokenizer %s: recorded as the dataset's tokenizer; text "
                "is stored raw and tokenized by the loader",
                opt->tokenizer);
    r->last_commit = lwm_now();
    return 0;
}

int run_setup(run_state *r)
{
    r->keep_frames = 0;
    if (r->vqgan_path[0]) LWM_TRY(open_vqgan(r));
    if (r->opt->out_dir) LWM_TRY(open_dataset(r));
    return 0;
}

static int ids_grow(run_state *r)
{
    const lwm_mem *mem = &r->opt->decode.mem;
    size_t cap = r->ids_cap ? r->ids_cap * 2 : 1024;
    seen_id *t = lwm_calloc(mem, cap, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < r->ids_cap; i++) {
        if (!r->ids[i].id) continue;
        size_t h = lwm_hash64(r->ids[i].id, strlen(r->ids[i].id)) & (cap - 1);
        while (t[h].id) h = (h + 1) & (cap - 1);
        t[h] = r->ids[i];
    }
    lwm_free(mem, r->ids);
    r->ids = t;
    r->ids_cap = cap;
    return 0;
}

// Records id; returns 0 when new, else the line where it was first seen (> 0), or -ENOMEM.
static int64_t ids_add(run_state *r, const char *id, int64_t line)
{
    if ((r->ids_n + 1) * 2 > r->ids_cap && ids_grow(r) < 0) return -ENOMEM;
    size_t h = lwm_hash64(id, strlen(id)) & (r->ids_cap - 1);
    for (; r->ids[h].id; h = (h + 1) & (r->ids_cap - 1))
        if (!strcmp(r->ids[h].id, id)) return r->ids[h].line;
    r->ids[h].id = lwm_strdup(&r->opt->decode.mem, id);
    if (!r->ids[h].id) return -ENOMEM;
    r->ids[h].line = line;
    r->ids_n++;
    return 0;
}

// Resuming: a line that failed without an id of its own (it did not parse, or
// repeated an earlier id) was recorded as "line N"; it is not reported again.
static void skip_recorded_failure(run_state *r, job *j)
{
    char key[32];
    snprintf(key, sizeof key, "line %lld", (long long)j->line);
    if (r->writer && !r->opt->retry_failed && lwm_shard_writer_has(r->writer, key) == 2)
        j->skipped = j->failed_before = 1;
}

void run_check_new(run_state *r, job *j)
{
    if (j->rc < 0) { // the line did not parse
        skip_recorded_failure(r, j);
        return;
    }
    int64_t first = ids_add(r, j->sample.id, j->line);
    if (first < 0) {
        j->rc = lwm_error_set(&j->err, -ENOMEM, "out of memory");
        return;
    }
    if (first > 0) {
        j->rc = lwm_error_set(&j->err, LWM_EEXISTS, "duplicate id (first on manifest line %lld)",
                              (long long)first);
        skip_recorded_failure(r, j);
        return;
    }
    if (!r->writer) return;
    // Resuming: what a previous run stored (or recorded as failed) is not decoded again.
    int has = lwm_shard_writer_has(r->writer, j->sample.id);
    j->failed_before = has == 2 && !r->opt->retry_failed;
    if (has == 1 || j->failed_before)
        j->skipped = 1;
    else if (has < 0)
        j->rc = lwm_error_set(&j->err, has, "%s", lwm_shard_writer_errmsg(r->writer));
    else if (j->sample.media && !r->vqgan)
        j->rc = lwm_error_set(&j->err, LWM_EINVAL, "%s: no --vqgan given to encode its frames",
                              j->sample.media);
}

static int commit(run_state *r)
{
    int rc = lwm_shard_writer_commit(r->writer);
    if (rc < 0) return lwm_error_set(r->err, rc, "%s", lwm_shard_writer_errmsg(r->writer));
    r->pending = 0;
    r->last_commit = lwm_now();
    return 0;
}

// Records j's failure in the dataset. A duplicate's id belongs to the record
// stored from its first line, so the failure goes under "line N" instead.
static int store_failure(run_state *r, job *j)
{
    const char *id = j->rc == LWM_EEXISTS ? NULL : j->sample.id;
    int rc = lwm_shard_writer_fail(r->writer, id, j->line, j->err.msg);
    if (rc == LWM_EEXISTS) rc = lwm_shard_writer_fail(r->writer, NULL, j->line, j->err.msg);
    if (rc < 0) return lwm_error_set(r->err, rc, "%s", lwm_shard_writer_errmsg(r->writer));
    return 0;
}

static int modality_of(const job *j)
{
    switch (j->sample.kind) {
    case LWM_INGEST_VIDEO: return LWM_SHARD_VIDEO;
    case LWM_INGEST_IMAGE: return LWM_SHARD_IMAGE;
    case LWM_INGEST_CODES: return j->sample.n_codes == 256 ? LWM_SHARD_IMAGE : LWM_SHARD_VIDEO;
    default: return LWM_SHARD_TEXT;
    }
}

// Puts j as a record; a put that rejects the sample's content fails the sample.
static int store_sample(run_state *r, job *j)
{
    const lwm_ingest_sample *s = &j->sample;
    lwm_shard_text texts[s->n_texts > 0 ? s->n_texts : 1];
    for (int i = 0; i < s->n_texts; i++)
        texts[i] = (lwm_shard_text){.name = s->texts[i].name, .text = s->texts[i].text};
    int inline_codes = s->kind == LWM_INGEST_CODES;
    lwm_shard_sample rec = {
        .id = s->id,
        .modality = modality_of(j),
        .source = s->media ? s->media : "",
        .manifest_line = j->line,
        .fields = s->fields ? s->fields : "",
        .texts = texts,
        .n_texts = s->n_texts,
        .vision_name = inline_codes ? s->vision_name
                       : s->media   ? (s->vision_name ? s->vision_name : "vision")
                                    : "",
        .frames = inline_codes ? s->n_codes / 256 : j->frames,
        .codes = inline_codes ? s->codes : j->codes,
        .timestamps = inline_codes ? NULL : j->pts,
        .duration = j->info.duration,
        .fps = j->info.fps,
        .width = j->info.width,
        .height = j->info.height,
        .codec = j->info.codec,
        .source_bytes = j->info.file_bytes,
        .source_xxh3 = j->info.file_xxh3,
    };
    int64_t idx = lwm_shard_writer_put(r->writer, &rec);
    if (idx >= 0) return 1;
    if (idx == LWM_EINVAL || idx == LWM_EEXISTS) { // the sample's fault: record it, go on
        j->rc = lwm_error_set(&j->err, (int)idx, "%s", lwm_shard_writer_errmsg(r->writer));
        return 0;
    }
    return lwm_error_set(r->err, (int)idx, "%s", lwm_shard_writer_errmsg(r->writer));
}

void run_report_failure(run_state *r, job *j)
{
    r->res->failed++;
    if (j->sample.id)
        lwm_log(&r->opt->log, LWM_LOG_ERROR, "sample \"%s\" (manifest line %lld): %s", j->sample.id,
                (long long)j->line, j->err.msg);
    else // the line did not parse: the message names the line already
        lwm_log(&r->opt->log, LWM_LOG_ERROR, "%s", j->err.msg);
}

int run_handle(run_state *r, job *j)
{
    lwm_ingest_run_result *res = r->res;
    if (j->skipped) {
        res->skipped++;
        res->failed_before += j->failed_before;
        return 0;
    }
    if (j->rc == 0 && r->writer) {
        int rc = store_sample(r, j);
        if (rc < 0) return rc;
    }
    if (j->rc < 0) {
        run_report_failure(r, j);
        if (r->writer) LWM_TRY(store_failure(r, j));
    } else {
        res->ok++;
        res->frames += j->frames;
    }
    if (!r->writer) return 0;
    int64_t every = r->opt->commit_every > 0 ? r->opt->commit_every : 16;
    if (++r->pending >= every || lwm_now() - r->last_commit >= COMMIT_SECONDS) return commit(r);
    return 0;
}

int run_finish(run_state *r)
{
    if (!r->writer) return 0;
    int rc = lwm_shard_writer_close(r->writer);
    r->res->stored = lwm_shard_writer_count(r->writer);
    // Every line of the range handled (stored, failed or skipped as stored):
    // the part can be merged. A --strict stop leaves it unfinished.
    if (rc == 0 && r->eof && !r->halted && !r->res->interrupted)
        rc = lwm_shard_writer_set_complete(r->writer);
    if (rc < 0) return lwm_error_set(r->err, rc, "%s", lwm_shard_writer_errmsg(r->writer));
    return 0;
}

int job_add_frame(run_state *r, job *j, const lwm_frame *frame)
{
    const lwm_mem *mem = &r->opt->decode.mem;
    encode_buf *b = &j->buf[j->cur];
    if (lwm_grow(mem, (void **)&b->rgb, &b->cap, (size_t)b->n + 1, LWM_FRAME_BYTES) < 0 ||
        lwm_grow(mem, (void **)&j->pts, &j->frames_cap, (size_t)j->frames + 1, sizeof *j->pts) < 0)
        return j->rc = lwm_error_set(&j->err, -ENOMEM, "%s: out of memory holding %lld frames",
                                     j->sample.media, (long long)b->n + 1);
    memcpy(b->rgb + (size_t)b->n * LWM_FRAME_BYTES, frame->rgb, LWM_FRAME_BYTES);
    b->n++;
    j->pts[j->frames] = frame->pts;
    return 0;
}

void job_free(run_state *r, job *j)
{
    if (!j) return;
    const lwm_mem *mem = &r->opt->decode.mem;
    lwm_ingest_sample_release(&j->sample, mem);
    lwm_free(mem, j->buf[0].rgb);
    lwm_free(mem, j->buf[1].rgb);
    lwm_free(mem, j->pts);
    lwm_free(mem, j->codes);
    lwm_free(mem, j);
}

void run_release(run_state *r)
{
    lwm_shard_writer_free(r->writer); // without a close: as a crash leaves it, nothing lost
    lwm_vqgan_free(r->vqgan);
    run_release_dataset(r);
    for (size_t i = 0; i < r->ids_cap; i++) lwm_free(&r->opt->decode.mem, r->ids[i].id);
    lwm_free(&r->opt->decode.mem, r->ids);
}
