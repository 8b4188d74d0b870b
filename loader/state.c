// The resume state's bytes, state files, and curriculum configs.
//
// Layout (160 bytes, little-endian): "LWMLDST\0", u32 version, i32 stage,
// u64 seed, i64 epoch, window, row, step, tokens, u64 config_hash,
// LWM_LOADER_STATE_PARTS × u64 part hashes, u64 XXH3 of the 152 bytes before it.
//
// Version 1 (80 bytes, no part hashes) belonged to packed streams that
// depended on the ring layout; it is refused with a message saying so.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum { STATE_VERSION = 2, STATE_SUM = LWM_LOADER_STATE_BYTES - 8 };
static const char state_magic[8] = "LWMLDST";

void lwm_loader_state_save(uint8_t buf[LWM_LOADER_STATE_BYTES], const lwm_loader_state *s)
{
    memcpy(buf, state_magic, 8);
    lwm_le_put32(buf + 8, STATE_VERSION);
    lwm_le_put32(buf + 12, (uint32_t)s->stage);
    lwm_le_put64(buf + 16, s->seed);
    lwm_le_put64(buf + 24, (uint64_t)s->epoch);
    lwm_le_put64(buf + 32, (uint64_t)s->window);
    lwm_le_put64(buf + 40, (uint64_t)s->row);
    lwm_le_put64(buf + 48, (uint64_t)s->step);
    lwm_le_put64(buf + 56, (uint64_t)s->tokens);
    lwm_le_put64(buf + 64, s->config_hash);
    for (int i = 0; i < LWM_LOADER_STATE_PARTS; i++)
        lwm_le_put64(buf + 72 + 8 * i, s->part_hash[i]);
    lwm_le_put64(buf + STATE_SUM, lwm_hash64(buf, STATE_SUM));
}

int lwm_loader_state_parse(lwm_loader_state *s, const void *data, size_t size, lwm_error *err)
{
    const uint8_t *buf = data;
    LWM_CHECK(err, size >= 12 && memcmp(buf, state_magic, 8) == 0, LWM_EFORMAT,
              "not a loader state (bad magic)");
    uint32_t version = lwm_le_get32(buf + 8);
    LWM_CHECK(err, version != 1, LWM_EVERSION,
              "loader state version 1 was written by a loader whose packed rows depended on the "
              "ring layout; this build (state version %d) cannot continue that stream: start the "
              "run again, or finish it with the build that wrote it",
              STATE_VERSION);
    LWM_CHECK(err, version == STATE_VERSION, LWM_EVERSION,
              "loader state version %u, this build reads version %d", version, STATE_VERSION);
    LWM_CHECK(err, size == LWM_LOADER_STATE_BYTES, LWM_EFORMAT, "%zu bytes, a loader state has %d",
              size, LWM_LOADER_STATE_BYTES);
    LWM_CHECK(err, lwm_le_get64(buf + STATE_SUM) == lwm_hash64(buf, STATE_SUM), LWM_ECHECKSUM,
              "loader state checksum does not match (corrupted)");
    s->stage = (int32_t)lwm_le_get32(buf + 12);
    s->seed = lwm_le_get64(buf + 16);
    s->epoch = (int64_t)lwm_le_get64(buf + 24);
    s->window = (int64_t)lwm_le_get64(buf + 32);
    s->row = (int64_t)lwm_le_get64(buf + 40);
    s->step = (int64_t)lwm_le_get64(buf + 48);
    s->tokens = (int64_t)lwm_le_get64(buf + 56);
    s->config_hash = lwm_le_get64(buf + 64);
    for (int i = 0; i < LWM_LOADER_STATE_PARTS; i++)
        s->part_hash[i] = lwm_le_get64(buf + 72 + 8 * i);
    return 0;
}

int lwm_loader_state_load(lwm_loader_state *s, const uint8_t buf[LWM_LOADER_STATE_BYTES],
                          lwm_error *err)
{
    return lwm_loader_state_parse(s, buf, LWM_LOADER_STATE_BYTES, err);
}

int lwm_loader_state_write(const char *path, const lwm_loader_state *state, lwm_error *err)
{
    uint8_t buf[LWM_LOADER_STATE_BYTES];
    lwm_loader_state_save(buf, state);
    return lwm_write_file_atomic(path, buf, sizeof buf, err);
}

int lwm_loader_state_read(const char *path, lwm_loader_state *state, lwm_error *err)
{
    char *data = NULL;
    size_t size = 0;
    LWM_TRY(lwm_read_file(NULL, path, &data, &size, err));
    int rc = lwm_loader_state_parse(state, data, size, err);
    lwm_free(NULL, data);
    if (rc < 0) lwm_error_prefix(err, "%s", path);
    return rc;
}

