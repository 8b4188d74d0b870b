// An allocator that fails one chosen allocation, as sqlite's test_malloc does, for the tests
// that fail each allocation of a run in turn. Set fail_at to N to fail the Nth allocation
// (1-based), or to 0 to fail none; afterwards calls counts the allocations asked for,
// failed says whether the chosen one came, and bytes sums what was handed out.
#ifndef LWM_TESTS_FAIL_ALLOC_H
#define LWM_TESTS_FAIL_ALLOC_H

#include <stdlib.h>

#include "common/common.h"

typedef struct fail_alloc {
    long calls, fail_at;
    int failed;
    size_t bytes;
} fail_alloc;

static void *fail_alloc_alloc(void *opaque, size_t size)
{
    fail_alloc *f = opaque;
    if (++f->calls == f->fail_at) {
        f->failed = 1;
        return NULL;
    }
    f->bytes += size;
    return malloc(size);
}

static void fail_alloc_free(void *opaque, void *ptr)
{
    (void)opaque;
    free(ptr);
}

/** The lwm_mem hook that allocates through f. */
static inline lwm_mem fail_alloc_mem(fail_alloc *f)
{
    return (lwm_mem){fail_alloc_alloc, fail_alloc_free, f};
}

#endif
