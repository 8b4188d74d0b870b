// The store's contract: round trips, dense index and id lookup, shard
// rollover, resume after an unclean stop or SIGKILL, failures, concurrent
// readers in other processes, and the 13-bit packing.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shard/fixture.h"

static lwm_shard_writer *open_writer(const char *dir, int64_t shard_bytes)
{
    lwm_shard_writer_options o = {.shard_bytes = shard_bytes};
    lwm_shard_writer *w = lwm_shard_writer_create(&o);
    if (w && lwm_shard_writer_open(w, dir) < 0) {
        fprintf(stderr, "open: %s\n", lwm_shard_writer_errmsg(w));
        lwm_shard_writer_free(w);
        return NULL;
    }
    return w;
}

static lwm_shard_reader *open_reader(const char *dir)
{
    lwm_shard_reader *r = lwm_shard_reader_create(NULL);
    if (r && lwm_shard_reader_open(r, dir) < 0) {
        fprintf(stderr, "reader open: %s\n", lwm_shard_reader_errmsg(r));
        lwm_shard_reader_free(r);
        return NULL;
    }
    return r;
}

// Every record 0..n-1 reads back as fixture sample i, by index and by id.
static int check_all(lwm_shard_reader *r, int64_t n, char *why, size_t cap)
{
    if (lwm_shard_reader_count(r) != n) {
        snprintf(why, cap, "count %lld, want %lld", (long long)lwm_shard_reader_count(r),
                 (long long)n);
        return 1;
    }
    for (int64_t i = 0; i < n; i++) {
        const lwm_shard_sample *s;
        if (lwm_shard_get(r, i, &s) < 0) {
            snprintf(why, cap, "get %lld: %s", (long long)i, lwm_shard_reader_errmsg(r));
            return 1;
        }
        if (s->index != i || fx_check(s, i, why, cap)) return 1;
    }
    return 0;
}

// Independent reference: pack bit by bit.
TEST(pack13_matches_bitwise_reference)
{
    enum { N = 1003 };
    uint16_t codes[N], back[N];
    uint8_t packed[2 * N + 16] = {0}, ref[2 * N + 16] = {0};
    for (int i = 0; i < N; i++) codes[i] = (uint16_t)((i * 2654435761u) >> 19);
    for (size_t bit = 0; bit < 13u * N; bit++)
        if (codes[bit / 13] >> (bit % 13) & 1) ref[bit / 8] |= (uint8_t)(1u << (bit % 8));
    lwm_shard_pack13(packed, codes, N);
    CHECK(lwm_shard_packed_size(N) == (13 * N + 7) / 8, "packed size");
    CHECK(memcmp(packed, ref, lwm_shard_packed_size(N)) == 0,
          "packing differs from the bitwise reference");
    for (int n = 0; n <= N; n += (n < 20 ? 1 : 97)) { // every tail length of the 8-code loop
        lwm_shard_unpack13(back, packed, (size_t)n);
        for (int i = 0; i < n; i++)
            REQUIRE(back[i] == codes[i], "n=%d code %d: %u != %u", n, i, back[i], codes[i]);
    }
}

