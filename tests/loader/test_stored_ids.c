// Stored token ids from a store (shard/) are data from the file (issue 15 item 8): -5,
// 2147483647 and 40000 (the fixture tokenizer has 60 pieces) used to go through `lwm pack`
// with rc 0 (the readable mode silently dropped them and a neighbouring <vision> piece).
// The loader refuses each when it builds the document, naming the sample, field and id;
// `lwm pack` (JSON and readable mode) exits non-zero with one line.
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "loader/loader.h"
#include "shard/shard.h"

#define N_DOCS 4

// N_DOCS fixture documents whose captions are stored as ids {3, 4, 5}; doc2's middle id is bad.
static int write_store(const char *dir, int32_t bad, const char *tok_hash)
{
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    if (!w || lwm_shard_writer_open(w, dir) < 0) return lwm_shard_writer_free(w), -1;
    lwm_shard_info info = {.tokenizer_hash = tok_hash, .tokenizer_name = "tiny"};
    lwm_shard_writer_set_info(w, &info);
    int rc = 0;
    for (int d = 0; d < N_DOCS && rc == 0; d++) {
        int32_t tokens[3] = {3, d == 2 ? bad : 4, 5};
        rc = fixture_put_document(w, d, "a dog runs", tokens, 3);
    }
    if (rc == 0) rc = lwm_shard_writer_close(w);
    lwm_shard_writer_free(w);
    return rc;
}

// Reads batches until an error or 40 batches; returns the error text ("" when none).
static void drain(const char *dir, char *why, size_t cap)
{
    lwm_loader_options o = fixture_options(&dir, 1, 300);
    lwm_loader *ld = NULL;
    lwm_error err = {0};
    why[0] = '\0';
    if (lwm_loader_create(&ld, &o, NULL, &err) < 0) {
        snprintf(why, cap, "%s", err.msg);
        return;
    }
    for (int i = 0; i < 40; i++) {
        lwm_loader_batch b;
        if (lwm_loader_next(ld, &b) < 0) {
            snprintf(why, cap, "%s", lwm_loader_errmsg(ld));
            break;
        }
    }
    lwm_loader_free(ld);
}

// Runs `lwm pack DIR ...` and returns its exit status; stderr's text in out.
static int run_pack(const char *dir, const char *mode, char *out, size_t cap)
{
    const char *lwm = getenv("LWM");
    char cmd[2048], errf[600];
    snprintf(errf, sizeof errf, "%s/pack.err", test_tmpdir());
    snprintf(cmd, sizeof cmd,
             "%s pack %s --tokenizer %s --seq-len 300 --count 12 %s >/dev/null 2>%s",
             lwm ? lwm : "build/lwm", dir, fixture_tokenizer(), mode, errf);
    int rc = system(cmd);
    FILE *f = fopen(errf, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f) fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

TEST(out_of_range_stored_ids_refused)
{
    char hex[33];
    REQUIRE(fixture_tokenizer() && lwm_file_hash(fixture_tokenizer(), hex, NULL, NULL) == 0,
            "tokenizer");
    const int32_t bad[] = {-5, 2147483647, 40000};
    for (int i = 0; i < 3; i++) {
        char dir[512], why[1024], want[128];
        snprintf(dir, sizeof dir, "%s/store_bad%d", test_tmpdir(), i);
        REQUIRE(write_store(dir, bad[i], hex) == 0, "write store %d", bad[i]);
        snprintf(want, sizeof want, "stored token id %d at position 1", bad[i]);
        drain(dir, why, sizeof why);
        CHECK(strstr(why, "sample doc2") && strstr(why, want) && strstr(why, "caption"),
              "loader with id %d: '%.400s'", bad[i], why);
        for (int m = 0; m < 2; m++) {
            int rc = run_pack(dir, m ? "" : "--json", why, sizeof why);
            // Progress lines may come first; the error is one line, the last.
            char *line = strstr(why, "lwm pack: "), *nl = line ? strchr(line, '\n') : NULL;
            CHECK(rc > 0 && rc < 128 && line && strstr(line, "sample doc2") && strstr(line, want) &&
                      nl && nl[1] == '\0' && !strstr(nl, "lwm pack: "),
                  "pack %s with id %d: rc %d, stderr '%.400s'", m ? "readable" : "--json", bad[i],
                  rc, why);
        }
    }
}

TEST(in_range_stored_ids_pack)
{
    char hex[33], dir[512], why[1024];
    REQUIRE(fixture_tokenizer() && lwm_file_hash(fixture_tokenizer(), hex, NULL, NULL) == 0,
            "tokenizer");
    snprintf(dir, sizeof dir, "%s/store_good", test_tmpdir());
    REQUIRE(write_store(dir, 30, hex) == 0, "write store");
    drain(dir, why, sizeof why);
    CHECK(why[0] == '\0', "loader: %.400s", why);
    CHECK(run_pack(dir, "", why, sizeof why) == 0, "pack: %.400s", why);
}

TEST_MAIN("loader/stored_ids", T(out_of_range_stored_ids_refused), T(in_range_stored_ids_pack))
