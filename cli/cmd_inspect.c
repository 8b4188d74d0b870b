// lwm inspect DIR [--json]: what a dataset holds. The library fills the
// statistics (lwm_shard_inspect); this file renders them for people or as JSON.
#include <cjson/cJSON.h>
#include <string.h>

#include "cli.h"
#include "shard_cli.h"

// The encoder precision recorded in a dataset's settings (ingest --precision);
// datasets from before the setting existed were encoded in fp32.
static const char *vqgan_precision(const cJSON *settings)
{
    const char *p =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(settings, "vqgan_precision"));
    return p ? p : "fp32";
}

static const char *usage =
    "usage: lwm inspect DIR [--json] [--quiet]\n\n"
    "Summarises a dataset: samples by modality, frames and tokens (total and a\n"
    "per-sample histogram), codebook usage and entropy, compression, shard sizes\n"
    "and LMDB page waste, failed samples, tokenizer and VQGAN identity. Reads\n"
    "every record. --json prints one object (samples, frames, vision_tokens,\n"
    "failed, ...).\n";

typedef struct inspect_report {
    const char *dir;
    lwm_shard_stats stats;
    const lwm_shard_info *info;
    const lwm_shard_file *files;
    int n_files;
    const lwm_shard_failure *failures;
    int64_t n_failures;
} inspect_report;

static void hist_range(int bin, int bins, int64_t *lo, int64_t *hi)
{
    *lo = bin == 0 ? 0 : (int64_t)1 << (bin - 1);
    *hi = bin == 0 ? 0 : bin == bins - 1 ? -1 : ((int64_t)1 << bin) - 1;
}

static void print_hist(const char *title, const int64_t *hist, int bins)
{
    printf("  %s:\n", title);
    for (int b = 0; b < bins; b++) {
        if (!hist[b]) continue;
        int64_t lo, hi;
        hist_range(b, bins, &lo, &hi);
        char range[48];
        if (hi < 0)
            snprintf(range, sizeof range, ">= %lld", (long long)lo);
        else if (lo == hi)
            snprintf(range, sizeof range, "%lld", (long long)lo);
        else
            snprintf(range, sizeof range, "%lld-%lld", (long long)lo, (long long)hi);
        printf("    %-16s %lld\n", range, (long long)hist[b]);
    }
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void print_human(const inspect_report *rep)
{
    const lwm_shard_stats *s = &rep->stats;
    printf("dataset %s\n", rep->dir);
    printf("  samples        %lld (text %lld, image %lld, video %lld), failed %lld\n",
           (long long)s->samples, (long long)s->by_modality[0], (long long)s->by_modality[1],
           (long long)s->by_modality[2], (long long)s->failed);
    printf("  frames         %lld (per sample %lld..%lld)\n", (long long)s->frames,
           (long long)s->min_frames, (long long)s->max_frames);
    printf("  vision tokens  %lld; text tokens %lld; text bytes %lld\n",
           (long long)s->vision_tokens, (long long)s->text_tokens, (long long)s->text_bytes);
    print_hist("frames per sample", s->frame_hist, LWM_SHARD_HIST_BINS);
    print_hist("tokens per sample (vision + text)", s->token_hist, LWM_SHARD_TOKEN_HIST_BINS);
    printf("  codebook       %lld of %d codes used, order-0 entropy %.3f bits/code\n",
           (long long)s->codes_used, LWM_SHARD_CODEBOOK_SIZE, s->code_entropy_bits);
    printf("  compression    %lld raw bytes (codes at 13 bits) -> %lld stored (ratio %.3f); "
           "%.3f of uint16 codes\n",
           (long long)s->raw_bytes, (long long)s->stored_bytes,
           ratio((double)s->raw_bytes, (double)s->stored_bytes),
           ratio((double)s->unpacked_code_bytes, (double)s->stored_bytes));
    printf(
        "                 stored %.3f bits per vision token (all record bytes) vs entropy %.3f\n",
        ratio(8.0 * (double)s->stored_bytes, (double)s->vision_tokens), s->code_entropy_bits);
    printf("  LMDB pages     %lld bytes for %lld stored; page waste %.1f%%\n",
           (long long)s->page_bytes, (long long)s->stored_bytes, 100.0 * s->page_waste);
    printf("  shards         %d, %lld bytes\n", rep->n_files, (long long)s->file_bytes);
    for (int i = 0; i < rep->n_files; i++)
        printf("    %-22s %s %8lld records %12lld bytes\n", rep->files[i].name,
               rep->files[i].sealed ? "sealed" : "open  ", (long long)rep->files[i].records,
               (long long)rep->files[i].file_bytes);
    const lwm_shard_info *in = rep->info;
    cJSON *set = in->settings_json[0] ? cJSON_Parse(in->settings_json) : NULL;
    printf("  vqgan          %s%s%s%s%s%s\n", in->vqgan_preset[0] ? in->vqgan_preset : "(none)",
           in->vqgan_hash[0] ? " weights " : "", in->vqgan_hash,
           in->vqgan_untrained ? " (UNTRAINED: random weights)" : "",
           in->vqgan_hash[0] ? ", encoder precision " : "",
           in->vqgan_hash[0] ? vqgan_precision(set) : "");
    const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(set, "tokenizer"));
    const char *tok_hash =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(set, "tokenizer_xxh3"));
    if (tok && tok_hash)
        printf(
            "  tokenizer      %s xxh3 %s (recorded at ingest: the default of pack, train, show)\n",
            tok, tok_hash);
    else if (in->tokenizer_name[0] || in->tokenizer_hash[0])
        printf("  tokenizer      %s %s\n", in->tokenizer_name, in->tokenizer_hash);
    else
        printf("  tokenizer      (none recorded: give one to pack/train)\n");
    cJSON_Delete(set);
    if (in->settings_json[0]) printf("  settings       %s\n", in->settings_json);
    if (s->bad_records)
        printf("  UNREADABLE     %lld records (run lwm verify %s)\n", (long long)s->bad_records,
               rep->dir);
    for (int64_t i = 0; i < rep->n_failures; i++)
        printf("  failed         %s (line %lld): %s\n", rep->failures[i].id,
               (long long)rep->failures[i].manifest_line, rep->failures[i].reason);
}

