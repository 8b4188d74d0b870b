// lwm pack: packed training rows of a dataset, for inspection and tests.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "loader/loader.h"

static const char usage[] =
    "usage: lwm pack DATASET... --seq-len L [--count N] [--json] [options]\n"
    "\n"
    "Prints packed rows: one JSON object per row with --json (input_tokens, target_tokens,\n"
    "loss_masks, input_vision_masks, target_vision_masks, segment_ids, positions), else a\n"
    "readable form (text detokenized, vision runs as frame counts). DATASET is a store\n"
    "directory or an LWM JSONL file; several are mixed (--mix).\n"
    "\n"
    "The rows are the global stream: the same for any number of ranks reading it. \"row\"\n"
    "counts global rows over the whole curriculum (a resumed dump continues the numbering),\n"
    "\"train_step\" is the step of lwm train (its log.jsonl \"step\") that trains on the row;\n"
    "--dp/--sp/--zigzag print one rank's slice of the same rows.\n"
    "\n"
    "  --seq-len L          positions per row (required unless --curriculum)\n"
    "  --count N            rows to print (default 4)\n"
    "  --tokenizer T        SentencePiece .model (default: the one the dataset was ingested\n"
    "                       with; another one is an error unless --force-tokenizer)\n"
    "  --force-tokenizer    use --tokenizer even when the dataset records another\n"
    "  --layout L           packed (default) | lwm (LWM's no_pad stream) | pad\n"
    "  --no-shuffle         dense (file) order\n"
    "  --seed S             shuffle seed (default 0)\n"
    "  --max-frames K       subsample vision fields to K frames (old name: --max-n-frames)\n"
    "  --fields-index I     always take entry I of list specs\n"
    "  --fields SPEC        spec for records without one (default: the dataset's, lwm ingest\n"
    "                       --fields, else vision then the text fields; docs/fields.md)\n"
    "  --no-segment-ids     one segment per row (cross-document attention)\n"
    "  --no-position-reset  positions run along the row\n"
    "  --skip-bad           skip and count bad records instead of failing\n"
    "  --drop-no-loss       leave out pieces with no loss-bearing target (lwm train's default)\n"
    "  --keep-no-loss       keep them (overrides a training config's data.drop_no_loss)\n"
    "  --mix W1,W2,...      mixing weights of the datasets (old name: --weights)\n"
    "  --curriculum F       stages from a curriculum (configs/curriculum-*.json) or a training\n"
    "                       config (configs/tiny.json): then also its train.seed and data\n"
    "                       options (tokenizer, fields_spec, layout) unless given here, so the\n"
    "                       rows are exactly those lwm train trains on, each with its step\n"
    "  --stage K            start at curriculum stage K\n"
    "  --rows R             global rows per batch (default 1)\n"
    "  --dp RANK/SIZE       data-parallel rank and size (rows of this rank only)\n"
    "  --sp RANK/SIZE       sequence-parallel rank and size (positions of this rank)\n"
    "  --zigzag             zigzag ring layout (default contiguous)\n"
    "  --state-in F         continue from a saved state\n"
    "  --state-out F        save the state after the printed rows\n"
    "  --json               one JSON object per row on stdout\n"
    "  -q, --quiet          no progress line or statistics on stderr\n"
    "  -v, --verbose        debug messages\n";

typedef struct pack_args {
    lwm_loader_options opt;
    long long count;
    int json, quiet, verbose;
    const char *state_in, *state_out, *curriculum;
    int given_seed, given_layout, given_drop;
    int64_t stage_rows[64], stage_no_loss[64], stage_dropped[64]; // statistics per stage
    double weights[16];
    lwm_loader_run_config run; // --curriculum
} pack_args;

static int parse_pair(const char *opt, const char *text, int *rank, int *size)
{
    char *end = NULL;
    long r = strtol(text, &end, 10);
    if (!end || *end != '/') return cli_fail("pack", "%s: expected RANK/SIZE, got '%s'", opt, text);
    long s = strtol(end + 1, &end, 10);
    if (*end || s < 1 || r < 0 || r >= s)
        return cli_fail("pack", "%s: expected RANK/SIZE with 0 <= RANK < SIZE, got '%s'", opt,
                        text);
    *rank = (int)r, *size = (int)s;
    return 0;
}

static int parse_weights(pack_args *a, const char *text)
{
    int n = 0;
    for (const char *p = text; *p && n < 16; n++) {
        char *end = NULL;
        a->weights[n] = strtod(p, &end);
        if (end == p || a->weights[n] <= 0) return cli_fail("pack", "--mix: bad list '%s'", text);
        p = *end == ',' ? end + 1 : end;
    }
    a->opt.weights = a->weights;
    return 0;
}

