// Logging and throttled progress reports, both through caller-set callbacks.
#include <stdio.h>

#include "common.h"

void lwm_log(const lwm_logger *log, int level, const char *fmt, ...)
{
    if (!log || !log->fn || level > log->level) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log->fn(log->opaque, level, line);
}

void lwm_progress_start(lwm_progress *p, const char *task, const char *unit, int64_t total)
{
    if (!p) return;
    p->task = task;
    p->unit = unit;
    p->total = total;
    p->t_start = lwm_now();
    p->t_last = 0;
    p->done_before = 0;
}

void lwm_progress_resume(lwm_progress *p, int64_t done)
{
    if (p) p->done_before = done;
}

static void report(lwm_progress *p, double now, int64_t done, const char *detail, int final)
{
    lwm_progress_info info = {
        .task = p->task,
        .unit = p->unit,
        .done = done,
        .total = p->total,
        .elapsed = now - p->t_start,
        .detail = detail,
        .final = final,
        .eta = -1,
    };
    info.rate = info.elapsed > 0 ? (double)(done - p->done_before) / info.elapsed : 0;
    if (p->total > 0 && info.rate > 0 && done <= p->total)
        info.eta = (double)(p->total - done) / info.rate;
    p->t_last = now;
    p->fn(p->opaque, &info);
}

void lwm_progress_update(lwm_progress *p, int64_t done, const char *detail)
{
    if (!p || !p->fn) return;
    double now = lwm_now();
    double interval = p->interval > 0 ? p->interval : 0.5;
    if (p->t_last != 0 && now - p->t_last < interval) return;
    report(p, now, done, detail, 0);
}

void lwm_progress_finish(lwm_progress *p, int64_t done, const char *detail)
{
    if (!p || !p->fn) return;
    report(p, lwm_now(), done, detail, 1);
}
