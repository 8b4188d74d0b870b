// The dataset manifest (DIR/manifest.json): magic, schema version, dataset id,
// identities and the list of sealed shards. Rewritten atomically (temporary
// file, fsync, rename), so a reader sees the old or the new one, never a mix.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "internal.h"

int shard_manifest_init(shard_manifest *m, const lwm_mem *mem)
{
    memset(m, 0, sizeof *m);
    m->schema = LWM_SHARD_SCHEMA_VERSION;
    m->settings_json = lwm_strdup(mem, "");
    m->parts_json = lwm_strdup(mem, "");
    if (m->settings_json && m->parts_json) return 0;
    lwm_free(mem, m->settings_json);
    lwm_free(mem, m->parts_json);
    m->settings_json = m->parts_json = NULL;
    return -ENOMEM;
}

void shard_manifest_release(shard_manifest *m, const lwm_mem *mem)
{
    lwm_free(mem, m->settings_json);
    lwm_free(mem, m->parts_json);
    lwm_free(mem, m->shards);
    memset(m, 0, sizeof *m);
}

int shard_manifest_add(shard_manifest *m, const lwm_mem *mem, const lwm_shard_file *f)
{
    size_t cap = (size_t)m->cap_shards;
    void *p = m->shards;
    if (lwm_grow(mem, &p, &cap, (size_t)m->n_shards + 1, sizeof *f) < 0) return -ENOMEM;
    m->shards = p;
    m->cap_shards = (int)cap;
    m->shards[m->n_shards++] = *f;
    return 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    lwm_format(dst, cap, "%s", src ? src : ""); // truncates overlong identities
}

int shard_manifest_set_info(shard_manifest *m, const lwm_mem *mem, const lwm_shard_info *info)
{
    char *settings = lwm_strdup(mem, info->settings_json ? info->settings_json : "");
    if (!settings) return -ENOMEM;
    lwm_free(mem, m->settings_json);
    m->settings_json = settings;
    copy_str(m->vqgan_hash, sizeof m->vqgan_hash, info->vqgan_hash);
    copy_str(m->vqgan_preset, sizeof m->vqgan_preset, info->vqgan_preset);
    copy_str(m->tokenizer_hash, sizeof m->tokenizer_hash, info->tokenizer_hash);
    copy_str(m->tokenizer_name, sizeof m->tokenizer_name, info->tokenizer_name);
    m->vqgan_untrained = info->vqgan_untrained;
    m->origin = info->origin;
    return 0;
}

void shard_manifest_info(const shard_manifest *m, lwm_shard_info *out)
{
    out->vqgan_hash = m->vqgan_hash;
    out->vqgan_preset = m->vqgan_preset;
    out->vqgan_untrained = m->vqgan_untrained;
    out->tokenizer_hash = m->tokenizer_hash;
    out->tokenizer_name = m->tokenizer_name;
    out->settings_json = m->settings_json;
    out->origin = m->origin;
    out->parts_json = m->parts_json;
}

static cJSON *shard_to_json(const lwm_shard_file *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", f->name);
    cJSON_AddNumberToObject(o, "first_index", (double)f->first_index);
    cJSON_AddNumberToObject(o, "records", (double)f->records);
    cJSON_AddNumberToObject(o, "failed", (double)f->failed);
    cJSON_AddNumberToObject(o, "frames", (double)f->frames);
    cJSON_AddNumberToObject(o, "bytes", (double)f->file_bytes);
    cJSON_AddStringToObject(o, "xxh3_128", f->checksum);
    // Only a merged dataset's shards carry these (their part's own keys and id).
    if (f->key_base != f->first_index) cJSON_AddNumberToObject(o, "key_base", (double)f->key_base);
    if (f->dataset_id[0]) cJSON_AddStringToObject(o, "dataset_id", f->dataset_id);
    if (f->part >= 0) cJSON_AddNumberToObject(o, "part", f->part);
    return o;
}

static cJSON *origin_to_json(const lwm_shard_origin *g)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "source_xxh3", g->source_xxh3);
    cJSON_AddNumberToObject(o, "source_lines", (double)g->source_lines);
    cJSON_AddNumberToObject(o, "part", (double)g->part);
    cJSON_AddNumberToObject(o, "parts", (double)g->parts);
    cJSON_AddNumberToObject(o, "first_line", (double)g->first_line);
    cJSON_AddNumberToObject(o, "end_line", (double)g->end_line);
    cJSON_AddBoolToObject(o, "complete", g->complete);
    return o;
}

int shard_is_manifest_tmp(const char *name)
{
    return !strncmp(name, "manifest.json.tmp.", 18); // lwm_write_file_atomic's "PATH.tmp.PID"
}

