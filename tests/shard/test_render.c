// lwm render: a stored sample decoded with seeded tiny VQGAN weights into a
// PNG contact sheet and an MP4. The expected pixels come from calling the
// VQGAN decoder directly on the codes written (render's job is to pick the
// frames, tile them and write the file); the PNG is read back with Pillow and
// the MP4 is counted with ffprobe, both independent of our code. Each tile of the sheet
// carries a label (frame index and time) at its bottom left: white glyphs on black.
// Paths here are short (the runner's scratch dir); truncation warnings on the
// generous buffers would only be noise.
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"
#include "shard/fixture.h"
#include "vqgan/vqgan.h"

#define FRAMES 3      /* a 2x2 sheet with one empty tile */
#define LABEL_ROWS 24 /* each tile's bottom rows may hold its label ("#1 0.50s") */

static char dir[4096], weights[4200], cfg_path[4200];

static int setup(char *why, size_t cap)
{
    fx_dir(dir, sizeof dir, "render");
    snprintf(weights, sizeof weights, "%s/tiny.safetensors", test_tmpdir());
    const char *root = getenv("LWM_ROOT");
    snprintf(cfg_path, sizeof cfg_path, "%s/configs/vqgan/tiny.json", root ? root : ".");
    lwm_vqgan_config cfg;
    lwm_error err = {0};
    if (lwm_vqgan_config_load(&cfg, cfg_path, &err) < 0 ||
        lwm_vqgan_init_weights(weights, &cfg, 11, &err) < 0)
        return snprintf(why, cap, "weights: %s", err.msg), -1;
    static uint16_t codes[FRAMES * 256];
    static double ts[FRAMES];
    for (int i = 0; i < FRAMES * 256; i++)
        codes[i] = (uint16_t)((i * 37 + i / 256 * 101) % cfg.num_embeddings);
    for (int f = 0; f < FRAMES; f++) ts[f] = 0.5 * f;
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    lwm_shard_sample video = {.id = "clip",
                              .modality = LWM_SHARD_VIDEO,
                              .frames = FRAMES,
                              .codes = codes,
                              .timestamps = ts};
    lwm_shard_sample text = {.id = "words", .modality = LWM_SHARD_TEXT};
    int rc = lwm_shard_writer_open(w, dir);
    if (rc == 0) rc = (int)lwm_shard_writer_put(w, &video);
    if (rc >= 0) rc = (int)lwm_shard_writer_put(w, &text);
    if (rc >= 0) rc = lwm_shard_writer_close(w);
    if (rc < 0) snprintf(why, cap, "dataset: %s", lwm_shard_writer_errmsg(w));
    lwm_shard_writer_free(w);
    return rc < 0 ? -1 : 0;
}

static int run(const char *args, char *why, size_t cap)
{
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "%s render %s 2>%s/render.err",
             getenv("LWM") ? getenv("LWM") : "build/lwm", args, test_tmpdir());
    int rc = system(cmd);
    if (rc != 0) {
        char path[4200], *text = NULL;
        size_t n;
        snprintf(path, sizeof path, "%s/render.err", test_tmpdir());
        lwm_read_file(NULL, path, &text, &n, NULL);
        snprintf(why, cap, "%s: %.300s", cmd, text ? text : "");
        lwm_free(NULL, text);
    }
    return rc;
}

