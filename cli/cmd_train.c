// lwm train: parse options, run the trainer across the MPI ranks mpirun started, print one
// JSON line per step; --plot turns a run's log into a loss-curve PNG (matplotlib).
#include <cjson/cJSON.h>
#include <mpi.h>
#include <omp.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "train/train.h"

extern char **environ;

static const char usage[] =
    "usage: mpirun -np P lwm train --config C --data DIR [--out RUN] [--steps N]\n"
    "                             [--resume | --overwrite] [--tokenizer T] [--fields SPEC]\n"
    "                             [--init W] [--export-init W.safetensors] [--json] [--quiet]\n"
    "       lwm train --plot RUN [--png FILE]\n\n"
    "Trains LWM's vision-language LLaMA with blockwise ring attention over the P ranks\n"
    "(P = data-parallel replicas x the config's \"ring\" size; ring 0 = all ranks).\n"
    "Walks the config's curriculum stages. On a terminal it shows a progress line (step of\n"
    "total, stage, loss, tokens/s, ETA), elsewhere a log line every 10 s. Writes to RUN\n"
    "(default: run): log.jsonl (one JSON object per step), checkpoints/step-N.bin (the\n"
    "newest train.keep_checkpoints, default 2), latest and checkpoint.bin (links to the\n"
    "newest), weights.safetensors. A RUN holding a run is refused unless --resume or\n"
    "--overwrite.\n\n"
    "  --config C       training config (configs/tiny.json, configs/small.json)\n"
    "  --data DIR       the dataset (lwm ingest --out DIR) or an LWM JSONL file\n"
    "  --out RUN        run directory (default: run)\n"
    "  --steps N        stop after N optimizer steps in all (resumed ones count)\n"
    "  --resume         continue from RUN/checkpoint.bin, bit for bit\n"
    "  --overwrite      replace the run RUN holds (its log, checkpoints and weights)\n"
    "  --tokenizer T    SentencePiece model (overrides the config's data.tokenizer)\n"
    "  --fields SPEC    LWM fields spec for records without one (overrides data.fields_spec)\n"
    "  --init W         start from pretrained weights: a Hugging Face LLaMA directory\n"
    "                   (config.json, model.safetensors or its index), or a run's\n"
    "                   weights.safetensors (stage 0, step 0, fresh optimizer state)\n"
    "  --export-init W  write the initial weights to W before the first step\n"
    "  --json           also print each step's JSON object on stdout\n"
    "  -q, --quiet      no progress line\n"
    "  -v, --verbose    debug messages\n"
    "  --plot RUN       write the loss curve of RUN/log.jsonl (or a log file) as a PNG\n"
    "  --png FILE       where --plot writes (default: RUN/loss.png)\n";

// The plot runs in Debian's python3 with matplotlib (listed in make deps).
static const char PLOT_SCRIPT[] =
    "import json, sys\n"
    "import matplotlib\n"
    "matplotlib.use('Agg')\n"
    "import matplotlib.pyplot as plt\n"
    "rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]\n"
    "if not rows: sys.exit('no steps in ' + sys.argv[1])\n"
    "s = [r['step'] for r in rows]\n"
    "fig, ax = plt.subplots(figsize=(8, 4.5))\n"
    "ax.plot(s, [r['loss'] for r in rows], label='loss')\n"
    "ax.plot(s, [r['text_loss'] for r in rows], label='text loss', alpha=0.6)\n"
    "ax.plot(s, [r['vision_loss'] for r in rows], label='vision loss', alpha=0.6)\n"
    "for a, b in zip(rows, rows[1:]):\n"
    "    if b['stage'] != a['stage']:\n"
    "        ax.axvline(b['step'], color='gray', ls='--')\n"
    "        ax.text(b['step'], ax.get_ylim()[1], ' seq %d' % b['seq_len'], va='top', fontsize=8)\n"
    "ax.set_xlabel('step'); ax.set_ylabel('loss (nats)'); ax.legend(); ax.grid(alpha=0.3)\n"
    "ax.set_title('lwm train: %d steps, final loss %.4f' % (s[-1], rows[-1]['loss']))\n"
    "fig.tight_layout(); fig.savefig(sys.argv[2], dpi=100)\n";