static int parse_layout(const char *text, lwm_loader_layout *out)
{
    if (strcmp(text, "packed") == 0)
        *out = LWM_LAYOUT_PACKED;
    else if (strcmp(text, "lwm") == 0)
        *out = LWM_LAYOUT_LWM;
    else if (strcmp(text, "pad") == 0)
        *out = LWM_LAYOUT_PAD;
    else
        return cli_fail("pack", "--layout: expected packed, lwm or pad, got '%s'", text);
    return 0;
}

static int parse_args(pack_args *a, int argc, char **argv)
{
    static const struct option longs[] = {{"seq-len", 1, 0, 'L'},
                                          {"count", 1, 0, 'n'},
                                          {"json", 0, 0, 'j'},
                                          {"tokenizer", 1, 0, 't'},
                                          {"layout", 1, 0, 'l'},
                                          {"no-shuffle", 0, 0, 'S'},
                                          {"seed", 1, 0, 's'},
                                          {"max-frames", 1, 0, 'f'},
                                          {"max-n-frames", 1, 0, 'f'},
                                          {"fields-index", 1, 0, 'i'},
                                          {"fields", 1, 0, 'F'},
                                          {"no-segment-ids", 0, 0, 'g'},
                                          {"no-position-reset", 0, 0, 'p'},
                                          {"skip-bad", 0, 0, 'k'},
                                          {"mix", 1, 0, 'w'},
                                          {"weights", 1, 0, 'w'},
                                          {"curriculum", 1, 0, 'c'},
                                          {"rows", 1, 0, 'r'},
                                          {"stage", 1, 0, 'K'},
                                          {"dp", 1, 0, 'd'},
                                          {"sp", 1, 0, 'y'},
                                          {"zigzag", 0, 0, 'z'},
                                          {"force-tokenizer", 0, 0, 'T'},
                                          {"drop-no-loss", 0, 0, 'D'},
                                          {"keep-no-loss", 0, 0, 'E'},
                                          {"state-in", 1, 0, 'I'},
                                          {"state-out", 1, 0, 'O'},
                                          {"quiet", 0, 0, 'q'},
                                          {"verbose", 0, 0, 'v'},
                                          {0, 0, 0, 0}};
    static const cli_alias aliases[] = {
        {"weights", "mix"}, {"max-n-frames", "max-frames"}, {NULL, NULL}};
    cli_parser parser = {"pack", usage, longs, "qv", aliases, 0};
    lwm_loader_options *o = &a->opt;
    a->count = 4;
    long long v;
    for (int c; (c = cli_getopt(&parser, argc, argv)) != CLI_END;) {
        switch (c) {
        case 'L':
            if (cli_parse_int("pack", "--seq-len", optarg, 2, &v)) return -1;
            o->seq_len = v;
            break;
        case 'n':
            if (cli_parse_int("pack", "--count", optarg, 0, &v)) return -1;
            a->count = v;
            break;
        case 'j': a->json = 1; break;
        case 't': o->tokenizer = optarg; break;
        case 'T': o->force_tokenizer = 1; break;
        case 'D': o->drop_no_loss = 1, a->given_drop = 1; break;
        case 'E': o->drop_no_loss = 0, a->given_drop = 1; break;
        case 'l':
            if (parse_layout(optarg, &o->layout)) return -1;
            a->given_layout = 1;
            break;
        case 'S': o->no_shuffle = 1; break;
        case 's':
            if (cli_parse_int("pack", "--seed", optarg, 0, &v)) return -1;
            o->seed = (uint64_t)v;
            a->given_seed = 1;
            break;
        case 'f':
            if (cli_parse_int("pack", "--max-frames", optarg, 1, &v)) return -1;
            o->max_n_frames = v;
            break;
        case 'i':
            if (cli_parse_int("pack", "--fields-index", optarg, 0, &v)) return -1;
            o->force_fields_index = 1, o->fields_index = (int)v;
            break;
        case 'F': o->fields_spec = optarg; break;
        case 'g': o->no_segment_ids = 1; break;
        case 'p': o->no_position_reset = 1; break;
        case 'k': o->on_bad_record = LWM_LOADER_SKIP; break;
        case 'w':
            if (parse_weights(a, optarg)) return -1;
            break;
        case 'c': a->curriculum = optarg; break;
        case 'K':
            if (cli_parse_int("pack", "--stage", optarg, 0, &v)) return -1;
            o->start_stage = (int)v;
            break;
        case 'r':
            if (cli_parse_int("pack", "--rows", optarg, 1, &v)) return -1;
            o->rows = v;
            break;
        case 'd':
            if (parse_pair("--dp", optarg, &o->dp_rank, &o->dp_size)) return -1;
            break;
        case 'y':
            if (parse_pair("--sp", optarg, &o->sp_rank, &o->sp_size)) return -1;
            break;
        case 'z': o->ring_layout = LWM_RING_ZIGZAG; break;
        case 'I': a->state_in = optarg; break;
        case 'O': a->state_out = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'v': a->verbose = 1; break;
        case CLI_HELP: return 1;
        default: return -1;
        }
    }
    o->datasets = (const char *const *)(argv + optind);
    o->n_datasets = argc - optind;
    if (o->n_datasets < 1) {
        cli_usage_error(&parser, "no dataset given");
        return -1;
    }
    if (!o->seq_len && !a->curriculum) {
        cli_usage_error(&parser, "--seq-len is required");
        return -1;
    }
    return 0;
}

