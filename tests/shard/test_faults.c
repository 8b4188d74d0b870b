// Faults: flipped bytes in values, a damaged page, a missing shard, a newer
// schema, a full LMDB map and a full disk. Each must give a clear error naming
// what is wrong, verify must find every damaged record, and nothing committed
// before the fault may be lost.
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "shard/fixture.h"

static int make_dataset(const char *dir, int64_t n, int64_t shard_bytes)
{
    lwm_shard_writer_options o = {.shard_bytes = shard_bytes};
    lwm_shard_writer *w = lwm_shard_writer_create(&o);
    int rc = lwm_shard_writer_open(w, dir);
    if (rc == 0) rc = fx_write(w, 0, n, 8);
    if (rc == 0) rc = lwm_shard_writer_close(w);
    if (rc < 0) fprintf(stderr, "make_dataset: %s\n", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    return rc;
}

// File offset of part 0 of record index in a shard file (read with LMDB
// itself, then found in the file by its bytes) and its length; with page=1,
// the offset and size of the page holding it.
static long locate(const char *path, int64_t index, size_t *len, int page)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    long off = -1;
    char *file = NULL;
    size_t file_n = 0;
    if (lwm_read_file(NULL, path, &file, &file_n, NULL) < 0) return -1;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4);
    if (mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK, 0644) == 0 &&
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
        if (mdb_dbi_open(txn, "records", 0, &dbi) == 0) {
            uint8_t key[9] = {0};
            for (int i = 0; i < 8; i++) key[i] = (uint8_t)((uint64_t)index >> (56 - 8 * i));
            MDB_val k = {9, key}, d;
            if (mdb_get(txn, dbi, &k, &d) == 0) {
                const char *at = memmem(file, file_n, d.mv_data, d.mv_size < 64 ? d.mv_size : 64);
                if (at) off = page ? (at - file) / 4096 * 4096 : at - file;
                *len = page ? 4096 : d.mv_size;
            }
        }
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    lwm_free(NULL, file);
    return off;
}

