// The tokenizer as a public object: the SentencePiece wrapper plus the file's
// identity hash, for tools that write token ids into the store.
#include <errno.h>
#include <string.h>

#include "internal.h"

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

const char *lwm_loader_tokenizer_hash(const lwm_loader_tokenizer *t) { return t->hash; }

void lwm_loader_tokenizer_free(lwm_loader_tokenizer *t)
{
    if (!t) return;
    loader_spm_free(t->spm);
    lwm_free(NULL, t);
}