static cJSON *row_json(const lwm_loader_batch *b, int64_t k, long long index)
{
    int64_t n = b->len, at = k * n;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "row", (double)index);
    cJSON_AddNumberToObject(o, "stage", b->stage);
    cJSON_AddNumberToObject(o, "epoch", (double)b->epoch);
    cJSON_AddNumberToObject(o, "step", (double)b->step);
    cJSON_AddNumberToObject(o, "train_step", (double)(b->run_step + 1));
    cJSON_AddNumberToObject(o, "seq_len", (double)b->seq_len);
    int *in = malloc((size_t)n * sizeof *in), *tv = malloc((size_t)n * sizeof *tv);
    float *loss = malloc((size_t)n * sizeof *loss);
    if (!in || !tv || !loss) {
        free(in), free(tv), free(loss), cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToObject(o, "input_tokens", cJSON_CreateIntArray(b->input_tokens + at, (int)n));
    cJSON_AddItemToObject(o, "target_tokens", cJSON_CreateIntArray(b->target_tokens + at, (int)n));
    memcpy(loss, b->loss_masks + at, (size_t)n * sizeof *loss);
    cJSON_AddItemToObject(o, "loss_masks", cJSON_CreateFloatArray(loss, (int)n));
    for (int64_t i = 0; i < n; i++) in[i] = b->input_vision_masks[at + i];
    for (int64_t i = 0; i < n; i++) tv[i] = b->target_vision_masks[at + i];
    cJSON_AddItemToObject(o, "input_vision_masks", cJSON_CreateIntArray(in, (int)n));
    cJSON_AddItemToObject(o, "target_vision_masks", cJSON_CreateIntArray(tv, (int)n));
    cJSON_AddItemToObject(o, "segment_ids", cJSON_CreateIntArray(b->segment_ids + at, (int)n));
    cJSON_AddItemToObject(o, "positions", cJSON_CreateIntArray(b->positions + at, (int)n));
    cJSON_AddNumberToObject(o, "rope_theta", b->rope_theta);
    cJSON_AddNumberToObject(o, "batch_rows", (double)b->rows);
    cJSON_AddNumberToObject(o, "batch_padding_fraction", b->padding_fraction);
    cJSON_AddNumberToObject(o, "batch_documents", (double)b->documents);
    cJSON_AddNumberToObject(o, "batch_documents_split", (double)b->documents_split);
    cJSON_AddNumberToObject(o, "batch_rows_no_loss", (double)b->rows_no_loss);
    cJSON_AddNumberToObject(o, "batch_pieces_dropped", (double)b->pieces_dropped);
    free(in), free(tv), free(loss);
    return o;
}

