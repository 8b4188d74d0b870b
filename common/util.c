// Clocks, whole-file I/O, paths, resource usage and content hashes.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "common.h"

double lwm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int regular_or_error(const char *path, const struct stat *st, lwm_error *err)
{
    if (S_ISREG(st->st_mode)) return 0;
    return lwm_error_set(err, LWM_EINVAL, "%s: not a regular file (%s)", path,
                         S_ISDIR(st->st_mode)                           ? "a directory"
                         : S_ISFIFO(st->st_mode)                        ? "a pipe"
                         : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device"
                                                                        : "not a file");
}

int lwm_check_regular_file(const char *path, lwm_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) return lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    return regular_or_error(path, &st, err);
}

int lwm_read_file(const lwm_mem *mem, const char *path, char **data, size_t *size, lwm_error *err)
{
    return lwm_read_file_max(mem, path, 0, data, size, err);
}

int lwm_read_file_max(const lwm_mem *mem, const char *path, size_t max_bytes, char **data,
                      size_t *size, lwm_error *err)
{
    *data = NULL;
    *size = 0;
    LWM_TRY(lwm_check_regular_file(path, err)); // before fopen, which blocks on a pipe
    FILE *f = fopen(path, "rb");
    if (!f) return lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    int rc = 0;
    char *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) goto io_error;
    if ((rc = regular_or_error(path, &st, err)) < 0) goto done;
    off_t n = st.st_size;
    if (max_bytes && (uint64_t)n > max_bytes) {
        rc = lwm_error_set(err, LWM_EINVAL, "%s: %lld bytes, more than the %lld this file may have",
                           path, (long long)n, (long long)max_bytes);
        goto done;
    }
    buf = lwm_malloc(mem, (size_t)n + 1);
    if (!buf) {
        rc =
            lwm_error_set(err, -ENOMEM, "%s: out of memory reading %lld bytes", path, (long long)n);
        goto done;
    }
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) goto io_error;
    buf[n] = '\0';
    *data = buf;
    *size = (size_t)n;
    buf = NULL;
    goto done;
io_error:
    rc = lwm_error_set(err, errno ? -errno : -EIO, "%s: read failed: %s", path,
                       strerror(errno ? errno : EIO));
done:
    lwm_free(mem, buf);
    fclose(f);
    return rc;
}

int lwm_atomic_open(lwm_atomic_file *af, const char *path, lwm_error *err)
{
    af->f = NULL;
    af->tmp[0] = '\0';
    if (lwm_format(af->path, sizeof af->path, "%s", path) < 0 ||
        lwm_format(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        af->tmp[0] = '\0';
        return lwm_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    }
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        int e = errno;
        af->tmp[0] = '\0'; // nothing to remove
        return lwm_error_set(err, -e, "%s: cannot create: %s", path, strerror(e));
    }
    return 0;
}

int lwm_atomic_write(lwm_atomic_file *af, const void *data, size_t size, lwm_error *err)
{
    if (size > 0 && fwrite(data, 1, size, af->f) != size)
        return lwm_error_set(err, -EIO, "%s: write failed: %s", af->tmp, strerror(errno));
    return 0;
}

int lwm_atomic_commit(lwm_atomic_file *af, lwm_error *err)
{
    int ok = fflush(af->f) == 0 && fsync(fileno(af->f)) == 0;
    int e = ok ? 0 : errno;
    if (fclose(af->f) != 0 && ok) ok = 0, e = errno;
    af->f = NULL;
    if (ok && rename(af->tmp, af->path) == 0) return 0;
    if (ok) e = errno;
    if (!e) e = EIO;
    unlink(af->tmp);
    return lwm_error_set(err, -e, "%s: cannot write: %s", af->path, strerror(e));
}

void lwm_atomic_abort(lwm_atomic_file *af)
{
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp[0]) unlink(af->tmp);
}

int lwm_write_file_atomic(const char *path, const void *data, size_t size, lwm_error *err)
{
    lwm_atomic_file af;
    LWM_TRY(lwm_atomic_open(&af, path, err));
    int rc = lwm_atomic_write(&af, data, size, err);
    if (rc == 0) return lwm_atomic_commit(&af, err);
    lwm_atomic_abort(&af);
    return rc;
}

int lwm_mkdirs(const char *path, lwm_error *err)
{
    char buf[4096];
    if (lwm_format(buf, sizeof buf, "%s", path) < 0)
        return lwm_error_set(err, -ENAMETOOLONG, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return lwm_error_set(err, -errno, "%s: cannot create directory: %s", buf,
                                 strerror(errno));
        *p = c;
        if (c == '\0') break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return lwm_error_set(err, -ENOTDIR, "%s: not a directory", path);
    return 0;
}

int lwm_format(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

int lwm_path_join(char *out, size_t cap, const char *dir, const char *name)
{
    size_t n = strlen(dir);
    const char *sep = (n > 0 && dir[n - 1] == '/') ? "" : "/";
    return lwm_format(out, cap, "%s%s%s", dir, sep, name);
}

int64_t lwm_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (int64_t)ru.ru_maxrss * 1024; // Linux reports KiB
}

uint64_t lwm_hash64(const void *data, size_t size)
{
    return XXH3_64bits(data, size);
}

int lwm_hasher_init(lwm_hasher *h)
{
    XXH3_state_t *s = XXH3_createState();
    if (!s) return -ENOMEM;
    XXH3_128bits_reset(s);
    h->state = s;
    return 0;
}

void lwm_hasher_update(lwm_hasher *h, const void *data, size_t size)
{
    XXH3_128bits_update(h->state, data, size);
}

void lwm_hasher_final(lwm_hasher *h, char hex[33])
{
    XXH128_hash_t d = XXH3_128bits_digest(h->state);
    snprintf(hex, 33, "%016llx%016llx", (unsigned long long)d.high64, (unsigned long long)d.low64);
    XXH3_freeState(h->state);
    h->state = NULL;
}

int lwm_file_hash(const char *path, char hex[33], int64_t *size, lwm_error *err)
{
    LWM_TRY(lwm_check_regular_file(path, err)); // before open, which blocks on a pipe
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lwm_error_set(err, errno == ENOENT ? LWM_ENOTFOUND : -errno, "%s: %s", path,
                             strerror(errno));
    lwm_hasher h;
    static const size_t chunk = 1 << 20;
    uint8_t *buf = lwm_malloc(NULL, chunk);
    if (!buf || lwm_hasher_init(&h) < 0) {
        lwm_free(NULL, buf);
        close(fd);
        return lwm_error_set(err, -ENOMEM, "out of memory");
    }
    int64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = lwm_error_set(err, -errno, "%s: read: %s", path, strerror(errno));
            break;
        }
        if (n == 0) break;
        lwm_hasher_update(&h, buf, (size_t)n);
        total += n;
    }
    lwm_hasher_final(&h, hex);
    lwm_free(NULL, buf);
    close(fd);
    if (size) *size = total;
    return rc;
}
