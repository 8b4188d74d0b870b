// Helpers shared by the store's commands.
#include <cjson/cJSON.h>
#include <string.h>

#include "cli.h"
#include "shard_cli.h"

lwm_shard_reader *shard_cli_open(const char *cmd, const char *dir)
{
    return shard_cli_open_with(cmd, dir, NULL);
}

lwm_shard_reader *shard_cli_open_with(const char *cmd, const char *dir,
                                      const lwm_shard_reader_options *opt)
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

int shard_cli_dir_args(const char *cmd, const char *usage, int argc, char **argv, const char **dir,
                       int *json, int *quiet)
{
    static const struct option longs[] = {
        {"json", no_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'}, {0, 0, 0, 0}};
    cli_parser p = {cmd, usage, longs, "q", NULL, 0};
    for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;) {
        if (c == 'j')
            *json = 1;
        else if (c == 'q')
            *quiet = 1;
        else
            return c == CLI_HELP ? 1 : CLI_USAGE;
    }
    if (optind == argc) return cli_usage_error(&p, "missing DIR");
    if (optind + 1 < argc) return cli_usage_error(&p, "unexpected argument '%s'", argv[optind + 1]);
    *dir = argv[optind];
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
    if (fields)
        cJSON_AddItemToObject(o, "fields", fields);
    else
        cJSON_AddStringToObject(o, "fields", s->fields);
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
    for (int64_t f = 0; f < s->frames; f++)
        cJSON_AddItemToArray(ts, cJSON_CreateNumber(s->timestamps[f]));
    if (with_codes) {
        cJSON *codes = cJSON_AddArrayToObject(o, "codes");
        for (int64_t f = 0; f < s->frames; f++) {
            cJSON *frame = cJSON_CreateArray();
            for (int p = 0; p < LWM_SHARD_CODES_PER_FRAME; p++)
                cJSON_AddItemToArray(
                    frame, cJSON_CreateNumber(s->codes[f * LWM_SHARD_CODES_PER_FRAME + p]));
            cJSON_AddItemToArray(codes, frame);
        }
    }
    return o;
}
