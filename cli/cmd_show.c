// lwm show DIR ID [--json] [--index]: one sample, its fields, text, frame
// timestamps and codes.
#include <cjson/cJSON.h>
#include <string.h>

#include "cli.h"
#include "loader/loader.h"
#include "shard_cli.h"

static const char *usage =
    "usage: lwm show DIR ID [--json] [--index] [--tokenizer T [--force-tokenizer]]\n\n"
    "Prints one sample: id, dense index, modality, source and its metadata, the\n"
    "LWM fields spec, every text field (and token ids), frame timestamps and the\n"
    "codes of every frame. --index reads ID as the dense index instead of an id.\n"
    "--json prints one object (codes as one array of 256 per frame).\n"
    "Text stored raw is shown tokenized with the tokenizer the dataset was ingested\n"
    "with (lwm ingest --tokenizer), or --tokenizer T; a T other than the dataset's\n"
    "is an error unless --force-tokenizer.\n";

static void print_codes(const lwm_shard_sample *s)
{
    for (int64_t f = 0; f < s->frames; f++) {
        printf("  frame %lld at %.3f s:", (long long)f, s->timestamps[f]);
        for (int p = 0; p < LWM_SHARD_CODES_PER_FRAME; p++) {
            if (p % 16 == 0) printf("\n   ");
            printf(" %4u", s->codes[f * LWM_SHARD_CODES_PER_FRAME + p]);
        }
        printf("\n");
    }
}

// The part of a merged dataset that built record index, or -1.
static int part_of(const lwm_shard_reader *r, int64_t index)
{
    int n, part = -1;
    const lwm_shard_file *files = lwm_shard_reader_files(r, &n);
    for (int i = 0; i < n && files[i].first_index <= index; i++) part = files[i].part;
    return part;
}

// One "label value" line; the value is escaped (it comes from the dataset).
static void line(const char *label, const char *value)
{
    printf("%-12s", label);
    cli_put_escaped(stdout, value && value[0] ? value : "-");
    printf("\n");
}

// Token ids of a raw text field with the tokenizer (the loader's rule: no BOS/EOS).
static void print_tokens(const lwm_loader_tokenizer *tok, const char *text)
{
    int32_t ids[4096];
    int64_t n = lwm_loader_tokenizer_encode(tok, text, ids, sizeof ids / sizeof ids[0]);
    if (n < 0) return;
    printf("  tokens (%lld, tokenizer %s):", (long long)n, lwm_loader_tokenizer_hash(tok));
    for (int64_t i = 0; i < n && i < (int64_t)(sizeof ids / sizeof ids[0]); i++)
        printf(" %d", ids[i]);
    printf("%s\n", n > (int64_t)(sizeof ids / sizeof ids[0]) ? " ..." : "");
}

static void print_human(const lwm_shard_sample *s, int part, const lwm_loader_tokenizer *tok,
                        const char *default_spec)
{
    line("id", s->id);
    printf("index       %lld\n", (long long)s->index);
    printf("modality    %s\n", lwm_shard_modality_name(s->modality));
    printf("source      ");
    cli_put_escaped(stdout, s->source[0] ? s->source : "-");
    printf(" (manifest line %lld)\n", (long long)s->manifest_line);
    printf("media       ");
    cli_put_escaped(stdout, s->codec[0] ? s->codec : "-");
    printf(", %dx%d, %.3f fps, %.3f s\n", s->width, s->height, s->fps, s->duration);
    printf("file        %lld bytes, xxh3-128 %s\n", (long long)s->source_bytes,
           s->source_xxh3[0] ? s->source_xxh3 : "-");
    if (part >= 0) printf("built by    part %d\n", part);
    if (s->fields[0])
        line("fields", s->fields);
    else if (default_spec)
        printf("fields      (none: the dataset's default '%s')\n", default_spec);
    else
        printf("fields      (none: vision without loss, then the text fields with loss)\n");
    for (int t = 0; t < s->n_texts; t++) {
        printf("text ");
        cli_put_escaped(stdout, s->texts[t].name);
        printf("%*s ", (int)(strlen(s->texts[t].name) < 6 ? 6 - strlen(s->texts[t].name) : 0), "");
        cli_put_escaped(stdout, s->texts[t].text);
        printf("\n");
        if (s->texts[t].tokens) {
            printf("  tokens (%lld):", (long long)s->texts[t].n_tokens);
            for (int64_t i = 0; i < s->texts[t].n_tokens; i++) printf(" %d", s->texts[t].tokens[i]);
            printf("\n");
        } else if (tok) {
            print_tokens(tok, s->texts[t].text);
        }
    }
    printf("vision      ");
    cli_put_escaped(stdout, s->vision_name[0] ? s->vision_name : "-");
    printf(": %lld frames, %lld tokens\n", (long long)s->frames,
           (long long)(s->frames * LWM_SHARD_CODES_PER_FRAME));
    print_codes(s);
}

