// One JSONL manifest line → a checked sample: id, media path, text fields,
// LWM's `fields` spec (validated up front, lwm-format.md §3.1 and §9) and
// inline vision codes (LWM's pre-tokenized format).
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "internal.h"

#define MAX_ID 400
#define MAX_CODE 8191

typedef struct sample_store {
    cJSON *json;
    char *fields; // cJSON_PrintUnformatted of the spec
    char *media;  // resolved path
    char id[32];  // an integer id as text
    lwm_ingest_text *texts;
    uint16_t *codes;
} sample_store;

void lwm_ingest_sample_release(lwm_ingest_sample *s, const lwm_mem *mem)
{
    sample_store *st = s->internal_;
    if (st) {
        cJSON_Delete(st->json);
        cJSON_free(st->fields);
        lwm_free(mem, st->media);
        lwm_free(mem, st->texts);
        lwm_free(mem, st->codes);
        lwm_free(mem, st);
    }
    memset(s, 0, sizeof *s);
}

// "manifest line 12 (id "clip-3")" or "manifest line 12" before the id is known.
static int bad(lwm_ingest_sample *s, lwm_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(lwm_ingest_sample *s, lwm_error *err, int code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->id)
        return lwm_error_set(err, code, "manifest line %lld (id \"%.200s\"): %s",
                             (long long)s->line, s->id, msg);
    return lwm_error_set(err, code, "manifest line %lld: %s", (long long)s->line, msg);
}

static int parse_id(lwm_ingest_sample *s, sample_store *st, lwm_error *err)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(st->json, "id");
    if (!id || cJSON_IsNull(id)) return bad(s, err, LWM_ENOTFOUND, "no \"id\"");
    if (cJSON_IsNumber(id) && id->valuedouble == floor(id->valuedouble) &&
        fabs(id->valuedouble) < 9007199254740992.0) {
        snprintf(st->id, sizeof st->id, "%lld", (long long)id->valuedouble);
        s->id = st->id;
        return 0;
    }
    if (!cJSON_IsString(id))
        return bad(s, err, LWM_EINVAL, "\"id\" must be a string or an integer");
    size_t n = strlen(id->valuestring);
    if (n == 0) return bad(s, err, LWM_EINVAL, "\"id\" is empty");
    if (n > MAX_ID) return bad(s, err, LWM_EINVAL, "\"id\" is %zu bytes (limit %d)", n, MAX_ID);
    s->id = id->valuestring;
    return 0;
}

static int parse_media(lwm_ingest_sample *s, sample_store *st, const char *dir, const lwm_mem *mem,
                       lwm_error *err)
{
    const cJSON *video = cJSON_GetObjectItemCaseSensitive(st->json, "video");
    const cJSON *image = cJSON_GetObjectItemCaseSensitive(st->json, "image");
    if (video && image) return bad(s, err, LWM_EINVAL, "has both \"video\" and \"image\"");
    const cJSON *m = video ? video : image;
    if (!m) return 0;
    const char *key = video ? "video" : "image";
    if (!cJSON_IsString(m) || !m->valuestring[0])
        return bad(s, err, LWM_EINVAL, "\"%s\" must be a non-empty path", key);
    const char *path = m->valuestring;
    size_t cap = strlen(path) + (dir ? strlen(dir) : 0) + 2;
    st->media = lwm_malloc(mem, cap);
    if (!st->media) return bad(s, err, -ENOMEM, "out of memory");
    if (path[0] == '/' || !dir || !dir[0])
        lwm_format(st->media, cap, "%s", path);
    else
        lwm_path_join(st->media, cap, dir, path);
    s->media = st->media;
    s->kind = video ? LWM_INGEST_VIDEO : LWM_INGEST_IMAGE;
    return 0;
}

static const char *const reserved_keys[] = {"id", "video", "image", "fields", "vision"};

static int is_reserved(const char *key)
{
    return !strcmp(key, "id") || !strcmp(key, "video") || !strcmp(key, "image") ||
           !strcmp(key, "fields");
}

// 1 when a and b differ by one edit: a letter changed, added, dropped, or two neighbours swapped.
static int one_edit_apart(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na < nb) return one_edit_apart(b, a);
    if (na - nb > 1) return 0;
    size_t i = 0;
    while (i < nb && a[i] == b[i]) i++;
    if (i == nb) return na != nb; // b is a with one letter dropped at the end (or equal)
    if (na > nb) return !strcmp(a + i + 1, b + i);
    if (!strcmp(a + i + 1, b + i + 1)) return 1;
    return i + 1 < na && a[i] == b[i + 1] && a[i + 1] == b[i] && !strcmp(a + i + 2, b + i + 2);
}

