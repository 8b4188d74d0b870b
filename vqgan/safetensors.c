// safetensors files: a little-endian u64 header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the raw data. We map the file
// and point tensors into the mapping (no copy); the writer streams.
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAX_HEADER (64u << 20)

static int parse_entry(vq_tensor *t, const cJSON *e, const char *path, size_t data_start,
                       size_t file_size, lwm_error *err)
{
    const char *name = e->string;
    LWM_CHECK(err, strlen(name) < VQ_MAX_NAME, LWM_EFORMAT, "%s: tensor name too long: %.60s...",
              path, name);
    memcpy(t->name, name, strlen(name) + 1);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    LWM_CHECK(err, cJSON_IsString(dtype) && cJSON_IsArray(shape) && cJSON_IsArray(offs) &&
                       cJSON_GetArraySize(offs) == 2,
              LWM_EFORMAT, "%s: tensor %s: header entry lacks dtype, shape or data_offsets", path,
              name);
    LWM_CHECK(err, strcmp(dtype->valuestring, "F32") == 0, LWM_EUNSUPPORTED,
              "%s: tensor %s: dtype %s, only F32 is supported", path, name, dtype->valuestring);
    t->ndim = cJSON_GetArraySize(shape);
    LWM_CHECK(err, t->ndim <= VQ_MAX_DIMS, LWM_EFORMAT, "%s: tensor %s: %d dimensions", path, name,
              t->ndim);
    size_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        const cJSON *v = cJSON_GetArrayItem(shape, d);
        LWM_CHECK(err, cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e10,
                  LWM_EFORMAT, "%s: tensor %s: bad shape", path, name);
        t->shape[d] = (int64_t)v->valuedouble;
        count *= (size_t)t->shape[d];
    }
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble, e2 = cJSON_GetArrayItem(offs, 1)->valuedouble;
    LWM_CHECK(err, b >= 0 && e2 >= b && e2 - b == (double)count * 4, LWM_EFORMAT,
              "%s: tensor %s: data_offsets [%.0f, %.0f] do not hold %zu floats", path, name, b, e2,
              count);
    size_t begin = data_start + (size_t)b, end = data_start + (size_t)e2;
    LWM_CHECK(err, end <= file_size, LWM_EFORMAT,
              "%s: truncated: tensor %s needs bytes up to %zu, the file has %zu", path, name, end,
              file_size);
    LWM_CHECK(err, begin % 4 == 0, LWM_EUNSUPPORTED, "%s: tensor %s: data not 4-byte aligned",
              path, name);
    t->count = count;
    t->used = 0;
    return 0;
}

static int parse_header(vq_file *f, const char *json, size_t len, size_t data_start,
                        const char *path, lwm_error *err)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    LWM_CHECK(err, root && cJSON_IsObject(root), LWM_EFORMAT,
              "%s: not a safetensors file (header is not a JSON object)", path);
    int n = cJSON_GetArraySize(root), rc = 0;
    f->tensors = lwm_calloc(f->mem, (size_t)(n ? n : 1), sizeof *f->tensors);
    if (!f->tensors) {
        cJSON_Delete(root);
        return lwm_error_set(err, -ENOMEM, "%s: out of memory", path);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        vq_tensor *t = &f->tensors[f->num_tensors];
        if ((rc = parse_entry(t, e, path, data_start, f->map_size, err)) < 0) break;
        t->data = (const float *)((const char *)f->map + data_start) +
                  (size_t)cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0)
                          ->valuedouble / 4;
        f->num_tensors++;
    }
    cJSON *meta = cJSON_DetachItemFromObjectCaseSensitive(root, "__metadata__");
    if (rc == 0 && meta && !cJSON_IsObject(meta))
        rc = lwm_error_set(err, LWM_EFORMAT, "%s: __metadata__ is not an object", path);
    if (rc == 0) f->metadata = meta;
    else cJSON_Delete(meta);
    cJSON_Delete(root);
    return rc;
}

int vqgan_file_open(vq_file *f, const char *path, const lwm_mem *mem, lwm_error *err)
{
    memset(f, 0, sizeof *f);
    f->mem = mem;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) rc = lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    else if (st.st_size < 8)
        rc = lwm_error_set(err, LWM_EFORMAT, "%s: truncated: %lld bytes, not a safetensors file",
                           path, (long long)st.st_size);
    if (rc == 0) {
        f->map_size = (size_t)st.st_size;
        f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            rc = lwm_error_set(err, -errno, "%s: mmap: %s", path, strerror(errno));
        }
    }
    close(fd);
    if (rc < 0) return rc;
    uint64_t hlen = 0;
    const unsigned char *b = f->map;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen > MAX_HEADER || 8 + hlen > f->map_size)
        rc = lwm_error_set(err, LWM_EFORMAT,
                           "%s: truncated or not safetensors: header of %llu bytes, file of %zu",
                           path, (unsigned long long)hlen, f->map_size);
    else rc = parse_header(f, (const char *)b + 8, (size_t)hlen, 8 + (size_t)hlen, path, err);
    if (rc < 0) vqgan_file_close(f);
    return rc;
}

