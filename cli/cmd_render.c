// lwm render DIR ID --vqgan W --out F.png|F.mp4: decodes a sample's codes
// with the VQGAN and writes a contact sheet (PNG) or a video (MP4) so a
// person can see what the sample holds.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "ingest/ingest.h"
#include "shard_cli.h"
#include "vqgan/vqgan.h"

static const char *usage =
    "usage: lwm render DIR ID [--vqgan W] --out F.png|F.mp4 [--index] [--max-frames N]\n"
    "                  [--json] [--quiet] [--verbose]\n\n"
    "Decodes the codes of sample ID with the VQGAN weights W (default: the weights the\n"
    "dataset records, those that made its codes). F.png: a contact sheet of up to N frames "
    "(default 16,\n"
    "chosen evenly as LWM subsamples), in rows left to right, each tile labelled with its\n"
    "frame index and time. F.mp4: the frames as an H.264 video (every frame unless\n"
    "--max-frames), at the rate the stored timestamps give.\n\n"
    "  --vqgan W         VQGAN weights (safetensors) that decode the codes (default: the\n"
    "                    dataset's, recorded by lwm ingest)\n"
    "  --out F           F.png (contact sheet) or F.mp4 (video)\n"
    "  --index           read ID as the dense index\n"
    "  --max-frames N    at most N frames\n"
    "  --json            print {\"id\", \"frames\", \"rendered\", \"out\"} on stdout\n"
    "  -q, --quiet       no progress line\n"
    "  -v, --verbose     also show FFmpeg's (x264's) messages\n";

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcasecmp(s + n - k, suffix) == 0;
}

typedef struct render_args {
    const char *dir, *id, *weights, *out;
    int by_index, quiet, verbose, json;
    long long max_frames;
} render_args;

// 0, or CLI_USAGE after a usage error, or 1 after --help.
static int parse(int argc, char **argv, render_args *a)
{
    static const struct option longs[] = {{"vqgan", required_argument, NULL, 'w'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"max-frames", required_argument, NULL, 'm'},
                                          {"index", no_argument, NULL, 'i'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"render", usage, longs, "qv", NULL, 0};
    for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;) {
        switch (c) {
        case 'w': a->weights = optarg; break;
        case 'o': a->out = optarg; break;
        case 'm':
            if (cli_parse_int("render", "--max-frames", optarg, 1, &a->max_frames) < 0)
                return CLI_USAGE;
            break;
        case 'i': a->by_index = 1; break;
        case 'j': a->json = 1; break;
        case 'q': a->quiet = 1; break;
        case 'v': a->verbose = 1; break;
        default: return c == CLI_HELP ? 1 : CLI_USAGE;
        }
    }
    if (argc - optind != 2) return cli_usage_error(&p, "expected DIR and ID");
    a->dir = argv[optind], a->id = argv[optind + 1];
    if (!a->out) return cli_usage_error(&p, "--out F.png or --out F.mp4 is required");
    if (!ends_with(a->out, ".mp4") && !ends_with(a->out, ".png"))
        return cli_usage_error(&p, "--out %s: expected a .png or .mp4 file name", a->out);
    return 0;
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
    int res;        // frame side in pixels
    int64_t count;  // frames to render
    uint8_t *frame; // one decoded frame, res × res × 3
    lwm_progress progress;
} render_job;

static int decode(render_job *job, int64_t k)
{
    int64_t f = pick(job->s->frames, job->count, k);
    int rc =
        lwm_vqgan_decode_rgb(job->vq, job->frame, job->s->codes + f * LWM_SHARD_CODES_PER_FRAME, 1);
    if (rc < 0)
        return cli_fail_status(-1, "render", "%s: frame %lld: %s", job->s->id, (long long)f,
                               lwm_vqgan_errmsg(job->vq));
    lwm_progress_update(&job->progress, k + 1, NULL);
    return 0;
}

// Frames in rows of ceil(sqrt(count)), left to right, top to bottom; each labelled at its
// bottom left with its frame index and time ("#12 3.50s": 7 x 2 pixel glyphs on a box).
enum { LABEL_HEIGHT = 18 };
static int write_sheet(render_job *job)
{
    int cols = (int)ceil(sqrt((double)job->count)), rows = (int)((job->count + cols - 1) / cols);
    size_t row_bytes = (size_t)job->res * 3, sheet_row = row_bytes * (size_t)cols;
    uint8_t *sheet = calloc(sheet_row * (size_t)job->res * (size_t)rows, 1);
    if (!sheet)
        return cli_fail_status(-1, "render", "out of memory for a %dx%d contact sheet", cols, rows);
    int rc = 0;
    for (int64_t k = 0; k < job->count && rc == 0; k++) {
        if ((rc = decode(job, k)) < 0) break;
        uint8_t *at =
            sheet + (size_t)(k / cols) * job->res * sheet_row + (size_t)(k % cols) * row_bytes;
        int64_t f = pick(job->s->frames, job->count, k);
        char label[64];
        snprintf(label, sizeof label, "#%lld %.2fs", (long long)f, job->s->timestamps[f]);
        cli_draw_label(job->frame, job->res, job->res, 0, job->res - LABEL_HEIGHT, label, 2);
        for (int y = 0; y < job->res; y++)
            memcpy(at + (size_t)y * sheet_row, job->frame + (size_t)y * row_bytes, row_bytes);
    }
    lwm_error err = {0};
    if (rc == 0 &&
        lwm_ingest_write_png(job->args->out, sheet, cols * job->res, rows * job->res, &err) < 0)
        rc = (cli_fail_err("render", &err, err.code), -1);
    free(sheet);
    return rc;
}