TEST(roundtrip_by_index_and_id)
{
    char dir[4096], why[256] = "";
    fx_dir(dir, sizeof dir, "roundtrip");
    lwm_shard_writer *w = open_writer(dir, 0);
    REQUIRE(w, "writer open");
    lwm_shard_info info = {.vqgan_hash = "00112233445566778899aabbccddeeff",
                           .vqgan_preset = "tiny",
                           .vqgan_untrained = 1,
                           .settings_json = "{\"fps\":1}"};
    CHECK(lwm_shard_writer_set_info(w, &info) == 0, "set_info: %s", lwm_shard_writer_errmsg(w));
    CHECK(fx_write(w, 0, 40, 7) == 0, "write: %s", lwm_shard_writer_errmsg(w));
    CHECK(lwm_shard_writer_close(w) == 0, "close: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    lwm_shard_reader *r = open_reader(dir);
    REQUIRE(r, "reader open");
    CHECK(check_all(r, 40, why, sizeof why) == 0, "%s", why);
    const lwm_shard_sample *s;
    CHECK(lwm_shard_find(r, "sample-000033", &s) == 0 && s->index == 33 &&
              !fx_check(s, 33, why, sizeof why),
          "find by id: %s %s", lwm_shard_reader_errmsg(r), why);
    CHECK(lwm_shard_find(r, "nope", &s) == LWM_ENOTFOUND, "missing id is LWM_ENOTFOUND");
    CHECK(lwm_shard_get(r, 40, &s) == LWM_ENOTFOUND, "index past the end is LWM_ENOTFOUND");
    const lwm_shard_info *got = lwm_shard_reader_info(r);
    CHECK(strcmp(got->vqgan_preset, "tiny") == 0 && got->vqgan_untrained == 1 &&
              strcmp(got->vqgan_hash, info.vqgan_hash) == 0 &&
              strstr(got->settings_json, "\"fps\""),
          "identity lost: preset %s hash %s settings %s", got->vqgan_preset, got->vqgan_hash,
          got->settings_json);
    int n;
    const lwm_shard_file *files = lwm_shard_reader_files(r, &n);
    CHECK(n == 1 && files[0].sealed && files[0].records == 40,
          "a closed small dataset is one sealed shard");
    lwm_shard_reader_free(r);
}

TEST(rollover_spreads_records_over_sealed_shards)
{
    char dir[4096], why[256] = "";
    fx_dir(dir, sizeof dir, "rollover");
    lwm_shard_writer *w = open_writer(dir, 64 << 10);
    REQUIRE(w, "writer open");
    CHECK(fx_write(w, 0, 300, 10) == 0, "write: %s", lwm_shard_writer_errmsg(w));
    CHECK(lwm_shard_writer_close(w) == 0, "close: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    lwm_shard_reader *r = open_reader(dir);
    REQUIRE(r, "reader open");
    int n;
    const lwm_shard_file *files = lwm_shard_reader_files(r, &n);
    CHECK(n >= 3, "300 records at 64 KiB per shard should make several shards, got %d", n);
    int64_t next = 0;
    for (int i = 0; i < n; i++) {
        CHECK(files[i].sealed && files[i].first_index == next, "shard %d range", i);
        next += files[i].records;
    }
    CHECK(check_all(r, 300, why, sizeof why) == 0, "%s", why);
    lwm_shard_reader_free(r);
}

TEST(resume_after_unclean_stop_keeps_each_sample_once)
{
    char dir[4096], why[256] = "";
    fx_dir(dir, sizeof dir, "resume");
    lwm_shard_writer *w = open_writer(dir, 64 << 10);
    REQUIRE(w, "writer open");
    CHECK(fx_write(w, 0, 120, 10) == 0, "write: %s", lwm_shard_writer_errmsg(w));
    fx_sample f;
    fx_make(&f, 120);
    CHECK(lwm_shard_writer_put(w, &f.s) == 120, "uncommitted put gets the next index");
    fx_release(&f);
    lwm_shard_writer_free(w); // no close: the uncommitted sample is dropped, as in a crash
    w = open_writer(dir, 64 << 10);
    REQUIRE(w, "reopen");
    CHECK(lwm_shard_writer_count(w) == 120, "committed count after reopen %lld",
          (long long)lwm_shard_writer_count(w));
    CHECK(lwm_shard_writer_has(w, "sample-000119") == 1, "has() sees committed ids");
    CHECK(lwm_shard_writer_has(w, "sample-000120") == 0, "has() does not see the dropped id");
    CHECK(lwm_shard_writer_put(w, &(lwm_shard_sample){.id = "sample-000003"}) == LWM_EEXISTS,
          "a stored id cannot be put twice");
    for (int64_t n = 0; n < 200; n++) { // the resumed run skips what is there
        if (lwm_shard_writer_has(w,
                                 (snprintf(why, sizeof why, "sample-%06lld", (long long)n), why)))
            continue;
        fx_make(&f, n);
        CHECK(lwm_shard_writer_put(w, &f.s) == n, "index of resumed sample %lld", (long long)n);
        fx_release(&f);
    }
    CHECK(lwm_shard_writer_close(w) == 0, "close: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    lwm_shard_reader *r = open_reader(dir);
    REQUIRE(r, "reader open");
    CHECK(check_all(r, 200, why, sizeof why) == 0, "%s", why);
    lwm_shard_reader_free(r);
}

TEST(failures_are_recorded_and_skipped)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "failures");
    lwm_shard_writer *w = open_writer(dir, 0);
    REQUIRE(w, "writer open");
    CHECK(fx_write(w, 0, 3, 3) == 0, "write");
    CHECK(lwm_shard_writer_fail(w, "broken.mp4", 7, "broken.mp4: frame 3: invalid data") == 0,
          "fail");
    CHECK(lwm_shard_writer_fail(w, NULL, 9, "line 9: not JSON") == 0, "fail without id");
    CHECK(lwm_shard_writer_fail(w, "sample-000001", 2, "x") == LWM_EEXISTS,
          "a stored id cannot fail");
    CHECK(lwm_shard_writer_has(w, "broken.mp4") == 2, "has() reports a failure in the batch");
    CHECK(lwm_shard_writer_commit(w) == 0, "commit");
    CHECK(lwm_shard_writer_has(w, "broken.mp4") == 2, "has() reports a committed failure");
    CHECK(lwm_shard_writer_close(w) == 0, "close");
    lwm_shard_writer_free(w);
    lwm_shard_reader *r = open_reader(dir);
    REQUIRE(r, "reader open");
    int64_t n;
    const lwm_shard_failure *f = lwm_shard_reader_failures(r, &n);
    REQUIRE(n == 2, "2 failures, got %lld", (long long)n);
    CHECK(strcmp(f[0].id, "broken.mp4") == 0 && f[0].manifest_line == 7 &&
              strstr(f[0].reason, "frame 3"),
          "first failure: %s line %lld %s", f[0].id, (long long)f[0].manifest_line, f[0].reason);
    CHECK(strcmp(f[1].id, "line 9") == 0, "id of a failure without id: %s", f[1].id);
    CHECK(lwm_shard_reader_count(r) == 3, "failures have no index");
    lwm_shard_reader_free(r);
}

TEST(bad_samples_are_refused_by_name)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "refuse");
    lwm_shard_writer *w = open_writer(dir, 0);
    REQUIRE(w, "writer open");
    fx_sample f;
    fx_make(&f, 3);
    f.codes[300] = 8192;
    CHECK(lwm_shard_writer_put(w, &f.s) == LWM_EINVAL &&
              strstr(lwm_shard_writer_errmsg(w), "sample-000003") &&
              strstr(lwm_shard_writer_errmsg(w), "frame 1"),
          "code 8192 refused naming sample and frame: %s", lwm_shard_writer_errmsg(w));
    fx_release(&f);
    CHECK(lwm_shard_writer_put(w, &(lwm_shard_sample){.id = ""}) == LWM_EINVAL, "empty id refused");
    lwm_shard_writer *w2 = lwm_shard_writer_create(NULL);
    CHECK(lwm_shard_writer_open(w2, dir) == LWM_EEXISTS, "a second writer is refused");
    lwm_shard_writer_free(w2);
    char plain[4200], note[4300];
    snprintf(plain, sizeof plain, "%s/not-empty", dir);
    snprintf(note, sizeof note, "%s/notes.txt", plain);
    w2 = lwm_shard_writer_create(NULL);
    CHECK(lwm_mkdirs(plain, NULL) == 0 && lwm_write_file_atomic(note, "x", 1, NULL) == 0, "setup");
    CHECK(lwm_shard_writer_open(w2, plain) == LWM_EINVAL &&
              strstr(lwm_shard_writer_errmsg(w2), "notes.txt"),
          "a non-empty directory without manifest is refused: %s", lwm_shard_writer_errmsg(w2));
    lwm_shard_writer_free(w2);
    CHECK(fx_write(w, 0, 2, 2) == 0, "write");
    lwm_shard_info other = {.vqgan_hash = "ffff"};
    lwm_shard_info first = {.vqgan_hash = "aaaa"};
    lwm_shard_writer_close(w);
    lwm_shard_writer_free(w);
    w = open_writer(dir, 0);
    REQUIRE(w, "reopen");
    CHECK(lwm_shard_writer_set_info(w, &first) != 0 ||
              lwm_shard_writer_set_info(w, &other) == LWM_EINVAL,
          "a resumed dataset refuses another VQGAN");
    lwm_shard_writer_free(w);
}