// The reserved key that `key` looks like a typo of ("vidoe", "imgae", "Id"), or NULL. Short
// keys only match by case: "id" is one letter away from too many real words.
static const char *near_reserved(const char *key)
{
    if (strstr(key, "vision")) return NULL; // a vision key, e.g. "vision_1"
    for (size_t i = 0; i < sizeof reserved_keys / sizeof *reserved_keys; i++) {
        const char *r = reserved_keys[i];
        if (strcmp(key, r) && !strcasecmp(key, r)) return r;
        if (strlen(r) >= 5 && one_edit_apart(key, r)) return r;
    }
    return NULL;
}

// A text value that is the path of a media file next to the manifest: a mistyped
// "video"/"image" key would otherwise train on the file's name.
static int names_media_file(const char *value, const char *dir)
{
    static const char *const exts[] = {".mp4",  ".mkv",  ".mov",  ".avi", ".webm", ".m4v",
                                       ".mpg",  ".mpeg", ".ts",   ".gif", ".png",  ".jpg",
                                       ".jpeg", ".bmp",  ".webp", ".tif", ".tiff"};
    size_t n = strlen(value);
    if (n == 0 || n > 1024 || strchr(value, '\n')) return 0;
    const char *dot = strrchr(value, '.');
    int media = 0;
    for (size_t i = 0; dot && i < sizeof exts / sizeof *exts; i++)
        media |= !strcasecmp(dot, exts[i]);
    if (!media) return 0;
    char path[4096];
    if (value[0] == '/' || !dir || !dir[0])
        lwm_format(path, sizeof path, "%s", value);
    else if (lwm_path_join(path, sizeof path, dir, value) < 0)
        return 0;
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

// Inline codes under a key containing "vision" (LWM's own test, §3.1).
static int parse_codes(lwm_ingest_sample *s, sample_store *st, const cJSON *arr, const lwm_mem *mem,
                       lwm_error *err)
{
    if (s->codes)
        return bad(s, err, LWM_EINVAL, "two vision code lists (\"%s\", \"%s\")", s->vision_name,
                   arr->string);
    int64_t n = cJSON_GetArraySize(arr);
    if (n == 0 || n % 256)
        return bad(s, err, LWM_EINVAL, "\"%s\" holds %lld codes, not a positive multiple of 256",
                   arr->string, (long long)n);
    st->codes = lwm_malloc(mem, (size_t)n * sizeof *st->codes);
    if (!st->codes) return bad(s, err, -ENOMEM, "out of memory for %lld codes", (long long)n);
    int64_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        double v = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (v != floor(v) || v < 0 || v > MAX_CODE)
            return bad(s, err, LWM_EINVAL, "\"%s\"[%lld] is not a code in 0..%d", arr->string,
                       (long long)i, MAX_CODE);
        st->codes[i] = (uint16_t)v;
    }
    s->codes = st->codes;
    s->n_codes = n;
    s->vision_name = arr->string;
    return 0;
}

// 1 when one spec string ("[vision],caption+question") names key as a text key.
static int spec_names(const char *spec, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",+");
        const char *name = p;
        size_t n = len;
        if (n > 0 && name[0] == '[') name++, n--;
        if (n > 0 && name[n - 1] == ']') n--;
        if (n == klen && !memcmp(name, key, n)) return 1;
        p += len + (p[len] ? 1 : 0);
    }
    return 0;
}

// 1 when the line's own spec (a string or list) or, without one, the dataset's default names key.
static int named_text(const cJSON *line_spec, const char *default_spec, const char *key)
{
    if (cJSON_IsString(line_spec)) return spec_names(line_spec->valuestring, key);
    if (cJSON_IsArray(line_spec)) {
        for (const cJSON *e = line_spec->child; e; e = e->next)
            if (cJSON_IsString(e) && spec_names(e->valuestring, key)) return 1;
        return 0;
    }
    return default_spec && spec_names(default_spec, key);
}

static const char *json_type_name(const cJSON *v)
{
    return cJSON_IsNumber(v)  ? "a number"
           : cJSON_IsBool(v)  ? "a boolean"
           : cJSON_IsNull(v)  ? "null"
           : cJSON_IsArray(v) ? "a list"
                              : "an object";
}