static cJSON *hist_json(const int64_t *hist, int bins)
{
    cJSON *a = cJSON_CreateArray();
    for (int b = 0; b < bins; b++) {
        if (!hist[b]) continue;
        int64_t lo, hi;
        hist_range(b, bins, &lo, &hi);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "min", (double)lo);
        if (hi >= 0) cJSON_AddNumberToObject(o, "max", (double)hi);
        cJSON_AddNumberToObject(o, "samples", (double)hist[b]);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static cJSON *report_json(const inspect_report *rep)
{
    const lwm_shard_stats *s = &rep->stats;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dataset", rep->dir);
    cJSON_AddNumberToObject(o, "samples", (double)s->samples);
    cJSON *mod = cJSON_AddObjectToObject(o, "by_modality");
    for (int m = 0; m < 3; m++)
        cJSON_AddNumberToObject(mod, lwm_shard_modality_name(m), (double)s->by_modality[m]);
    cJSON_AddNumberToObject(o, "frames", (double)s->frames);
    cJSON_AddNumberToObject(o, "vision_tokens", (double)s->vision_tokens);
    cJSON_AddNumberToObject(o, "text_tokens", (double)s->text_tokens);
    cJSON_AddNumberToObject(o, "text_bytes", (double)s->text_bytes);
    cJSON_AddNumberToObject(o, "failed", (double)s->failed);
    cJSON_AddNumberToObject(o, "unreadable", (double)s->bad_records);
    cJSON *fps = cJSON_AddObjectToObject(o, "frames_per_sample");
    cJSON_AddNumberToObject(fps, "min", (double)s->min_frames);
    cJSON_AddNumberToObject(fps, "max", (double)s->max_frames);
    cJSON_AddItemToObject(fps, "histogram", hist_json(s->frame_hist, LWM_SHARD_HIST_BINS));
    cJSON *tps = cJSON_AddObjectToObject(o, "tokens_per_sample");
    cJSON_AddNumberToObject(tps, "max", (double)s->max_tokens);
    cJSON_AddItemToObject(tps, "histogram", hist_json(s->token_hist, LWM_SHARD_TOKEN_HIST_BINS));
    cJSON *cb = cJSON_AddObjectToObject(o, "codebook");
    cJSON_AddNumberToObject(cb, "size", LWM_SHARD_CODEBOOK_SIZE);
    cJSON_AddNumberToObject(cb, "used", (double)s->codes_used);
    cJSON_AddNumberToObject(cb, "entropy_bits", s->code_entropy_bits);
    cJSON *c = cJSON_AddObjectToObject(o, "compression");
    cJSON_AddNumberToObject(c, "raw_bytes", (double)s->raw_bytes);
    cJSON_AddNumberToObject(c, "stored_bytes", (double)s->stored_bytes);
    cJSON_AddNumberToObject(c, "ratio", ratio((double)s->raw_bytes, (double)s->stored_bytes));
    cJSON_AddNumberToObject(c, "ratio_vs_uint16_codes",
                            ratio((double)s->unpacked_code_bytes, (double)s->stored_bytes));
    cJSON_AddNumberToObject(c, "stored_bits_per_vision_token",
                            ratio(8.0 * (double)s->stored_bytes, (double)s->vision_tokens));
    cJSON_AddNumberToObject(c, "code_entropy_bits", s->code_entropy_bits);
    cJSON *pages = cJSON_AddObjectToObject(o, "lmdb_pages");
    cJSON_AddNumberToObject(pages, "bytes", (double)s->page_bytes);
    cJSON_AddNumberToObject(pages, "waste", s->page_waste);
    cJSON *shards = cJSON_AddArrayToObject(o, "shards");
    for (int i = 0; i < rep->n_files; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "file", rep->files[i].name);
        cJSON_AddBoolToObject(f, "sealed", rep->files[i].sealed);
        cJSON_AddNumberToObject(f, "records", (double)rep->files[i].records);
        cJSON_AddNumberToObject(f, "bytes", (double)rep->files[i].file_bytes);
        cJSON_AddItemToArray(shards, f);
    }
    cJSON_AddNumberToObject(o, "shard_bytes", (double)s->file_bytes);
    cJSON *vq = cJSON_AddObjectToObject(o, "vqgan");
    cJSON_AddStringToObject(vq, "preset", rep->info->vqgan_preset);
    cJSON_AddStringToObject(vq, "weights_hash", rep->info->vqgan_hash);
    cJSON_AddBoolToObject(vq, "untrained", rep->info->vqgan_untrained);
    cJSON *settings = rep->info->settings_json[0] ? cJSON_Parse(rep->info->settings_json) : NULL;
    if (rep->info->vqgan_hash[0])
        cJSON_AddStringToObject(vq, "precision", vqgan_precision(settings));
    cJSON *tok = cJSON_AddObjectToObject(o, "tokenizer");
    cJSON_AddStringToObject(tok, "name", rep->info->tokenizer_name);
    cJSON_AddStringToObject(tok, "hash", rep->info->tokenizer_hash);
    const char *path =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(settings, "tokenizer"));
    const char *xxh3 =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(settings, "tokenizer_xxh3"));
    if (path && xxh3)
        cJSON_AddStringToObject(tok, "path", path), cJSON_AddStringToObject(tok, "xxh3", xxh3);
    cJSON_AddItemToObject(o, "settings", settings ? settings : cJSON_CreateObject());
    cJSON *fails = cJSON_AddArrayToObject(o, "failures");
    for (int64_t i = 0; i < rep->n_failures; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "id", rep->failures[i].id);
        cJSON_AddNumberToObject(f, "manifest_line", (double)rep->failures[i].manifest_line);
        cJSON_AddStringToObject(f, "reason", rep->failures[i].reason);
        cJSON_AddItemToArray(fails, f);
    }
    return o;
}

int cmd_inspect(int argc, char **argv)
{
    const char *dir = NULL;
    int json = 0, quiet = 0;
    int parsed = shard_cli_dir_args("inspect", usage, argc, argv, &dir, &json, &quiet);
    if (parsed) return parsed == 1 ? 0 : parsed;
    lwm_shard_reader *r = shard_cli_open("inspect", dir);
    if (!r) return 1;
    inspect_report rep = {.dir = dir, .info = lwm_shard_reader_info(r)};
    rep.files = lwm_shard_reader_files(r, &rep.n_files);
    rep.failures = lwm_shard_reader_failures(r, &rep.n_failures);
    lwm_progress progress;
    cli_progress(&progress, quiet);
    int rc = lwm_shard_inspect(r, &progress, &rep.stats);
    int status = 0;
    if (rc < 0)
        status = cli_fail("inspect", "%s: %s", dir, lwm_strerror(rc));
    else if (json)
        cli_print_json(report_json(&rep), 1);
    else
        print_human(&rep);
    lwm_shard_reader_free(r);
    return status;
}
