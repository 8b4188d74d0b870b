// lwm render DIR ID --vqgan W --out F.png|F.mp4: decodes a sample's codes
// with the VQGAN and writes a contact sheet (PNG) or a video (MP4) so a
// person can see what the sample holds.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "ingest/ingest.h"
#include "shard_cli.h"
#include "vqgan/vqgan.h"

static const char *usage =
    "usage: lwm render DIR ID --vqgan W --out F.png|F.mp4 [--index] [--max-frames N] [--quiet]\n\n"
    "Decodes the codes of sample ID with the VQGAN weights W. F.png: a contact\n"
    "sheet of up to N frames (default 16, chosen evenly as LWM subsamples), in\n"
    "rows left to right. F.mp4: the frames as an H.264 video (every frame unless\n"
    "--max-frames), at the rate the stored timestamps give. --index reads ID as\n"
    "the dense index.\n";

typedef struct render_args {
    const char *dir, *id, *weights, *out;
    int by_index, quiet;
    long long max_frames;
} render_args;

static int parse(int argc, char **argv, render_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(opt, "--vqgan") == 0 && has_value) a->weights = argv[++i];
        else if (strcmp(opt, "--out") == 0 && has_value) a->out = argv[++i];
        else if (strcmp(opt, "--max-frames") == 0 && has_value) {
            if (cli_parse_int("render", opt, argv[++i], 1, &a->max_frames) < 0) return -1;
        } else if (strcmp(opt, "--index") == 0) a->by_index = 1;
        else if (strcmp(opt, "--quiet") == 0) a->quiet = 1;
        else if (opt[0] == '-' && opt[1]) return cli_fail("render", "unknown option %s (see --help)", opt), -1;
        else if (!a->dir) a->dir = opt;
        else if (!a->id) a->id = opt;
        else return cli_fail("render", "unexpected argument %s", opt), -1;
    }
    if (!a->dir || !a->id) return cli_fail("render", "expected DIR and ID (see --help)"), -1;
    if (!a->weights) return cli_fail("render", "--vqgan W is required (the weights that made the codes)"), -1;
    if (!a->out) return cli_fail("render", "--out F.png or --out F.mp4 is required"), -1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

// LWM's frame choice (spec §2.3): trunc(linspace(0, n-1, m)), last forced to n-1.
static int64_t pick(int64_t n, int64_t m, int64_t k)
{
    if (m <= 1) return 0;
    if (k == m - 1) return n - 1;
    return (int64_t)((double)k * ((double)(n - 1) / (double)(m - 1)));
}

static double frame_rate(const lwm_shard_sample *s)
{
    double span = s->frames > 1 ? s->timestamps[s->frames - 1] - s->timestamps[0] : 0;
    double fps = span > 0 ? (double)(s->frames - 1) / span : s->fps;
    return fps > 0.1 && fps <= 120 ? fps : 1.0;
}

typedef struct render_job {
    const render_args *args;
    lwm_vqgan *vq;
    const lwm_shard_sample *s;
    int res;                 // frame side in pixels
    int64_t count;           // frames to render
    uint8_t *frame;          // one decoded frame, res × res × 3
    lwm_progress progress;
} render_job;

static int decode(render_job *job, int64_t k)
{
    int64_t f = pick(job->s->frames, job->count, k);
    int rc = lwm_vqgan_decode_rgb(job->vq, job->frame, job->s->codes + f * LWM_SHARD_CODES_PER_FRAME, 1);
    if (rc < 0) return cli_fail("render", "%s: frame %lld: %s", job->s->id, (long long)f, lwm_vqgan_errmsg(job->vq)), -1;
    lwm_progress_update(&job->progress, k + 1, NULL);
    return 0;
}

// Frames in rows of ceil(sqrt(count)), left to right, top to bottom.
static int write_sheet(render_job *job)
{
    int cols = (int)ceil(sqrt((double)job->count)), rows = (int)((job->count + cols - 1) / cols);
    size_t row_bytes = (size_t)job->res * 3, sheet_row = row_bytes * (size_t)cols;
    uint8_t *sheet = calloc(sheet_row * (size_t)job->res * (size_t)rows, 1);
    if (!sheet) return cli_fail("render", "out of memory for a %dx%d contact sheet", cols, rows), -1;
    int rc = 0;
    for (int64_t k = 0; k < job->count && rc == 0; k++) {
        if ((rc = decode(job, k)) < 0) break;
        uint8_t *at = sheet + (size_t)(k / cols) * job->res * sheet_row + (size_t)(k % cols) * row_bytes;
        for (int y = 0; y < job->res; y++) memcpy(at + (size_t)y * sheet_row, job->frame + (size_t)y * row_bytes, row_bytes);
    }
    lwm_error err = {0};
    if (rc == 0 && lwm_ingest_write_png(job->args->out, sheet, cols * job->res, rows * job->res, &err) < 0)
        rc = (cli_fail_err("render", &err, err.code), -1);
    free(sheet);
    return rc;
}

