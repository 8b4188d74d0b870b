// lwm export: a run's weights in the Hugging Face LLaMA layout or the trainer's own, or a
// dataset as LWM's pre-tokenized JSONL.
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "shard_cli.h"
#include "train/train.h"

static const char usage[] =
    "usage: lwm export RUN --format hf|lwm --out DIR\n"
    "       lwm export DATASET --format lwm-jsonl --out FILE.jsonl [--quiet]\n\n"
    "Weights (RUN: a run directory or its weights.safetensors):\n"
    "  hf    DIR/config.json and DIR/model.safetensors in the Hugging Face LLaMA layout (q/k rows\n"
    "        back in rotate-half order; the vision embedding and head as the extra tensors\n"
    "        lwm.vision_embed_tokens.weight and lwm.vision_head.weight), DIR/tokenizer.model\n"
    "  lwm   DIR/weights.safetensors under the trainer's names, DIR/tokenizer.model\n"
    "Corpora (DATASET: a store directory):\n"
    "  lwm-jsonl  one JSON line per sample, LWM's format: text fields, inline vision code\n"
    "             lists and the fields spec; streamed with progress\n";

typedef struct export_args {
    const char *src, *format, *out;
    int quiet;
} export_args;

static int parse_option(void *ctx, int c)
{
    export_args *a = ctx;
    switch (c) {
    case 'f': a->format = optarg; return 0;
    case 'o': a->out = optarg; return 0;
    case 'q': a->quiet = 1; return 0;
    default: return -1;
    }
}

// 0, 1 after --help, or CLI_USAGE.
static int parse_args(export_args *a, int argc, char **argv)
{
    static const struct option longs[] = {{"format", required_argument, 0, 'f'},
                                          {"out", required_argument, 0, 'o'},
                                          {"quiet", no_argument, 0, 'q'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"export", usage, longs, "q", NULL, 0};
    int rc = cli_parse(&p, argc, argv, parse_option, a);
    if (rc) return rc == CLI_HELP ? 1 : rc;
    if (argc - optind != 1) return cli_usage_error(&p, "give one run or dataset");
    a->src = argv[optind];
    if (!a->format || !a->out) return cli_usage_error(&p, "--format and --out are required");
    return 0;
}

static int export_dataset(const export_args *a)
{
    lwm_shard_reader *r = shard_cli_open("export", a->src);
    if (!r) return 1;
    lwm_progress progress;
    cli_progress(&progress, a->quiet);
    lwm_error err = {0};
    int rc = lwm_shard_export_jsonl(r, a->out, progress.fn ? &progress : NULL, &err);
    int64_t n = lwm_shard_reader_count(r);
    lwm_shard_reader_free(r);
    if (rc < 0) return cli_fail_err("export", &err, rc);
    fprintf(stderr, "lwm export: %lld samples to %s\n", (long long)n, a->out);
    return 0;
}

int cmd_export(int argc, char **argv)
{
    export_args a = {0};
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    lwm_logger log;
    cli_logger(&log, 0);
    lwm_error err = {0};
    if (strcmp(a.format, "hf") == 0 || strcmp(a.format, "lwm") == 0) {
        rc = lwm_train_export(a.src, a.format, a.out, &log, &err);
        if (rc == 0) printf("%s\n", a.out);
        return rc < 0 ? cli_fail_err("export", &err, rc) : 0;
    }
    if (strcmp(a.format, "lwm-jsonl") == 0) return export_dataset(&a);
    return cli_fail("export", "--format: expected hf, lwm or lwm-jsonl, got '%s'", a.format);
}
