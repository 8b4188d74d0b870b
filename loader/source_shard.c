// A dataset in the store (shard/): records by dense index, fields typed by
// the store (text fields, one vision field), token ids used as stored when the
// dataset was tokenized with the same tokenizer (checked by hash at open).
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "shard/shard.h"

typedef struct shard_source {
    lwm_mem mem;
    lwm_shard_reader *reader;
    const loader_build_opts *build;
    int use_tokens; /**< stored token ids come from our tokenizer */
    char *spec;     /**< the chosen spec of the last read */
    size_t spec_cap;
    char *fields_text; /**< the stored spec text last parsed, and its parse: */
    size_t fields_cap; /**< records of one dataset mostly share a spec */
    cJSON *fields;
    int8_t *memo;       /**< [count] chosen list entry per record; -1 = unknown */
    char *dataset_spec; /**< the dataset's default spec (lwm ingest --fields), or NULL */
} shard_source;

static void shard_close(void *impl)
{
    shard_source *s = impl;
    if (!s) return;
    lwm_shard_reader_free(s->reader);
    lwm_mem mem = s->mem;
    cJSON_Delete(s->fields);
    lwm_free(&mem, s->fields_text);
    lwm_free(&mem, s->memo);
    lwm_free(&mem, s->spec);
    lwm_free(&mem, s->dataset_spec);
    lwm_free(&mem, s);
}

