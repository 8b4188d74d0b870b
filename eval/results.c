// lwm_eval_needle's driver and its outputs: cells, results.json, the heatmap pixels.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Distinct sorted lengths and depths of the samples, and the result's arrays.
static int make_cells(lwm_eval_needle_result *r, const eval_run *e, lwm_error *err)
{
    r->lengths = lwm_calloc(NULL, (size_t)e->n, sizeof *r->lengths);
    r->depths = lwm_calloc(NULL, (size_t)e->n, sizeof *r->depths);
    r->samples = lwm_calloc(NULL, (size_t)e->n, sizeof *r->samples);
    LWM_CHECK(err, r->lengths && r->depths && r->samples, -ENOMEM, "out of memory");
    for (int i = 0; i < e->n; i++) r->lengths[i] = e->s[i].r.length, r->depths[i] = e->s[i].r.depth;
    qsort(r->lengths, (size_t)e->n, sizeof *r->lengths, cmp_i64);
    qsort(r->depths, (size_t)e->n, sizeof *r->depths, cmp_f64);
    for (int i = 0; i < e->n; i++) {
        if (i == 0 || r->lengths[i] != r->lengths[r->n_lengths - 1])
            r->lengths[r->n_lengths++] = r->lengths[i];
        if (i == 0 || r->depths[i] != r->depths[r->n_depths - 1])
            r->depths[r->n_depths++] = r->depths[i];
    }
    size_t cells = (size_t)r->n_lengths * r->n_depths;
    r->correct = lwm_calloc(NULL, cells, sizeof *r->correct);
    r->total = lwm_calloc(NULL, cells, sizeof *r->total);
    LWM_CHECK(err, r->correct && r->total, -ENOMEM, "out of memory");
    return 0;
}

static int cell_of(const lwm_eval_needle_result *r, int64_t length, double depth)
{
    int li = 0, di = 0;
    while (r->lengths[li] != length) li++;
    while (r->depths[di] != depth) di++;
    return li * r->n_depths + di;
}

static void report(lwm_progress *p, const lwm_eval_needle_result *r, int done, int cells_done)
{
    char detail[96];
    snprintf(detail, sizeof detail, "cells %d/%d", cells_done, r->n_lengths * r->n_depths);
    if (done == r->n_samples)
        lwm_progress_finish(p, done, detail);
    else
        lwm_progress_update(p, done, detail);
}

static int run(eval_run *e, lwm_eval_needle_result *r, const lwm_eval_needle_options *o,
               lwm_progress *p, lwm_error *err)
{
    LWM_TRY(make_cells(r, e, err));
    r->n_samples = e->n;
    r->ranks = e->ranks;
    r->rope_theta = e->theta;
    if (p) lwm_progress_start(p, "eval needle", "samples", e->n);
    int cells_done = 0;
    double t0 = lwm_now();
    for (int i = 0; i < e->n; i++) {
        LWM_TRY(eval_one(e, &e->s[i], o->data_path, err));
        r->samples[i] = e->s[i].r;
        int c = cell_of(r, e->s[i].r.length, e->s[i].r.depth);
        r->total[c]++;
        r->correct[c] += e->s[i].r.correct;
        int last = i + 1 == e->n || cell_of(r, e->s[i + 1].r.length, e->s[i + 1].r.depth) != c;
        cells_done += last;
        if (p) report(p, r, i + 1, cells_done);
    }
    r->seconds = lwm_now() - t0;
    return 0;
}

int lwm_eval_needle(const lwm_eval_needle_options *o, MPI_Comm comm, lwm_eval_needle_result **out,
                    lwm_error *err)
{
    *out = NULL;
    eval_run e;
    memset(&e, 0, sizeof e);
    lwm_eval_needle_result *r = lwm_calloc(NULL, 1, sizeof *r);
    int rc = r ? eval_prepare(&e, o, comm, err) : lwm_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0) rc = run(&e, r, o, o->progress, err);
    lwm_loader_free(e.loader);
    lwm_train_model_free(e.model);
    lwm_free(NULL, e.row);
    lwm_free(NULL, e.s);
    if (rc < 0) {
        lwm_eval_needle_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void lwm_eval_needle_free(lwm_eval_needle_result *r)
{
    if (!r) return;
    void *b[] = {r->lengths, r->depths, r->correct, r->total, r->samples};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) lwm_free(NULL, b[i]);
    lwm_free(NULL, r);
}

cJSON *lwm_eval_needle_json(const lwm_eval_needle_result *r)
{
    cJSON *j = cJSON_CreateObject(), *cells = cJSON_AddArrayToObject(j, "cells");
    cJSON *samples = cJSON_AddArrayToObject(j, "samples");
    if (!cells || !samples) return cJSON_Delete(j), NULL;
    int correct = 0;
    for (int li = 0; li < r->n_lengths; li++)
        for (int di = 0; di < r->n_depths; di++) {
            int c = li * r->n_depths + di;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "length", (double)r->lengths[li]);
            cJSON_AddNumberToObject(x, "depth", r->depths[di]);
            cJSON_AddNumberToObject(x, "correct", r->correct[c]);
            cJSON_AddNumberToObject(x, "total", r->total[c]);
            if (r->total[c])
                cJSON_AddNumberToObject(x, "accuracy", (double)r->correct[c] / r->total[c]);
            else
                cJSON_AddNullToObject(x, "accuracy");
            cJSON_AddItemToArray(cells, x);
            correct += r->correct[c];
        }
    for (int i = 0; i < r->n_samples; i++) {
        const lwm_eval_needle_sample *s = &r->samples[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", s->id);
        cJSON_AddNumberToObject(x, "length", (double)s->length);
        cJSON_AddNumberToObject(x, "depth", s->depth);
        cJSON_AddStringToObject(x, "answer", s->answer);
        cJSON_AddStringToObject(x, "output", s->output);
        cJSON_AddBoolToObject(x, "correct", s->correct);
        cJSON_AddItemToArray(samples, x);
    }
    cJSON_AddNumberToObject(j, "accuracy", r->n_samples ? (double)correct / r->n_samples : 0);
    cJSON_AddNumberToObject(j, "correct", correct);
    cJSON_AddNumberToObject(j, "total", r->n_samples);
    cJSON_AddNumberToObject(j, "ranks", r->ranks);
    cJSON_AddNumberToObject(j, "rope_theta", r->rope_theta);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    return j;
}
