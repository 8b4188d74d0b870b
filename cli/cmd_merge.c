// lwm merge: the parts that `lwm ingest --part K/N` built, made one dataset.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shard/shard.h"

static const char *usage =
    "usage: lwm merge PART_DIR... --out DIR [--json] [--quiet] [--verbose]\n"
    "\n"
    "Makes one dataset in DIR of the parts of one manifest that 'lwm ingest --part K/N'\n"
    "built (given in any order; all N are needed). The dense order is the manifest's, as\n"
    "one ingest of the whole manifest gives. Shard files are hard-linked, not copied, so\n"
    "DIR must be on the parts' file system; the parts stay usable. Refused, with the\n"
    "reason: unfinished parts, parts of other manifests, other VQGAN weights, tokenizer or\n"
    "ingest settings, and sample ids found in two parts. Killed at any moment, the same\n"
    "command completes the merge; run again after it finished, it does nothing.\n"
    "\n"
    "  --out DIR      the merged dataset (a new or empty directory)\n"
    "  --json         print the result as one JSON object\n"
    "  -q, --quiet    no summary line\n"
    "  -v, --verbose  notes of what was done\n";

cJSON *merge_result_json(const lwm_shard_merge_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "samples", (double)r->samples);
    cJSON_AddNumberToObject(o, "failed", (double)r->failed);
    cJSON_AddNumberToObject(o, "frames", (double)r->frames);
    cJSON_AddNumberToObject(o, "shards", (double)r->shards);
    cJSON_AddBoolToObject(o, "already_merged", r->already);
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    return o;
}

int cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    int json = 0, verbose = 0, quiet = 0, n = 0;
    static const struct option longs[] = {{"out", required_argument, NULL, 'o'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"merge", usage, longs, "qv", NULL, 0};
    for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;) {
        if (c == 'o')
            out = optarg;
        else if (c == 'j')
            json = 1;
        else if (c == 'q')
            quiet = 1;
        else if (c == 'v')
            verbose = 1;
        else
            return c == CLI_HELP ? 0 : CLI_USAGE;
    }
    const char **parts = (const char **)argv + optind;
    n = argc - optind;
    if (!out || n == 0) return cli_usage_error(&p, "PART_DIR... and --out DIR are required");
    lwm_shard_merge_options opt = {0};
    cli_logger(&opt.log, verbose);
    lwm_shard_merge_result res;
    lwm_error err = {0};
    int rc = lwm_shard_merge(parts, n, out, &opt, &res, &err);
    if (rc < 0) return cli_fail_err("merge", &err, rc);
    if (json) {
        cli_print_json(merge_result_json(&res), 1);
        return 0;
    }
    if (quiet) return 0;
    printf("merge: %s%d parts into %s: %lld samples, %lld failed, %lld frames, %lld shards "
           "linked in %.3f s\n",
           res.already ? "already done: " : "", n, out, (long long)res.samples,
           (long long)res.failed, (long long)res.frames, (long long)res.shards, res.seconds);
    return 0;
}
