// What a dataset remembers of how it was ingested, and what a rerun may
// change. The settings object of the dataset manifest holds the sampling and
// preprocessing (fps, max_frames, preprocess), the encoder's precision
// (vqgan_precision), the default fields spec, and
// the VQGAN weights and tokenizer as absolute paths (with the tokenizer's
// XXH3-128; the weights' hash is the dataset's vqgan identity). A rerun
// leaves out what it does not give (the recorded weights, tokenizer and
// spec stay and are used); what it gives differently is refused up front,
// naming both values.
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "shard/shard.h"
#include "vqgan/vqgan.h"

// Reads the settings of the dataset in out_dir, when there is one. A directory
// that cannot be read as a dataset records nothing here: opening it for writing
// says what is wrong with it.
static void read_stored(run_state *r)
{
    struct stat sb;
    if (stat(r->opt->out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) return;
    lwm_shard_reader *rd =
        lwm_shard_reader_create(&(lwm_shard_reader_options){.mem = r->opt->decode.mem});
    if (rd && lwm_shard_reader_open(rd, r->opt->out_dir) == 0) {
        const lwm_shard_info *info = lwm_shard_reader_info(rd);
        int64_t failures = 0;
        lwm_shard_reader_failures(rd, &failures);
        r->stored_data = lwm_shard_reader_count(rd) > 0 || failures > 0;
        r->stored = info->settings_json[0] ? cJSON_Parse(info->settings_json) : NULL;
        lwm_format(r->stored_vqgan_hash, sizeof r->stored_vqgan_hash, "%s", info->vqgan_hash);
    }
    lwm_shard_reader_free(rd);
}

static const char *stored_string(const run_state *r, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r->stored, key));
}

// A sampling setting this run gives differently from the corpus's: a usage error.
static int check_number(run_state *r, const char *key, const char *flag, double given)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->stored, key);
    if (!r->stored_data || !cJSON_IsNumber(v) || v->valuedouble == given) return 0;
    r->res->usage = 1;
    return lwm_error_set(r->err, LWM_EINVAL,
                         "%s: the dataset was ingested with %s %g, this run "
                         "asks for %s %g: rerun with %s %g (0 = off), or ingest into a new --out",
                         r->opt->out_dir, flag, v->valuedouble, flag, given, flag, v->valuedouble);
}

static int check_same(run_state *r)
{
    const lwm_ingest_run_options *o = r->opt;
    LWM_TRY(check_number(r, "fps", "--fps", o->decode.fps));
    LWM_TRY(check_number(r, "max_frames", "--max-frames", (double)o->decode.max_frames));
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(r->stored, "preprocess");
    if (r->stored_data && cJSON_IsNumber(pre) && pre->valueint != LWM_INGEST_PREPROCESS_VERSION) {
        r->res->usage = 1;
        return lwm_error_set(r->err, LWM_EINVAL,
                             "%s: the dataset's frames were made by preprocess "
                             "version %d, this lwm makes version %d: ingest into a new --out",
                             o->out_dir, pre->valueint, LWM_INGEST_PREPROCESS_VERSION);
    }
    const char *was = stored_string(r, "vqgan_precision");
    const char *now = lwm_vqgan_precision_name(o->vqgan_precision);
    if (r->stored_data && was && strcmp(was, now)) {
        r->res->usage = 1;
        return lwm_error_set(r->err, LWM_EINVAL,
                             "%s: the dataset was encoded with vqgan_precision "
                             "\"%s\", this run asks for \"%s\": rerun with --precision %s, or "
                             "ingest into a new --out",
                             o->out_dir, was, now, was);
    }
    const char *fields = stored_string(r, "fields");
    if (r->stored_data && fields && o->fields && strcmp(fields, o->fields)) {
        r->res->usage = 1;
        return lwm_error_set(r->err, LWM_EINVAL,
                             "%s: the dataset was ingested with --fields '%s', "
                             "this run asks for --fields '%s': leave --fields out to keep the "
                             "dataset's, or ingest into a new --out",
                             o->out_dir, fields, o->fields);
    }
    return 0;
}

int run_read_dataset(run_state *r)
{
    const lwm_ingest_run_options *o = r->opt;
    if (o->out_dir) read_stored(r);
    if (o->out_dir) LWM_TRY(check_same(r));
    r->fields = o->fields ? o->fields : stored_string(r, "fields");
    const char *vq = o->vqgan ? o->vqgan : stored_string(r, "vqgan");
    if (vq)
        LWM_CHECK(r->err, lwm_format(r->vqgan_path, sizeof r->vqgan_path, "%s", vq) == 0,
                  LWM_EINVAL, "%s: path too long", vq);
    struct stat sb;
    if (!o->vqgan && vq && stat(vq, &sb) != 0) {
        r->res->usage = 1;
        return lwm_error_set(r->err, LWM_ENOTFOUND,
                             "%s: the VQGAN weights it records, %s (xxh3 %s), "
                             "are gone: give them with --vqgan W",
                             o->out_dir, vq, r->stored_vqgan_hash[0] ? r->stored_vqgan_hash : "?");
    }
    if (!o->vqgan && vq)
        lwm_log(&o->log, LWM_LOG_INFO, "%s: using the VQGAN weights it records: %s", o->out_dir,
                vq);
    return 0;
}