// One key of the line that is not id/video/image/fields: inline codes, a text field, or a
// mistake. Text fields are the keys the fields spec names or, without a spec, every other key.
static int classify_key(lwm_ingest_sample *s, sample_store *st, const cJSON *f, int have_spec,
                        int named, const char *dir, const lwm_mem *mem, lwm_error *err)
{
    const char *key = f->string;
    if (cJSON_IsArray(f) && strstr(key, "vision")) return parse_codes(s, st, f, mem, err);
    const char *typo = named ? NULL : near_reserved(key);
    if (typo)
        return bad(s, err, LWM_EINVAL,
                   "key \"%s\" looks like a misspelt \"%s\": correct it (or, "
                   "if it is text, name it in a fields spec)",
                   key, typo);
    if (have_spec && !named) return 0; // not text the spec uses: kept out of the sample
    if (!cJSON_IsString(f))
        return bad(s, err, LWM_EINVAL, "text field \"%s\" is %s, not a string%s", key,
                   json_type_name(f),
                   have_spec ? ""
                             : " (keys other than id, video, image and "
                               "fields are text unless a fields spec says which are)");
    if (!have_spec && key[strcspn(key, ",+[]")])
        return bad(s, err, LWM_EINVAL,
                   "text field \"%s\": a name with ',', '+', '[' or ']' "
                   "cannot be used in a fields spec; rename it",
                   key);
    if (names_media_file(f->valuestring, dir))
        return bad(s, err, LWM_EINVAL,
                   "text field \"%s\" is the name of the media file \"%s\"; "
                   "a video or image goes under \"video\" or \"image\"",
                   key, f->valuestring);
    st->texts[s->n_texts].name = key;
    st->texts[s->n_texts++].text = f->valuestring;
    return 0;
}

static int parse_fields_of_line(lwm_ingest_sample *s, sample_store *st, const char *dir,
                                const char *default_spec, const lwm_mem *mem, lwm_error *err)
{
    int n = 0;
    for (const cJSON *f = st->json->child; f; f = f->next) n++;
    st->texts = lwm_calloc(mem, (size_t)n + 1, sizeof *st->texts);
    if (!st->texts) return bad(s, err, -ENOMEM, "out of memory");
    const cJSON *line_spec = cJSON_GetObjectItemCaseSensitive(st->json, "fields");
    if (cJSON_IsNull(line_spec)) line_spec = NULL;
    int have_spec = line_spec || default_spec;
    for (const cJSON *f = st->json->child; f; f = f->next) {
        if (is_reserved(f->string)) continue;
        int named = have_spec && named_text(line_spec, default_spec, f->string);
        LWM_TRY(classify_key(s, st, f, have_spec, named, dir, mem, err));
    }
    s->texts = st->texts;
    if (s->codes && s->media)
        return bad(s, err, LWM_EINVAL, "has both inline vision codes and a %s",
                   s->kind == LWM_INGEST_VIDEO ? "video" : "image");
    if (s->codes) s->kind = LWM_INGEST_CODES;
    return 0;
}

static const char *text_of(const lwm_ingest_sample *s, const char *name, size_t len)
{
    for (int i = 0; i < s->n_texts; i++)
        if (strlen(s->texts[i].name) == len && !memcmp(s->texts[i].name, name, len))
            return s->texts[i].text;
    return NULL;
}

// Checks one spec string "[vision],caption" against what the line holds.
static int check_spec(lwm_ingest_sample *s, const char *spec, lwm_error *err)
{
    for (const char *p = spec;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *name = p;
        if (len >= 2 && name[0] == '[' && name[len - 1] == ']') name++, len -= 2;
        if (len == 0) return bad(s, err, LWM_EINVAL, "fields \"%s\": an empty field", spec);
        int special = (len == 7 && (!memcmp(name, "<|bos|>", 7) || !memcmp(name, "<|eos|>", 7)));
        if (!special && memmem(name, len, "vision", 6)) {
            if (memchr(name, '+', len)) // LWM would look up one vision key "vision+question"
                return bad(s, err, LWM_EINVAL,
                           "fields \"%s\": \"%.*s\" joins a vision field with "
                           "text, which LWM reads as one vision key",
                           spec, (int)len, name);
            if (s->kind == LWM_INGEST_TEXT)
                return bad(s, err, LWM_EINVAL,
                           "fields \"%s\": \"%.*s\" needs a video, an image "
                           "or inline codes",
                           spec, (int)len, name);
            if (s->kind != LWM_INGEST_CODES && !s->vision_name) s->vision_name = "vision";
        } else if (!special) {
            for (const char *q = name; q < name + len;) { // a+b joins text keys
                const char *plus = memchr(q, '+', (size_t)(name + len - q));
                size_t klen = plus ? (size_t)(plus - q) : (size_t)(name + len - q);
                if (!text_of(s, q, klen))
                    return bad(s, err, LWM_EINVAL, "fields \"%s\": no text field \"%.*s\"", spec,
                               (int)klen, q);
                q += klen + (plus ? 1 : 0);
            }
        }
        if (!end) return 0;
        p = end + 1;
    }
}

