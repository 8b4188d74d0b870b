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

static int parse_args(export_args *a, int argc, char **argv)
{
    static const struct option longs[] = {{"format", 1, 0, 'f'}, {"out", 1, 0, 'o'},
                                           {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},
                                           {0, 0, 0, 0}};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
        switch (c) {
        case 'f': a->format = optarg; break;
        case 'o': a->out = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'h': fputs(usage, stdout); return 1;
        default: return cli_fail("export", "see 'lwm export --help'"), -1;
        }
    }
    if (argc - optind != 1) return cli_fail("export", "give one run or dataset (see 'lwm export --help')"), -1;
    a->src = argv[optind];
    if (!a->format || !a->out) return cli_fail("export", "--format and --out are required"), -1;
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
    if (rc) return rc > 0 ? 0 : 2;
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