static int patch(const char *path, long off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    ssize_t w = pwrite(fd, bytes, n, off);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

typedef struct found {
    int64_t records[64];
    int n_records, n_shards;
    char last[600];
} found;

static void collect(void *opaque, const lwm_shard_problem *p)
{
    found *f = opaque;
    if (p->index < 0)
        f->n_shards++;
    else if (f->n_records < 64)
        f->records[f->n_records++] = p->index;
    snprintf(f->last, sizeof f->last, "%.500s", p->message);
}

// Writes the damaged file's checksum into the manifest, as whoever crafts a
// dataset can: the record-level checks must hold on their own. old_hex is the
// file's checksum before the damage.
static int reseal(const char *dir, const char *shard, const char *old_hex)
{
    char path[4200], hex[33];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = NULL, *at;
    size_t n = 0;
    if (lwm_file_hash(shard, hex, NULL, NULL) < 0 || lwm_read_file(NULL, path, &text, &n, NULL) < 0)
        return -1;
    int rc = (at = strstr(text, old_hex)) ? 0 : -1;
    if (rc == 0) memcpy(at, hex, 32);
    if (rc == 0) rc = lwm_write_file_atomic(path, text, n, NULL);
    lwm_free(NULL, text);
    return rc;
}

static lwm_shard_reader *reader_with(const char *dir, int *rc, const lwm_shard_reader_options *o)
{
    lwm_shard_reader *r = lwm_shard_reader_create(o);
    *rc = lwm_shard_reader_open(r, dir);
    return r;
}

static lwm_shard_reader *reader(const char *dir, int *rc)
{
    lwm_shard_reader *r = lwm_shard_reader_create(NULL);
    *rc = lwm_shard_reader_open(r, dir);
    return r;
}

static const char *shard_path(char *out, size_t cap, const char *dir, int n)
{
    snprintf(out, cap, "%s/shard-%05d.mdb", dir, n);
    return out;
}

TEST(verify_names_every_record_with_a_flipped_byte)
{
    char dir[4096], path[4200];
    fx_dir(dir, sizeof dir, "flip");
    REQUIRE(make_dataset(dir, 120, 48 << 10) == 0, "dataset");
    const int64_t bad[] = {6, 13, 61, 119}; // video records (frames > 0) spread over shards
    int rc;
    lwm_shard_reader *r = reader(dir, &rc);
    REQUIRE(rc == 0, "open");
    int nfiles;
    const lwm_shard_file *files = lwm_shard_reader_files(r, &nfiles);
    for (int b = 0; b < 4; b++) {
        int f = 0;
        while (f + 1 < nfiles && files[f + 1].first_index <= bad[b]) f++;
        shard_path(path, sizeof path, dir, f);
        char old_hex[33];
        REQUIRE(lwm_file_hash(path, old_hex, NULL, NULL) == 0, "hash");
        size_t len = 0;
        long off = locate(path, bad[b], &len, 0);
        REQUIRE(off > 0 && len > 40, "locate record %lld", (long long)bad[b]);
        uint8_t byte;
        int fd = open(path, O_RDONLY);
        REQUIRE(pread(fd, &byte, 1, off + (long)len / 2) == 1, "read");
        close(fd);
        byte ^= 0x10;
        REQUIRE(patch(path, off + (long)len / 2, &byte, 1) == 0, "patch");
        REQUIRE(reseal(dir, path, old_hex) == 0, "reseal");
    }
    lwm_shard_reader_free(r);
    r = reader(dir, &rc);
    REQUIRE(rc == 0, "open after damage: %s", lwm_shard_reader_errmsg(r));
    found f = {0};
    int64_t problems = lwm_shard_verify(r, NULL, collect, &f);
    CHECK(f.n_records == 4, "verify named %d damaged records, want 4 (%s)", f.n_records, f.last);
    for (int i = 0; i < f.n_records && i < 4; i++)
        CHECK(f.records[i] == bad[i], "damaged record %d reported as %lld, want %lld", i,
              (long long)f.records[i], (long long)bad[i]);
    CHECK(f.n_shards == 0 && problems == f.n_records, "resealed shards flagged: %d", f.n_shards);
    CHECK(strstr(f.last, "sample-000119") != NULL, "message names the id: %s", f.last);
    const lwm_shard_sample *s;
    CHECK(lwm_shard_get(r, 13, &s) == LWM_ECHECKSUM || lwm_shard_get(r, 13, &s) == LWM_EFORMAT,
          "reading a damaged record fails");
    CHECK(strstr(lwm_shard_reader_errmsg(r), "record 13"), "message names the record: %s",
          lwm_shard_reader_errmsg(r));
    char why[256];
    CHECK(lwm_shard_get(r, 12, &s) == 0 && !fx_check(s, 12, why, sizeof why),
          "a neighbour still reads");
    lwm_shard_reader_free(r);
}

TEST(verify_survives_a_zeroed_page)
{
    char dir[4096], path[4200];
    fx_dir(dir, sizeof dir, "page");
    REQUIRE(make_dataset(dir, 60, 0) == 0, "dataset");
    shard_path(path, sizeof path, dir, 0);
    size_t len;
    long off = locate(path, 30, &len, 1);
    REQUIRE(off > 0, "locate leaf page");
    static uint8_t zeros[4096];
    char old_hex[33];
    REQUIRE(lwm_file_hash(path, old_hex, NULL, NULL) == 0, "hash");
    REQUIRE(patch(path, off, zeros, sizeof zeros) == 0, "patch");
    // As damage: the reader refuses the shard unless asked to open around it;
    // verify then reports the shard once and reads none of its records.
    int rc;
    lwm_shard_reader *r = reader(dir, &rc);
    CHECK(rc == LWM_ECHECKSUM &&
              strstr(lwm_shard_reader_errmsg(r), "shard-00000.mdb: shard file is damaged"),
          "open of a damaged shard: rc %d: %s", rc, lwm_shard_reader_errmsg(r));
    lwm_shard_reader_free(r);
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    CHECK(lwm_shard_writer_open(w, dir) == LWM_ECHECKSUM, "a resumed writer refuses it too: %s",
          lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    lwm_shard_reader_options o = {.check_files = 1, .open_damaged = 1};
    r = reader_with(dir, &rc, &o);
    REQUIRE(rc == 0, "open around damage: %s", lwm_shard_reader_errmsg(r));
    found f = {0};
    lwm_shard_verify(r, NULL, collect, &f);
    CHECK(f.n_shards == 1 && f.n_records == 0, "verify: %d shard problems, %d records (%s)",
          f.n_shards, f.n_records, f.last);
    const lwm_shard_sample *s;
    CHECK(lwm_shard_get(r, 30, &s) == LWM_ECHECKSUM &&
              strstr(lwm_shard_reader_errmsg(r), "damaged"),
          "reading from the damaged shard: %s", lwm_shard_reader_errmsg(r));
    lwm_shard_reader_free(r);
    // Crafted (checksum rewritten to match): LMDB's own page checks must hold.
    REQUIRE(reseal(dir, path, old_hex) == 0, "reseal");
    r = reader(dir, &rc);
    REQUIRE(rc == 0, "open: %s", lwm_shard_reader_errmsg(r));
    memset(&f, 0, sizeof f);
    lwm_shard_verify(r, NULL, collect, &f);
    int has30 = 0;
    for (int i = 0; i < f.n_records; i++) has30 |= f.records[i] == 30;
    CHECK(f.n_shards == 0 && has30, "verify: %d shard problems, record 30 reported %d (%s)",
          f.n_shards, has30, f.last);
    lwm_shard_reader_free(r);
}

TEST(missing_shard_is_named)
{
    char dir[4096], path[4200];
    fx_dir(dir, sizeof dir, "missing");
    REQUIRE(make_dataset(dir, 100, 40 << 10) == 0, "dataset");
    REQUIRE(unlink(shard_path(path, sizeof path, dir, 1)) == 0, "unlink");
    int rc;
    lwm_shard_reader *r = reader(dir, &rc);
    CHECK(rc == LWM_ENOTFOUND && strstr(lwm_shard_reader_errmsg(r), "shard-00001.mdb") &&
              strstr(lwm_shard_reader_errmsg(r), "missing"),
          "rc %d: %s", rc, lwm_shard_reader_errmsg(r));
    lwm_shard_reader_free(r);
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    CHECK(lwm_shard_writer_open(w, dir) == LWM_ENOTFOUND, "the writer refuses too: %s",
          lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
}

TEST(newer_schema_is_refused_with_versions)
{
    char dir[4096], path[4200];
    fx_dir(dir, sizeof dir, "newer");
    REQUIRE(make_dataset(dir, 10, 0) == 0, "dataset");
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    char *text = NULL;
    size_t n = 0;
    REQUIRE(lwm_read_file(NULL, path, &text, &n, NULL) == 0, "read manifest");
    char *p = strstr(text, "\"schema\":\t1");
    REQUIRE(p, "manifest has a schema field: %.200s", text);
    p[10] = '7';
    REQUIRE(lwm_write_file_atomic(path, text, n, NULL) == 0, "write");
    lwm_free(NULL, text);
    int rc;
    lwm_shard_reader *r = reader(dir, &rc);
    CHECK(rc == LWM_EVERSION && strstr(lwm_shard_reader_errmsg(r), "version 7") &&
              strstr(lwm_shard_reader_errmsg(r), "(1)"),
          "rc %d: %s", rc, lwm_shard_reader_errmsg(r));
    lwm_shard_reader_free(r);
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    CHECK(lwm_shard_writer_open(w, dir) == LWM_EVERSION, "writer: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
}

TEST(newer_record_layout_is_refused)
{
    char dir[4096], path[4200];
    fx_dir(dir, sizeof dir, "newrec");
    REQUIRE(make_dataset(dir, 10, 0) == 0, "dataset");
    shard_path(path, sizeof path, dir, 0);
    size_t len;
    long off = locate(path, 4, &len, 0);
    REQUIRE(off > 0, "locate");
    uint8_t v = 9;
    char old_hex[33];
    REQUIRE(lwm_file_hash(path, old_hex, NULL, NULL) == 0, "hash");
    REQUIRE(patch(path, off + 4, &v, 1) == 0, "patch");
    REQUIRE(reseal(dir, path, old_hex) == 0, "reseal");
    int rc;
    lwm_shard_reader *r = reader(dir, &rc);
    REQUIRE(rc == 0, "open");
    const lwm_shard_sample *s;
    CHECK(lwm_shard_get(r, 4, &s) == LWM_EVERSION &&
              strstr(lwm_shard_reader_errmsg(r), "version 9"),
          "%s", lwm_shard_reader_errmsg(r));
    lwm_shard_reader_free(r);
}

TEST(map_full_is_a_clean_error_and_keeps_commits)
{
    char dir[4096], why[256];
    fx_dir(dir, sizeof dir, "mapfull");
    lwm_shard_writer_options o = {.shard_bytes = 1 << 30, .map_bytes = 256 << 10};
    lwm_shard_writer *w = lwm_shard_writer_create(&o);
    REQUIRE(lwm_shard_writer_open(w, dir) == 0, "open");
    REQUIRE(fx_write(w, 0, 10, 10) == 0, "first batch");
    int rc = fx_write(w, 10, 400, 400); // ~1 MB in one batch: larger than a whole map
    CHECK(rc == LWM_EFULL && strstr(lwm_shard_writer_errmsg(w), "does not fit"), "rc %d: %s", rc,
          lwm_shard_writer_errmsg(w));
    CHECK(fx_write(w, 10, 20, 10) == 0, "a smaller batch after the failure: %s",
          lwm_shard_writer_errmsg(w));
    CHECK(lwm_shard_writer_close(w) == 0, "close: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    lwm_shard_reader *r = reader(dir, &rc);
    REQUIRE(rc == 0, "reader");
    CHECK(lwm_shard_reader_count(r) == 20, "count %lld", (long long)lwm_shard_reader_count(r));
    for (int64_t i = 0; i < lwm_shard_reader_count(r); i++) {
        const lwm_shard_sample *s;
        REQUIRE(lwm_shard_get(r, i, &s) == 0 && !fx_check(s, i, why, sizeof why), "record %lld",
                (long long)i);
    }
    lwm_shard_reader_free(r);
}

// A full disk, simulated with RLIMIT_FSIZE in a child: the commit fails with
// an errno naming the shard; every batch committed before is intact.
TEST(full_disk_fails_the_commit_and_keeps_earlier_batches)
{
    char dir[4096], why[256];
    fx_dir(dir, sizeof dir, "disk");
    int pipefd[2];
    REQUIRE(pipe(pipefd) == 0, "pipe");
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        lwm_shard_writer *w = lwm_shard_writer_create(NULL);
        if (lwm_shard_writer_open(w, dir) < 0) _exit(2);
        struct rlimit lim = {300 << 10, 300 << 10};
        setrlimit(RLIMIT_FSIZE, &lim);
        int rc = fx_write(w, 0, 100000, 8);
        int64_t msg[2] = {rc, lwm_shard_writer_count(w)};
        if (write(pipefd[1], msg, sizeof msg) != sizeof msg) _exit(3);
        if (write(pipefd[1], lwm_shard_writer_errmsg(w), 200) != 200) _exit(3);
        _exit(0);
    }
    int64_t msg[2] = {0, 0};
    char text[201] = {0};
    CHECK(read(pipefd[0], msg, sizeof msg) == sizeof msg && read(pipefd[0], text, 200) == 200,
          "child report");
    waitpid(pid, NULL, 0);
    close(pipefd[0]);
    close(pipefd[1]);
    CHECK((msg[0] == -EFBIG || msg[0] == -EIO || msg[0] == -ENOSPC) && strstr(text, ".mdb") &&
              strstr(text, "disk full"),
          "rc %lld: %s", (long long)msg[0], text);
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    REQUIRE(lwm_shard_writer_open(w, dir) == 0, "reopen: %s", lwm_shard_writer_errmsg(w));
    CHECK(lwm_shard_writer_count(w) == msg[1] && msg[1] > 0, "committed %lld, reopened %lld",
          (long long)msg[1], (long long)lwm_shard_writer_count(w));
    CHECK(lwm_shard_writer_close(w) == 0, "close: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    int rc;
    lwm_shard_reader *r = reader(dir, &rc);
    REQUIRE(rc == 0, "reader");
    for (int64_t i = 0; i < lwm_shard_reader_count(r); i++) {
        const lwm_shard_sample *s;
        REQUIRE(lwm_shard_get(r, i, &s) == 0 && !fx_check(s, i, why, sizeof why), "record %lld",
                (long long)i);
    }
    lwm_shard_reader_free(r);
}

TEST_MAIN("shard/faults", T(verify_names_every_record_with_a_flipped_byte),
          T(verify_survives_a_zeroed_page), T(missing_shard_is_named),
          T(newer_schema_is_refused_with_versions), T(newer_record_layout_is_refused),
          T(map_full_is_a_clean_error_and_keeps_commits),
          T(full_disk_fails_the_commit_and_keeps_earlier_batches))
