// Frame selection: LWM's linspace rule against NumPy itself, and the fps rule
// on timestamp lists whose answers follow from arithmetic.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "ingest/internal.h"

// (n, m) pairs that stress float64 rounding in k*(n-1)/(m-1).
static const int64_t pairs[][2] = {
    {10, 4},     {100, 7},   {325, 8},       {1000, 3},    {1001, 1000}, {49, 48},
    {12345, 97}, {90000, 4}, {7, 6},         {3600, 1000}, {98765, 333}, {5, 2},
    {2, 1},      {300, 299}, {1 << 20, 777}, {999999, 12}, {17, 16},     {65, 64},
};
#define NPAIRS (sizeof pairs / sizeof pairs[0])

TEST(linspace_matches_numpy)
{
    // NumPy is the definition (lwm-format.md §2.3); ask it directly.
    char cmd[4096];
    int off = snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import numpy as np\nfor n, m in [");
    for (size_t i = 0; i < NPAIRS; i++)
        off += snprintf(cmd + off, sizeof cmd - (size_t)off, "(%lld,%lld),", (long long)pairs[i][0],
                        (long long)pairs[i][1]);
    snprintf(cmd + off, sizeof cmd - (size_t)off,
             "]: print(\" \".join(str(int(x)) for x in np.linspace(0, n - 1, m)))'");
    FILE *p = popen(cmd, "r");
    REQUIRE(p, "cannot run python3");
    int64_t *got = malloc(sizeof(int64_t) * (1 << 20));
    for (size_t i = 0; i < NPAIRS && !test_failed_; i++) {
        size_t count = ingest_linspace_pick(got, pairs[i][0], pairs[i][1]);
        CHECK(count == (size_t)pairs[i][1], "(%lld, %lld): %zu picks", (long long)pairs[i][0],
              (long long)pairs[i][1], count);
        for (size_t k = 0; k < count; k++) {
            long long want = -1;
            if (fscanf(p, "%lld", &want) != 1) {
                CHECK(0, "numpy output ended early");
                break;
            }
            CHECK(got[k] == want, "(%lld, %lld)[%zu] = %lld, numpy %lld", (long long)pairs[i][0],
                  (long long)pairs[i][1], k, (long long)got[k], want);
        }
    }
    free(got);
    CHECK(pclose(p) == 0, "python3 failed");
}

TEST(linspace_keeps_all_when_short)
{
    int64_t out[8];
    CHECK(ingest_linspace_pick(out, 5, 8) == 5 && out[4] == 4, "n < m must keep all");
    CHECK(ingest_linspace_pick(out, 8, 8) == 8 && out[7] == 7, "n == m must keep all");
    CHECK(ingest_linspace_pick(out, 8, 0) == 8, "m = 0 means no limit");
    CHECK(ingest_linspace_pick(out, 0, 4) == 0, "no frames, no picks");
    CHECK(ingest_linspace_pick(out, 9, 1) == 1 && out[0] == 0, "m = 1 picks the first frame");
}

static double times30[301];

TEST(fps_constant_rate)
{
    // 10 s at 30 fps: 300 frames at k/30. At 1 fps the ticks 0..9 s fall on
    // frames 0, 30, ..., 270; at 2.5 fps on every 12th frame.
    for (int i = 0; i < 300; i++) times30[i] = i / 30.0;
    int64_t out[300];
    size_t n = ingest_fps_pick(out, times30, 300, 1.0);
    CHECK(n == 10, "%zu picks at 1 fps", n);
    for (size_t k = 0; k < n; k++)
        CHECK(out[k] == (int64_t)k * 30, "pick %zu = %lld", k, (long long)out[k]);
    n = ingest_fps_pick(out, times30, 300, 2.5);
    CHECK(n == 25 && out[1] == 12 && out[24] == 288, "2.5 fps: %zu picks", n);
    // Faster than the video: every frame once.
    n = ingest_fps_pick(out, times30, 300, 100.0);
    CHECK(n == 300 && out[299] == 299, "100 fps: %zu picks", n);
}

TEST(fps_rounded_timestamps)
{
    // Matroska stores milliseconds: 30 fps becomes 0, 33, 67, 100, ... ms.
    // Sampling at 30 fps must still take every frame.
    double t[90];
    for (int i = 0; i < 90; i++) t[i] = (double)(int64_t)(i * 1000.0 / 30.0 + 0.5) / 1000.0;
    int64_t out[90];
    size_t n = ingest_fps_pick(out, t, 90, 30.0);
    CHECK(n == 90, "%zu of 90 frames", n);
}

TEST(fps_variable_rate_nearest)
{
    // Frames at 0, 0.1, 0.5, 0.55, 2.0; ticks at 1 fps: 0 -> 0, 1 -> 0.55
    // (nearest), 2 -> 2.0; the last frame lasts 1.45 s, so tick 3 lands on it
    // again and adds nothing.
    double t[] = {0, 0.1, 0.5, 0.55, 2.0};
    int64_t out[5];
    size_t n = ingest_fps_pick(out, t, 5, 1.0);
    CHECK(n == 3, "%zu picks", n);
    CHECK(out[0] == 0 && out[1] == 3 && out[2] == 4, "picks %lld %lld %lld", (long long)out[0],
          (long long)out[1], (long long)out[2]);
}

TEST(fps_then_max_frames)
{
    for (int i = 0; i < 300; i++) times30[i] = i / 30.0;
    int64_t out[300];
    // fps 2 keeps 20 frames (0, 15, ..., 285); max 4 takes linspace(0, 19, 4)
    // = 0, 6, 12, 19 of those: frames 0, 90, 180, 285.
    size_t n = ingest_select(out, times30, 300, 2.0, 4);
    CHECK(n == 4, "%zu picks", n);
    CHECK(out[0] == 0 && out[1] == 90 && out[2] == 180 && out[3] == 285,
          "picks %lld %lld %lld %lld", (long long)out[0], (long long)out[1], (long long)out[2],
          (long long)out[3]);
    n = ingest_select(out, times30, 300, 0, 0);
    CHECK(n == 300, "no rule keeps all: %zu", n);
}

TEST_MAIN("ingest/sample", T(linspace_matches_numpy), T(linspace_keeps_all_when_short),
          T(fps_constant_rate), T(fps_rounded_timestamps), T(fps_variable_rate_nearest),
          T(fps_then_max_frames))
