// The one parser and the one writer of safetensors files. The parser reads headers (vqgan
// weights and trainer exports): a little-endian
// u64 header length, a JSON object naming each tensor's dtype, shape and data_offsets, then the
// data. Every number is checked as an integer before any arithmetic: offsets and dimensions are
// integral, non-negative and below 2^53 (a double holds them exactly; no real file is larger),
// sums and products are overflow-checked, and each tensor's bytes lie inside the file without
// overlapping another's.
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

#define MAX_HEADER ((size_t)64 << 20)
#define EXACT_LIMIT 9007199254740992.0 // 2^53

// Tensor names come from the file: print at most 60 bytes, printable ASCII only.
static const char *printable(char out[64], const char *s)
{
    size_t i = 0;
    for (; s[i] && i < 60; i++) out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
    return out;
}

// A JSON number that is a non-negative integer below 2^53, else -1.
static int64_t exact_uint(const cJSON *v)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d < EXACT_LIMIT) || d != floor(d)) return -1;
    return (int64_t)d;
}

static int parse_entry(lwm_st_tensor *t, const cJSON *e, const lwm_st_header *h, const char *path,
                       lwm_error *err)
{
    char nm[64];
    const char *name = printable(nm, e->string);
    t->name = e->string;
    LWM_CHECK(err, cJSON_IsObject(e), LWM_EFORMAT, "%s: tensor %s: entry is not an object", path,
              name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    LWM_CHECK(err,
              cJSON_IsString(dtype) && cJSON_IsArray(shape) && cJSON_IsArray(offs) &&
                  cJSON_GetArraySize(offs) == 2,
              LWM_EFORMAT, "%s: tensor %s: header entry lacks dtype, shape or data_offsets", path,
              name);
    char dt[64];
    static const char *const dtypes[] = {"F32", "BF16", "F16"};
    t->dtype = -1;
    for (int i = 0; i < (h->allow_16bit ? 3 : 1); i++)
        if (strcmp(dtype->valuestring, dtypes[i]) == 0) t->dtype = i;
    LWM_CHECK(err, t->dtype >= 0, LWM_EUNSUPPORTED, "%s: tensor %s: dtype %s, only %s supported",
              path, name, printable(dt, dtype->valuestring),
              h->allow_16bit ? "F32, BF16 and F16 are" : "F32 is");
    const size_t width = t->dtype == LWM_ST_F32 ? 4 : 2;
    t->ndim = cJSON_GetArraySize(shape);
    LWM_CHECK(err, t->ndim <= LWM_ST_MAX_DIMS, LWM_EFORMAT, "%s: tensor %s: %d dimensions", path,
              name, t->ndim);
    size_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t n = exact_uint(cJSON_GetArrayItem(shape, d));
        LWM_CHECK(err, n >= 0, LWM_EFORMAT,
                  "%s: tensor %s: shape[%d] is not a non-negative integer below 2^53", path, name,
                  d);
        t->shape[d] = n;
        LWM_CHECK(err, !__builtin_mul_overflow(count, (size_t)n, &count), LWM_EFORMAT,
                  "%s: tensor %s: shape overflows", path, name);
    }
    size_t bytes;
    LWM_CHECK(err, !__builtin_mul_overflow(count, width, &bytes), LWM_EFORMAT,
              "%s: tensor %s: shape overflows", path, name);
    int64_t b = exact_uint(cJSON_GetArrayItem(offs, 0)),
            e2 = exact_uint(cJSON_GetArrayItem(offs, 1));
    LWM_CHECK(err, b >= 0 && e2 >= 0, LWM_EFORMAT,
              "%s: tensor %s: data_offsets are not non-negative integers below 2^53", path, name);
    LWM_CHECK(err, e2 >= b && (uint64_t)(e2 - b) == bytes, LWM_EFORMAT,
              "%s: tensor %s: data_offsets [%lld, %lld] do not hold %zu %s", path, name,
              (long long)b, (long long)e2, count, t->dtype == LWM_ST_F32 ? "floats" : "values");
    // data_start <= 8 + 64 MiB and e2 < 2^53: the sum cannot wrap.
    size_t end = h->data_start + (size_t)e2;
    LWM_CHECK(err, end <= h->file_size, LWM_EFORMAT,
              "%s: truncated: tensor %s needs bytes up to %zu, the file has %zu", path, name, end,
              h->file_size);
    t->offset = h->data_start + (size_t)b;
    t->count = count;
    t->bytes = bytes;
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const lwm_st_tensor *x = a, *y = b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const lwm_st_tensor *const *)a)->name,
                  (*(const lwm_st_tensor *const *)b)->name);
}

