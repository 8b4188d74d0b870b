// cJSON field readers whose errors name the field and the object.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const cJSON *field(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

int lwm_json_get_string(const cJSON *obj, const char *key, int required, const char **out,
                        const char *what, lwm_error *err)
{
    const cJSON *v = field(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return lwm_error_set(err, LWM_ENOTFOUND, "%s: missing field \"%s\"", what, key);
        return 0;
    }
    LWM_CHECK(err, cJSON_IsString(v), LWM_EINVAL, "%s: field \"%s\" must be a string", what, key);
    *out = v->valuestring;
    return 1;
}

int lwm_json_get_double(const cJSON *obj, const char *key, int required, double *out,
                        const char *what, lwm_error *err)
{
    const cJSON *v = field(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return lwm_error_set(err, LWM_ENOTFOUND, "%s: missing field \"%s\"", what, key);
        return 0;
    }
    LWM_CHECK(err, cJSON_IsNumber(v) && isfinite(v->valuedouble), LWM_EINVAL,
              "%s: field \"%s\" must be a finite number", what, key);
    *out = v->valuedouble;
    return 1;
}

int lwm_json_get_int(const cJSON *obj, const char *key, int required, int64_t *out,
                     const char *what, lwm_error *err)
{
    double d = 0;
    int rc = lwm_json_get_double(obj, key, required, &d, what, err);
    if (rc <= 0) return rc;
    LWM_CHECK(err, d == floor(d), LWM_EINVAL, "%s: field \"%s\" must be an integer", what, key);
    // Beyond 2^53 a double no longer holds every integer: the file's digits may not be the value.
    LWM_CHECK(err, fabs(d) < 9007199254740992.0, LWM_EINVAL,
              "%s: field \"%s\" is %.17g, out of range (|value| < 2^53)", what, key, d);
    *out = (int64_t)d;
    return 1;
}

int lwm_json_load_file(const char *path, cJSON **out, lwm_error *err)
{
    char *text = NULL;
    size_t n = 0;
    *out = NULL;
    LWM_TRY(lwm_read_file(NULL, path, &text, &n, err));
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(text, &end, 1);
    if (!j) {
        size_t off = end ? (size_t)(end - text) : 0;
        lwm_free(NULL, text);
        return lwm_error_set(err, LWM_EFORMAT, "%s: invalid JSON near byte %zu", path, off);
    }
    lwm_free(NULL, text);
    *out = j;
    return 0;
}

int lwm_json_text_has_nul(const char *text, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\') continue;
        if (text[i + 1] == 'u' && i + 5 < len && !memcmp(text + i + 2, "0000", 4)) return 1;
        i++; // the escaped character: "\\u0000" is a backslash and "u0000"
    }
    return memchr(text, '\0', len) != NULL;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int lwm_json_duplicate_key(const cJSON *obj, const char **dup)
{
    *dup = NULL;
    size_t n = 0;
    for (const cJSON *c = obj ? obj->child : NULL; c; c = c->next) n++;
    if (n < 2) return 0;
    const char **keys = malloc(n * sizeof *keys);
    if (!keys) return -ENOMEM;
    n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) keys[n++] = c->string ? c->string : "";
    qsort(keys, n, sizeof *keys, by_key);
    for (size_t i = 1; i < n && !*dup; i++)
        if (strcmp(keys[i], keys[i - 1]) == 0) *dup = keys[i];
    free(keys);
    return *dup != NULL;
}
