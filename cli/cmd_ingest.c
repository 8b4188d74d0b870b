// lwm ingest: run a JSONL manifest through the ingest library and report.
#include <cjson/cJSON.h>
#include <errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ingest/ingest.h"
#include "shard/shard.h"
#include "vqgan/vqgan.h"

static const char *usage =
    "usage: lwm ingest --manifest M.jsonl [--out DIR [--vqgan W] [--tokenizer T] [--fields S]]\n"
    "                  [--fps F] [--max-frames N] [--part K/N] [--retry-failed] [--strict]\n"
    "                  [options]\n"
    "       lwm ingest --check M.jsonl [--fields S] [--json]\n"
    "       mpirun -np N lwm ingest --manifest M.jsonl --out DIR [...]\n"
    "\n"
    "Reads a JSONL manifest (one sample a line: \"id\", \"video\" or \"image\" or\n"
    "neither, text fields such as \"caption\", an optional LWM \"fields\" spec, or\n"
    "LWM's pre-tokenized \"vision\" code lists) and decodes every sample into its\n"
    "sampled 256x256 frames. With --out it builds a dataset: frames are encoded by\n"
    "the VQGAN and every sample is stored in manifest order, crash-safe; re-running\n"
    "the same command after a crash resumes, skipping what is stored. Each failed\n"
    "sample is reported (and recorded in the dataset) with its id, manifest line and\n"
    "reason, and the run goes on; the exit status is 1 when any sample failed (in this run or\n"
    "an earlier one, and not retried), 2 for a usage error (video or image samples and no\n"
    "VQGAN weights, other --fps/--max-frames/--fields/weights/tokenizer than DIR's), 130\n"
    "after Ctrl-C (what was handled is stored: rerun the same command to continue).\n"
    "DIR records its VQGAN weights, tokenizer and fields spec: reruns, pack, train and show\n"
    "use them when not given.\n"
    "\n"
    "  --manifest M     the JSONL manifest (relative media paths start from its directory)\n"
    "  --out DIR        the dataset to build or resume (LMDB shards)\n"
    "  --vqgan W        VQGAN weights that turn frames into codes (not needed when every\n"
    "                   visual sample carries inline \"vision\" codes)\n"
    "  --precision P    the encoder's arithmetic: fp32 (default) or bf16 (AVX512_BF16 dot\n"
    "                   products: faster, codes 92-95 % equal to float64's); recorded in DIR\n"
    "  --tokenizer T    recorded with the dataset (absolute path, XXH3-128): the default\n"
    "                   tokenizer of pack, train, show; text is stored raw and tokenized\n"
    "                   by the loader\n"
    "  --fields S       the dataset's default fields spec for lines without a \"fields\" key,\n"
    "                   e.g. '[vision],caption' (docs/fields.md); default: vision, then the\n"
    "                   line's text fields in manifest order, loss on the text\n"
    "  --check M        only check manifest M (keys, fields specs, ids), no decoding; exit 1\n"
    "                   if a line is bad\n"
    "  --commit-every N samples per store commit (default 16, and at least every 2 s)\n"
    "  --fps F          one frame per 1/F seconds of video time\n"
    "  --max-frames N   at most N frames per video, spread as LWM does\n"
    "  --strict         stop at the first failed sample\n"
    "  --part K/N       ingest only part K (0-based) of N: contiguous, equal runs of manifest\n"
    "                   lines; DIR then holds that part (merge the parts with lwm merge)\n"
    "  --retry-failed   try again the samples the dataset records as failed\n"
    "Under mpirun, rank r ingests part r of N into DIR/parts/part-r-of-N and rank 0 then\n"
    "merges the parts into DIR; re-running the same command resumes every part.\n"
    "  --workers N      samples decoded at once (default 2)\n"
    "  --threads N      decoder threads per sample (default: automatic)\n"
    "  --encode-chunk N frames a worker hands the encoder at a time (default 32); it decodes the\n"
    "                   next N meanwhile: pixels stay near 2 x workers x N x 196 KB\n"
    "  --json           print the summary as one JSON object on stdout\n"
    "  -q, --quiet      no progress line\n"
    "  -v, --verbose    also show FFmpeg's and debug messages\n";

