// The ingest library's API: error codes and messages, the float scaling, the
// PNG and MP4 writers (checked with the ffmpeg command), allocation failures.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail_alloc.h"
#include "harness.h"
#include "ingest/ingest.h"
#include <libavutil/log.h>

static char path_buf[4][1024];

static const char *tmp_path(int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", test_tmpdir(), name);
    return path_buf[slot];
}

static int run(const char *cmd)
{
    return system(cmd);
}

// Reads exactly n bytes of a command's stdout.
static int read_cmd(const char *cmd, uint8_t *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, n, p);
    int rc = pclose(p);
    return got == n && rc == 0 ? 0 : -1;
}

TEST(open_errors_name_the_file)
{
    lwm_ingest *ing = lwm_ingest_create(NULL);
    REQUIRE(ing, "create failed");
    int rc = lwm_ingest_open(ing, tmp_path(0, "does-not-exist.mp4"));
    CHECK(rc == -ENOENT, "missing file: %d (%s)", rc, lwm_strerror(rc));
    CHECK(strstr(lwm_ingest_errmsg(ing), "does-not-exist.mp4"), "message: %s",
          lwm_ingest_errmsg(ing));
    FILE *f = fopen(tmp_path(1, "empty.mp4"), "w");
    REQUIRE(f, "cannot create a file");
    fclose(f);
    rc = lwm_ingest_open(ing, path_buf[1]);
    CHECK(rc == LWM_EFORMAT && strstr(lwm_ingest_errmsg(ing), "empty"), "empty file: %d %s", rc,
          lwm_ingest_errmsg(ing));
    lwm_frame *frame = malloc(sizeof *frame);
    rc = lwm_ingest_read(ing, frame);
    CHECK(rc == LWM_EINVAL, "read after a failed open: %d", rc);
    free(frame);
    lwm_ingest_free(ing);
    lwm_ingest_free(NULL);
}

TEST(to_float_is_lwm_scaling)
{
    uint8_t px[256];
    float out[256];
    for (int i = 0; i < 256; i++) px[i] = (uint8_t)i;
    lwm_ingest_to_float(out, px, 256);
    for (int i = 0; i < 256; i++) {
        double want = i / 127.5 - 1.0; // float64 reference; float32 result within rounding
        CHECK(fabs(out[i] - want) <= 2e-7, "%d -> %.9g, want %.9g", i, out[i], want);
    }
    CHECK(out[0] == -1.0f && out[255] == 1.0f, "ends %g %g", out[0], out[255]);
}

TEST(png_round_trips_through_ffmpeg)
{
    enum { W = 37, H = 23 };
    uint8_t img[W * H * 3], back[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) img[i] = (uint8_t)(i * 7 + i / 3);
    lwm_error err = {0};
    const char *png = tmp_path(0, "api.png");
    int rc = lwm_ingest_write_png(png, img, W, H, &err);
    REQUIRE(rc == 0, "write_png: %s", err.msg);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -i '%s' -f rawvideo -pix_fmt rgb24 -", png);
    REQUIRE(read_cmd(cmd, back, sizeof back) == 0, "ffmpeg could not read the PNG back");
    CHECK(memcmp(img, back, sizeof img) == 0, "PNG pixels differ after decoding");
    rc = lwm_ingest_write_png(tmp_path(1, "no-such-dir/x.png"), img, W, H, &err);
    CHECK(rc < 0 && strstr(err.msg, "no-such-dir"), "bad path: %d %s", rc, err.msg);
}

TEST(mp4_writer_makes_a_playable_video)
{
    enum { W = 64, H = 48, N = 12 };
    static uint8_t frame[W * H * 3];
    av_log_set_level(AV_LOG_ERROR); // libx264 describes itself at the info level
    lwm_error err = {0};
    lwm_ingest_mp4 *mp4 = NULL;
    const char *path = tmp_path(0, "api.mp4");
    REQUIRE(lwm_ingest_mp4_open(&mp4, path, W, H, 10.0, &err) == 0, "open: %s", err.msg);
    for (int f = 0; f < N; f++) {
        for (int i = 0; i < W * H; i++) { // solid colour per frame
            frame[i * 3] = (uint8_t)(f * 20);
            frame[i * 3 + 1] = 128;
            frame[i * 3 + 2] = (uint8_t)(250 - f * 20);
        }
        REQUIRE(lwm_ingest_mp4_write(mp4, frame, &err) == 0, "write %d: %s", f, err.msg);
    }
    REQUIRE(lwm_ingest_mp4_close(mp4, &err) == 0, "close: %s", err.msg);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -count_frames -select_streams v -show_entries "
             "stream=codec_name,nb_read_frames,width,height -of csv=p=0 '%s'",
             path);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    REQUIRE(p && fgets(line, sizeof line, p), "ffprobe gave nothing");
    pclose(p);
    CHECK(strncmp(line, "h264,64,48,12", 13) == 0, "ffprobe: %s", line);
    // Frame 6 decodes to its colour (lossy coding: a few levels).
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -i '%s' -vf 'select=eq(n\\,6)' -frames:v 1 "
             "-f rawvideo -pix_fmt rgb24 -",
             path);
    REQUIRE(read_cmd(cmd, frame, sizeof frame) == 0, "ffmpeg could not decode frame 6");
    int px = (H / 2 * W + W / 2) * 3;
    CHECK(abs(frame[px] - 120) <= 6 && abs(frame[px + 1] - 128) <= 6 &&
              abs(frame[px + 2] - 130) <= 6,
          "frame 6 centre %d %d %d, want 120 128 130", frame[px], frame[px + 1], frame[px + 2]);
    CHECK(lwm_ingest_mp4_open(&mp4, path, 63, 48, 10, &err) == LWM_EINVAL && !mp4,
          "odd width accepted");
}

TEST(allocation_failures_are_clean)
{
    const char *video = tmp_path(0, "alloc.mp4");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=160x120:r=10:d=1 "
             "-c:v libx264 -pix_fmt yuv420p '%s'",
             video);
    REQUIRE(run(cmd) == 0, "ffmpeg fixture failed");
    lwm_frame *frame = malloc(sizeof *frame);
    int succeeded = 0;
    for (int n = 0; n < 40 && !succeeded; n++) {
        fail_alloc fa = {.fail_at = n + 1}; // allocation n, counted from 0
        lwm_ingest_options opt = {.max_frames = 3, .mem = fail_alloc_mem(&fa)};
        lwm_ingest *ing = lwm_ingest_create(&opt);
        if (!ing) {
            CHECK(fa.failed, "create failed without an allocation failure");
            continue;
        }
        int rc = lwm_ingest_open(ing, video), frames = 0;
        while (rc == 0 && (rc = lwm_ingest_read(ing, frame)) == 0) frames++;
        if (!fa.failed) {
            CHECK(rc == LWM_EOF && frames == 3, "n=%d: rc %d, %d frames", n, rc, frames);
            succeeded = 1;
        } else {
            CHECK(rc == -ENOMEM && strstr(lwm_ingest_errmsg(ing), "memory"), "n=%d: rc %d (%s)", n,
                  rc, lwm_ingest_errmsg(ing));
        }
        lwm_ingest_free(ing); // ASan's leak check covers each path
    }
    CHECK(succeeded, "never succeeded within 40 allocations");
    free(frame);
}

TEST_MAIN("ingest/api", T(open_errors_name_the_file), T(to_float_is_lwm_scaling),
          T(png_round_trips_through_ffmpeg), T(mp4_writer_makes_a_playable_video),
          T(allocation_failures_are_clean))
