// The run directory: an earlier run is never replaced by accident, the last K checkpoints
// stay on disk, and two symbolic links name the newest:
//
//   RUN/checkpoints/step-00000120.bin   one file per checkpoint, the newest K kept
//   RUN/latest -> checkpoints/step-00000120.bin
//   RUN/checkpoint.bin -> latest        the name --resume reads (and runs before the
//                                       checkpoints/ folder wrote a plain file there)
//
// A link is replaced by rename(2) over it, so a crash at any moment leaves the previous
// or the new checkpoint named, never a missing or half-written one.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

// Files a run writes; --overwrite removes exactly these, never anything else in RUN.
static const char *const run_files[] = {"log.jsonl", "checkpoint.bin", "latest",
                                        "weights.safetensors", "loss.png"};

// name exists in dir (a link counts, even a dangling one); with nonempty, only with content.
static int exists(const char *dir, const char *name, int nonempty)
{
    char path[4096];
    struct stat st;
    return lwm_path_join(path, sizeof path, dir, name) == 0 && lstat(path, &st) == 0 &&
           (!nonempty || st.st_size > 0);
}

// Steps of the checkpoints in dir/checkpoints, ascending; the count, or a negative code.
static int list_steps(const char *dir, int64_t *steps, int cap)
{
    char path[4096];
    if (lwm_path_join(path, sizeof path, dir, "checkpoints") < 0) return -ENAMETOOLONG;
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? 0 : -errno;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < cap;) {
        long long step;
        char tail[8];
        if (sscanf(e->d_name, "step-%lld.bi%1s", &step, tail) == 2 && strcmp(tail, "n") == 0 &&
            step >= 0)
            steps[n++] = step;
    }
    closedir(d);
    for (int i = 1; i < n; i++) // insertion sort: a run keeps a handful
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
            int64_t t = steps[j];
            steps[j] = steps[j - 1], steps[j - 1] = t;
        }
    return n;
}

int run_dir_checkpoint_path(char *out, size_t cap, const char *dir, int64_t step)
{
    return lwm_format(out, cap, "%s/checkpoints/step-%08lld.bin", dir, (long long)step);
}

static int remove_outputs(const char *dir, lwm_error *err)
{
    char path[4096];
    int64_t steps[1024];
    int n = list_steps(dir, steps, 1024);
    for (int i = 0; i < n; i++)
        if (run_dir_checkpoint_path(path, sizeof path, dir, steps[i]) == 0) unlink(path);
    if (lwm_path_join(path, sizeof path, dir, "checkpoints") == 0) rmdir(path);
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
        LWM_TRY(lwm_path_join(path, sizeof path, dir, run_files[i]));
        LWM_CHECK(err, unlink(path) == 0 || errno == ENOENT, -errno, "%s: cannot remove: %s", path,
                  strerror(errno));
    }
    return 0;
}

int run_dir_prepare(const char *dir, int resume, int overwrite, lwm_error *err)
{
    if (resume) return 0; // restoring the checkpoint says what is wrong with it
    int64_t steps[1];
    // An empty log is a run that failed before its first step: nothing to lose.
    int held = exists(dir, "log.jsonl", 1) || exists(dir, "checkpoint.bin", 0) ||
               exists(dir, "latest", 0) || list_steps(dir, steps, 1) > 0;
    if (!held) return 0;
    if (overwrite) return remove_outputs(dir, err);
    return lwm_error_set(
        err, LWM_EEXISTS,
        "%s holds a training run (log.jsonl or a checkpoint): give --resume to continue "
        "it, --overwrite to replace it, or another --out",
        dir);
}

// Points name (in dir) at target by a new link renamed over the old one.
static int relink(const char *dir, const char *name, const char *target, lwm_error *err)
{
    char path[4096], tmp[4200];
    LWM_TRY(lwm_path_join(path, sizeof path, dir, name));
    LWM_TRY(lwm_format(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()));
    unlink(tmp);
    LWM_CHECK(err, symlink(target, tmp) == 0, -errno, "%s: cannot create a link: %s", tmp,
              strerror(errno));
    if (rename(tmp, path) == 0) return 0;
    int e = errno;
    unlink(tmp);
    return lwm_error_set(err, -e, "%s: cannot replace: %s", path, strerror(e));
}

int run_dir_publish(const char *dir, int64_t step, int keep, lwm_error *err)
{
    char target[64], path[4096], link[16];
    LWM_TRY(lwm_format(target, sizeof target, "checkpoints/step-%08lld.bin", (long long)step));
    LWM_TRY(relink(dir, "latest", target, err));
    LWM_TRY(lwm_path_join(path, sizeof path, dir, "checkpoint.bin"));
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n != 6 || memcmp(link, "latest", 6) != 0)
        LWM_TRY(relink(dir, "checkpoint.bin", "latest", err));
    int64_t steps[1024];
    int count = list_steps(dir, steps, 1024);
    for (int i = 0; i < count - keep; i++) // oldest first; the newest keep stay
        if (steps[i] != step && run_dir_checkpoint_path(path, sizeof path, dir, steps[i]) == 0)
            unlink(path);
    return 0;
}

int run_dir_make(const char *dir, lwm_error *err)
{
    char path[4096];
    LWM_TRY(lwm_path_join(path, sizeof path, dir, "checkpoints"));
    return lwm_mkdirs(path, err);
}