// "K/N" with 0 <= K < N; 0 or -1 with a message.
static int parse_part(const char *text, int64_t *part, int64_t *parts)
{
    char *end1, *end2;
    long long k = strtoll(text, &end1, 10);
    long long n = end1 != text && *end1 == '/' ? strtoll(end1 + 1, &end2, 10) : -1;
    if (text[0] < '0' || text[0] > '9' || n < 1 || end1[1] < '0' || end1[1] > '9' || *end2 ||
        k < 0 || k >= n) {
        cli_fail("ingest", "--part '%s': expected K/N with 0 <= K < N, e.g. 0/4", text);
        return -1;
    }
    *part = k;
    *parts = n;
    return 0;
}

// Set by SIGINT/SIGTERM, read by the run (lwm_ingest_run_options.cancel). A signal handler
// can only talk through a flag like this one; it is the CLI's, never the library's.
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void catch_interrupts(void)
{
    struct sigaction sa = {.sa_handler = on_interrupt, .sa_flags = SA_RESETHAND}; // twice: die
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

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
        cJSON_AddNumberToObject(o, "first_line", (double)r->first_line);
        cJSON_AddNumberToObject(o, "end_line", (double)r->end_line);
        cJSON_AddNumberToObject(o, "failed_before", (double)r->failed_before);
        cJSON_AddNumberToObject(o, "stored", (double)r->stored);
        cJSON_AddBoolToObject(o, "interrupted", r->interrupted);
        cli_print_json(o, 1);
        return;
    }
    printf("ingest: %lld samples: %lld ok, %lld failed, %lld skipped; %lld frames in %.1f s "
           "(%.1f frames/s)\n",
           (long long)r->samples, (long long)r->ok, (long long)r->failed, (long long)r->skipped,
           (long long)r->frames, r->seconds, r->seconds > 0 ? (double)r->frames / r->seconds : 0.0);
}

// What the run leaves for the user to do; the exit status.
static int report_outcome(const lwm_ingest_run_result *r, const char *out)
{
    if (r->interrupted) {
        fprintf(stderr, "interrupted: %lld samples stored; rerun the same command to continue\n",
                (long long)r->stored);
        return 130;
    }
    int64_t left = r->failed + r->failed_before;
    if (left == 0) return 0;
    fprintf(stderr, "lwm ingest: %lld samples failed", (long long)left);
    if (r->failed_before > 0)
        fprintf(stderr, " (%lld in earlier runs)", (long long)r->failed_before);
    if (out)
        fprintf(stderr,
                ": fix what the errors name (lwm inspect %s lists them), then rerun the "
                "same command with --retry-failed\n",
                out);
    else
        fprintf(stderr, ": fix what the errors name\n");
    return 1;
}

// --check: every line read and checked, nothing decoded or written.
static int check_manifest(const lwm_ingest_run_options *opt, int json)
{
    lwm_ingest_run_result res;
    lwm_error err = {0};
    int64_t media = 0;
    int rc = lwm_ingest_check(opt, &res, &media, &err);
    if (rc < 0)
        return res.usage ? (cli_fail("ingest", "%s", err.msg), 2)
                         : cli_fail_err("ingest", &err, rc);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "samples", (double)res.samples);
        cJSON_AddNumberToObject(o, "ok", (double)res.ok);
        cJSON_AddNumberToObject(o, "failed", (double)res.failed);
        cJSON_AddNumberToObject(o, "media", (double)media);
        cJSON_AddNumberToObject(o, "seconds", res.seconds);
        cli_print_json(o, 1);
    } else {
        printf("ingest --check: %lld samples: %lld ok, %lld bad; %lld videos or images to decode "
               "(%.1f s)\n",
               (long long)res.samples, (long long)res.ok, (long long)res.failed, (long long)media,
               res.seconds);
    }
    return res.failed > 0 ? 1 : 0;
}

