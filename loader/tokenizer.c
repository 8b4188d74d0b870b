// The tokenizer as a public object: the SentencePiece wrapper plus the file's
// identity hash, for tools that write token ids into the store.
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "shard/shard.h"

struct lwm_loader_tokenizer {
    loader_spm *spm;
    char hash[33];
};

int loader_spm_open(loader_spm **out, char hash[33], const char *path, lwm_error *err)
{
    *out = NULL;
    char *data = NULL;
    size_t size = 0;
    LWM_TRY(lwm_read_file_max(NULL, path, LOADER_MAX_TOKENIZER_BYTES, &data, &size, err));
    lwm_hasher h;
    int rc = lwm_hasher_init(&h);
    if (rc >= 0) {
        lwm_hasher_update(&h, data, size);
        lwm_hasher_final(&h, hash);
        rc = loader_spm_load(out, data, size, path, err);
    } else {
        rc = lwm_error_set(err, -ENOMEM, "%s: out of memory hashing", path);
    }
    lwm_free(NULL, data);
    return rc;
}

int lwm_loader_tokenizer_open(lwm_loader_tokenizer **out, const char *path, lwm_error *err)
{
    *out = NULL;
    lwm_loader_tokenizer *t = lwm_calloc(NULL, 1, sizeof *t);
    LWM_CHECK(err, t, -ENOMEM, "out of memory");
    int rc = loader_spm_open(&t->spm, t->hash, path, err);
    if (rc < 0) {
        lwm_loader_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int64_t lwm_loader_tokenizer_encode(const lwm_loader_tokenizer *t, const char *text, int32_t *ids,
                                    size_t cap)
{
    int32_t *tmp = NULL;
    size_t n = 0, tcap = 0;
    int rc = loader_spm_encode(t->spm, NULL, text, strlen(text), &tmp, &n, &tcap);
    if (rc < 0) return rc;
    memcpy(ids, tmp, (n < cap ? n : cap) * sizeof *ids);
    lwm_free(NULL, tmp);
    return (int64_t)n;
}

const char *lwm_loader_tokenizer_hash(const lwm_loader_tokenizer *t)
{
    return t->hash;
}

int lwm_loader_tokenizer_vocab_size(const lwm_loader_tokenizer *t)
{
    return loader_spm_vocab_size(t->spm);
}

void lwm_loader_tokenizer_free(lwm_loader_tokenizer *t)
{
    if (!t) return;
    loader_spm_free(t->spm);
    lwm_free(NULL, t);
}

// ---- The dataset's tokenizer -------------------------------------------

int lwm_loader_dataset_tokenizer(const char *dataset, char *path, size_t cap, char hash[33],
                                 lwm_error *err)
{
    path[0] = hash[0] = '\0';
    struct stat sb;
    if (stat(dataset, &sb) != 0 || !S_ISDIR(sb.st_mode)) return 0; // a JSONL file records nothing
    lwm_shard_reader *r = lwm_shard_reader_create(&(lwm_shard_reader_options){0});
    LWM_CHECK(err, r, -ENOMEM, "out of memory");
    int rc = lwm_shard_reader_open(r, dataset);
    if (rc < 0) {
        lwm_error_set(err, rc, "%s", lwm_shard_reader_errmsg(r));
        lwm_shard_reader_free(r);
        return rc;
    }
    const lwm_shard_info *info = lwm_shard_reader_info(r);
    cJSON *settings = info && info->settings_json ? cJSON_Parse(info->settings_json) : NULL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(settings, "tokenizer");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(settings, "tokenizer_xxh3");
    rc = 0;
    if (cJSON_IsString(p) && cJSON_IsString(h) && strlen(h->valuestring) == 32) {
        rc = lwm_format(path, cap, "%s", p->valuestring) < 0
                 ? lwm_error_set(err, LWM_EINVAL, "%s: recorded tokenizer path too long", dataset)
                 : 1;
        memcpy(hash, h->valuestring, 33);
    }
    cJSON_Delete(settings);
    lwm_shard_reader_free(r);
    return rc;
}

// The recorded tokenizer: at its recorded path, or (moved with the dataset) under the same
// name in the dataset's directory or the one above it, always with the recorded XXH3-128.
static int find_recorded(const char *dataset, const char *recorded, const char hash[33], char *out,
                         size_t cap, lwm_error *err)
{
    const char *slash = strrchr(recorded, '/');
    const char *name = slash ? slash + 1 : recorded;
    char cand[3][4096], now[33] = "";
    int n = lwm_format(cand[0], sizeof cand[0], "%s", recorded) == 0;
    n += lwm_format(cand[n], sizeof cand[n], "%s/%s", dataset, name) == 0;
    n += lwm_format(cand[n], sizeof cand[n], "%s/../%s", dataset, name) == 0;
    for (int i = 0; i < n; i++) {
        char h[33];
        if (lwm_file_hash(cand[i], h, NULL, NULL) < 0) continue;
        if (i == 0) memcpy(now, h, sizeof now);
        if (strcmp(h, hash)) continue;
        LWM_CHECK(err, lwm_format(out, cap, "%s", cand[i]) == 0, LWM_EINVAL, "%s: path too long",
                  cand[i]);
        return 0;
    }
    if (now[0])
        return lwm_error_set(err, LWM_EINVAL,
                             "%s: its recorded tokenizer %s changed since ingest "
                             "(xxh3 %s, recorded %s): give the original with --tokenizer",
                             dataset, recorded, now, hash);
    return lwm_error_set(err, LWM_ENOTFOUND,
                         "%s: its recorded tokenizer %s is gone (nor is it "
                         "next to the dataset or one directory up): give it with --tokenizer "
                         "(the file whose xxh3 is %s)",
                         dataset, recorded, hash);
}

int lwm_loader_tokenizer_resolve(const char *const *datasets, int n, const char *given, int force,
                                 char *out, size_t cap, lwm_error *err)
{
    char path[4096], hash[33], first[4096] = "", first_hash[33] = "";
    const char *from = NULL;
    for (int d = 0; d < n; d++) {
        int rc = lwm_loader_dataset_tokenizer(datasets[d], path, sizeof path, hash, err);
        if (rc <= 0) {
            if (rc < 0) return rc;
            continue;
        }
        if (!from) {
            from = datasets[d];
            memcpy(first, path, sizeof first), memcpy(first_hash, hash, sizeof hash);
        }
        LWM_CHECK(err, force || strcmp(hash, first_hash) == 0, LWM_EINVAL,
                  "%s was ingested with tokenizer %s (xxh3 %s), %s with %s (xxh3 %s): give one "
                  "with --force-tokenizer to use it for both",
                  from, first, first_hash, datasets[d], path, hash);
    }
    if (!given) {
        LWM_CHECK(err, from, LWM_EINVAL,
                  "a tokenizer is needed: no dataset records one (lwm ingest --tokenizer T), "
                  "give a SentencePiece .model");
        return find_recorded(from, first, first_hash, out, cap, err);
    }
    if (from && !force) {
        char now[33];
        LWM_TRY(lwm_file_hash(given, now, NULL, err));
        LWM_CHECK(err, strcmp(now, first_hash) == 0, LWM_EINVAL,
                  "tokenizer %s (xxh3 %s) is not the one %s was ingested with (%s, xxh3 %s): "
                  "leave the tokenizer out to use the dataset's, or force it (--force-tokenizer, "
                  "data.force_tokenizer, force_tokenizer=True)",
                  given, now, from, first, first_hash);
    }
    LWM_CHECK(err, lwm_format(out, cap, "%s", given) == 0, LWM_EINVAL, "%s: path too long", given);
    return 0;
}