int shard_manifest_save(const shard_manifest *m, const char *dir, lwm_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "magic", SHARD_MANIFEST_MAGIC);
    cJSON_AddNumberToObject(root, "schema", m->schema);
    cJSON_AddStringToObject(root, "dataset_id", m->dataset_id);
    cJSON *info = cJSON_AddObjectToObject(root, "info");
    cJSON_AddStringToObject(info, "vqgan_hash", m->vqgan_hash);
    cJSON_AddStringToObject(info, "vqgan_preset", m->vqgan_preset);
    cJSON_AddBoolToObject(info, "vqgan_untrained", m->vqgan_untrained);
    cJSON_AddStringToObject(info, "tokenizer_hash", m->tokenizer_hash);
    cJSON_AddStringToObject(info, "tokenizer_name", m->tokenizer_name);
    cJSON *settings = m->settings_json[0] ? cJSON_Parse(m->settings_json) : NULL;
    cJSON_AddItemToObject(info, "settings", settings ? settings : cJSON_CreateObject());
    if (m->origin.source_xxh3[0]) cJSON_AddItemToObject(info, "origin", origin_to_json(&m->origin));
    cJSON *parts = m->parts_json[0] ? cJSON_Parse(m->parts_json) : NULL;
    if (parts) cJSON_AddItemToObject(root, "parts", parts);
    int64_t totals[3] = {0, 0, 0};
    cJSON *shards = cJSON_AddArrayToObject(root, "shards");
    for (int i = 0; i < m->n_shards; i++) {
        cJSON_AddItemToArray(shards, shard_to_json(&m->shards[i]));
        totals[0] += m->shards[i].records;
        totals[1] += m->shards[i].failed;
        totals[2] += m->shards[i].frames;
    }
    // Totals of sealed shards only; a shard being appended keeps its own counts.
    cJSON_AddNumberToObject(root, "sealed_samples", (double)totals[0]);
    cJSON_AddNumberToObject(root, "sealed_failed", (double)totals[1]);
    cJSON_AddNumberToObject(root, "sealed_frames", (double)totals[2]);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return lwm_error_set(err, -ENOMEM, "out of memory");
    char path[4096];
    int rc = lwm_path_join(path, sizeof path, dir, "manifest.json");
    if (rc < 0)
        rc = lwm_error_set(err, rc, "%s: path too long", dir);
    else
        rc = lwm_write_file_atomic(path, text, strlen(text), err);
    cJSON_free(text);
    if (rc < 0) return rc;
    return shard_sync_dir(dir, err);
}

static int load_string(const cJSON *o, const char *key, char *dst, size_t cap, const char *what,
                       lwm_error *err)
{
    const char *s = "";
    LWM_TRY(lwm_json_get_string(o, key, 0, &s, what, err));
    copy_str(dst, cap, s);
    return 0;
}

static int load_shard(const cJSON *o, lwm_shard_file *f, const char *what, lwm_error *err)
{
    memset(f, 0, sizeof *f);
    f->sealed = 1;
    const char *name = NULL, *sum = NULL;
    LWM_TRY(lwm_json_get_string(o, "file", 1, &name, what, err));
    LWM_TRY(lwm_json_get_string(o, "xxh3_128", 1, &sum, what, err));
    LWM_CHECK(err, strlen(name) < sizeof f->name && !strchr(name, '/'), LWM_EFORMAT,
              "%s: bad shard file name", what);
    copy_str(f->name, sizeof f->name, name);
    copy_str(f->checksum, sizeof f->checksum, sum);
    LWM_TRY(lwm_json_get_int(o, "first_index", 1, &f->first_index, what, err));
    LWM_TRY(lwm_json_get_int(o, "records", 1, &f->records, what, err));
    LWM_TRY(lwm_json_get_int(o, "failed", 1, &f->failed, what, err));
    LWM_TRY(lwm_json_get_int(o, "frames", 1, &f->frames, what, err));
    LWM_TRY(lwm_json_get_int(o, "bytes", 1, &f->file_bytes, what, err));
    f->key_base = f->first_index;
    LWM_TRY(lwm_json_get_int(o, "key_base", 0, &f->key_base, what, err));
    const char *owner = "";
    LWM_TRY(lwm_json_get_string(o, "dataset_id", 0, &owner, what, err));
    copy_str(f->dataset_id, sizeof f->dataset_id, owner);
    int64_t part = -1;
    LWM_TRY(lwm_json_get_int(o, "part", 0, &part, what, err));
    LWM_CHECK(err, f->key_base >= 0 && part >= -1 && part < INT32_MAX && f->records >= 0,
              LWM_EFORMAT, "%s: shard %s has a bad key_base, part or record count", what, f->name);
    f->part = (int)part;
    return 0;
}

static int load_origin(const cJSON *o, lwm_shard_origin *g, const char *what, lwm_error *err)
{
    memset(g, 0, sizeof *g);
    if (!cJSON_IsObject(o)) return 0;
    const char *sum = "";
    LWM_TRY(lwm_json_get_string(o, "source_xxh3", 0, &sum, what, err));
    copy_str(g->source_xxh3, sizeof g->source_xxh3, sum);
    LWM_TRY(lwm_json_get_int(o, "source_lines", 0, &g->source_lines, what, err));
    LWM_TRY(lwm_json_get_int(o, "part", 0, &g->part, what, err));
    LWM_TRY(lwm_json_get_int(o, "parts", 0, &g->parts, what, err));
    LWM_TRY(lwm_json_get_int(o, "first_line", 0, &g->first_line, what, err));
    LWM_TRY(lwm_json_get_int(o, "end_line", 0, &g->end_line, what, err));
    g->complete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "complete"));
    return 0;
}

