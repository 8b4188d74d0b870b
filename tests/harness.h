/**
 * harness.h: a minimal test harness. A test file defines cases with TEST(name),
 * lists them in TEST_LIST, and ends with TEST_MAIN("stage/subject"). Each case
 * prints "ok stage/subject/name" or "not ok stage/subject/name: reason"; the
 * runner (tests/run.sh) counts those lines.
 *
 *   TEST(parses_ids) { CHECK(x == 1, "x is %d", x); }
 *   TEST_MAIN("common/error", T(parses_ids))
 */
#ifndef LWM_TESTS_HARNESS_H
#define LWM_TESTS_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

// Harness state is per test process; only tests use it.
static int test_failed_;
static char test_reason_[1024];

#define TEST(name) static void test_##name(void)
#define T(name)                                                                                    \
    {                                                                                              \
#name, test_##name                                                                         \
    }

/** Fails the current case (keeps running it) when cond is false. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!test_failed_) {                                                                   \
                int n_ =                                                                           \
                    snprintf(test_reason_, sizeof test_reason_, "%s:%d: ", __FILE__, __LINE__);    \
                snprintf(test_reason_ + n_, sizeof test_reason_ - (size_t)n_, __VA_ARGS__);        \
            }                                                                                      \
            test_failed_ = 1;                                                                      \
        }                                                                                          \
    } while (0)

/** Fails and leaves the current case when cond is false. */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        CHECK(cond, __VA_ARGS__);                                                                  \
        if (test_failed_) return;                                                                  \
    } while (0)

/** Max relative error between two float arrays, relative to max |ref| (with a floor). */
static inline double max_rel_err(const float *got, const double *ref, size_t n)
{
    double scale = 1e-30, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - ref[i]) / scale);
    return worst;
}

/** The directory for this process's scratch files (LWM_TMP from the runner, else /tmp). */
static inline const char *test_tmpdir(void)
{
    const char *d = getenv("LWM_TMP");
    return d && *d ? d : "/tmp";
}

/** ../shared/data when present (LWM_SHARED_DATA from the runner), else NULL. */
static inline const char *test_shared_data(void)
{
    const char *d = getenv("LWM_SHARED_DATA");
    return d && *d ? d : NULL;
}

static inline int run_tests_(const char *suite, const test_case *cases, size_t n, int argc,
                             char **argv)
{
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && !strstr(cases[i].name, argv[1])) continue;
        test_failed_ = 0;
        test_reason_[0] = '\0';
        cases[i].fn();
        if (test_failed_)
            printf("not ok %s/%s: %s\n", suite, cases[i].name, test_reason_);
        else
            printf("ok %s/%s\n", suite, cases[i].name);
        fflush(stdout);
        failed += test_failed_;
    }
    return failed ? 1 : 0;
}

#define TEST_MAIN(suite, ...)                                                                      \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const test_case cases_[] = {__VA_ARGS__};                                           \
        return run_tests_(suite, cases_, sizeof cases_ / sizeof cases_[0], argc, argv);            \
    }

#endif /* LWM_TESTS_HARNESS_H */
