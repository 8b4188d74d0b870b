// An LWM JSONL file as a dataset: one JSON object per line, a `fields` spec
// (string or list), text fields as strings and vision fields as lists of codes.
// Fields are typed by their JSON values (string = text, list of integers =
// vision), not by whether the name contains "vision". The whole file is
// parsed and its text tokenized when opened: this is the compatibility path
// for LWM's data; stores (shard/) are the fast one.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct jsonl_field {
    char *name;
    int is_vision;
    char *text;
    size_t text_len;
    int32_t *tokens;
    size_t n_tokens;
    uint16_t *codes;
    int64_t n_codes;
} jsonl_field;

typedef struct jsonl_rec {
    char *id;
    char *spec;
    int n_fields;
    jsonl_field *fields;
} jsonl_rec;

typedef struct jsonl_source {
    lwm_mem mem;
    jsonl_rec *recs;
    int64_t n;
    size_t cap;
} jsonl_source;

static void free_rec(const lwm_mem *mem, jsonl_rec *r)
{
    for (int i = 0; i < r->n_fields; i++) {
        jsonl_field *f = &r->fields[i];
        lwm_free(mem, f->name), lwm_free(mem, f->text), lwm_free(mem, f->tokens);
        lwm_free(mem, f->codes);
    }
    lwm_free(mem, r->fields), lwm_free(mem, r->id), lwm_free(mem, r->spec);
}

static void jsonl_close(void *impl)
{
    jsonl_source *s = impl;
    if (!s) return;
    for (int64_t i = 0; i < s->n; i++) free_rec(&s->mem, &s->recs[i]);
    lwm_free(&s->mem, s->recs);
    lwm_mem mem = s->mem;
    lwm_free(&mem, s);
}

static int jsonl_read(void *impl, int64_t index, loader_record *rec, lwm_error *err)
{
    jsonl_source *s = impl;
    LWM_CHECK(err, index >= 0 && index < s->n, LWM_EINVAL, "record %lld out of range",
              (long long)index);
    const jsonl_rec *r = &s->recs[index];
    rec->id = r->id;
    rec->spec = r->spec;
    rec->spec_len = strlen(r->spec);
    rec->n_fields = r->n_fields;
    for (int i = 0; i < r->n_fields; i++) {
        const jsonl_field *f = &r->fields[i];
        rec->field[i] =
            (loader_field){f->name,   strlen(f->name), f->is_vision, f->text,   f->text_len,
                           f->tokens, f->n_tokens,     f->codes,     f->n_codes};
    }
    return 0;
}

static int read_codes(jsonl_field *f, const cJSON *list, const lwm_mem *mem, lwm_error *err)
{
    int n = cJSON_GetArraySize(list);
    f->codes = lwm_malloc(mem, (size_t)(n ? n : 1) * sizeof *f->codes);
    LWM_CHECK(err, f->codes, -ENOMEM, "out of memory");
    int i = 0;
    for (const cJSON *c = list->child; c; c = c->next, i++) {
        LWM_CHECK(err,
                  cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble < 65536 &&
                      c->valuedouble == (double)(int)c->valuedouble,
                  LWM_EFORMAT, "field '%s': item %d is not a code", f->name, i);
        f->codes[i] = (uint16_t)c->valuedouble;
    }
    f->n_codes = n;
    return 0;
}

static int read_field(jsonl_field *f, const cJSON *item, const loader_build_opts *b,
                      const lwm_mem *mem, lwm_error *err)
{
    f->name = lwm_strdup(mem, item->string);
    LWM_CHECK(err, f->name, -ENOMEM, "out of memory");
    if (cJSON_IsArray(item)) {
        f->is_vision = 1;
        return read_codes(f, item, mem, err);
    }
    f->text_len = strlen(item->valuestring);
    LWM_CHECK(err, f->text_len <= LWM_MAX_TEXT_BYTES, LWM_EINVAL,
              "field '%s': %zu bytes of text, more than the %zu one document may tokenize", f->name,
              f->text_len, LWM_MAX_TEXT_BYTES);
    f->text = lwm_strdup(mem, item->valuestring);
    LWM_CHECK(err, f->text, -ENOMEM, "out of memory");
    size_t cap = 0;
    int rc = loader_spm_encode(b->spm, mem, f->text, f->text_len, &f->tokens, &f->n_tokens, &cap);
    LWM_CHECK(err, rc >= 0, rc, "field '%s': tokenizer failed", f->name);
    return 0;
}

