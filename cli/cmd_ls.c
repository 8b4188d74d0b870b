// lwm ls DIR [--modality M] [--json]: the samples' ids, filterable by modality.
#include <cjson/cJSON.h>
#include <string.h>

#include "cli.h"
#include "shard_cli.h"

static const char *usage =
    "usage: lwm ls DIR [--modality text|image|video] [--json]\n\n"
    "Lists the samples in dense-index order: index, id, modality, frames.\n\n"
    "  --modality M  only samples of modality M (text, image or video)\n"
    "  --json        print {\"samples\": [{\"index\", \"id\", \"modality\", \"frames\"}, ...]}\n";

int cmd_ls(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, modality = -1;
    static const struct option longs[] = {
        {"json", no_argument, NULL, 'j'}, {"modality", required_argument, NULL, 'm'}, {0, 0, 0, 0}};
    cli_parser p = {"ls", usage, longs, NULL, NULL, 0};
    for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;) {
        if (c == 'j')
            json = 1;
        else if (c == 'm') {
            modality = lwm_shard_modality_parse(optarg);
            if (modality < 0)
                return cli_usage_error(&p, "--modality: expected text, image or video, got '%s'",
                                       optarg);
        } else
            return c == CLI_HELP ? 0 : CLI_USAGE;
    }
    if (optind == argc) return cli_usage_error(&p, "missing DIR");
    if (optind + 1 < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind + 1]);
    dir = argv[optind];
    lwm_shard_reader *r = shard_cli_open("ls", dir);
    if (!r) return 1;
    cJSON *list = json ? cJSON_CreateArray() : NULL;
    int status = 0;
    for (int64_t i = 0; i < lwm_shard_reader_count(r); i++) {
        const lwm_shard_sample *s;
        if (lwm_shard_get(r, i, &s) < 0) {
            status = cli_fail("ls", "%s", lwm_shard_reader_errmsg(r));
            continue; // list the rest; the exit status reports the damage
        }
        if (modality >= 0 && s->modality != modality) continue;
        if (!json) {
            printf("%lld\t", (long long)i);
            cli_put_escaped(stdout, s->id);
            printf("\t%s\t%lld\n", lwm_shard_modality_name(s->modality), (long long)s->frames);
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)i);
        cJSON_AddStringToObject(o, "id", s->id);
        cJSON_AddStringToObject(o, "modality", lwm_shard_modality_name(s->modality));
        cJSON_AddNumberToObject(o, "frames", (double)s->frames);
        cJSON_AddItemToArray(list, o);
    }
    lwm_shard_reader_free(r);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "samples", list);
        cli_print_json(o, 1);
    }
    return status;
}