// Text runs detokenized, vision runs as "[vision: N frames]", segments marked "|".
static void print_row(const lwm_loader *ld, const lwm_loader_batch *b, int64_t k, long long index,
                      lwm_loader_layout layout)
{
    int64_t n = b->len, at = k * n;
    printf("row %lld (train step %lld, stage %d, epoch %lld, seq_len %lld; its batch of %lld rows: "
           "%lld documents, %lld split, padding %.1f%%)\n  ",
           index, (long long)(b->run_step + 1), b->stage, (long long)b->epoch,
           (long long)b->seq_len, (long long)b->rows, (long long)b->documents,
           (long long)b->documents_split, 100 * b->padding_fraction);
    static char text[1 << 16];
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        int vision = b->input_vision_masks[at + i];
        int32_t seg = b->segment_ids[at + i];
        while (j < n && b->input_vision_masks[at + j] == vision && b->segment_ids[at + j] == seg)
            j++;
        if (seg == 0 && layout != LWM_LAYOUT_LWM) {
            printf("[padding: %lld]", (long long)(j - i));
        } else if (vision) {
            int64_t frames = 0;
            for (int64_t t = i; t < j; t++)
                frames += b->input_tokens[at + t] >= LWM_VISION_EOF || t == j - 1;
            printf("[vision: %lld frames, %lld tokens]", (long long)frames, (long long)(j - i));
        } else {
            lwm_loader_detokenize(ld, b->input_tokens + at + i, (size_t)(j - i), text, sizeof text);
            printf("%s", text);
        }
        if (j < n && b->segment_ids[at + j] != seg) printf(" | ");
        i = j;
    }
    printf("\n");
}

static int run(pack_args *a)
{
    lwm_error err = {0};
    lwm_loader_state state, *resume = NULL;
    lwm_loader_stage *stages = NULL;
    lwm_loader *ld = NULL;
    int status = 1, rc;
    if (a->state_in) {
        if ((rc = lwm_loader_state_read(a->state_in, &state, &err)) < 0) goto fail;
        resume = &state;
    }
    if (a->curriculum) {
        lwm_loader_run_config *c = &a->run;
        if ((rc = lwm_loader_run_config_load(a->curriculum, NULL, c, &err)) < 0) goto fail;
        stages = c->stages;
        a->opt.stages = stages, a->opt.n_stages = c->n_stages;
        if (c->is_training) { // the trainer's stream unless told otherwise here
            if (!a->given_seed) a->opt.seed = c->seed;
            if (!a->given_layout) a->opt.layout = c->layout;
            if (!a->given_drop) a->opt.drop_no_loss = c->drop_no_loss;
            if (!a->opt.tokenizer && c->tokenizer[0])
                a->opt.tokenizer = c->tokenizer, a->opt.force_tokenizer |= c->force_tokenizer;
            if (!a->opt.fields_spec && c->fields_spec[0]) a->opt.fields_spec = c->fields_spec;
        }
    }
    cli_logger(&a->opt.log, a->verbose);
    cli_progress(&a->opt.progress, a->quiet);
    if ((rc = lwm_loader_create(&ld, &a->opt, resume, &err)) < 0) {
        if (resume && strncmp(err.msg, "resume state", 12) == 0)
            lwm_error_prefix(&err, "%s", a->state_in);
        goto fail;
    }
    lwm_loader_batch b;
    for (long long printed = 0; printed < a->count;) {
        rc = lwm_loader_next(ld, &b);
        if (rc == LWM_EOF) break;
        if (rc < 0) {
            lwm_error_set(&err, rc, "%s", lwm_loader_errmsg(ld));
            goto fail;
        }
        if (b.stage >= 0 && b.stage < 64) {
            a->stage_rows[b.stage] += b.rows, a->stage_no_loss[b.stage] += b.rows_no_loss;
            a->stage_dropped[b.stage] += b.pieces_dropped;
        }
        for (int64_t k = 0; k < b.rows && printed < a->count; k++, printed++) {
            if (a->json) {
                cJSON *row = row_json(&b, k, b.run_row + k);
                if (!row || cli_print_json(row, 1) < 0) goto end;
            } else {
                print_row(ld, &b, k, b.run_row + k, a->opt.layout);
            }
        }
    }
    for (int s = 0; s < 64 && !a->quiet; s++) // statistics of the batches read (this rank's rows)
        if (a->stage_rows[s])
            fprintf(stderr,
                    "lwm pack: stage %d: %lld rows read, %lld without a loss-bearing token, "
                    "%lld pieces without one dropped\n",
                    s, (long long)a->stage_rows[s], (long long)a->stage_no_loss[s],
                    (long long)a->stage_dropped[s]);
    if (a->state_out) {
        lwm_loader_state now = lwm_loader_get_state(ld);
        if ((rc = lwm_loader_state_write(a->state_out, &now, &err)) < 0) goto fail;
    }
    status = 0;
    goto end;
fail:
    status = cli_fail_err("pack", &err, rc);
end:
    lwm_loader_free(ld);
    free(stages);
    return status;
}

int cmd_pack(int argc, char **argv)
{
    pack_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc < 0 ? 2 : 0;
    return run(&a);
}
