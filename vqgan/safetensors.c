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
