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

// Each tensor of the shared header parse (common/safetensors.c checks offsets, shapes,
// overlaps and bounds) becomes a vq_tensor pointing into the mapping.
static int take_tensors(vq_file *f, const char *path, lwm_error *err)
{
    const lwm_st_header *h = &f->hdr;
    f->tensors = lwm_calloc(f->mem, (size_t)(h->n ? h->n : 1), sizeof *f->tensors);
    LWM_CHECK(err, f->tensors, -ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < h->n; i++) {
        const lwm_st_tensor *s = &h->tensors[i];
        vq_tensor *t = &f->tensors[i];
        LWM_CHECK(err, strlen(s->name) < VQ_MAX_NAME, LWM_EFORMAT,
                  "%s: tensor name too long: %.60s...", path, s->name);
        LWM_CHECK(err, s->ndim <= VQ_MAX_DIMS, LWM_EFORMAT, "%s: tensor %s: %d dimensions", path,
                  s->name, s->ndim);
        LWM_CHECK(err, s->offset % 4 == 0, LWM_EUNSUPPORTED,
                  "%s: tensor %s: data not 4-byte aligned", path, s->name);
        memcpy(t->name, s->name, strlen(s->name) + 1);
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, (size_t)s->ndim * sizeof *t->shape);
        t->data = (const float *)((const char *)f->map + s->offset);
        t->count = s->count;
        f->num_tensors++;
    }
    return 0;
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
    else if (!S_ISREG(st.st_mode))
        rc = lwm_error_set(err, LWM_EFORMAT, "%s: not a regular file", path);
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
    if (rc == 0) rc = lwm_st_parse(&f->hdr, f->map, f->map_size, path, mem, err);
    if (rc == 0) rc = take_tensors(f, path, err);
    if (rc < 0) vqgan_file_close(f);
    return rc;
}

void vqgan_file_close(vq_file *f)
{
    if (f->map) munmap(f->map, f->map_size);
    lwm_free(f->mem, f->tensors);
    lwm_st_release(&f->hdr);
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
    if (!f->hdr.metadata) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->hdr.metadata, key);
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
