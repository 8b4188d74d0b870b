// What the run does with each finished sample, in manifest order: report a
// failure, count, and remember ids so that a second line with the same id fails.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct seen_id {
    char *id;      // NULL = empty slot
    int64_t line;  // where it was first seen
} seen_id;

int run_setup(run_state *r)
{
    r->keep_frames = 0;
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

void run_check_new(run_state *r, job *j)
{
    int64_t first = ids_add(r, j->sample.id, j->line);
    if (first < 0) j->rc = lwm_error_set(&j->err, -ENOMEM, "out of memory");
    else if (first > 0)
        j->rc = lwm_error_set(&j->err, LWM_EEXISTS, "duplicate id (first on manifest line %lld)",
                              (long long)first);
}

void run_decoded(run_state *r, job *j)
{
    (void)r;
    j->done = 1;
}

int run_handle(run_state *r, job *j)
{
    lwm_ingest_run_result *res = r->res;
    if (j->rc < 0) {
        res->failed++;
        if (j->sample.id)
            lwm_log(&r->opt->log, LWM_LOG_ERROR, "sample \"%s\" (manifest line %lld): %s",
                    j->sample.id, (long long)j->line, j->err.msg);
        else // the line did not parse: the message names the line already
            lwm_log(&r->opt->log, LWM_LOG_ERROR, "%s", j->err.msg);
        return 0;
    }
    if (j->skipped) {
        res->skipped++;
        return 0;
    }
    res->ok++;
    res->frames += j->frames;
    return 0;
}

int run_finish(run_state *r)
{
    (void)r;
    return 0;
}

int job_add_frame(run_state *r, job *j, const lwm_frame *frame)
{
    const lwm_mem *mem = &r->opt->decode.mem;
    size_t cap = j->frames_cap;
    if (lwm_grow(mem, (void **)&j->rgb, &cap, (size_t)j->frames + 1, LWM_FRAME_BYTES) < 0 ||
        lwm_grow(mem, (void **)&j->pts, &j->frames_cap, (size_t)j->frames + 1, sizeof *j->pts) < 0)
        return j->rc = lwm_error_set(&j->err, -ENOMEM, "%s: out of memory holding %lld frames",
                                     j->sample.media, (long long)j->frames + 1);
    memcpy(j->rgb + (size_t)j->frames * LWM_FRAME_BYTES, frame->rgb, LWM_FRAME_BYTES);
    j->pts[j->frames] = frame->pts;
    return 0;
}

void job_free(run_state *r, job *j)
{
    if (!j) return;
    const lwm_mem *mem = &r->opt->decode.mem;
    lwm_ingest_sample_release(&j->sample, mem);
    lwm_free(mem, j->rgb);
    lwm_free(mem, j->pts);
    lwm_free(mem, j);
}

void run_release(run_state *r)
{
    for (size_t i = 0; i < r->ids_cap; i++) lwm_free(&r->opt->decode.mem, r->ids[i].id);
    lwm_free(&r->opt->decode.mem, r->ids);
}
