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

static void usage(void)
{
    printf("usage: mpirun -np P lwm train --config C --data DIR [--steps N] [--out RUN] [--resume]\n"
           "                             [--export-init W.safetensors] [--init W]\n"
           "       lwm train --plot RUN [--png FILE]\n\n"
           "Trains LWM's vision-language LLaMA with blockwise ring attention over the P ranks\n"
           "(P = data-parallel replicas x the config's \"ring\" size; ring 0 = all ranks).\n"
           "Walks the config's curriculum stages; writes RUN/log.jsonl (one JSON object per step,\n"
           "also printed), RUN/checkpoint.bin and RUN/weights.safetensors (default RUN: run).\n\n"
           "  --steps N        stop after N optimizer steps in all (resumed ones count)\n"
           "  --resume         continue from RUN/checkpoint.bin, bit for bit\n"
           "  --export-init W  write the initial weights to W before the first step\n"
           "  --init W         start from pretrained weights: a Hugging Face LLaMA directory\n"
           "                   (config.json, model.safetensors or its index), or a run's\n"
           "                   weights.safetensors (stage 0, step 0, fresh optimizer state)\n"
           "  --plot RUN       write the loss curve of RUN/log.jsonl (or a log file) as a PNG\n"
           "  --png FILE       where --plot writes (default: RUN/loss.png)\n"
           "  --quiet          no progress line\n");
}

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
    if (is_file) snprintf(log, sizeof log, "%s", run);
    else if (lwm_path_join(log, sizeof log, run, "log.jsonl") < 0) return cli_fail("train", "path too long");
    if (png) snprintf(out, sizeof out, "%s", png);
    else if (is_file) snprintf(out, sizeof out, "%.*s.png", (int)(n - 6), run);
    else if (lwm_path_join(out, sizeof out, run, "loss.png") < 0) return cli_fail("train", "path too long");
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
    int quiet;
} train_args;

static int parse(train_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        int has = i + 1 < argc;
        long long v;
        if (strcmp(k, "--help") == 0 || strcmp(k, "-h") == 0) return usage(), 1;
        else if (strcmp(k, "--resume") == 0) a->o.resume = 1;
        else if (strcmp(k, "--quiet") == 0) a->quiet = 1;
        else if (!has) return cli_fail("train", "%s needs a value (see lwm train --help)", k) + 1;
        else if (strcmp(k, "--config") == 0) a->o.config_path = argv[++i];
        else if (strcmp(k, "--data") == 0) a->o.data_dir = argv[++i];
        else if (strcmp(k, "--out") == 0) a->o.out_dir = argv[++i];
        else if (strcmp(k, "--export-init") == 0) a->o.export_init = argv[++i];
        else if (strcmp(k, "--init") == 0) a->o.init_path = argv[++i];
        else if (strcmp(k, "--plot") == 0) a->plot_run = argv[++i];
        else if (strcmp(k, "--png") == 0) a->png = argv[++i];
        else if (strcmp(k, "--steps") == 0) {
            if (cli_parse_int("train", k, argv[++i], 1, &v) < 0) return 2;
            a->o.max_steps = v;
        } else return cli_fail("train", "unknown option '%s' (see lwm train --help)", k) + 1;
    }
    if (a->plot_run) return 0;
    if (!a->o.config_path || !a->o.data_dir)
        return cli_fail("train", "--config and --data are required (see lwm train --help)") + 1;
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
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return cli_fail("train", "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    lwm_progress progress;
    cli_logger(&a.o.log, 0);
    if (rank != 0) a.o.log.level = LWM_LOG_ERROR;
    cli_progress(&progress, a.quiet || rank != 0 || !isatty(STDERR_FILENO));
    a.o.progress = progress.fn ? &progress : NULL;
    a.o.on_step = rank == 0 ? print_step : NULL;
    lwm_error err = {0};
    lwm_train *t = NULL;
    int code = lwm_train_create(&t, &a.o, MPI_COMM_WORLD, &err);
    if (code == 0) code = lwm_train_run(t, &err);
    if (code < 0) {
        if (size > 1) cli_fail("train", "rank %d: %s", rank, err.msg[0] ? err.msg : lwm_strerror(code));
        else cli_fail_err("train", &err, code);
        fflush(stderr);
        // A failed rank brings the whole job down: peers may wait in a collective.
        if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    }
    lwm_train_free(t);
    MPI_Finalize();
    return code < 0 ? 1 : 0;
}
