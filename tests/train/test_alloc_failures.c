// Every allocation the trainer makes through its lwm_mem hook (trainer, model slabs and
// activations, data source, checkpoint read) is failed in turn, for a fresh run across a
// curriculum stage change and for a resume: each must fail with a message (no crash), leave
// the checkpoint on disk as it was, and under the sanitizer build leak nothing.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fail_alloc.h"
#include "harness.h"
#include "train/train.h"

static const char CONFIG[] =
    "{\"model\": {\"dim\": 16, \"layers\": 2, \"heads\": 2, \"ffn_dim\": 32, \"text_vocab\": 40,"
    " \"vision_vocab\": 24},"
    " \"optimizer\": {\"lr\": 1e-3, \"warmup_steps\": 1},"
    " \"train\": {\"attn_tile\": 8, \"chunk\": 8},"
    " \"stages\": [{\"seq_len\": 32, \"rope_theta\": 10000, \"tokens_per_batch\": 64, "
    "\"total_tokens\": 128},"
    " {\"seq_len\": 64, \"rope_theta\": 100000, \"tokens_per_batch\": 64, \"total_tokens\": 128}],"
    " \"data\": {\"kind\": \"mixed\"}}";

static int run(const char *config, const char *out, int64_t steps, int resume, fail_alloc *c,
               lwm_error *err)
{
    lwm_train_options o = {0};
    o.config_path = config;
    o.data_dir = out;
    o.out_dir = out;
    o.max_steps = steps;
    o.resume = resume;
    o.overwrite = !resume; // every fresh run starts over in the same directory
    o.mem = fail_alloc_mem(c);
    lwm_train *t = NULL;
    int rc = lwm_train_create(&t, &o, MPI_COMM_NULL, err);
    if (rc == 0) rc = lwm_train_run(t, err);
    lwm_train_free(t);
    return rc;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    *n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static int spill(const char *path, const char *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

TEST(every_allocation_failure_is_clean)
{
    char dir[1024], cfg[1100], ckpt[1100];
    snprintf(dir, sizeof dir, "%s/alloc", test_tmpdir());
    mkdir(dir, 0755);
    snprintf(cfg, sizeof cfg, "%s/c.json", dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.bin", dir);
    REQUIRE(spill(cfg, CONFIG, strlen(CONFIG)) == 0, "cannot write %.200s", cfg);
    lwm_error err = {0};

    // A fresh run of 3 steps: the third is in stage 2 (buffers resized).
    fail_alloc c = {0};
    REQUIRE(run(cfg, dir, 3, 0, &c, &err) == 0, "run without failures: %s", err.msg);
    long total = c.calls;
    CHECK(total >= 8, "only %ld allocations seen", total);
    for (long n = 1; n <= total; n++) {
        fail_alloc f = {.fail_at = n};
        lwm_error e = {0};
        int rc = run(cfg, dir, 3, 0, &f, &e);
        CHECK(rc < 0 || f.calls < n,
              "fresh run: allocation %ld of %ld failed but the run succeeded", n, total);
        CHECK(rc == 0 || e.msg[0], "fresh run: allocation %ld failed without a message", n);
    }

    // Resume from step 2 to 3: each failure leaves the step-2 checkpoint byte for byte.
    REQUIRE(run(cfg, dir, 2, 0, &(fail_alloc){0}, &err) == 0, "2 steps: %s", err.msg);
    size_t base_n = 0;
    char *base = slurp(ckpt, &base_n);
    REQUIRE(base && base_n > 0, "no checkpoint at %.200s", ckpt);
    c = (fail_alloc){0};
    REQUIRE(run(cfg, dir, 3, 1, &c, &err) == 0, "resume without failures: %s", err.msg);
    total = c.calls;
    for (long n = 1; n <= total; n++) {
        REQUIRE(spill(ckpt, base, base_n) == 0, "cannot restore %.200s", ckpt);
        fail_alloc f = {.fail_at = n};
        lwm_error e = {0};
        int rc = run(cfg, dir, 3, 1, &f, &e);
        CHECK(rc < 0 || f.calls < n, "resume: allocation %ld of %ld failed but the run succeeded",
              n, total);
        CHECK(rc == 0 || e.msg[0], "resume: allocation %ld failed without a message", n);
        if (rc < 0) {
            size_t now_n = 0;
            char *now = slurp(ckpt, &now_n);
            CHECK(now && now_n == base_n && memcmp(now, base, base_n) == 0,
                  "resume: allocation %ld failed and the checkpoint changed", n);
            free(now);
        }
    }
    free(base);
}

TEST_MAIN("train/alloc_failures", T(every_allocation_failure_is_clean))
