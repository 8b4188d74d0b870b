// lwm frames: write the sampled, preprocessed frames of one video as PNGs, so a
// person sees exactly what the tokenizer will see.
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "cli.h"
#include "ingest/ingest.h"

static const char *usage =
    "usage: lwm frames VIDEO [--fps F] [--max-frames N] --out DIR [--json] [--quiet]\n"
    "\n"
    "Decodes VIDEO (or an image), samples frames by presentation time, resizes the\n"
    "short side to 256 (bicubic), centre-crops 256x256, and writes DIR/000000.png,\n"
    "DIR/000001.png, ... in presentation order.\n"
    "\n"
    "  --fps F          one frame per 1/F seconds of video time\n"
    "  --max-frames N   at most N frames, spread as LWM does (linspace over the frames)\n"
    "  --all            allow more than 10000 PNGs (without it or --max-frames, a longer\n"
    "                   video is refused before anything is written)\n"
    "  --out DIR        output directory (created)\n"
    "  --threads N      decoder threads (default: automatic)\n"
    "  --json           print {\"frames\": [...], \"source\": {...}} on stdout\n"
    "  -q, --quiet      no progress line\n"
    "  -v, --verbose    also show FFmpeg's and debug messages\n";

typedef struct frames_result {
    lwm_source_info source;
    int64_t count;
    double *pts;  // per written frame
    char **files; // per written frame
    size_t cap;
} frames_result;

static void result_release(frames_result *r)
{
    for (int64_t i = 0; i < r->count; i++) lwm_free(NULL, r->files[i]);
    lwm_free(NULL, r->files);
    lwm_free(NULL, r->pts);
}

static int result_add(frames_result *r, double pts, const char *file)
{
    size_t cap = r->cap;
    if (lwm_grow(NULL, (void **)&r->pts, &cap, (size_t)r->count + 1, sizeof *r->pts))
        return -ENOMEM;
    if (lwm_grow(NULL, (void **)&r->files, &r->cap, (size_t)r->count + 1, sizeof *r->files))
        return -ENOMEM;
    r->files[r->count] = lwm_strdup(NULL, file);
    if (!r->files[r->count]) return -ENOMEM;
    r->pts[r->count++] = pts;
    return 0;
}

static int print_json(const frames_result *r)
{
    cJSON *root = cJSON_CreateObject(), *frames = cJSON_AddArrayToObject(root, "frames");
    for (int64_t i = 0; i < r->count; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "index", (double)i);
        cJSON_AddNumberToObject(f, "pts", r->pts[i]);
        cJSON_AddStringToObject(f, "file", r->files[i]);
        cJSON_AddItemToArray(frames, f);
    }
    const lwm_source_info *s = &r->source;
    cJSON *src = cJSON_AddObjectToObject(root, "source");
    cJSON_AddNumberToObject(src, "width", s->width);
    cJSON_AddNumberToObject(src, "height", s->height);
    cJSON_AddNumberToObject(src, "rotation", s->rotation);
    cJSON_AddNumberToObject(src, "fps", s->fps);
    cJSON_AddNumberToObject(src, "duration", s->duration);
    cJSON_AddStringToObject(src, "codec", s->codec);
    cJSON_AddStringToObject(src, "pix_fmt", s->pix_fmt);
    cJSON_AddNumberToObject(src, "decode_errors", (double)s->decode_errors);
    cJSON_AddNumberToObject(src, "frames_decoded", (double)s->frames_decoded);
    return cli_print_json(root, 1);
}

static void print_human(const frames_result *r, const char *video)
{
    const lwm_source_info *s = &r->source;
    printf("%s: %s %s %dx%d, rotation %d, %.3f fps, %.3f s\n", video, s->codec, s->pix_fmt,
           s->width, s->height, s->rotation, s->fps, s->duration);
    for (int64_t i = 0; i < r->count; i++) printf("  %s  pts %.3f s\n", r->files[i], r->pts[i]);
    printf("%lld frames written\n", (long long)r->count);
}

// Without --max-frames or --all, a video is not written as more PNGs than this.
enum { FRAMES_DEFAULT_CAP = 10000 };

static int over_cap(int64_t frames, const char *video, lwm_error *err)
{
    return lwm_error_set(err, LWM_EINVAL,
                         "%s: %s%lld frames, more than the %d written without a choice: "
                         "give --max-frames N (spread over the video) or --all",
                         video, frames > FRAMES_DEFAULT_CAP ? "about " : "over ", (long long)frames,
                         FRAMES_DEFAULT_CAP);
}

