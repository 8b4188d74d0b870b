// Helpers shared by the store's commands.
#include <cjson/cJSON.h>
#include <string.h>

#include "cli.h"
#include "shard_cli.h"

lwm_shard_reader *shard_cli_open(const char *cmd, const char *dir)
{
    return shard_cli_open_with(cmd, dir, NULL);
}

lwm_shard_reader *shard_cli_open_with(const char *cmd, const char *dir, const lwm_shard_reader_options *opt)
{
    lwm_shard_reader *r = lwm_shard_reader_create(opt);
    if (!r) {
        cli_fail(cmd, "out of memory");
        return NULL;
    }
    if (lwm_shard_reader_open(r, dir) < 0) {
        cli_fail(cmd, "%s", lwm_shard_reader_errmsg(r));
        lwm_shard_reader_free(r);
        return NULL;
    }
    return r;
}

int shard_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

int shard_cli_dir_args(const char *cmd, int argc, char **argv, const char **dir, int *json, int *quiet)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) *json = 1;
        else if (strcmp(argv[i], "--quiet") == 0) *quiet = 1;
        else if (argv[i][0] == '-') return cli_fail(cmd, "unknown option %s (see --help)", argv[i]), -1;
        else if (!*dir) *dir = argv[i];
        else return cli_fail(cmd, "unexpected argument %s", argv[i]), -1;
    }
    if (!*dir) return cli_fail(cmd, "missing DIR (see --help)"), -1;
    return 0;
}

static cJSON *text_json(const lwm_shard_text *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "text", t->text);
    if (t->tokens) {
        cJSON *tok = cJSON_AddArrayToObject(o, "tokens");
        for (int64_t i = 0; i < t->n_tokens; i++)
            cJSON_AddItemToArray(tok, cJSON_CreateNumber(t->tokens[i]));
    }
    return o;
}

cJSON *shard_cli_sample_json(const lwm_shard_sample *s, int with_codes)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", s->id);
    cJSON_AddNumberToObject(o, "index", (double)s->index);
    cJSON_AddStringToObject(o, "modality", lwm_shard_modality_name(s->modality));
    cJSON_AddStringToObject(o, "source", s->source);
    cJSON_AddNumberToObject(o, "manifest_line", (double)s->manifest_line);
    cJSON_AddNumberToObject(o, "source_bytes", (double)s->source_bytes);
    cJSON_AddStringToObject(o, "source_xxh3", s->source_xxh3);
    cJSON *fields = s->fields[0] ? cJSON_Parse(s->fields) : NULL;
    if (fields) cJSON_AddItemToObject(o, "fields", fields);
    else cJSON_AddStringToObject(o, "fields", s->fields);
    cJSON *meta = cJSON_AddObjectToObject(o, "source_meta");
    cJSON_AddNumberToObject(meta, "duration", s->duration);
    cJSON_AddNumberToObject(meta, "fps", s->fps);
    cJSON_AddNumberToObject(meta, "width", s->width);
    cJSON_AddNumberToObject(meta, "height", s->height);
    cJSON_AddStringToObject(meta, "codec", s->codec);
    cJSON *texts = cJSON_AddArrayToObject(o, "texts");
    for (int t = 0; t < s->n_texts; t++) cJSON_AddItemToArray(texts, text_json(&s->texts[t]));
    cJSON_AddStringToObject(o, "vision_name", s->vision_name);
    cJSON_AddNumberToObject(o, "frames", (double)s->frames);
    cJSON_AddNumberToObject(o, "vision_tokens", (double)(s->frames * LWM_SHARD_CODES_PER_FRAME));
    cJSON *ts = cJSON_AddArrayToObject(o, "timestamps");
    for (int64_t f = 0; f < s->frames; f++) cJSON_AddItemToArray(ts, cJSON_CreateNumber(s->timestamps[f]));
    if (with_codes) {
        cJSON *codes = cJSON_AddArrayToObject(o, "codes");
        for (int64_t f = 0; f < s->frames; f++) {
            cJSON *frame = cJSON_CreateArray();
            for (int p = 0; p < LWM_SHARD_CODES_PER_FRAME; p++)
                cJSON_AddItemToArray(frame, cJSON_CreateNumber(s->codes[f * LWM_SHARD_CODES_PER_FRAME + p]));
            cJSON_AddItemToArray(codes, frame);
        }
    }
    return o;
}