static int write_video(render_job *job)
{
    lwm_error err = {0};
    lwm_ingest_mp4 *mp4 = NULL;
    if (lwm_ingest_mp4_open(&mp4, job->args->out, job->res, job->res, frame_rate(job->s), &err) < 0)
        return cli_fail_err("render", &err, err.code), -1;
    int rc = 0;
    for (int64_t k = 0; k < job->count && rc == 0; k++) {
        if ((rc = decode(job, k)) < 0) break;
        if (lwm_ingest_mp4_write(mp4, job->frame, &err) < 0) rc = (cli_fail_err("render", &err, err.code), -1);
    }
    if (lwm_ingest_mp4_close(mp4, &err) < 0 && rc == 0) rc = (cli_fail_err("render", &err, err.code), -1);
    return rc;
}

static lwm_vqgan *load_vqgan(const char *weights, const lwm_shard_info *info)
{
    lwm_vqgan *vq = lwm_vqgan_create(NULL);
    if (!vq) return cli_fail("render", "out of memory"), NULL;
    if (lwm_vqgan_load(vq, weights) < 0) {
        cli_fail("render", "%s", lwm_vqgan_errmsg(vq));
        lwm_vqgan_free(vq);
        return NULL;
    }
    if (lwm_vqgan_config_codes_per_frame(lwm_vqgan_config_of(vq)) != LWM_SHARD_CODES_PER_FRAME) {
        cli_fail("render", "%s: makes %d codes per frame; the store holds %d", weights,
                 lwm_vqgan_config_codes_per_frame(lwm_vqgan_config_of(vq)), LWM_SHARD_CODES_PER_FRAME);
        lwm_vqgan_free(vq);
        return NULL;
    }
    if (info->vqgan_hash[0] && strcmp(info->vqgan_hash, lwm_vqgan_weights_hash(vq)) != 0)
        fprintf(stderr, "lwm render: warning: the dataset's codes come from VQGAN weights %s; %s is %s, "
                        "so the pictures will not match the source\n",
                info->vqgan_hash, weights, lwm_vqgan_weights_hash(vq));
    return vq;
}

int cmd_render(int argc, char **argv)
{
    render_args a = {0};
    if (shard_cli_wants_help(argc, argv)) return printf("%s", usage), 0;
    if (parse(argc, argv, &a) < 0) return 1;
    int mp4 = ends_with(a.out, ".mp4");
    if (!mp4 && !ends_with(a.out, ".png")) return cli_fail("render", "--out %s: expected a .png or .mp4 file name", a.out);
    long long index = 0;
    if (a.by_index && cli_parse_int("render", "ID", a.id, 0, &index) < 0) return 1;
    lwm_shard_reader *r = shard_cli_open("render", a.dir);
    if (!r) return 1;
    const lwm_shard_sample *s = NULL;
    int rc = a.by_index ? lwm_shard_get(r, index, &s) : lwm_shard_find(r, a.id, &s);
    lwm_vqgan *vq = NULL;
    render_job job = {.args = &a, .s = s};
    if (rc < 0) rc = cli_fail("render", "%s", lwm_shard_reader_errmsg(r));
    else if (s->frames == 0) rc = cli_fail("render", "%s: sample has no frames (a %s sample)", s->id, lwm_shard_modality_name(s->modality));
    else if (!(vq = load_vqgan(a.weights, lwm_shard_reader_info(r)))) rc = 1;
    else {
        job.vq = vq;
        job.res = lwm_vqgan_config_of(vq)->resolution;
        int64_t cap = a.max_frames ? a.max_frames : mp4 ? s->frames : 16;
        job.count = s->frames < cap ? s->frames : cap;
        job.frame = malloc((size_t)job.res * job.res * 3);
        cli_progress(&job.progress, a.quiet);
        lwm_progress_start(&job.progress, "render", "frames", job.count);
        rc = !job.frame ? cli_fail("render", "out of memory") : (mp4 ? write_video(&job) : write_sheet(&job)) < 0;
        if (rc == 0) {
            lwm_progress_finish(&job.progress, job.count, NULL);
            if (!a.quiet) fprintf(stderr, "lwm render: %s: %lld of %lld frames -> %s\n", s->id, (long long)job.count, (long long)s->frames, a.out);
        }
    }
    free(job.frame);
    lwm_vqgan_free(vq);
    lwm_shard_reader_free(r);
    return rc ? 1 : 0;
}
