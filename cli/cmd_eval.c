// lwm eval needle: retrieval accuracy of a trained model on lwm needle make's samples, over
// the MPI ranks mpirun started (one ring); DIR/results.json, DIR/heatmap.png and a table.
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval/eval.h"
#include "ingest/ingest.h"

static const char usage[] =
    "usage: [mpirun -np P] lwm eval needle --config C --weights W.safetensors\n"
    "                                      --data needles.jsonl --out DIR\n"
    "                                      [--stage K] [--max-len N] [--tokenizer T] [--quiet]\n\n"
    "Runs the model of config C with weights W (blockwise, ring-sharded over the P ranks,\n"
    "the trainer's kernels) on every sample of needles.jsonl (lwm needle make), decodes\n"
    "the answer greedily and scores exact match with the number. Writes DIR/results.json\n"
    "(accuracy per length x depth cell, counts, the model's answers) and DIR/heatmap.png,\n"
    "prints the table.\n\n"
    "  --stage K      RoPE theta of stage K of the config (default: the last stage)\n"
    "  --max-len N    allow samples up to N tokens (default: the config's longest stage)\n"
    "  --tokenizer T  the tokenizer (default: the one the file records; its hash must match)\n"
    "  -q, --quiet    no progress line\n";

typedef struct eval_args {
    lwm_eval_needle_options o;
    const char *out;
    int quiet;
} eval_args;

static int parse_option(void *ctx, int c)
{
    eval_args *a = ctx;
    long long v = 0;
    int rc = 0;
    switch (c) {
    case 'c': a->o.config_path = optarg; return 0;
    case 'w': a->o.weights_path = optarg; return 0;
    case 'd': a->o.data_path = optarg; return 0;
    case 'o': a->out = optarg; return 0;
    case 't': a->o.tokenizer = optarg; return 0;
    case 'q': a->quiet = 1; return 0;
    case 's':
        rc = cli_parse_int("eval", "--stage", optarg, 0, &v);
        a->o.stage = (int)v;
        return rc;
    case 'm':
        rc = cli_parse_int("eval", "--max-len", optarg, 2, &v);
        a->o.max_len = v;
        return rc;
    default: return -1;
    }
}

// 0, 1 after --help, or CLI_USAGE.
static int parse(eval_args *a, int argc, char **argv)
{
    static const struct option longs[] = {{"config", required_argument, 0, 'c'},
                                          {"weights", required_argument, 0, 'w'},
                                          {"data", required_argument, 0, 'd'},
                                          {"out", required_argument, 0, 'o'},
                                          {"stage", required_argument, 0, 's'},
                                          {"max-len", required_argument, 0, 'm'},
                                          {"tokenizer", required_argument, 0, 't'},
                                          {"quiet", no_argument, 0, 'q'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"eval needle", usage, longs, "q", NULL, 0};
    a->o.stage = -1;
    int rc = cli_parse(&p, argc, argv, parse_option, a);
    if (rc) return rc == CLI_HELP ? 1 : rc;
    if (optind < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind]);
    if (!a->o.config_path || !a->o.weights_path || !a->o.data_path || !a->out)
        return cli_usage_error(&p, "--config, --weights, --data and --out are required");
    return 0;
}

static void print_table(const lwm_eval_needle_result *r)
{
    printf("accuracy (%d samples, %d rank%s, rope theta %g, %.1f s)\n%-8s", r->n_samples, r->ranks,
           r->ranks > 1 ? "s" : "", r->rope_theta, r->seconds, "depth");
    for (int li = 0; li < r->n_lengths; li++) printf(" %8lld", (long long)r->lengths[li]);
    printf("\n");
    for (int di = 0; di < r->n_depths; di++) {
        printf("%-8g", r->depths[di]);
        for (int li = 0; li < r->n_lengths; li++) {
            int k = li * r->n_depths + di;
            if (r->total[k])
                printf(" %8.2f", (double)r->correct[k] / r->total[k]);
            else
                printf(" %8s", "-");
        }
        printf("\n");
    }
}

// results.json, heatmap.png and the table (rank 0).
static int write_outputs(const char *dir, const lwm_eval_needle_result *r, lwm_error *err)
{
    char path[4096];
    cJSON *j = lwm_eval_needle_json(r);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    LWM_CHECK(err, text, -ENOMEM, "out of memory");
    int rc = lwm_path_join(path, sizeof path, dir, "results.json");
    if (rc == 0) rc = lwm_write_file_atomic(path, text, strlen(text), err);
    cJSON_free(text);
    LWM_TRY(rc);
    uint8_t *rgb = NULL;
    int w, h;
    LWM_TRY(lwm_eval_needle_heatmap(r, &rgb, &w, &h, err));
    rc = lwm_path_join(path, sizeof path, dir, "heatmap.png");
    if (rc == 0) rc = lwm_ingest_write_png(path, rgb, w, h, err);
    lwm_free(NULL, rgb);
    LWM_TRY(rc);
    print_table(r);
    printf("%s/results.json, %s/heatmap.png\n", dir, dir);
    return 0;
}

static int run(eval_args *a, int rank, lwm_error *err)
{
    char cache[4096];
    LWM_TRY(lwm_mkdirs(a->out, err));
    LWM_TRY(lwm_path_join(cache, sizeof cache, a->out, rank == 0 ? "cache" : "cache-ranks"));
    if (rank != 0) snprintf(cache + strlen(cache), sizeof cache - strlen(cache), "/%d", rank);
    LWM_TRY(lwm_mkdirs(cache, err));
    a->o.work_dir = cache;
    lwm_eval_needle_result *r = NULL;
    LWM_TRY(lwm_eval_needle(&a->o, MPI_COMM_WORLD, &r, err));
    int rc = rank == 0 ? write_outputs(a->out, r, err) : 0;
    lwm_eval_needle_free(r);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    static const char *const evaluations[] = {"needle", NULL};
    int sub = cli_subcommand("eval", usage, evaluations, argc, argv);
    if (sub < 0) return sub == CLI_HELP ? 0 : CLI_USAGE;
    eval_args a;
    memset(&a, 0, sizeof a);
    int rc = parse(&a, argc - 1, argv + 1);
    if (rc) return rc == 1 ? 0 : rc;
    int provided = 0, rank = 0, size = 1;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return cli_fail("eval", "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    lwm_progress progress;
    cli_progress(&progress, a.quiet || rank != 0);
    a.o.progress = progress.fn ? &progress : NULL;
    lwm_error err = {0};
    int code = run(&a, rank, &err);
    if (code < 0) {
        if (size > 1)
            cli_fail("eval", "rank %d: %s", rank, err.msg[0] ? err.msg : lwm_strerror(code));
        else
            cli_fail_err("eval", &err, code);
        fflush(stderr);
        if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1); // peers may wait in a collective
    }
    MPI_Finalize();
    return code < 0 ? 1 : 0;
}
