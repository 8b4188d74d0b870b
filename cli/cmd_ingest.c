// lwm ingest: run a JSONL manifest through the ingest library and report.
#include <cjson/cJSON.h>
#include <errno.h>
#include <libavutil/log.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ingest/ingest.h"
#include "shard/shard.h"
#include "vqgan/vqgan.h"

static const char *usage =
    "usage: lwm ingest --manifest M.jsonl [--out DIR [--vqgan W] [--tokenizer T]]\n"
    "                  [--fps F] [--max-frames N] [--part K/N] [--retry-failed] [--strict]\n"
    "                  [options]\n"
    "       mpirun -np N lwm ingest --manifest M.jsonl --out DIR [...]\n"
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
    "  --precision P    the encoder's arithmetic: fp32 (default) or bf16 (AVX512_BF16 dot\n"
    "                   products: faster, codes 92-95 % equal to float64's); recorded in DIR\n"
    "  --tokenizer T    recorded with the dataset (absolute path, XXH3-128): the default\n"
    "                   tokenizer of pack, train, show; text is stored raw and tokenized\n"
    "                   by the loader\n"
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
    "  --encode-chunk N frames a worker holds before they are encoded (default 32): pixels\n"
    "                   in memory stay near workers x N x 196 KB however long the video\n"
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
        cli_print_json(o, 1);
        return;
    }
    printf("ingest: %lld samples: %lld ok, %lld failed, %lld skipped; %lld frames in %.1f s "
           "(%.1f frames/s)\n",
           (long long)r->samples, (long long)r->ok, (long long)r->failed, (long long)r->skipped,
           (long long)r->frames, r->seconds, r->seconds > 0 ? (double)r->frames / r->seconds : 0.0);
    if (r->failed > 0)
        printf("ingest: fix what the errors name, then re-run the same command with --retry-failed\n");
}

// Under mpirun: rank r runs part r of N into DIR/parts/part-r-of-N, then rank
// 0 merges them into DIR. A rank that cannot run stops the whole job.
static int run_mpi(lwm_ingest_run_options *opt, int json)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (opt->parts > 0) return cli_fail("ingest", "--part and mpirun: choose one"), 2;
    char parts_dir[4096], dir[4096];
    const char *out = opt->out_dir;
    if (lwm_format(parts_dir, sizeof parts_dir, "%s/parts", out) < 0 ||
        lwm_format(dir, sizeof dir, "%s/part-%d-of-%d", parts_dir, rank, size) < 0)
        return cli_fail("ingest", "%s: path too long", out), 2;
    opt->part = rank;
    opt->parts = size;
    opt->out_dir = dir;
    lwm_ingest_run_result res;
    lwm_error err = {0};
    int rc = lwm_ingest_run(opt, &res, &err);
    if (rc < 0) {
        cli_fail_err("ingest", &err, rc);
        fprintf(stderr, "lwm ingest: rank %d stops the job\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1); // the other parts stay resumable
    }
    long long failed = res.failed, total_failed = 0;
    MPI_Reduce(&failed, &total_failed, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
    if (!json) printf("part %d/%d (lines %lld..%lld): ", rank, size, (long long)res.first_line,
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
        if (rc < 0) status = cli_fail_err("ingest", &err, rc);
        else if (json) cli_print_json(merge_result_json(&mr), 1);
        else printf("ingest: merged %d parts into %s: %lld samples, %lld failed, %lld frames\n", size,
                    out, (long long)mr.samples, (long long)mr.failed, (long long)mr.frames);
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return status;
}

// Launched by mpirun (Open MPI, or a PMI/PMIx launcher)?
static int under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
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
        else if (!strcmp(a, "--retry-failed")) opt.retry_failed = 1;
        else if (!strcmp(a, "--part") && next) {
            if (parse_part(argv[++i], &opt.part, &opt.parts) < 0) return 2;
        }
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--manifest") && next) opt.manifest = argv[++i];
        else if (!strcmp(a, "--out") && next) opt.out_dir = argv[++i];
        else if (!strcmp(a, "--vqgan") && next) opt.vqgan = argv[++i];
        else if (!strcmp(a, "--precision") && next) {
            if ((opt.vqgan_precision = lwm_vqgan_precision_parse(argv[++i])) < 0)
                return cli_fail("ingest", "--precision %s: expected fp32 or bf16", argv[i]), 2;
        }
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
    if ((opt.parts > 0 || opt.retry_failed) && !opt.out_dir)
        return cli_fail("ingest", "--part and --retry-failed need --out DIR"), 2;
    if (under_mpirun()) {
        if (!opt.out_dir) return cli_fail("ingest", "under mpirun, --out DIR is required"), 2;
        int provided;
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return cli_fail("ingest", "MPI_Init failed");
        int status = run_mpi(&opt, json);
        MPI_Finalize();
        return status;
    }
    lwm_ingest_run_result res;
    lwm_error err = {0};
    int rc = lwm_ingest_run(&opt, &res, &err);
    if (rc < 0) return cli_fail_err("ingest", &err, rc);
    print_summary(&res, json);
    return res.failed > 0 ? 1 : 0;
}
