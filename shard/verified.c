// A sealed shard is hashed against the manifest before LMDB opens it: LMDB
// trusts its files and aborts on a damaged page (a flags byte is enough), so a
// damaged shard must never reach it. Hashing a terabyte on every `lwm show`
// would be absurd, so a shard that hashed right once is remembered in a small
// per-user cache, keyed by what changes whenever the file's bytes can: device,
// inode, size, mtime and ctime (nanoseconds; ctime cannot be set back by
// user-level tools, so a copied, extracted or rewritten file always misses).
// The cache lives outside the dataset: a dataset from a stranger cannot vouch
// for itself. $LWM_CACHE_DIR, else $XDG_CACHE_HOME/lwm, else ~/.cache/lwm; when
// none is usable every open hashes.

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum { CACHE_MAX_BYTES = 4 << 20 }; // ~40,000 shards; past it the cache starts over

static int cache_path(char *out, size_t cap, int create)
{
    const char *dir = getenv("LWM_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    char buf[4096];
    if (dir && dir[0]) {
        if (lwm_format(buf, sizeof buf, "%s", dir) < 0) return -1;
    } else if (xdg && xdg[0]) {
        if (lwm_format(buf, sizeof buf, "%s/lwm", xdg) < 0) return -1;
    } else if (home && home[0]) {
        if (lwm_format(buf, sizeof buf, "%s/.cache/lwm", home) < 0) return -1;
    } else {
        return -1;
    }
    if (create) {
        lwm_error ignored = {0};
        if (lwm_mkdirs(buf, &ignored) < 0) return -1;
    }
    return lwm_path_join(out, cap, buf, "verified-shards");
}

// One line per file: dev ino size mtime.s mtime.ns ctime.s ctime.ns checksum.
static int format_entry(char *out, size_t cap, const struct stat *st, const char *checksum)
{
    return lwm_format(out, cap, "%llu %llu %lld %lld %ld %lld %ld %.32s\n",
                      (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                      (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                      (long)st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
                      (long)st->st_ctim.tv_nsec, checksum);
}

static int cache_has(const struct stat *st, const char *checksum)
{
    char path[4096], want[256];
    if (cache_path(path, sizeof path, 0) < 0 || format_entry(want, sizeof want, st, checksum) < 0)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[256];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strcmp(line, want) == 0;
    fclose(f);
    return found;
}

static void remember(const struct stat *st, const char *checksum)
{
    struct stat cst;
    char cpath[4096], entry[256];
    if (!S_ISREG(st->st_mode) || cache_path(cpath, sizeof cpath, 1) < 0 ||
        format_entry(entry, sizeof entry, st, checksum) < 0)
        return;
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
    if (stat(cpath, &cst) == 0 && cst.st_size > CACHE_MAX_BYTES) flags |= O_TRUNC;
    int fd = open(cpath, flags, 0644);
    if (fd < 0) return;
    // One write() of a short line under O_APPEND: concurrent processes never interleave.
    ssize_t n = write(fd, entry, strlen(entry));
    (void)n; // a cache that cannot be written only costs a hash next time
    close(fd);
}

void shard_verified_remember(const char *path, const char *checksum)
{
    struct stat st;
    if (stat(path, &st) == 0) remember(&st, checksum);
}

static int same_file_state(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int shard_check_sealed_file(const char *dir, const lwm_shard_file *f, int rehash, lwm_error *err)
{
    char path[4096];
    struct stat st;
    LWM_CHECK(err, lwm_path_join(path, sizeof path, dir, f->name) == 0, -ENAMETOOLONG,
              "%s/%s: path too long", dir, f->name);
    if (stat(path, &st) != 0)
        return lwm_error_set(err, errno == ENOENT ? LWM_ENOTFOUND : -errno,
                             "%s: shard file is missing (the manifest lists it with %lld records)",
                             path, (long long)f->records);
    LWM_CHECK(err, S_ISREG(st.st_mode), LWM_EFORMAT, "%s: not a regular file", path);
    LWM_CHECK(err, st.st_size == f->file_bytes, LWM_EFORMAT,
              "%s: shard file is %lld bytes, the manifest says %lld (truncated or replaced)", path,
              (long long)st.st_size, (long long)f->file_bytes);
    if (!rehash && cache_has(&st, f->checksum)) return 0;
    char hex[33];
    int64_t size;
    LWM_TRY(lwm_file_hash(path, hex, &size, err));
    LWM_CHECK(err, strcmp(hex, f->checksum) == 0, LWM_ECHECKSUM,
              "%s: shard file is damaged (xxh3-128 %s, the manifest says %s)", path, hex,
              f->checksum);
    struct stat after; // remembered only if nothing touched the file while it was hashed
    if (stat(path, &after) == 0 && same_file_state(&st, &after)) remember(&st, hex);
    return 0;
}
