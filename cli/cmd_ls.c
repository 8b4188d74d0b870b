// lwm ls DIR [--modality M] [--json]: the samples' ids, filterable by modality.
#include <cjson/cJSON.h>
#include <string.h>

#include "cli.h"
#include "shard_cli.h"

static const char *usage =
    "usage: lwm ls DIR [--modality text|image|video] [--json]\n\n"
    "Lists the samples in dense-index order: index, id, modality, frames.\n"
    "--json prints {\"samples\": [{\"index\", \"id\", \"modality\", \"frames\"}, ...]}.\n";

int cmd_ls(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, modality = -1;
    if (shard_cli_wants_help(argc, argv)) return printf("%s", usage), 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--modality") == 0 && i + 1 < argc) {
            modality = lwm_shard_modality_parse(argv[++i]);
            if (modality < 0) return cli_fail("ls", "--modality: expected text, image or video, got '%s'", argv[i]);
        } else if (argv[i][0] == '-') return cli_fail("ls", "unknown option %s (see --help)", argv[i]);
        else if (!dir) dir = argv[i];
        else return cli_fail("ls", "unexpected argument %s", argv[i]);
    }
    if (!dir) return cli_fail("ls", "missing DIR (see --help)");
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
