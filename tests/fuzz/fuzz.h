/**
 * fuzz.h: libFuzzer harnesses that also run as ordinary tests.
 *
 * Each tests/fuzz/test_fuzz_<name>.c defines LLVMFuzzerTestOneInput for one parser of file
 * bytes and ends with FUZZ_MAIN("<name>"). Built by `make fuzz` (clang, -DLWM_LIBFUZZER,
 * -fsanitize=fuzzer,address,undefined) it is a libFuzzer target; built by `make test` (gcc,
 * SAN=1 or not) it is a replay driver: every file of tests/fuzz/<name>/ (seeds, crafted cases
 * and every crash found, kept as regression inputs) goes through the harness once, and the
 * test prints "ok fuzz/<name>/replay: N inputs". A crash kills the process; the runner then
 * reports it, and stderr names the input ("# input tests/fuzz/<name>/<file>").
 * With arguments, the driver replays just those files.
 */
#ifndef LWM_TESTS_FUZZ_H
#define LWM_TESTS_FUZZ_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** A per-process scratch path for parsers that read files: dir/lwm-fuzz-<pid>-<tag>. */
static inline const char *fuzz_path(const char *tag)
{
    static char path[4][512];
    static int k;
    char *out = path[k++ % 4];
    const char *dir = getenv("LWM_TMP");
    snprintf(out, 512, "%s/lwm-fuzz-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), tag);
    return out;
}

/** Writes data to path; 0 or -1. */
static inline int fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok ? 0 : -1;
}

#ifndef LWM_LIBFUZZER
static int fuzz_replay_file_(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    size_t got = buf && n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (!buf) return -1;
    // An exact-size copy: a read one byte past the input is an ASan error under SAN=1.
    uint8_t *exact = malloc(got ? got : 1);
    memcpy(exact, buf, got);
    free(buf);
    fprintf(stderr, "# input %s (%zu bytes)\n", path, got);
    LLVMFuzzerTestOneInput(exact, got);
    free(exact);
    return 0;
}

static int fuzz_by_name_(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int fuzz_replay_(const char *name, int argc, char **argv)
{
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) n += fuzz_replay_file_(argv[i]) == 0;
        printf("ok fuzz/%s/replay: %d inputs\n", name, n);
        return 0;
    }
    char dir[1024];
    const char *root = getenv("LWM_ROOT");
    snprintf(dir, sizeof dir, "%s/tests/fuzz/%s", root && *root ? root : ".", name);
    struct dirent **list = NULL;
    int m = scandir(dir, &list, NULL, fuzz_by_name_);
    for (int i = 0; i < m; i++) {
        char path[2048];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) n += fuzz_replay_file_(path) == 0;
        free(list[i]);
    }
    free(list);
    if (n == 0)
        printf("not ok fuzz/%s/replay: no inputs in %s\n", name, dir);
    else
        printf("ok fuzz/%s/replay: %d inputs\n", name, n);
    return n == 0;
}
#define FUZZ_MAIN(name)                                                                            \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return fuzz_replay_(name, argc, argv);                                                     \
    }
#define FUZZ_RESEAL_MUTANTS(reseal)
#else
#define FUZZ_MAIN(name)
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
/*
 * For formats that carry a checksum: libFuzzer's own mutation, then
 * reseal(data, size) rewrites the checksum as anyone who writes the file can
 * (it is not a MAC); without it every mutant stops at the checksum check.
 */
#define FUZZ_RESEAL_MUTANTS(reseal)                                                                \
    size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned seed)     \
    {                                                                                              \
        (void)seed;                                                                                \
        size = LLVMFuzzerMutate(data, size, max_size);                                             \
        reseal(data, size);                                                                        \
        return size;                                                                               \
    }
#endif

#endif /* LWM_TESTS_FUZZ_H */
