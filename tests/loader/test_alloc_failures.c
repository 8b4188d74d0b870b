// Every allocation the loader makes through its lwm_mem hook is failed in
// turn: create and the first batches must then fail cleanly (a negative code,
// no crash) and, under the sanitizer build, leak nothing.
#include <string.h>

#include "fail_alloc.h"
#include "fixtures.h"
#include "loader/loader.h"

// Runs create + 3 batches (prefetch on or off); returns 0 on success, the error otherwise.
static int run(const char *path, fail_alloc *c, int prefetch)
{
    lwm_loader_options o = fixture_options(&path, 1, 600);
    o.rows = 2;
    o.prefetch_bytes = prefetch ? 1 << 20 : 0;
    o.mem = fail_alloc_mem(c);
    lwm_loader *ld = NULL;
    lwm_error err = {0};
    int rc = lwm_loader_create(&ld, &o, NULL, &err);
    for (int i = 0; rc == 0 && i < 3; i++) {
        lwm_loader_batch b;
        rc = lwm_loader_next(ld, &b);
    }
    lwm_loader_free(ld);
    return rc;
}

TEST(every_allocation_failure_is_clean)
{
    const char *path = fixture_jsonl("alloc.jsonl", 12, 0, 1);
    REQUIRE(path && fixture_tokenizer(), "fixtures");
    for (int prefetch = 0; prefetch < 2; prefetch++) {
        fail_alloc c = {0};
        REQUIRE(run(path, &c, prefetch) == 0, "run without failures");
        long total = c.calls;
        CHECK(total > 10, "only %ld allocations seen", total);
        for (long n = 1; n <= total; n++) {
            fail_alloc f = {.fail_at = n};
            int rc = run(path, &f, prefetch);
            CHECK(rc < 0 || f.calls < n, "prefetch %d: allocation %ld failed but the run succeeded",
                  prefetch, n);
        }
    }
}

TEST_MAIN("loader/alloc_failures", T(every_allocation_failure_is_clean))