static int write_video(render_job *job)
{
    lwm_error err = {0};
    lwm_ingest_mp4 *mp4 = NULL;
    if (lwm_ingest_mp4_open(&mp4, job->args->out, job->res, job->res, frame_rate(job->s), &err) <
        0) {
        cli_fail_err("render", &err, err.code);
        return -1;
    }
    int rc = 0;
    for (int64_t k = 0; k < job->count && rc == 0; k++) {
        if ((rc = decode(job, k)) < 0) break;
        if (lwm_ingest_mp4_write(mp4, job->frame, &err) < 0)
            rc = (cli_fail_err("render", &err, err.code), -1);
    }
    if (lwm_ingest_mp4_close(mp4, &err) < 0 && rc == 0)
        rc = (cli_fail_err("render", &err, err.code), -1);
    return rc;
}

static lwm_vqgan *load_vqgan(const char *weights, const lwm_shard_info *info)
{
    lwm_vqgan *vq = lwm_vqgan_create(NULL);
    if (!vq) {
        cli_fail("render", "out of memory");
        return NULL;
    }
    if (lwm_vqgan_load(vq, weights) < 0) {
        cli_fail("render", "%s", lwm_vqgan_errmsg(vq));
        lwm_vqgan_free(vq);
        return NULL;
    }
    if (lwm_vqgan_config_codes_per_frame(lwm_vqgan_config_of(vq)) != LWM_SHARD_CODES_PER_FRAME) {
        cli_fail("render", "%s: makes %d codes per frame; the store holds %d", weights,
                 lwm_vqgan_config_codes_per_frame(lwm_vqgan_config_of(vq)),
                 LWM_SHARD_CODES_PER_FRAME);
        lwm_vqgan_free(vq);
        return NULL;
    }
    if (info->vqgan_hash[0] && strcmp(info->vqgan_hash, lwm_vqgan_weights_hash(vq)) != 0)
        fprintf(stderr,
                "lwm render: warning: the dataset's codes come from VQGAN weights %s; %s is %s, "
                "so the pictures will not match the source\n",
                info->vqgan_hash, weights, lwm_vqgan_weights_hash(vq));
    return vq;
}

// The VQGAN weights lwm ingest recorded in the dataset's settings ("vqgan": an absolute path).
static const char *recorded_vqgan(const lwm_shard_info *info, char *out, size_t cap)
{
    cJSON *set = info->settings_json[0] ? cJSON_Parse(info->settings_json) : NULL;
    const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(set, "vqgan"));
    int ok = path && path[0] && lwm_format(out, cap, "%s", path) == 0;
    cJSON_Delete(set);
    return ok ? out : NULL;
}

static void print_result(const lwm_shard_sample *s, int64_t rendered, const char *out)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddNumberToObject(o, "frames", (double)s->frames);
    cJSON_AddNumberToObject(o, "rendered", (double)rendered);
    cJSON_AddStringToObject(o, "out", out);
    cli_print_json(o, 1);
}

int cmd_render(int argc, char **argv)
{
    render_args a = {0};
    int parsed = parse(argc, argv, &a);
    if (parsed) return parsed == 1 ? 0 : parsed;
    int mp4 = ends_with(a.out, ".mp4");
    long long index = 0;
    if (a.by_index && cli_parse_int("render", "ID", a.id, 0, &index) < 0) return CLI_USAGE;
    cli_quiet_ffmpeg(a.verbose);
    lwm_shard_reader *r = shard_cli_open("render", a.dir);
    if (!r) return 1;
    const lwm_shard_sample *s = NULL;
    int rc = a.by_index ? lwm_shard_get(r, index, &s) : lwm_shard_find(r, a.id, &s);
    lwm_vqgan *vq = NULL;
    render_job job = {.args = &a, .s = s};
    char recorded[4096];
    if (rc < 0)
        rc = cli_fail("render", "%s", lwm_shard_reader_errmsg(r));
    else if (s->frames == 0)
        rc = cli_fail("render", "%s: sample has no frames (a %s sample)", s->id,
                      lwm_shard_modality_name(s->modality));
    else if (!a.weights &&
             !(a.weights = recorded_vqgan(lwm_shard_reader_info(r), recorded, sizeof recorded)))
        rc = cli_fail("render", "%s: no --vqgan W given and the dataset records no VQGAN weights",
                      a.dir) +
             1;
    else if (!(vq = load_vqgan(a.weights, lwm_shard_reader_info(r))))
        rc = 1;
    else {
        job.vq = vq;
        job.res = lwm_vqgan_config_of(vq)->resolution;
        int64_t cap = a.max_frames ? a.max_frames : mp4 ? s->frames : 16;
        job.count = s->frames < cap ? s->frames : cap;
        job.frame = malloc((size_t)job.res * job.res * 3);
        cli_progress(&job.progress, a.quiet);
        lwm_progress_start(&job.progress, "render", "frames", job.count);
        rc = !job.frame ? cli_fail("render", "out of memory")
                        : (mp4 ? write_video(&job) : write_sheet(&job)) < 0;
        if (rc == 0) {
            lwm_progress_finish(&job.progress, job.count, NULL);
            if (a.json)
                print_result(s, job.count, a.out);
            else if (!a.quiet)
                fprintf(stderr, "lwm render: %s: %lld of %lld frames -> %s\n", s->id,
                        (long long)job.count, (long long)s->frames, a.out);
        }
    }
    free(job.frame);
    lwm_vqgan_free(vq);
    lwm_shard_reader_free(r);
    return rc == CLI_USAGE ? CLI_USAGE : rc ? 1 : 0;
}