void vqgan_file_close(vq_file *f)
{
    if (f->map) munmap(f->map, f->map_size);
    lwm_free(f->mem, f->tensors);
    cJSON_Delete(f->metadata);
    const lwm_mem *mem = f->mem;
    memset(f, 0, sizeof *f);
    f->mem = mem;
}

vq_tensor *vqgan_file_find(vq_file *f, const char *name)
{
    for (int i = 0; i < f->num_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *vqgan_file_meta(const vq_file *f, const char *key)
{
    if (!f->metadata) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

// ---------------------------------------------------------------- writer

struct vq_writer {
    FILE *fp;
    char path[4096], tmp[4200];
    size_t expected, written; // bytes of data
};

static cJSON *header_json(const vq_writer_entry *entries, int n, const char *const *meta_kv,
                          size_t *data_bytes)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    if (meta_kv && meta_kv[0]) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; meta && meta_kv[i]; i += 2) cJSON_AddStringToObject(meta, meta_kv[i], meta_kv[i + 1]);
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

int vqgan_writer_begin(vq_writer **out, const char *path, const vq_writer_entry *entries, int n,
                       const char *const *meta_kv, lwm_error *err)
{
    *out = NULL;
    vq_writer *w = calloc(1, sizeof *w);
    if (!w) return lwm_error_set(err, -ENOMEM, "%s: out of memory", path);
    size_t data_bytes = 0;
    cJSON *root = header_json(entries, n, meta_kv, &data_bytes);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    int rc = 0;
    if (!text) rc = lwm_error_set(err, -ENOMEM, "%s: out of memory", path);
    else if (lwm_format(w->path, sizeof w->path, "%s", path) < 0 ||
             lwm_format(w->tmp, sizeof w->tmp, "%s.tmp.%ld", path, (long)getpid()) < 0)
        rc = lwm_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    else if (!(w->fp = fopen(w->tmp, "wb")))
        rc = lwm_error_set(err, -errno, "%s: %s", w->tmp, strerror(errno));
    if (rc == 0) {
        // Pad the header with spaces so the data starts 8-byte aligned.
        size_t len = strlen(text), padded = (len + 7) / 8 * 8;
        unsigned char lenbuf[8];
        for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
        int ok = fwrite(lenbuf, 1, 8, w->fp) == 8 && fwrite(text, 1, len, w->fp) == len;
        for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', w->fp) != EOF;
        if (!ok) rc = lwm_error_set(err, -EIO, "%s: write failed", w->tmp);
    }
    cJSON_free(text);
    w->expected = data_bytes;
    if (rc < 0) {
        vqgan_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int vqgan_writer_put(vq_writer *w, const float *data, size_t count, lwm_error *err)
{
    LWM_CHECK(err, w->written + count * 4 <= w->expected, LWM_EINTERNAL,
              "%s: more data than the header declares", w->path);
    LWM_CHECK(err, fwrite(data, 4, count, w->fp) == count, -EIO, "%s: write failed: %s", w->tmp,
              strerror(errno));
    w->written += count * 4;
    return 0;
}

int vqgan_writer_commit(vq_writer *w, lwm_error *err)
{
    int rc = 0;
    if (w->written != w->expected)
        rc = lwm_error_set(err, LWM_EINTERNAL, "%s: wrote %zu of %zu data bytes", w->path,
                           w->written, w->expected);
    else if (fflush(w->fp) != 0 || fsync(fileno(w->fp)) != 0)
        rc = lwm_error_set(err, -EIO, "%s: write failed: %s", w->tmp, strerror(errno));
    if (rc < 0) {
        vqgan_writer_abort(w);
        return rc;
    }
    int closed = fclose(w->fp);
    w->fp = NULL;
    if (closed != 0 || rename(w->tmp, w->path) != 0) {
        rc = lwm_error_set(err, -errno, "%s: %s", w->path, strerror(errno));
        unlink(w->tmp);
    }
    free(w);
    return rc;
}

void vqgan_writer_abort(vq_writer *w)
{
    if (!w) return;
    if (w->fp) fclose(w->fp);
    unlink(w->tmp);
    free(w);
}