// Two tensors sharing bytes, or two entries with one name, are refused: a reader would see
// one tensor's data under another's name.
static int check_disjoint(lwm_st_header *h, const char *path, lwm_error *err)
{
    if (h->n < 2) return 0;
    lwm_st_tensor *sorted = lwm_malloc(h->mem, (size_t)h->n * sizeof *sorted);
    const lwm_st_tensor **names = lwm_malloc(h->mem, (size_t)h->n * sizeof *names);
    int rc = 0;
    if (!sorted || !names) {
        rc = lwm_error_set(err, -ENOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(sorted, h->tensors, (size_t)h->n * sizeof *sorted);
    qsort(sorted, (size_t)h->n, sizeof *sorted, by_offset);
    char a[64], b[64];
    const lwm_st_tensor *last = NULL; // the non-empty tensor ending furthest so far
    for (int i = 0; i < h->n && rc == 0; i++) {
        const lwm_st_tensor *t = &sorted[i];
        if (t->bytes == 0) continue; // holds no bytes, shares none
        if (last && t->offset < last->offset + last->bytes)
            rc = lwm_error_set(err, LWM_EFORMAT, "%s: tensors %s and %s overlap", path,
                               printable(a, last->name), printable(b, t->name));
        if (!last || t->offset + t->bytes > last->offset + last->bytes) last = t;
    }
    for (int i = 0; i < h->n; i++) names[i] = &h->tensors[i];
    qsort(names, (size_t)h->n, sizeof *names, by_name);
    for (int i = 1; i < h->n && rc == 0; i++)
        if (strcmp(names[i]->name, names[i - 1]->name) == 0)
            rc = lwm_error_set(err, LWM_EFORMAT, "%s: tensor %s appears twice", path,
                               printable(a, names[i]->name));
done:
    lwm_free(h->mem, sorted);
    lwm_free(h->mem, names);
    return rc;
}

static int parse_json(lwm_st_header *h, const char *json, size_t len, const char *path,
                      lwm_error *err)
{
    h->root = cJSON_ParseWithLength(json, len);
    LWM_CHECK(err, h->root && cJSON_IsObject(h->root), LWM_EFORMAT,
              "%s: not a safetensors file (header is not a JSON object)", path);
    int n = cJSON_GetArraySize(h->root);
    h->tensors = lwm_calloc(h->mem, (size_t)(n ? n : 1), sizeof *h->tensors);
    LWM_CHECK(err, h->tensors, -ENOMEM, "%s: out of memory", path);
    const cJSON *e;
    cJSON_ArrayForEach(e, h->root)
    {
        if (strcmp(e->string, "__metadata__") == 0) {
            LWM_CHECK(err, cJSON_IsObject(e) && !h->metadata, LWM_EFORMAT,
                      "%s: __metadata__ is not one object", path);
            h->metadata = e;
            continue;
        }
        LWM_TRY(parse_entry(&h->tensors[h->n], e, h, path, err));
        h->n++;
    }
    return check_disjoint(h, path, err);
}

int lwm_st_parse(lwm_st_header *h, const void *file, size_t size, const char *path,
                 const lwm_mem *mem, lwm_error *err)
{
    return lwm_st_parse_any(h, file, size, path, mem, 0, err);
}

int lwm_st_parse_any(lwm_st_header *h, const void *file, size_t size, const char *path,
                     const lwm_mem *mem, int allow_16bit, lwm_error *err)
{
    memset(h, 0, sizeof *h);
    h->mem = mem;
    h->allow_16bit = allow_16bit;
    h->file_size = size;
    LWM_CHECK(err, size >= 8, LWM_EFORMAT, "%s: truncated: %zu bytes, not a safetensors file", path,
              size);
    const unsigned char *p = file;
    uint64_t hlen = lwm_le_get64(p);
    LWM_CHECK(err, hlen <= MAX_HEADER && hlen <= size - 8, LWM_EFORMAT,
              "%s: truncated or not safetensors: header of %llu bytes, file of %zu", path,
              (unsigned long long)hlen, size);
    h->data_start = 8 + (size_t)hlen;
    int rc = parse_json(h, (const char *)p + 8, (size_t)hlen, path, err);
    if (rc < 0) lwm_st_release(h);
    return rc;
}

void lwm_st_release(lwm_st_header *h)
{
    cJSON_Delete(h->root);
    lwm_free(h->mem, h->tensors);
    const lwm_mem *mem = h->mem;
    memset(h, 0, sizeof *h);
    h->mem = mem;
}

const lwm_st_tensor *lwm_st_find(const lwm_st_header *h, const char *name)
{
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->tensors[i].name, name) == 0) return &h->tensors[i];
    return NULL;
}

