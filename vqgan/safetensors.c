// safetensors files: a little-endian u64 header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the raw data. The file is mapped
// (lwm_st_file_open) and tensors point into the mapping (no copy).
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

// Each tensor of the shared header parse (common/safetensors.c checks offsets, shapes,
// overlaps and bounds) becomes a vq_tensor pointing into the mapping.
static int take_tensors(vq_file *f, const char *path, lwm_error *err)
{
    const lwm_st_header *h = &f->st.hdr;
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
        t->data = (const float *)((const char *)f->st.map + s->offset);
        t->count = s->count;
        f->num_tensors++;
    }
    return 0;
}

int vqgan_file_open(vq_file *f, const char *path, const lwm_mem *mem, lwm_error *err)
{
    memset(f, 0, sizeof *f);
    f->mem = mem;
    int rc = lwm_st_file_open(&f->st, path, mem, 0, err);
    if (rc == 0) rc = take_tensors(f, path, err);
    if (rc < 0) vqgan_file_close(f);
    return rc;
}

void vqgan_file_close(vq_file *f)
{
    lwm_free(f->mem, f->tensors);
    lwm_st_file_close(&f->st);
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
    if (!f->st.hdr.metadata) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(f->st.hdr.metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