// Under mpirun: rank r runs part r of N into DIR/parts/part-r-of-N, then rank
// 0 merges them into DIR. A rank that cannot run stops the whole job.
static int run_mpi(lwm_ingest_run_options *opt, int json)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (opt->parts > 0)
        return cli_fail_status(CLI_USAGE, "ingest", "--part and mpirun: choose one");
    char parts_dir[4096], dir[4096];
    const char *out = opt->out_dir;
    if (lwm_format(parts_dir, sizeof parts_dir, "%s/parts", out) < 0 ||
        lwm_format(dir, sizeof dir, "%s/part-%d-of-%d", parts_dir, rank, size) < 0)
        return cli_fail_status(CLI_USAGE, "ingest", "%s: path too long", out);
    opt->part = rank;
    opt->parts = size;
    opt->out_dir = dir;
    lwm_ingest_run_result res;
    lwm_error err = {0};
    int rc = lwm_ingest_run(opt, &res, &err);
    if (rc < 0) {
        cli_fail_err("ingest", &err, rc);
        fprintf(stderr, "lwm ingest: rank %d stops the job\n", rank);
        // A usage error ends the job with status 2, like a run without mpirun; the other parts
        // stay resumable.
        MPI_Abort(MPI_COMM_WORLD, res.usage ? CLI_USAGE : 1);
    }
    long long failed = res.failed + res.failed_before, total_failed = 0; // earlier runs' too
    MPI_Reduce(&failed, &total_failed, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (!json)
        printf("part %d/%d (lines %lld..%lld): ", rank, size, (long long)res.first_line,
               (long long)res.end_line - 1);
    if (!json) print_summary(&res, 0);
    fflush(stdout);
    MPI_Barrier(MPI_COMM_WORLD);
    int status = total_failed > 0 ? 1 : 0;
    if (rank == 0) {
        char **dirs = calloc((size_t)size, sizeof *dirs);
        for (int r = 0; dirs && r < size; r++) {
            dirs[r] = malloc(4096);
            if (dirs[r]) lwm_format(dirs[r], 4096, "%s/part-%d-of-%d", parts_dir, r, size);
        }
        lwm_shard_merge_options mo = {.log = opt->log};
        lwm_shard_merge_result mr;
        rc = dirs ? lwm_shard_merge((const char *const *)dirs, size, out, &mo, &mr, &err) : -ENOMEM;
        for (int r = 0; dirs && r < size; r++) free(dirs[r]);
        free(dirs);
        if (rc < 0)
            status = cli_fail_err("ingest", &err, rc);
        else if (json)
            cli_print_json(merge_result_json(&mr), 1);
        else
            printf("ingest: merged %d parts into %s: %lld samples, %lld failed, %lld frames\n",
                   size, out, (long long)mr.samples, (long long)mr.failed, (long long)mr.frames);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return status;
}

// Launched by mpirun (Open MPI, or a PMI/PMIx launcher)?
static int under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

typedef struct ingest_args {
    lwm_ingest_run_options opt;
    int json, quiet, verbose, check;
} ingest_args;

static int parse_option(void *ctx, int c)
{
    ingest_args *a = ctx;
    lwm_ingest_run_options *opt = &a->opt;
    long long n = 0;
    switch (c) {
    case 'j': a->json = 1; return 0;
    case 'q': a->quiet = 1; return 0;
    case 'v': a->verbose = 1; return 0;
    case 's': opt->strict = 1; return 0;
    case 'R': opt->retry_failed = 1; return 0;
    case 'P': return parse_part(optarg, &opt->part, &opt->parts);
    case 'M': opt->manifest = optarg; return 0;
    case 'C':
        opt->manifest = optarg;
        a->check = 1;
        return 0;
    case 'F': opt->fields = optarg; return 0;
    case 'p':
        if ((opt->vqgan_precision = lwm_vqgan_precision_parse(optarg)) >= 0) return 0;
        cli_fail("ingest", "--precision %s: expected fp32 or bf16", optarg);
        return -1;
    case 'o': opt->out_dir = optarg; return 0;
    case 'w': opt->vqgan = optarg; return 0;
    case 't': opt->tokenizer = optarg; return 0;
    case 'f': return cli_parse_double("ingest", "--fps", optarg, &opt->decode.fps);
    case 'm':
        if (cli_parse_int("ingest", "--max-frames", optarg, 1, &n)) return -1;
        opt->decode.max_frames = n;
        return 0;
    case 'c':
        if (cli_parse_int("ingest", "--commit-every", optarg, 1, &n)) return -1;
        opt->commit_every = (int)n;
        return 0;
    case 'W':
        if (cli_parse_int("ingest", "--workers", optarg, 1, &n)) return -1;
        opt->workers = (int)n;
        return 0;
    case 'E':
        if (cli_parse_int("ingest", "--encode-chunk", optarg, 1, &n)) return -1;
        opt->encode_chunk = (int)n;
        return 0;
    case 'T':
        if (cli_parse_int("ingest", "--threads", optarg, 0, &n)) return -1;
        opt->decode.threads = (int)n;
        return 0;
    default: return -1;
    }
}

int cmd_ingest(int argc, char **argv)
{
    static const struct option longs[] = {{"manifest", required_argument, NULL, 'M'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"vqgan", required_argument, NULL, 'w'},
                                          {"tokenizer", required_argument, NULL, 't'},
                                          {"commit-every", required_argument, NULL, 'c'},
                                          {"fps", required_argument, NULL, 'f'},
                                          {"max-frames", required_argument, NULL, 'm'},
                                          {"strict", no_argument, NULL, 's'},
                                          {"part", required_argument, NULL, 'P'},
                                          {"retry-failed", no_argument, NULL, 'R'},
                                          {"workers", required_argument, NULL, 'W'},
                                          {"threads", required_argument, NULL, 'T'},
                                          {"encode-chunk", required_argument, NULL, 'E'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"check", required_argument, NULL, 'C'},
                                          {"fields", required_argument, NULL, 'F'},
                                          {"precision", required_argument, NULL, 'p'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"ingest", usage, longs, "qv", NULL, 0};
    ingest_args a = {0};
    int parsed = cli_parse(&p, argc, argv, parse_option, &a);
    if (parsed) return parsed == CLI_HELP ? 0 : parsed;
    lwm_ingest_run_options opt = a.opt;
    int json = a.json, quiet = a.quiet, verbose = a.verbose, check = a.check;
    if (optind < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind]);
    if (!opt.manifest) return cli_usage_error(&p, "--manifest is required");
    if ((opt.vqgan || opt.tokenizer) && !opt.out_dir)
        return cli_fail_status(CLI_USAGE, "ingest", "--vqgan and --tokenizer need --out DIR");
    cli_quiet_ffmpeg(verbose);
    cli_logger(&opt.log, verbose);
    opt.decode.log = opt.log;
    lwm_progress progress;
    cli_progress(&progress, quiet);
    opt.progress = &progress;
    if ((opt.parts > 0 || opt.retry_failed) && !opt.out_dir)
        return cli_fail_status(CLI_USAGE, "ingest", "--part and --retry-failed need --out DIR");
    if (under_mpirun()) {
        if (!opt.out_dir)
            return cli_fail_status(CLI_USAGE, "ingest", "under mpirun, --out DIR is required");
        int provided;
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return cli_fail("ingest", "MPI_Init failed");
        int status = run_mpi(&opt, json);
        MPI_Finalize();
        return status;
    }
    if (check) return check_manifest(&opt, json);
    catch_interrupts();
    opt.cancel = &interrupted;
    lwm_ingest_run_result res;
    lwm_error err = {0};
    int rc = lwm_ingest_run(&opt, &res, &err);
    if (rc < 0 && res.usage) return cli_fail_status(CLI_USAGE, "ingest", "%s", err.msg);
    if (rc < 0) return cli_fail_err("ingest", &err, rc);
    print_summary(&res, json);
    return report_outcome(&res, opt.out_dir);
}