// Decodes every sampled frame of video into out_dir; fills r. cap: at most
// this many frames (0 = no cap), checked against the container's frame count
// before anything is written, and while writing when that count is unknown.
static int extract(lwm_ingest *ing, const char *video, const char *out_dir, int64_t cap,
                   frames_result *r, lwm_progress *progress, lwm_error *err)
{
    if (lwm_ingest_open(ing, video) < 0)
        return lwm_error_set(err, LWM_EDECODE, "%s", lwm_ingest_errmsg(ing));
    const lwm_source_info *info = lwm_ingest_info(ing);
    // Sampling (--fps) knows its count exactly; otherwise the container's claim.
    double expect =
        info->frames_selected >= 0 ? (double)info->frames_selected : info->fps * info->duration;
    if (cap && expect > (double)cap + 0.5) return over_cap((int64_t)(expect + 0.5), video, err);
    lwm_progress_start(progress, "frames", "frames", expect > 0 ? (int64_t)(expect + 0.5) : 0);
    lwm_frame *frame = lwm_malloc(NULL, sizeof *frame);
    if (!frame) return lwm_error_set(err, -ENOMEM, "out of memory");
    int rc;
    char file[4096], name[32];
    while ((rc = lwm_ingest_read(ing, frame)) == 0) {
        if (cap && r->count == cap) {
            rc = over_cap(cap, video, err);
            break;
        }
        snprintf(name, sizeof name, "%06lld.png", (long long)frame->index);
        if ((rc = lwm_path_join(file, sizeof file, out_dir, name)) < 0) {
            lwm_error_set(err, rc, "%s: path too long", out_dir);
            break;
        }
        if ((rc = lwm_ingest_write_png(file, frame->rgb, LWM_FRAME_SIDE, LWM_FRAME_SIDE, err)) < 0)
            break;
        if ((rc = result_add(r, frame->pts, file)) < 0) {
            lwm_error_set(err, rc, "out of memory");
            break;
        }
        lwm_progress_update(progress, r->count, NULL);
    }
    if (rc == LWM_EOF) lwm_progress_finish(progress, r->count, NULL);
    r->source = *lwm_ingest_info(ing);
    if (rc == LWM_EOF)
        rc = 0;
    else if (rc < 0 && !err->msg[0])
        lwm_error_set(err, rc, "%s", lwm_ingest_errmsg(ing));
    lwm_free(NULL, frame);
    return rc;
}

typedef struct frames_args {
    const char *video, *out_dir;
    int json, verbose, quiet, all;
    lwm_ingest_options opt;
} frames_args;

// 0, 1 after --help, or CLI_USAGE.
static int parse(frames_args *a, int argc, char **argv)
{
    static const struct option longs[] = {{"fps", required_argument, NULL, 'f'},
                                          {"max-frames", required_argument, NULL, 'm'},
                                          {"all", no_argument, NULL, 'a'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"frames", usage, longs, "qv", NULL, 0};
    long long n;
    for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;) {
        switch (c) {
        case 'f':
            if (cli_parse_double("frames", "--fps", optarg, &a->opt.fps)) return CLI_USAGE;
            break;
        case 'm':
            if (cli_parse_int("frames", "--max-frames", optarg, 1, &n)) return CLI_USAGE;
            a->opt.max_frames = n;
            break;
        case 't':
            if (cli_parse_int("frames", "--threads", optarg, 0, &n)) return CLI_USAGE;
            a->opt.threads = (int)n;
            break;
        case 'a': a->all = 1; break;
        case 'o': a->out_dir = optarg; break;
        case 'j': a->json = 1; break;
        case 'q': a->quiet = 1; break;
        case 'v': a->verbose = 1; break;
        default: return c == CLI_HELP ? 1 : CLI_USAGE;
        }
    }
    if (argc - optind != 1 || !a->out_dir)
        return cli_usage_error(&p, "VIDEO and --out DIR are required");
    a->video = argv[optind];
    return 0;
}

int cmd_frames(int argc, char **argv)
{
    frames_args a = {0};
    int parsed = parse(&a, argc, argv);
    if (parsed) return parsed == 1 ? 0 : parsed;
    const char *video = a.video, *out_dir = a.out_dir;
    int json = a.json, verbose = a.verbose, all = a.all;
    lwm_ingest_options opt = a.opt;
    cli_quiet_ffmpeg(verbose);
    cli_logger(&opt.log, verbose);
    lwm_error err = {0};
    if (lwm_mkdirs(out_dir, &err) < 0) return cli_fail_err("frames", &err, err.code);
    lwm_ingest *ing = lwm_ingest_create(&opt);
    if (!ing) return cli_fail("frames", "out of memory");
    frames_result r = {0};
    lwm_progress progress;
    cli_progress(&progress, a.quiet);
    int rc = extract(ing, video, out_dir, all || opt.max_frames ? 0 : FRAMES_DEFAULT_CAP, &r,
                     &progress, &err);
    lwm_ingest_free(ing);
    if (rc == 0) {
        if (json)
            rc = print_json(&r);
        else
            print_human(&r, video);
    }
    result_release(&r);
    return rc < 0 ? cli_fail_err("frames", &err, rc) : 0;
}
