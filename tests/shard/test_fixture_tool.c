// Writes self-checking datasets for the shell and Python tests of the store
// (they cannot call the C API themselves):
//
//   test_fixture_tool --write DIR N [SHARD_BYTES] [--open]
//
// writes fixture samples 0..N-1 (tests/shard/fixture.h) in batches of 8 plus
// two failed samples; --open leaves the last shard unsealed (as a live or
// crashed writer would). Without arguments it runs its own check, as every
// test binary does.
#include "harness.h"
#include "shard/fixture.h"

static int write_fixture(const char *dir, int64_t n, int64_t shard_bytes, int leave_open)
{
    lwm_shard_writer_options o = {.shard_bytes = shard_bytes};
    lwm_shard_writer *w = lwm_shard_writer_create(&o);
    lwm_shard_info info = {.vqgan_hash = "0123456789abcdef0123456789abcdef",
                           .vqgan_preset = "tiny",
                           .vqgan_untrained = 1,
                           .tokenizer_name = "fixture",
                           .settings_json = "{\"fps\":2}"};
    int rc = lwm_shard_writer_open(w, dir);
    if (rc == 0) rc = lwm_shard_writer_set_info(w, &info);
    if (rc == 0) rc = fx_write(w, 0, n, 8);
    if (rc == 0)
        rc = lwm_shard_writer_fail(w, "broken.mp4", n + 1, "broken.mp4: frame 3: invalid data");
    if (rc == 0) rc = lwm_shard_writer_fail(w, "empty.mp4", n + 2, "empty.mp4: no video stream");
    if (rc == 0) rc = lwm_shard_writer_commit(w);
    if (rc == 0 && !leave_open) rc = lwm_shard_writer_close(w);
    if (rc < 0) fprintf(stderr, "test_fixture_tool: %s\n", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    return rc < 0 ? 1 : 0;
}

TEST(writes_a_readable_fixture)
{
    char dir[4096];
    fx_dir(dir, sizeof dir, "tool");
    REQUIRE(write_fixture(dir, 20, 0, 0) == 0, "write");
    lwm_shard_reader *r = lwm_shard_reader_create(NULL);
    REQUIRE(lwm_shard_reader_open(r, dir) == 0, "open: %s", lwm_shard_reader_errmsg(r));
    int64_t nf;
    lwm_shard_reader_failures(r, &nf);
    CHECK(lwm_shard_reader_count(r) == 20 && nf == 2, "20 records and 2 failures");
    lwm_shard_reader_free(r);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "--write") == 0) {
        int64_t shard_bytes = argc >= 5 && argv[4][0] != '-' ? strtoll(argv[4], NULL, 10) : 0;
        int leave_open = strcmp(argv[argc - 1], "--open") == 0;
        return write_fixture(argv[2], strtoll(argv[3], NULL, 10), shard_bytes, leave_open);
    }
    static const test_case cases[] = {T(writes_a_readable_fixture)};
    return run_tests_("shard/fixture_tool", cases, 1, argc, argv);
}