// Readers in other processes see what was committed while the writer goes on.
TEST(reader_in_child_sees_committed_batches)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "concurrent");
    lwm_shard_writer *w = open_writer(dir, 64 << 10);
    REQUIRE(w, "writer open");
    CHECK(fx_write(w, 0, 150, 10) == 0, "write");
    fx_sample f;
    fx_make(&f, 150);
    lwm_shard_writer_put(w, &f.s); // pending, not committed
    fx_release(&f);
    pid_t pids[3];
    for (int c = 0; c < 3; c++) { // several reader processes at once
        pids[c] = fork();
        if (pids[c] == 0) {
            char why[256];
            lwm_shard_reader *r = open_reader(dir);
            _exit(r && check_all(r, 150, why, sizeof why) == 0 ? 0
                                                               : (fprintf(stderr, "%s\n", why), 1));
        }
    }
    for (int c = 0; c < 3; c++) {
        int status = 0;
        waitpid(pids[c], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child reader %d saw a different dataset", c);
    }
    CHECK(lwm_shard_writer_close(w) == 0, "close");
    lwm_shard_writer_free(w);
}

// SIGKILL at an arbitrary moment: afterwards the dataset holds whole batches only.
TEST(sigkill_mid_write_leaves_whole_batches)
{
    char dir[4096], why[256] = "";
    fx_dir(dir, sizeof dir, "sigkill");
    for (int round = 0; round < 3; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            lwm_shard_writer *w = open_writer(dir, 32 << 10);
            if (!w) _exit(2);
            int64_t from = lwm_shard_writer_count(w);
            fx_write(w, from, from + 100000, 5);
            _exit(0);
        }
        usleep(150000 + 100000 * round);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    lwm_shard_writer *w = open_writer(dir, 32 << 10);
    REQUIRE(w, "reopen after SIGKILL");
    int64_t n = lwm_shard_writer_count(w);
    CHECK(n > 0, "nothing was committed before the kills");
    CHECK(lwm_shard_writer_close(w) == 0, "close: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    lwm_shard_reader *r = open_reader(dir);
    REQUIRE(r, "reader open");
    CHECK(check_all(r, n, why, sizeof why) == 0, "%s", why);
    CHECK(lwm_shard_verify(r, NULL, NULL, NULL) == 0, "verify found problems after SIGKILL");
    lwm_shard_reader_free(r);
}

// Codes that compress (a barely used codebook) take the zstd path and still read back.
TEST(compressible_codes_are_compressed_and_read_back)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "compressible");
    lwm_shard_writer *w = open_writer(dir, 0);
    REQUIRE(w, "writer open");
    static uint16_t codes[64 * 256];
    for (int i = 0; i < 64 * 256; i++) codes[i] = (uint16_t)(i / 256 % 3);
    lwm_shard_sample s = {.id = "flat", .modality = LWM_SHARD_VIDEO, .frames = 64, .codes = codes};
    CHECK(lwm_shard_writer_put(w, &s) == 0, "put: %s", lwm_shard_writer_errmsg(w));
    CHECK(lwm_shard_writer_close(w) == 0, "close");
    lwm_shard_writer_free(w);
    lwm_shard_reader *r = open_reader(dir);
    REQUIRE(r, "reader");
    lwm_shard_stats st;
    CHECK(lwm_shard_inspect(r, NULL, &st) == 0 && st.stored_bytes * 20 < st.raw_bytes,
          "64 frames of 3 codes should compress > 20x: %lld -> %lld", (long long)st.raw_bytes,
          (long long)st.stored_bytes);
    CHECK(st.codes_used == 3 && fabs(st.code_entropy_bits - log2(3.0)) < 0.01,
          "usage %lld, entropy %f", (long long)st.codes_used, st.code_entropy_bits);
    const lwm_shard_sample *got;
    CHECK(lwm_shard_get(r, 0, &got) == 0 && memcmp(got->codes, codes, sizeof codes) == 0,
          "codes differ");
    lwm_shard_reader_free(r);
}

TEST_MAIN("shard/store", T(compressible_codes_are_compressed_and_read_back),
          T(pack13_matches_bitwise_reference), T(roundtrip_by_index_and_id),
          T(rollover_spreads_records_over_sealed_shards),
          T(resume_after_unclean_stop_keeps_each_sample_once), T(failures_are_recorded_and_skipped),
          T(bad_samples_are_refused_by_name), T(reader_in_child_sees_committed_batches),
          T(sigkill_mid_write_leaves_whole_batches))