// The "stages" list of a parsed config into *stages (through mem) and *n.
static int parse_stages(const cJSON *root, const char *path, const lwm_mem *mem,
                        lwm_loader_stage **stages, int *n, lwm_error *err)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "stages");
    int count = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    LWM_CHECK(err, count > 0, LWM_EFORMAT, "%s: no \"stages\" list", path);
    lwm_loader_stage *s = lwm_calloc(mem, (size_t)count, sizeof *s);
    LWM_CHECK(err, s, -ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < count && rc >= 0; i++) {
        const cJSON *o = cJSON_GetArrayItem(list, i);
        char what[64];
        snprintf(what, sizeof what, "stage %d", i);
        rc = lwm_json_get_int(o, "seq_len", 1, &s[i].seq_len, what, err);
        if (rc >= 0) rc = lwm_json_get_double(o, "rope_theta", 1, &s[i].rope_theta, what, err);
        if (rc >= 0)
            rc = lwm_json_get_int(o, "tokens_per_batch", 1, &s[i].tokens_per_batch, what, err);
        if (rc >= 0) rc = lwm_json_get_int(o, "total_tokens", 1, &s[i].total_tokens, what, err);
    }
    if (rc < 0) {
        lwm_free(mem, s);
        return lwm_error_prefix(err, "%s", path);
    }
    *stages = s;
    *n = count;
    return 0;
}

int lwm_loader_curriculum_load(const char *path, const lwm_mem *mem, lwm_loader_stage **stages,
                               int *n, lwm_error *err)
{
    *stages = NULL;
    *n = 0;
    cJSON *root = NULL;
    LWM_TRY(lwm_json_load_file(path, &root, err));
    int rc = parse_stages(root, path, mem, stages, n, err);
    cJSON_Delete(root);
    return rc < 0 ? rc : 0;
}

// A string option of "data" copied into out (capacity cap); absent leaves out empty.
static int data_string(const cJSON *data, const char *key, char *out, size_t cap, const char *what,
                       lwm_error *err)
{
    const char *v = NULL;
    LWM_TRY(lwm_json_get_string(data, key, 0, &v, what, err));
    LWM_CHECK(err, !v || lwm_format(out, cap, "%s", v) == 0, LWM_EINVAL, "%s: data.%s too long",
              what, key);
    return 0;
}

static int parse_run(lwm_loader_run_config *c, const cJSON *root, const char *path, lwm_error *err)
{
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(root, "train");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    c->is_training = train || data || cJSON_GetObjectItemCaseSensitive(root, "model");
    c->seed = LWM_LOADER_TRAIN_SEED;
    char what[2100];
    snprintf(what, sizeof what, "config %s", path);
    int64_t seed = (int64_t)c->seed;
    LWM_TRY(lwm_json_get_int(train, "seed", 0, &seed, what, err));
    LWM_CHECK(err, seed >= 0, LWM_EINVAL, "%s: train.seed %lld out of range", what,
              (long long)seed);
    c->seed = (uint64_t)seed;
    LWM_TRY(data_string(data, "tokenizer", c->tokenizer, sizeof c->tokenizer, what, err));
    LWM_TRY(data_string(data, "fields_spec", c->fields_spec, sizeof c->fields_spec, what, err));
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(data, "force_tokenizer");
    LWM_CHECK(err, !force || cJSON_IsBool(force), LWM_EINVAL,
              "%s: field \"data.force_tokenizer\" must be true or false", what);
    c->force_tokenizer = cJSON_IsTrue(force);
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(data, "drop_no_loss");
    LWM_CHECK(err, !drop || cJSON_IsBool(drop), LWM_EINVAL,
              "%s: field \"data.drop_no_loss\" must be true or false", what);
    c->drop_no_loss = drop ? cJSON_IsTrue(drop) : c->is_training;
    const char *layout = "packed";
    LWM_TRY(lwm_json_get_string(data, "layout", 0, &layout, what, err));
    if (strcmp(layout, "packed") == 0)
        c->layout = LWM_LAYOUT_PACKED;
    else if (strcmp(layout, "lwm") == 0)
        c->layout = LWM_LAYOUT_LWM;
    else if (strcmp(layout, "pad") == 0)
        c->layout = LWM_LAYOUT_PAD;
    else
        return lwm_error_set(err, LWM_EINVAL, "%s: data.layout \"%s\" is not packed, lwm or pad",
                             what, layout);
    return 0;
}

int lwm_loader_run_config_load(const char *path, const lwm_mem *mem, lwm_loader_run_config *c,
                               lwm_error *err)
{
    memset(c, 0, sizeof *c);
    cJSON *root = NULL;
    LWM_TRY(lwm_json_load_file(path, &root, err));
    int rc = parse_run(c, root, path, err);
    if (rc >= 0) rc = parse_stages(root, path, mem, &c->stages, &c->n_stages, err);
    cJSON_Delete(root);
    return rc < 0 ? rc : 0;
}
