// The tokenizer as a public object: the SentencePiece wrapper plus the file's
// identity hash, for tools that write token ids into the store.
#include <errno.h>
#include <string.h>

#include "internal.h"

struct lwm_loader_tokenizer {
    loader_spm *spm;
    char hash[33];
};

int loader_file_hash(const char *path, char hex[33], lwm_error *err)
{
    char *data = NULL;
    size_t size = 0;
    LWM_TRY(lwm_read_file(NULL, path, &data, &size, err));
    lwm_hasher h;
    int rc = lwm_hasher_init(&h);
    if (rc >= 0) {
        lwm_hasher_update(&h, data, size);
        lwm_hasher_final(&h, hex);
    }
    lwm_free(NULL, data);
    LWM_CHECK(err, rc >= 0, rc, "%s: out of memory hashing", path);
    return 0;
}

int lwm_loader_tokenizer_open(lwm_loader_tokenizer **out, const char *path, lwm_error *err)
{
    *out = NULL;
    lwm_loader_tokenizer *t = lwm_calloc(NULL, 1, sizeof *t);
    LWM_CHECK(err, t, -ENOMEM, "out of memory");
    int rc = loader_spm_load(&t->spm, path, err);
    if (rc >= 0) rc = loader_file_hash(path, t->hash, err);
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
