// lwm ingest: run a JSONL manifest through the ingest library and report.
#include <cjson/cJSON.h>
#include <libavutil/log.h>
#include <string.h>

#include "cli.h"
#include "ingest/ingest.h"

static const char *usage =
    "usage: lwm ingest --manifest M.jsonl [--out DIR [--vqgan W] [--tokenizer T]]\n"
    "                  [--fps F] [--max-frames N] [--strict] [options]\n"
    "\n"
    "Reads a JSONL manifest (one sample a line: \"id\", \"video\" or \"image\" or\n"
    "neither, text fields such as \"caption\", an optional LWM \"fields\" spec, or\n"
    "LWM's pre-tokenized \"vision\" code lists) and decodes every sample into its\n"
    "sampled 256x256 frames. With --out it builds a dataset: frames are encoded by\n"
    "the VQGAN and every sample is stored in manifest order, crash-safe; re-running\n"
    "the same command after a crash resumes, skipping what is stored. Each failed\n"
    "sample is reported (and recorded in the dataset) with its id, manifest line and\n"
    "reason, and the run goes on; the exit status is 1 when any sample failed.\n"
    "\n"
    "  --manifest M     the JSONL manifest (relative media paths start from its directory)\n"
    "  --out DIR        the dataset to build or resume (LMDB shards)\n"
    "  --vqgan W        VQGAN weights that turn frames into codes (not needed when every\n"
    "                   visual sample carries inline \"vision\" codes)\n"
    "  --tokenizer T    recorded with the dataset; text is stored raw and tokenized by the\n"
    "                   loader\n"
    "  --commit-every N samples per store commit (default 16, and at least every 2 s)\n"
    "  --fps F          one frame per 1/F seconds of video time\n"
    "  --max-frames N   at most N frames per video, spread as LWM does\n"
    "  --strict         stop at the first failed sample\n"
    "  --workers N      samples decoded at once (default 2)\n"
    "  --threads N      decoder threads per sample (default: automatic)\n"
    "  --encode-chunk N frames a worker holds before they are encoded (default 32): pixels\n"
    "                   in memory stay near workers x N x 196 KB however long the video\n"
    "  --json           print the summary as one JSON object on stdout\n"
    "  -q, --quiet      no progress line\n"
    "  -v, --verbose    also show FFmpeg's and debug messages\n";

static void print_summary(const lwm_ingest_run_result *r, int json)
{
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "samples", (double)r->samples);
        cJSON_AddNumberToObject(o, "ok", (double)r->ok);
        cJSON_AddNumberToObject(o, "failed", (double)r->failed);
        cJSON_AddNumberToObject(o, "skipped", (double)r->skipped);
        cJSON_AddNumberToObject(o, "frames", (double)r->frames);
        cJSON_AddNumberToObject(o, "seconds", r->seconds);
        cli_print_json(o, 1);
        return;
    }
    printf("ingest: %lld samples: %lld ok, %lld failed, %lld skipped; %lld frames in %.1f s "
           "(%.1f frames/s)\n",
           (long long)r->samples, (long long)r->ok, (long long)r->failed, (long long)r->skipped,
           (long long)r->frames, r->seconds, r->seconds > 0 ? (double)r->frames / r->seconds : 0.0);
}

int cmd_ingest(int argc, char **argv)
{
    lwm_ingest_run_options opt = {0};
    int json = 0, quiet = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return fputs(usage, stdout), 0;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--strict")) opt.strict = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--manifest") && next) opt.manifest = argv[++i];
        else if (!strcmp(a, "--out") && next) opt.out_dir = argv[++i];
        else if (!strcmp(a, "--vqgan") && next) opt.vqgan = argv[++i];
        else if (!strcmp(a, "--tokenizer") && next) opt.tokenizer = argv[++i];
        else if (!strcmp(a, "--commit-every") && next) {
            if (cli_parse_int("ingest", a, argv[++i], 1, &n)) return 2;
            opt.commit_every = (int)n;
        }
        else if (!strcmp(a, "--fps") && next) {
            if (cli_parse_double("ingest", a, argv[++i], &opt.decode.fps)) return 2;
        } else if (!strcmp(a, "--max-frames") && next) {
            if (cli_parse_int("ingest", a, argv[++i], 1, &n)) return 2;
            opt.decode.max_frames = n;
        } else if (!strcmp(a, "--workers") && next) {
            if (cli_parse_int("ingest", a, argv[++i], 1, &n)) return 2;
            opt.workers = (int)n;
        } else if (!strcmp(a, "--encode-chunk") && next) {
            if (cli_parse_int("ingest", a, argv[++i], 1, &n)) return 2;
            opt.encode_chunk = (int)n;
        } else if (!strcmp(a, "--threads") && next) {
            if (cli_parse_int("ingest", a, argv[++i], 0, &n)) return 2;
            opt.decode.threads = (int)n;
        } else return cli_fail("ingest", "unknown option or missing value '%s'\n%s", a, usage), 2;
    }
    if (!opt.manifest) return cli_fail("ingest", "--manifest is required\n%s", usage), 2;
    if ((opt.vqgan || opt.tokenizer) && !opt.out_dir)
        return cli_fail("ingest", "--vqgan and --tokenizer need --out DIR"), 2;
    av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_QUIET);
    cli_logger(&opt.log, verbose);
    opt.decode.log = opt.log;
    lwm_progress progress;
    cli_progress(&progress, quiet);
    opt.progress = &progress;
    lwm_ingest_run_result res;
    lwm_error err = {0};
    int rc = lwm_ingest_run(&opt, &res, &err);
    if (rc < 0) return cli_fail_err("ingest", &err, rc);
    print_summary(&res, json);
    return res.failed > 0 ? 1 : 0;
}
