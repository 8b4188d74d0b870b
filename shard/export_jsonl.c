// A dataset out as LWM's own JSONL (`lwm export DATASET --format lwm-jsonl`): one object per
// sample in dense-index order, {"id", "fields": the stored spec, each text field as a string,
// the vision field as one flat list of codes}, the lines LWM's JAX trainer and our loader read.
// Streamed record by record into a temp file renamed into place at the end, so a corpus larger
// than memory exports and a failed export leaves no partial file under the name.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static cJSON *sample_line(const lwm_shard_sample *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "id", s->id)) goto fail;
    if (s->fields && s->fields[0]) { // stored as JSON text: a string or a list
        cJSON *spec = cJSON_Parse(s->fields);
        if (!spec) goto fail;
        cJSON_AddItemToObject(o, "fields", spec);
    }
    for (int i = 0; i < s->n_texts; i++)
        if (!cJSON_AddStringToObject(o, s->texts[i].name, s->texts[i].text)) goto fail;
    if (s->frames > 0 && s->vision_name && s->vision_name[0]) {
        cJSON *codes = cJSON_AddArrayToObject(o, s->vision_name);
        if (!codes) goto fail;
        for (int64_t i = 0; i < s->frames * LWM_SHARD_CODES_PER_FRAME; i++) {
            cJSON *c = cJSON_CreateNumber(s->codes[i]);
            if (!c) goto fail;
            cJSON_AddItemToArray(codes, c);
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

static int write_line(FILE *f, const lwm_shard_sample *s, const char *tmp, lwm_error *err)
{
    cJSON *o = sample_line(s);
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    LWM_CHECK(err, text, o ? -ENOMEM : LWM_EFORMAT,
              "sample %s: out of memory, or its fields spec is not JSON", s->id);
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    cJSON_free(text);
    LWM_CHECK(err, ok, -EIO, "%s: write failed: %s", tmp, strerror(errno));
    return 0;
}

int lwm_shard_export_jsonl(lwm_shard_reader *r, const char *out_path, lwm_progress *progress,
                           lwm_error *err)
{
    lwm_atomic_file out;
    LWM_TRY(lwm_atomic_open(&out, out_path, err));
    const int64_t n = lwm_shard_reader_count(r);
    if (progress) lwm_progress_start(progress, "export", "samples", n);
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        const lwm_shard_sample *s = NULL;
        rc = lwm_shard_get(r, i, &s);
        if (rc < 0)
            rc = lwm_error_set(err, rc, "%s", lwm_shard_reader_errmsg(r));
        else
            rc = write_line(out.f, s, out.tmp, err);
        if (progress && rc == 0) lwm_progress_update(progress, i + 1, NULL);
    }
    if (rc < 0) {
        lwm_atomic_abort(&out);
        return rc;
    }
    LWM_TRY(lwm_atomic_commit(&out, err));
    if (progress) lwm_progress_finish(progress, n, NULL);
    return 0;
}