static int keep_spec(shard_source *s, const char *spec, size_t len, lwm_error *err)
{
    if (len + 1 > s->spec_cap && lwm_grow(&s->mem, (void **)&s->spec, &s->spec_cap, len + 1, 1) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    memcpy(s->spec, spec, len);
    s->spec[len] = '\0';
    return 0;
}

// The spec of a record without one, when neither the caller nor the dataset gives one:
// its vision field without loss, then its text fields in manifest order with loss.
static int automatic_spec(shard_source *s, const lwm_shard_sample *smp, lwm_error *err)
{
    size_t len = 0;
    int vision = smp->frames > 0 && smp->vision_name && smp->vision_name[0];
    if (vision) len += strlen(smp->vision_name) + 3;
    for (int i = 0; i < smp->n_texts; i++) len += strlen(smp->texts[i].name) + 1;
    LWM_CHECK(err, len > 0, LWM_EINVAL, "no fields to train on (no text, no frames)");
    if (len + 1 > s->spec_cap && lwm_grow(&s->mem, (void **)&s->spec, &s->spec_cap, len + 1, 1) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    size_t at = 0;
    if (vision) at += (size_t)snprintf(s->spec, s->spec_cap, "[%s],", smp->vision_name);
    for (int i = 0; i < smp->n_texts; i++)
        at += (size_t)snprintf(s->spec + at, s->spec_cap - at, "%s,", smp->texts[i].name);
    s->spec[at - 1] = '\0'; // the last comma
    return 0;
}

// The stored spec is JSON text (a string or a list); "" = none: the caller's default spec,
// else the dataset's, else the automatic one.
static int choose_spec(shard_source *s, const lwm_shard_sample *smp, lwm_error *err)
{
    const char *spec;
    size_t len;
    if (!smp->fields || !smp->fields[0]) {
        if (!s->build->default_spec && !s->dataset_spec) return automatic_spec(s, smp, err);
        spec = s->build->default_spec ? s->build->default_spec : s->dataset_spec;
        return keep_spec(s, spec, strlen(spec), err);
    }
    if (!s->fields || strcmp(s->fields_text, smp->fields) != 0) {
        cJSON_Delete(s->fields);
        s->fields = NULL;
        size_t n = strlen(smp->fields) + 1;
        LWM_CHECK(err, lwm_grow(&s->mem, (void **)&s->fields_text, &s->fields_cap, n, 1) == 0,
                  -ENOMEM, "out of memory");
        memcpy(s->fields_text, smp->fields, n);
        s->fields = cJSON_Parse(smp->fields);
        LWM_CHECK(err, s->fields, LWM_EFORMAT, "fields spec is not JSON: %.80s", smp->fields);
    }
    LWM_TRY(loader_spec_choose_memo(s->fields, smp->index, s->build, s->memo, &spec, &len, err));
    return keep_spec(s, spec, len, err);
}

static int shard_read(void *impl, int64_t index, loader_record *rec, lwm_error *err)
{
    shard_source *s = impl;
    const lwm_shard_sample *smp = NULL;
    int rc = lwm_shard_get(s->reader, index, &smp);
    if (rc < 0) return lwm_error_set(err, rc, "%s", lwm_shard_reader_errmsg(s->reader));
    rc = choose_spec(s, smp, err);
    if (rc < 0) return lwm_error_prefix(err, "sample %s", smp->id);
    rec->id = smp->id;
    rec->spec = s->spec;
    rec->spec_len = strlen(s->spec);
    LWM_CHECK(err, smp->n_texts + 1 <= LOADER_MAX_FIELDS, LWM_EFORMAT, "sample %s: too many fields",
              smp->id);
    rec->n_fields = 0;
    for (int i = 0; i < smp->n_texts; i++) {
        const lwm_shard_text *t = &smp->texts[i];
        int tok = s->use_tokens && t->tokens;
        rec->field[rec->n_fields++] = (loader_field){t->name,
                                                     strlen(t->name),
                                                     0,
                                                     t->text,
                                                     strlen(t->text),
                                                     tok ? t->tokens : NULL,
                                                     tok ? (size_t)t->n_tokens : 0,
                                                     NULL,
                                                     0};
    }
    if (smp->frames > 0 && smp->vision_name && smp->vision_name[0])
        rec->field[rec->n_fields++] =
            (loader_field){smp->vision_name, strlen(smp->vision_name),     1, NULL, 0, NULL, 0,
                           smp->codes,       smp->frames * LWM_FRAME_CODES};
    return 0;
}

// Identity of the stored data: shard names, sizes, record counts and checksums.
static uint64_t data_identity(const lwm_shard_reader *r)
{
    int n = 0;
    const lwm_shard_file *f = lwm_shard_reader_files(r, &n);
    uint64_t h = (uint64_t)lwm_shard_reader_count(r);
    for (int i = 0; i < n; i++) {
        uint64_t part[3] = {(uint64_t)f[i].records, (uint64_t)f[i].file_bytes,
                            lwm_hash64(f[i].name, strlen(f[i].name))};
        h ^= lwm_hash64(part, sizeof part) + lwm_hash64(f[i].checksum, strlen(f[i].checksum)) +
             0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    }
    return h;
}

// The default spec the dataset records (settings "fields", from lwm ingest --fields).
static int read_dataset_spec(shard_source *s, const lwm_shard_info *info, lwm_error *err)
{
    cJSON *settings =
        info->settings_json && info->settings_json[0] ? cJSON_Parse(info->settings_json) : NULL;
    const char *spec = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(settings, "fields"));
    int failed = spec && !(s->dataset_spec = lwm_strdup(&s->mem, spec));
    cJSON_Delete(settings);
    LWM_CHECK(err, !failed, -ENOMEM, "out of memory");
    return 0;
}

int loader_source_shard_open(loader_source *src, const char *dir, const loader_build_opts *b,
                             const char *tokenizer_hash, const lwm_mem *mem, lwm_error *err)
{
    shard_source *s = lwm_calloc(mem, 1, sizeof *s);
    LWM_CHECK(err, s, -ENOMEM, "out of memory");
    s->mem = mem ? *mem : (lwm_mem){0};
    s->build = b;
    lwm_shard_reader_options ro = {.mem = s->mem};
    s->reader = lwm_shard_reader_create(&ro);
    int rc = s->reader ? lwm_shard_reader_open(s->reader, dir) : -ENOMEM;
    if (rc < 0) {
        lwm_error_set(err, rc, "%s",
                      s->reader ? lwm_shard_reader_errmsg(s->reader) : "out of memory");
        shard_close(s);
        return rc;
    }
    const lwm_shard_info *info = lwm_shard_reader_info(s->reader);
    const char *stored = info && info->tokenizer_hash ? info->tokenizer_hash : "";
    if (stored[0] && tokenizer_hash && strcmp(stored, tokenizer_hash) != 0) {
        rc = lwm_error_set(
            err, LWM_EINVAL,
            "%s: text was tokenized with tokenizer %s (%s), not with the given one (%s)", dir,
            stored, info->tokenizer_name ? info->tokenizer_name : "?", tokenizer_hash);
        shard_close(s);
        return rc;
    }
    s->use_tokens = stored[0] != '\0';
    if (read_dataset_spec(s, info, err) < 0) {
        shard_close(s);
        return lwm_error_prefix(err, "%s", dir);
    }
    int64_t count = lwm_shard_reader_count(s->reader);
    s->memo = lwm_malloc(&s->mem, (size_t)(count > 0 ? count : 1));
    if (!s->memo) {
        shard_close(s);
        return lwm_error_set(err, -ENOMEM, "out of memory");
    }
    memset(s->memo, 0xff, (size_t)(count > 0 ? count : 1));
    *src =
        (loader_source){s, dir, lwm_shard_reader_count(s->reader), shard_read, shard_close, 0, 1};
    src->identity = data_identity(s->reader);
    return 0;
}
