// Readers beyond the basics: views used by several threads at once, refresh
// picking up a live writer's commits (reader in another process), and clean
// failure when any allocation fails.
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shard/fixture.h"

static int write_closed(const char *dir, int64_t n, int64_t shard_bytes)
{
    lwm_shard_writer_options o = {.shard_bytes = shard_bytes};
    lwm_shard_writer *w = lwm_shard_writer_create(&o);
    int rc = lwm_shard_writer_open(w, dir);
    if (rc == 0) rc = fx_write(w, 0, n, 16);
    if (rc == 0) rc = lwm_shard_writer_close(w);
    lwm_shard_writer_free(w);
    return rc;
}

typedef struct worker {
    lwm_shard_reader *r;
    int seed, bad;
    char why[256];
} worker;

static void *read_many(void *arg)
{
    worker *wk = arg;
    lwm_shard_view *v = lwm_shard_view_create(wk->r);
    int64_t n = lwm_shard_reader_count(wk->r);
    for (int64_t k = 0; k < 3 * n && !wk->bad; k++) {
        int64_t i = (k * 7919 + wk->seed * 104729) % n;
        const lwm_shard_sample *s;
        if (lwm_shard_view_get(v, i, &s) < 0) {
            snprintf(wk->why, sizeof wk->why, "%.200s", lwm_shard_view_errmsg(v));
            wk->bad = 1;
        } else if (fx_check(s, i, wk->why, sizeof wk->why)) {
            wk->bad = 1;
        }
    }
    lwm_shard_view_free(v);
    return NULL;
}

TEST(views_read_concurrently_from_threads)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "threads");
    REQUIRE(write_closed(dir, 200, 64 << 10) == 0, "dataset");
    lwm_shard_reader *r = lwm_shard_reader_create(NULL);
    REQUIRE(lwm_shard_reader_open(r, dir) == 0, "open: %s", lwm_shard_reader_errmsg(r));
    pthread_t t[4];
    worker wk[4];
    for (int i = 0; i < 4; i++) {
        wk[i] = (worker){.r = r, .seed = i};
        pthread_create(&t[i], NULL, read_many, &wk[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(!wk[i].bad, "thread %d: %s", i, wk[i].why);
    }
    lwm_shard_reader_free(r);
}

// The reader lives in a child process (readers and the writer of one dataset
// must not share a process); pipes sequence the two.
TEST(refresh_sees_a_live_writers_new_commits)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "refresh");
    lwm_shard_writer_options o = {.shard_bytes = 48 << 10};
    lwm_shard_writer *w = lwm_shard_writer_create(&o);
    REQUIRE(lwm_shard_writer_open(w, dir) == 0 && fx_write(w, 0, 40, 8) == 0, "first commits");
    int to_child[2], to_parent[2];
    REQUIRE(pipe(to_child) == 0 && pipe(to_parent) == 0, "pipes");
    pid_t pid = fork();
    if (pid == 0) {
        char why[256] = "";
        int64_t counts[2] = {-1, -1};
        lwm_shard_reader *r = lwm_shard_reader_create(NULL);
        if (lwm_shard_reader_open(r, dir) == 0) counts[0] = lwm_shard_reader_count(r);
        if (write(to_parent[1], &counts[0], 8) != 8) _exit(3);
        char go;
        if (read(to_child[0], &go, 1) != 1) _exit(3);
        int bad = lwm_shard_reader_refresh(r) < 0;
        counts[1] = lwm_shard_reader_count(r);
        for (int64_t i = 0; i < counts[1] && !bad; i++) {
            const lwm_shard_sample *s;
            bad = lwm_shard_get(r, i, &s) < 0 || fx_check(s, i, why, sizeof why);
        }
        if (write(to_parent[1], &counts[1], 8) != 8) _exit(3);
        lwm_shard_reader_free(r);
        _exit(bad ? 1 : 0);
    }
    int64_t before = 0, after = 0;
    CHECK(read(to_parent[0], &before, 8) == 8 && before == 40, "child saw %lld records, want 40",
          (long long)before);
    CHECK(fx_write(w, 40, 200, 8) == 0, "more commits (several seals)");
    CHECK(write(to_child[1], "g", 1) == 1, "signal");
    CHECK(read(to_parent[0], &after, 8) == 8 && after == 200,
          "after refresh %lld records, want 200", (long long)after);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child read a wrong record after refresh");
    lwm_shard_writer_close(w);
    lwm_shard_writer_free(w);
    for (int i = 0; i < 2; i++) close(to_child[i]), close(to_parent[i]);
}

/* ---- allocation failures ---- */

typedef struct budget {
    int left, failed;
} budget;

static void *tight_alloc(void *opaque, size_t size)
{
    budget *b = opaque;
    if (b->left-- <= 0) {
        b->failed = 1;
        return NULL;
    }
    return malloc(size);
}

static void tight_free(void *opaque, void *p)
{
    (void)opaque;
    free(p);
}

// One pass of write + read with an allocator that fails after `allowed`
// allocations. Returns 1 when everything succeeded, 0 on a clean failure,
// -1 when a failure was not reported (or a wrong code came back).
static int attempt(const char *dir, int allowed)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return -1;
    budget b = {allowed, 0};
    lwm_mem mem = {tight_alloc, tight_free, &b};
    lwm_shard_writer_options wo = {.mem = mem};
    lwm_shard_writer *w = lwm_shard_writer_create(&wo);
    int ok = w != NULL;
    if (ok) ok = lwm_shard_writer_open(w, dir) == 0;
    if (ok) ok = fx_write(w, 0, 12, 5) == 0;
    if (ok) ok = lwm_shard_writer_close(w) == 0;
    lwm_shard_writer_free(w);
    lwm_shard_reader_options ro = {.mem = mem};
    lwm_shard_reader *r = ok ? lwm_shard_reader_create(&ro) : NULL;
    if (ok) ok = r && lwm_shard_reader_open(r, dir) == 0;
    for (int64_t i = 0; ok && i < 12; i++) {
        const lwm_shard_sample *s;
        ok = lwm_shard_get(r, i, &s) == 0;
    }
    lwm_shard_reader_free(r);
    if (ok) return 1;
    return b.failed ? 0 : -1;
}

TEST(every_allocation_failure_is_reported_cleanly)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "alloc");
    int n, rc = 0;
    for (n = 0; n < 400 && (rc = attempt(dir, n)) == 0; n++) {}
    CHECK(rc == 1, "with %d allocations allowed: a failure without an out-of-memory cause", n);
    CHECK(n > 5, "the store allocates through the hook (succeeded with %d allocations)", n);
}

TEST_MAIN("shard/views", T(views_read_concurrently_from_threads),
          T(refresh_sees_a_live_writers_new_commits),
          T(every_allocation_failure_is_reported_cleanly))
