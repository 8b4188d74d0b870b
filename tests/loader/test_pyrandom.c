// Internals that must match Python and NumPy bit for bit, checked against
// Debian's /usr/bin/python3: random.Random(seed).choice(seq) (LWM's choice of
// a fields-spec alternative) and np.linspace(0, n-1, m).astype(int) (LWM's
// frame subsampling), plus the Feistel permutation being a bijection.
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "loader/internal.h"

TEST(choice_matches_python_random)
{
    const char *script = "/usr/bin/python3 -c \"import random\n"
                         "for n in (2, 3, 5, 7, 100, 1048577):\n"
                         "  for s in list(range(300)) + [2**32 + 5, 2**40 + 12345, 987654321987]:\n"
                         "    print(n, s, random.Random(s).choice(range(n)))\"";
    FILE *p = popen(script, "r");
    REQUIRE(p, "popen python3");
    long long n, s, want;
    int checked = 0;
    while (fscanf(p, "%lld %lld %lld", &n, &s, &want) == 3) {
        int64_t got = loader_py_choice((uint64_t)s, n);
        CHECK(got == want, "Random(%lld).choice(range(%lld)): python %lld, ours %lld", s, n, want,
              (long long)got);
        checked++;
    }
    CHECK(pclose(p) == 0 && checked == 6 * 303, "python produced %d cases", checked);
}

TEST(frame_index_matches_numpy_linspace)
{
    const char *script = "/usr/bin/python3 -c \"import numpy as np\n"
                         "for n in (2, 3, 5, 10, 37, 100, 3600, 10007):\n"
                         "  for m in (1, 2, 3, 4, 7, 8, 16, 64):\n"
                         "    if m < n:\n"
                         "      print(n, m, *np.linspace(0, n - 1, m).astype(int).tolist())\"";
    FILE *p = popen(script, "r");
    REQUIRE(p, "popen python3");
    long long n, m;
    int cases = 0;
    while (fscanf(p, "%lld %lld", &n, &m) == 2) {
        for (long long k = 0; k < m; k++) {
            long long want = -1;
            if (fscanf(p, "%lld", &want) != 1) break;
            int64_t got = loader_frame_index(n, m, k);
            CHECK(got == want, "linspace(0, %lld, %lld)[%lld]: numpy %lld, ours %lld", n - 1, m, k,
                  want, (long long)got);
        }
        cases++;
    }
    CHECK(pclose(p) == 0 && cases > 40, "numpy produced %d cases", cases);
}

TEST(permutation_is_a_bijection)
{
    int64_t sizes[] = {1, 2, 3, 17, 1000, 4097, 65536};
    static uint8_t seen[65536];
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int64_t n = sizes[t];
        loader_perm perm;
        loader_perm_init(&perm, n, 42, 1, 2, 0);
        memset(seen, 0, sizeof seen);
        int64_t fixed = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t j = loader_perm_apply(&perm, i);
            REQUIRE(j >= 0 && j < n, "n %lld: %lld -> %lld", (long long)n, (long long)i,
                    (long long)j);
            CHECK(!seen[j], "n %lld: %lld hit twice", (long long)n, (long long)j);
            seen[j] = 1;
            fixed += j == i;
        }
        CHECK(n < 1000 || fixed < n / 100, "n %lld: %lld fixed points (not shuffled)", (long long)n,
              (long long)fixed);
    }
}

TEST_MAIN("loader/internals", T(choice_matches_python_random),
          T(frame_index_matches_numpy_linspace), T(permutation_is_a_bijection))