static int read_line(jsonl_rec *r, const char *line, size_t len, int64_t index,
                     const loader_build_opts *b, const lwm_mem *mem, lwm_error *err)
{
    int rc = 0;
    cJSON *obj = cJSON_ParseWithLength(line, len);
    if (!obj || !cJSON_IsObject(obj)) {
        rc = lwm_error_set(err, LWM_EFORMAT, "not a JSON object");
        goto end;
    }
    const char *dup = NULL;
    if (lwm_json_text_has_nul(line, len)) {
        rc = lwm_error_set(err, LWM_EFORMAT, "holds a NUL character (\\u0000)");
        goto end;
    }
    if ((rc = lwm_json_duplicate_key(obj, &dup)) != 0) {
        rc = rc < 0 ? lwm_error_set(err, rc, "out of memory")
                    : lwm_error_set(err, LWM_EFORMAT, "key \"%s\" appears twice", dup);
        goto end;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "line %lld", (long long)index + 1);
    r->id = lwm_strdup(mem, cJSON_IsString(id) ? id->valuestring : idbuf);
    const char *spec;
    size_t spec_len;
    LWM_TRY_GOTO(rc,
                 loader_spec_choose(cJSON_GetObjectItemCaseSensitive(obj, "fields"), index, b,
                                    &spec, &spec_len, err),
                 end);
    r->spec = lwm_malloc(mem, spec_len + 1);
    int n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) n += cJSON_IsString(c) || cJSON_IsArray(c);
    r->fields = lwm_calloc(mem, (size_t)(n ? n : 1), sizeof *r->fields);
    if (!r->id || !r->spec || !r->fields) {
        rc = lwm_error_set(err, -ENOMEM, "out of memory");
        goto end;
    }
    memcpy(r->spec, spec, spec_len);
    r->spec[spec_len] = '\0';
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (strcmp(c->string, "fields") == 0 || (!cJSON_IsString(c) && !cJSON_IsArray(c))) continue;
        if (r->n_fields == LOADER_MAX_FIELDS) {
            rc = lwm_error_set(err, LWM_EFORMAT, "more than %d fields", LOADER_MAX_FIELDS);
            goto end;
        }
        LWM_TRY_GOTO(rc, read_field(&r->fields[r->n_fields++], c, b, mem, err), end);
    }
end:
    cJSON_Delete(obj);
    return rc;
}

int loader_source_jsonl_open(loader_source *src, const char *path, const loader_build_opts *b,
                             const lwm_mem *mem, lwm_error *err)
{
    char *data = NULL;
    size_t size = 0;
    LWM_TRY(lwm_read_file(mem, path, &data, &size, err));
    jsonl_source *s = lwm_calloc(mem, 1, sizeof *s);
    if (!s) {
        lwm_free(mem, data);
        return lwm_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    s->mem = mem ? *mem : (lwm_mem){0};
    int rc = 0;
    int64_t line_no = 0;
    for (char *line = data, *end; line < data + size; line = end + 1) {
        end = memchr(line, '\n', (size_t)(data + size - line));
        if (!end) end = data + size;
        line_no++;
        if (end == line) continue;
        if ((size_t)(end - line) > LWM_MAX_LINE_BYTES) {
            rc = lwm_error_set(err, LWM_EINVAL,
                               "line of %zu bytes, more than the %zu a line may have",
                               (size_t)(end - line), LWM_MAX_LINE_BYTES);
            break;
        }
        if ((size_t)s->n == s->cap && (rc = lwm_grow(mem, (void **)&s->recs, &s->cap,
                                                     (size_t)s->n + 1, sizeof *s->recs)) < 0) {
            lwm_error_set(err, rc, "out of memory");
            break;
        }
        memset(&s->recs[s->n], 0, sizeof s->recs[0]);
        rc = read_line(&s->recs[s->n], line, (size_t)(end - line), s->n, b, mem, err);
        s->n++;
        if (rc < 0) break;
    }
    lwm_free(mem, data);
    if (rc < 0) {
        jsonl_close(s);
        return lwm_error_prefix(err, "%s:%lld", path, (long long)line_no);
    }
    *src = (loader_source){s, path, s->n, jsonl_read, jsonl_close, 0, 0};
    return 0;
}