// An owned copy of item as compact JSON text ("" for none).
static int json_text(const cJSON *item, const lwm_mem *mem, char **out, lwm_error *err)
{
    char *text = item ? cJSON_PrintUnformatted(item) : NULL;
    char *copy = lwm_strdup(mem, text ? text : "");
    cJSON_free(text);
    if (!copy) return lwm_error_set(err, -ENOMEM, "out of memory");
    lwm_free(mem, *out);
    *out = copy;
    return 0;
}

static int parse(shard_manifest *m, const lwm_mem *mem, const cJSON *root, const char *what,
                 lwm_error *err)
{
    const char *magic = NULL;
    int64_t schema = 0;
    LWM_CHECK(err, cJSON_IsObject(root), LWM_EFORMAT, "%s: not a JSON object", what);
    LWM_TRY(lwm_json_get_string(root, "magic", 1, &magic, what, err));
    LWM_CHECK(err, strcmp(magic, SHARD_MANIFEST_MAGIC) == 0, LWM_EFORMAT,
              "%s: not an lwm dataset manifest (magic \"%s\")", what, magic);
    LWM_TRY(lwm_json_get_int(root, "schema", 1, &schema, what, err));
    LWM_CHECK(err, schema >= 1 && schema <= LWM_SHARD_SCHEMA_VERSION, LWM_EVERSION,
              "%s: dataset schema version %lld is newer than this build reads (%d); "
              "use a newer lwm",
              what, (long long)schema, LWM_SHARD_SCHEMA_VERSION);
    m->schema = (int)schema;
    LWM_TRY(load_string(root, "dataset_id", m->dataset_id, sizeof m->dataset_id, what, err));
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(root, "info");
    if (cJSON_IsObject(info)) {
        LWM_TRY(load_string(info, "vqgan_hash", m->vqgan_hash, sizeof m->vqgan_hash, what, err));
        LWM_TRY(
            load_string(info, "vqgan_preset", m->vqgan_preset, sizeof m->vqgan_preset, what, err));
        LWM_TRY(load_string(info, "tokenizer_hash", m->tokenizer_hash, sizeof m->tokenizer_hash,
                            what, err));
        LWM_TRY(load_string(info, "tokenizer_name", m->tokenizer_name, sizeof m->tokenizer_name,
                            what, err));
        m->vqgan_untrained =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(info, "vqgan_untrained"));
        const cJSON *settings = cJSON_GetObjectItemCaseSensitive(info, "settings");
        LWM_TRY(json_text(cJSON_GetArraySize(settings) > 0 ? settings : NULL, mem,
                          &m->settings_json, err));
        LWM_TRY(
            load_origin(cJSON_GetObjectItemCaseSensitive(info, "origin"), &m->origin, what, err));
    }
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(root, "parts");
    LWM_CHECK(err, !parts || cJSON_IsArray(parts), LWM_EFORMAT, "%s: \"parts\" is not a list",
              what);
    LWM_TRY(json_text(parts, mem, &m->parts_json, err));
    const cJSON *shards = cJSON_GetObjectItemCaseSensitive(root, "shards");
    LWM_CHECK(err, cJSON_IsArray(shards), LWM_EFORMAT, "%s: missing \"shards\" list", what);
    const cJSON *s;
    int64_t next_index = 0;
    cJSON_ArrayForEach(s, shards)
    {
        lwm_shard_file f;
        LWM_TRY(load_shard(s, &f, what, err));
        LWM_CHECK(err, f.first_index == next_index, LWM_EFORMAT,
                  "%s: shard %s starts at record %lld, expected %lld", what, f.name,
                  (long long)f.first_index, (long long)next_index);
        next_index += f.records;
        if (shard_manifest_add(m, mem, &f) < 0) return lwm_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

int shard_manifest_load(shard_manifest *m, const lwm_mem *mem, const char *dir, lwm_error *err)
{
    char path[4096];
    if (lwm_path_join(path, sizeof path, dir, "manifest.json") < 0)
        return lwm_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return -ENOENT;
    LWM_TRY(shard_manifest_init(m, mem));
    cJSON *root = NULL;
    int rc = lwm_json_load_file(path, &root, err);
    if (rc == 0) rc = parse(m, mem, root, path, err);
    cJSON_Delete(root);
    if (rc < 0) {
        if ((rc == LWM_EINVAL || rc == LWM_ENOTFOUND) && err) { // a field reader's complaint
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            rc = lwm_error_set(err, LWM_EFORMAT, "%s", msg);
        }
        shard_manifest_release(m, mem);
    }
    return rc;
}