// The dataset's tokenizer (or the given one, checked against it); none when neither exists.
static int open_tokenizer(const char *dir, const char *given, int force, lwm_loader_tokenizer **tok)
{
    char path[4096], hash[33];
    lwm_error err = {0};
    int rc = given ? 1 : lwm_loader_dataset_tokenizer(dir, path, sizeof path, hash, &err);
    if (rc > 0) rc = lwm_loader_tokenizer_resolve(&dir, 1, given, force, path, sizeof path, &err);
    if (rc >= 0 && (given || path[0])) rc = lwm_loader_tokenizer_open(tok, path, &err);
    if (rc < 0) {
        cli_fail_err("show", &err, rc);
        return -1;
    }
    return 0;
}

int cmd_show(int argc, char **argv)
{
    const char *dir = NULL, *id = NULL, *given = NULL;
    int json = 0, by_index = 0, force = 0;
    static const struct option longs[] = {{"json", no_argument, NULL, 'j'},
                                          {"index", no_argument, NULL, 'i'},
                                          {"tokenizer", required_argument, NULL, 't'},
                                          {"force-tokenizer", no_argument, NULL, 'T'},
                                          {0, 0, 0, 0}};
    cli_parser p = {"show", usage, longs, NULL, NULL, 0};
    for (int c; (c = cli_getopt(&p, argc, argv)) != CLI_END;) {
        if (c == 'j')
            json = 1;
        else if (c == 'i')
            by_index = 1;
        else if (c == 't')
            given = optarg;
        else if (c == 'T')
            force = 1;
        else
            return c == CLI_HELP ? 0 : CLI_USAGE;
    }
    if (argc - optind != 2) return cli_usage_error(&p, "expected DIR and ID");
    dir = argv[optind], id = argv[optind + 1];
    long long index = 0;
    if (by_index && cli_parse_int("show", "--index", id, 0, &index) < 0) return CLI_USAGE;
    lwm_loader_tokenizer *tok = NULL;
    if (!json && open_tokenizer(dir, given, force, &tok) < 0) return 1;
    lwm_shard_reader *r = shard_cli_open("show", dir);
    if (!r) {
        lwm_loader_tokenizer_free(tok);
        return 1;
    }
    const lwm_shard_sample *s;
    int rc = by_index ? lwm_shard_get(r, index, &s) : lwm_shard_find(r, id, &s);
    int status = 0;
    if (rc < 0)
        status = cli_fail("show", "%s", lwm_shard_reader_errmsg(r));
    else if (json) {
        cJSON *o = shard_cli_sample_json(s, 1);
        if (part_of(r, s->index) >= 0) cJSON_AddNumberToObject(o, "part", part_of(r, s->index));
        cli_print_json(o, 1);
    } else {
        // The spec a record without one is read with (lwm ingest --fields), as the loader does.
        const lwm_shard_info *info = lwm_shard_reader_info(r);
        cJSON *settings = info->settings_json[0] ? cJSON_Parse(info->settings_json) : NULL;
        print_human(s, part_of(r, s->index), tok,
                    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(settings, "fields")));
        cJSON_Delete(settings);
    }
    lwm_shard_reader_free(r);
    lwm_loader_tokenizer_free(tok);
    return status;
}