int lwm_st_file_open(lwm_st_file *f, const char *path, const lwm_mem *mem, int allow_16bit,
                     lwm_error *err)
{
    memset(f, 0, sizeof *f);
    f->hdr.mem = mem;
    LWM_TRY(lwm_check_regular_file(path, err)); // before open, which blocks on a pipe
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    LWM_CHECK(err, fd >= 0, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (rc == 0 && st.st_size < 8)
        rc = lwm_error_set(err, LWM_EFORMAT, "%s: truncated: %lld bytes, not a safetensors file",
                           path, (long long)st.st_size);
    if (rc == 0) {
        f->size = (size_t)st.st_size;
        f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            rc = lwm_error_set(err, -errno, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    if (rc == 0) rc = lwm_st_parse_any(&f->hdr, f->map, f->size, path, mem, allow_16bit, err);
    if (rc < 0) lwm_st_file_close(f);
    return rc;
}

void lwm_st_file_close(lwm_st_file *f)
{
    if (f->map) munmap(f->map, f->size);
    f->map = NULL;
    lwm_st_release(&f->hdr);
}

// IEEE binary16: exponent bias 15 against binary32's 127; subnormals scaled exactly.
static float half_to_float(uint16_t x)
{
    uint32_t sign = (uint32_t)(x & 0x8000) << 16, e = (x >> 10) & 0x1f, m = x & 0x3ff, bits;
    if (e == 0) {
        float f = (float)m * 0x1p-24f; // exact: m < 2^10
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (e == 31) {
        bits = sign | 0x7f800000u | m << 13;
    } else {
        bits = sign | (e + 112) << 23 | m << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void lwm_st_to_float(float *out, const void *data, size_t count, int dtype)
{
    const unsigned char *p = data;
    if (dtype == LWM_ST_F32) {
        memcpy(out, data, count * 4);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        uint16_t x = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        if (dtype == LWM_ST_F16) {
            out[i] = half_to_float(x);
            continue;
        }
        uint32_t bits = (uint32_t)x << 16; // bfloat16 is the top half of a binary32
        memcpy(&out[i], &bits, 4);
    }
}

// ---------------------------------------------------------------- writer
// One streaming writer (vqgan weights, trainer weights and exports): the header first, then
// each tensor's data in entry order, into a temp file renamed into place on commit.

struct lwm_st_writer {
    lwm_atomic_file out;
    size_t expected, written; // bytes of data
};

static cJSON *header_json(const lwm_st_entry *entries, int n, const char *const *meta_kv,
                          size_t *data_bytes)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (meta_kv && meta_kv[0]) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; meta && meta_kv[i]; i += 2)
            cJSON_AddStringToObject(meta, meta_kv[i], meta_kv[i + 1]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, entries[i].name);
        if (!e) break;
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        size_t count = 1;
        for (int d = 0; d < entries[i].ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)entries[i].shape[d]));
            count *= (size_t)entries[i].shape[d];
        }
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += count * 4;
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    *data_bytes = off;
    return root;
}

int lwm_st_writer_begin(lwm_st_writer **out, const char *path, const lwm_st_entry *entries, int n,
                        const char *const *meta_kv, lwm_error *err)
{
    *out = NULL;
    lwm_st_writer *w = calloc(1, sizeof *w);
    if (!w) return lwm_error_set(err, -ENOMEM, "%s: out of memory", path);
    size_t data_bytes = 0;
    cJSON *root = header_json(entries, n, meta_kv, &data_bytes);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    int rc = 0;
    if (!text)
        rc = lwm_error_set(err, -ENOMEM, "%s: out of memory", path);
    else
        rc = lwm_atomic_open(&w->out, path, err);
    if (rc == 0) {
        // Pad the header with spaces so the data starts 8-byte aligned.
        size_t len = strlen(text), padded = (len + 7) / 8 * 8;
        uint8_t lenbuf[8];
        lwm_le_put64(lenbuf, padded);
        int ok = fwrite(lenbuf, 1, 8, w->out.f) == 8 && fwrite(text, 1, len, w->out.f) == len;
        for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', w->out.f) != EOF;
        if (!ok) rc = lwm_error_set(err, -EIO, "%s: write failed", w->out.tmp);
    }
    cJSON_free(text);
    w->expected = data_bytes;
    if (rc < 0) {
        lwm_st_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int lwm_st_writer_put(lwm_st_writer *w, const float *data, size_t count, lwm_error *err)
{
    LWM_CHECK(err, w->written + count * 4 <= w->expected, LWM_EINTERNAL,
              "%s: more data than the header declares", w->out.path);
    LWM_CHECK(err, fwrite(data, 4, count, w->out.f) == count, -EIO, "%s: write failed: %s",
              w->out.tmp, strerror(errno));
    w->written += count * 4;
    return 0;
}

int lwm_st_writer_commit(lwm_st_writer *w, lwm_error *err)
{
    int rc;
    if (w->written != w->expected) {
        rc = lwm_error_set(err, LWM_EINTERNAL, "%s: wrote %zu of %zu data bytes", w->out.path,
                           w->written, w->expected);
        lwm_atomic_abort(&w->out);
    } else {
        rc = lwm_atomic_commit(&w->out, err);
    }
    free(w);
    return rc;
}

void lwm_st_writer_abort(lwm_st_writer *w)
{
    if (!w) return;
    lwm_atomic_abort(&w->out);
    free(w);
}