TEST(png_contact_sheet_holds_the_decoded_frames)
{
    char why[1024] = "", args[9000], png[4200], raw[4300];
    REQUIRE(setup(why, sizeof why) == 0, "%s", why);
    snprintf(png, sizeof png, "%s/sheet.png", test_tmpdir());
    snprintf(args, sizeof args, "%s clip --vqgan %s --out %s --quiet", dir, weights, png);
    REQUIRE(run(args, why, sizeof why) == 0, "%s", why);
    snprintf(raw, sizeof raw, "%s.rgb", png);
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"from PIL import Image; im = Image.open('%s'); "
             "assert im.mode == 'RGB' and im.size == (512, 512), im.size; open('%s', "
             "'wb').write(im.tobytes())\"",
             png, raw);
    REQUIRE(system(cmd) == 0, "Pillow could not read a 512x512 RGB PNG from %s", png);
    char *sheet = NULL;
    size_t n = 0;
    REQUIRE(lwm_read_file(NULL, raw, &sheet, &n, NULL) == 0 && n == 512 * 512 * 3,
            "sheet bytes %zu", n);
    lwm_vqgan *vq = lwm_vqgan_create(NULL);
    REQUIRE(lwm_vqgan_load(vq, weights) == 0, "load");
    lwm_shard_reader *r = lwm_shard_reader_create(NULL);
    const lwm_shard_sample *s;
    REQUIRE(lwm_shard_reader_open(r, dir) == 0 && lwm_shard_find(r, "clip", &s) == 0, "read back");
    static uint8_t frame[256 * 256 * 3];
    int labels[FRAMES][LABEL_ROWS * 256 / 8] = {{0}}; // which bottom-strip pixels are label white
    for (int f = 0; f < FRAMES; f++) { // 3 frames: 2 columns, 2 rows; tile 3 stays black
        REQUIRE(lwm_vqgan_decode_rgb(vq, frame, s->codes + f * 256, 1) == 0, "decode");
        const uint8_t *tile =
            (const uint8_t *)sheet + ((size_t)(f / 2 * 256) * 512 + (size_t)(f % 2) * 256) * 3;
        int bad = 0, odd = 0, white = 0;
        for (int y = 0; y < 256 - LABEL_ROWS && !bad; y++)
            bad = memcmp(tile + (size_t)y * 512 * 3, frame + y * 768, 768) != 0;
        CHECK(!bad, "tile %d differs from the decoder's frame %d above its label", f, f);
        // The label strip: the frame, or black box, or white glyph pixels; never anything else.
        for (int y = 256 - LABEL_ROWS; y < 256; y++)
            for (int x = 0; x < 256; x++) {
                const uint8_t *p = tile + ((size_t)y * 512 + x) * 3,
                              *q = frame + ((size_t)y * 256 + x) * 3;
                int is_white = p[0] == 255 && p[1] == 255 && p[2] == 255 && memcmp(p, q, 3) != 0;
                int is_black = p[0] == 0 && p[1] == 0 && p[2] == 0;
                odd += !is_white && !is_black && memcmp(p, q, 3) != 0;
                white += is_white;
                int i = (y - (256 - LABEL_ROWS)) * 256 + x;
                if (is_white) labels[f][i / 8] |= 1 << (i % 8);
            }
        CHECK(odd == 0, "tile %d: %d label-strip pixels are neither the frame, black nor white", f,
              odd);
        CHECK(white >= 40, "tile %d: no label (%d white glyph pixels)", f, white);
    }
    for (int f = 1; f < FRAMES; f++)
        CHECK(memcmp(labels[f], labels[f - 1], sizeof labels[f]) != 0,
              "tiles %d and %d have the same label", f - 1, f);
    int black = 1;
    for (int y = 256; y < 512; y++)
        for (int x = 256 * 3; x < 512 * 3; x++) black &= sheet[(size_t)y * 512 * 3 + x] == 0;
    CHECK(black, "the unused tile is not black");
    lwm_free(NULL, sheet);
    lwm_shard_reader_free(r);
    lwm_vqgan_free(vq);
}

TEST(mp4_has_every_frame)
{
    char why[1024] = "", args[9000], mp4[4200], cmd[9000];
    REQUIRE(setup(why, sizeof why) == 0, "%s", why);
    snprintf(mp4, sizeof mp4, "%s/clip.mp4", test_tmpdir());
    snprintf(args, sizeof args, "%s 0 --index --vqgan %s --out %s --quiet", dir, weights, mp4);
    REQUIRE(run(args, why, sizeof why) == 0, "%s", why);
    snprintf(cmd, sizeof cmd,
             "test \"$(ffprobe -v error -count_frames -select_streams v:0 -show_entries "
             "stream=nb_read_frames,width,height -of csv=p=0 %s)\" = \"256,256,%d\"",
             mp4, FRAMES);
    CHECK(system(cmd) == 0, "ffprobe does not see %d frames of 256x256 in %s", FRAMES, mp4);
    char err_path[4200], *text = NULL;
    size_t n = 0;
    snprintf(err_path, sizeof err_path, "%s/render.err", test_tmpdir());
    lwm_read_file(NULL, err_path, &text, &n, NULL);
    CHECK(!text || !strstr(text, "x264"), "x264's log reached stderr without --verbose: %.200s",
          text);
    lwm_free(NULL, text);
}

TEST(bad_requests_name_the_problem)
{
    char why[1024] = "", args[9000], err_path[4200], *text = NULL;
    size_t n;
    REQUIRE(setup(why, sizeof why) == 0, "%s", why);
    snprintf(err_path, sizeof err_path, "%s/render.err", test_tmpdir());
    struct {
        const char *args, *expect;
    } cases[] = {
        {"%s words --vqgan %s --out x.png", "words: sample has no frames"},
        {"%s nope --vqgan %s --out x.png", "no sample with id \"nope\""},
        {"%s clip --vqgan %s/missing.safetensors --out x.png", "missing.safetensors"},
        {"%s clip --vqgan %s --out x.gif", "expected a .png or .mp4"},
        {"%s clip --out x.png", "no --vqgan W given and the dataset records no VQGAN weights"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *second = strstr(cases[i].args, "missing") ? test_tmpdir() : weights;
        snprintf(args, sizeof args, cases[i].args, dir, second);
        CHECK(run(args, why, sizeof why) != 0, "case %zu succeeded", i);
        lwm_read_file(NULL, err_path, &text, &n, NULL);
        CHECK(text && strstr(text, cases[i].expect), "case %zu: stderr lacks \"%s\": %s", i,
              cases[i].expect, text ? text : "");
        lwm_free(NULL, text);
        text = NULL;
    }
}

TEST_MAIN("shard/render", T(png_contact_sheet_holds_the_decoded_frames), T(mp4_has_every_frame),
          T(bad_requests_name_the_problem))