static int parse_spec(lwm_ingest_sample *s, sample_store *st, const char *default_spec,
                      lwm_error *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(st->json, "fields");
    if (!f || cJSON_IsNull(f)) // the dataset's default applies: checked here, stored once
        return default_spec ? check_spec(s, default_spec, err) : 0;
    if (cJSON_IsString(f)) {
        LWM_TRY(check_spec(s, f->valuestring, err));
    } else if (cJSON_IsArray(f) && cJSON_GetArraySize(f) > 0) {
        for (const cJSON *e = f->child; e; e = e->next) {
            if (!cJSON_IsString(e))
                return bad(s, err, LWM_EINVAL, "\"fields\" list entries must be strings");
            LWM_TRY(check_spec(s, e->valuestring, err));
        }
    } else {
        return bad(s, err, LWM_EINVAL,
                   "\"fields\" must be a string or a non-empty list of strings");
    }
    st->fields = cJSON_PrintUnformatted(f);
    if (!st->fields) return bad(s, err, -ENOMEM, "out of memory");
    s->fields = st->fields;
    return 0;
}

// A NUL would cut an id or path short (two ids could collide); a repeated key would be read
// only once (which of two "vision" lists or "caption"s is the sample?).
static int check_keys(lwm_ingest_sample *s, const cJSON *obj, const char *text, size_t len,
                      lwm_error *err)
{
    if (lwm_json_text_has_nul(text, len))
        return bad(s, err, LWM_EINVAL,
                   "holds a NUL character (\\u0000), which ids, paths and "
                   "text cannot hold");
    const char *dup;
    int d = lwm_json_duplicate_key(obj, &dup);
    if (d < 0) return bad(s, err, d, "out of memory");
    if (d) return bad(s, err, LWM_EINVAL, "key \"%s\" appears twice", dup);
    return 0;
}

int lwm_ingest_sample_parse(lwm_ingest_sample *s, const char *text, size_t len, int64_t line,
                            const char *manifest_dir, const lwm_mem *mem, lwm_error *err)
{
    return lwm_ingest_sample_parse_spec(s, text, len, line, manifest_dir, NULL, mem, err);
}

int lwm_ingest_sample_parse_spec(lwm_ingest_sample *s, const char *text, size_t len, int64_t line,
                                 const char *manifest_dir, const char *default_spec,
                                 const lwm_mem *mem, lwm_error *err)
{
    memset(s, 0, sizeof *s);
    s->line = line;
    sample_store *st = lwm_calloc(mem, 1, sizeof *st);
    if (!st) return bad(s, err, -ENOMEM, "out of memory");
    s->internal_ = st;
    const char *end = NULL;
    st->json = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    int rc;
    while (end && end < text + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (st->json && end && end < text + len) {
        rc = bad(s, err, LWM_EFORMAT, "malformed JSON: trailing text at byte %lld",
                 (long long)(end - text));
        goto fail;
    }
    if (!st->json || !cJSON_IsObject(st->json)) {
        rc = st->json ? bad(s, err, LWM_EFORMAT, "not a JSON object")
                      : bad(s, err, LWM_EFORMAT, "malformed JSON near byte %lld",
                            (long long)(end ? end - text : 0));
        goto fail;
    }
    if ((rc = check_keys(s, st->json, text, len, err)) < 0) goto fail;
    if ((rc = parse_id(s, st, err)) < 0 || (rc = parse_media(s, st, manifest_dir, mem, err)) < 0 ||
        (rc = parse_fields_of_line(s, st, manifest_dir, default_spec, mem, err)) < 0 ||
        (rc = parse_spec(s, st, default_spec, err)) < 0)
        goto fail;
    return 0;
fail:
    lwm_ingest_sample_release(s, mem);
    return rc;
}