static int plot(const char *run, const char *png)
{
    char log[4096], out[4096];
    size_t n = strlen(run);
    int is_file = n > 6 && strcmp(run + n - 6, ".jsonl") == 0;
    if (is_file)
        snprintf(log, sizeof log, "%s", run);
    else if (lwm_path_join(log, sizeof log, run, "log.jsonl") < 0)
        return cli_fail("train", "path too long");
    if (png)
        snprintf(out, sizeof out, "%s", png);
    else if (is_file)
        snprintf(out, sizeof out, "%.*s.png", (int)(n - 6), run);
    else if (lwm_path_join(out, sizeof out, run, "loss.png") < 0)
        return cli_fail("train", "path too long");
    if (access(log, R_OK) != 0) return cli_fail("train", "%s: no training log to plot", log);
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char *argv[] = {(char *)py, "-c", (char *)PLOT_SCRIPT, log, out, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, py, NULL, NULL, argv, environ) != 0)
        return cli_fail("train", "cannot run %s for the plot", py);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return cli_fail("train", "plotting %s failed (python3 with matplotlib needed)", log);
    printf("%s\n", out);
    return 0;
}

static void print_step(void *opaque, const lwm_train_step *s)
{
    (void)opaque;
    cli_print_json(lwm_train_step_json(s), 1);
    fflush(stdout);
}

typedef struct train_args {
    lwm_train_options o;
    const char *plot_run, *png;
    int quiet, verbose, json;
} train_args;

static int parse_option(void *ctx, int c)
{
    train_args *a = ctx;
    long long v;
    switch (c) {
    case 'c': a->o.config_path = optarg; return 0;
    case 'd': a->o.data_dir = optarg; return 0;
    case 'o': a->o.out_dir = optarg; return 0;
    case 'e': a->o.export_init = optarg; return 0;
    case 'I': a->o.init_path = optarg; return 0;
    case 't': a->o.tokenizer = optarg; return 0;
    case 'F': a->o.fields_spec = optarg; return 0;
    case 'p': a->plot_run = optarg; return 0;
    case 'P': a->png = optarg; return 0;
    case 'r': a->o.resume = 1; return 0;
    case 'W': a->o.overwrite = 1; return 0;
    case 'j': a->json = 1; return 0;
    case 'q': a->quiet = 1; return 0;
    case 'v': a->verbose = 1; return 0;
    case 's':
        if (cli_parse_int("train", "--steps", optarg, 1, &v) < 0) return -1;
        a->o.max_steps = v;
        return 0;
    default: return -1;
    }
}

// 0, 1 after --help, or CLI_USAGE.
static int parse(train_args *a, int argc, char **argv)
{
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"data", required_argument, NULL, 'd'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"steps", required_argument, NULL, 's'},
                                          {"resume", no_argument, NULL, 'r'},
                                          {"overwrite", no_argument, NULL, 'W'},
                                          {"tokenizer", required_argument, NULL, 't'},
                                          {"fields", required_argument, NULL, 'F'},
                                          {"export-init", required_argument, NULL, 'e'},
                                          {"init", required_argument, NULL, 'I'},
                                          {"plot", required_argument, NULL, 'p'},
                                          {"png", required_argument, NULL, 'P'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"train", usage, longs, "qv", NULL, 0};
    int rc = cli_parse(&p, argc, argv, parse_option, a);
    if (rc) return rc == CLI_HELP ? 1 : rc;
    if (optind < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind]);
    if (a->plot_run) return 0;
    if (!a->o.config_path || !a->o.data_dir)
        return cli_usage_error(&p, "--config and --data are required");
    if (a->o.resume && a->o.overwrite)
        return cli_usage_error(&p, "--resume and --overwrite: choose one");
    return 0;
}

int cmd_train(int argc, char **argv)
{
    train_args a;
    memset(&a, 0, sizeof a);
    int rc = parse(&a, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    if (a.plot_run) return plot(a.plot_run, a.png);

    int provided = 0, rank = 0, size = 1;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return cli_fail("train", "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    lwm_progress progress;
    cli_logger(&a.o.log, a.verbose);
    if (rank != 0) a.o.log.level = LWM_LOG_ERROR;
    cli_progress(&progress, a.quiet || rank != 0);
    a.o.progress = progress.fn ? &progress : NULL;
    a.o.on_step = rank == 0 && a.json ? print_step : NULL;
    lwm_error err = {0};
    lwm_train *t = NULL;
    int code = lwm_train_create(&t, &a.o, MPI_COMM_WORLD, &err);
    if (code == 0) code = lwm_train_run(t, &err);
    if (code == LWM_EEXISTS && !t) { // the run directory: every rank got rank 0's verdict
        if (rank == 0) cli_fail_err("train", &err, code);
        MPI_Finalize();
        return CLI_USAGE;
    }
    if (code < 0) {
        if (size > 1)
            cli_fail("train", "rank %d: %s", rank, err.msg[0] ? err.msg : lwm_strerror(code));
        else
            cli_fail_err("train", &err, code);
        fflush(stderr);
        // A failed rank brings the whole job down: peers may wait in a collective.
        if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    }
    lwm_train_free(t);
    MPI_Finalize();
    return code < 0 ? 1 : 0;
}