// The tokenizer this run records: the given one (absolute path and hash), checked against the
// recorded one when the dataset holds samples. 0 with *path "" when none is given.
static int resolve_tokenizer(run_state *r, char *path, char hash[33])
{
    const lwm_ingest_run_options *o = r->opt;
    path[0] = hash[0] = '\0';
    if (!o->tokenizer) return 0;
    LWM_CHECK(r->err, realpath(o->tokenizer, path), -errno, "--tokenizer %s: %s", o->tokenizer,
              strerror(errno));
    LWM_TRY(lwm_file_hash(path, hash, NULL, r->err));
    const char *was = stored_string(r, "tokenizer"), *was_hash = stored_string(r, "tokenizer_xxh3");
    if (!r->stored_data || !was || !was_hash) return 0;
    if (strcmp(was_hash, hash)) {
        r->res->usage = 1;
        return lwm_error_set(r->err, LWM_EINVAL,
                             "%s: the dataset was ingested with tokenizer %s "
                             "(xxh3 %s), this run gives %s (xxh3 %s): leave --tokenizer out to "
                             "keep the dataset's, or ingest into a new --out",
                             o->out_dir, was, was_hash, path, hash);
    }
    lwm_format(path, PATH_MAX, "%s", was); // the same file: the recorded path stays
    return 0;
}

// The VQGAN weights this run records (absolute path), checked by hash against the dataset's.
static int resolve_vqgan(run_state *r, const char *hash, char *path)
{
    path[0] = '\0';
    if (!r->vqgan_path[0]) return 0;
    LWM_CHECK(r->err, realpath(r->vqgan_path, path), -errno, "--vqgan %s: %s", r->vqgan_path,
              strerror(errno));
    const char *was = stored_string(r, "vqgan");
    if (!r->stored_data || !r->stored_vqgan_hash[0]) return 0;
    if (strcmp(r->stored_vqgan_hash, hash)) {
        r->res->usage = 1;
        return lwm_error_set(r->err, LWM_EINVAL,
                             "%s: the dataset's codes come from VQGAN weights "
                             "%s (xxh3 %s), this run gives %s (xxh3 %s): codes of two codebooks "
                             "cannot share a dataset; ingest into a new --out",
                             r->opt->out_dir, was ? was : "(path not recorded)",
                             r->stored_vqgan_hash, path, hash);
    }
    if (was) lwm_format(path, PATH_MAX, "%s", was);
    return 0;
}

char *run_settings_json(run_state *r, const char *vqgan_hash, lwm_error *err)
{
    char tok[PATH_MAX], tok_hash[33], vq[PATH_MAX];
    if (resolve_tokenizer(r, tok, tok_hash) < 0 || resolve_vqgan(r, vqgan_hash, vq) < 0)
        return NULL;
    const lwm_ingest_run_options *o = r->opt;
    cJSON *s = r->stored ? cJSON_Duplicate(r->stored, 1) : cJSON_CreateObject();
    if (!s) return lwm_error_set(err, -ENOMEM, "out of memory"), NULL;
    static const char *const ours[] = {"fps", "max_frames", "text", "preprocess"};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) cJSON_DeleteItemFromObject(s, ours[i]);
    cJSON_AddNumberToObject(s, "fps", o->decode.fps);
    cJSON_AddNumberToObject(s, "max_frames", (double)o->decode.max_frames);
    cJSON_AddStringToObject(s, "text", "raw");
    cJSON_AddNumberToObject(s, "preprocess", LWM_INGEST_PREPROCESS_VERSION);
    if (vq[0]) { // the encoder's arithmetic, where this run encodes
        cJSON_DeleteItemFromObject(s, "vqgan_precision");
        cJSON_AddStringToObject(s, "vqgan_precision", lwm_vqgan_precision_name(o->vqgan_precision));
    }
    struct {
        const char *key, *value;
    } given[] = {
        {"tokenizer", tok}, {"tokenizer_xxh3", tok_hash}, {"vqgan", vq}, {"fields", o->fields}};
    for (size_t i = 0; i < sizeof given / sizeof *given; i++) {
        if (!given[i].value || !given[i].value[0]) continue; // not given: the recorded one stays
        cJSON_DeleteItemFromObject(s, given[i].key);
        cJSON_AddStringToObject(s, given[i].key, given[i].value);
    }
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (!text) lwm_error_set(err, -ENOMEM, "out of memory");
    return text;
}

void run_release_dataset(run_state *r)
{
    cJSON_Delete(r->stored);
    r->stored = NULL;
}
