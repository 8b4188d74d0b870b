// The allocation hook (zstd's customMem pattern) and aligned kernel buffers.
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void *lwm_malloc(const lwm_mem *mem, size_t size)
{
    if (size == 0) size = 1; // a zero-size request still returns a unique pointer
    if (mem && mem->alloc) return mem->alloc(mem->opaque, size);
    return malloc(size);
}

void *lwm_calloc(const lwm_mem *mem, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = lwm_malloc(mem, n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void lwm_free(const lwm_mem *mem, void *ptr)
{
    if (!ptr) return;
    if (mem && mem->free)
        mem->free(mem->opaque, ptr);
    else
        free(ptr);
}

char *lwm_strdup(const lwm_mem *mem, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *p = lwm_malloc(mem, n);
    if (p) memcpy(p, s, n);
    return p;
}

int lwm_grow(const lwm_mem *mem, void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return -ENOMEM;
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem) return -ENOMEM;
    void *nb = lwm_malloc(mem, ncap * elem);
    if (!nb) return -ENOMEM;
    if (*buf) {
        memcpy(nb, *buf, *cap * elem);
        lwm_free(mem, *buf);
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

void *lwm_aligned_alloc(const lwm_mem *mem, size_t size)
{
    if (!size) size = 64;
    if (!(mem && mem->alloc)) {
        void *p = NULL;
        return posix_memalign(&p, 64, size) == 0 ? p : NULL;
    }
    // Through the hook: over-allocate, align, and keep the hook's pointer just below.
    if (size > SIZE_MAX - 64 - sizeof(void *)) return NULL;
    char *raw = mem->alloc(mem->opaque, size + 64 + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)at)[-1] = raw;
    return (void *)at;
}

void lwm_aligned_free(const lwm_mem *mem, void *ptr)
{
    if (!ptr) return;
    if (mem && mem->alloc)
        lwm_free(mem, ((void **)ptr)[-1]);
    else
        free(ptr);
}
