// The dataset writer: batches of records committed in one LMDB transaction
// each, shards rolled over by size and sealed (compacted, hashed, listed in
// the manifest), recovery of an interrupted run at open.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

lwm_shard_writer *lwm_shard_writer_create(const lwm_shard_writer_options *opt)
{
    lwm_mem mem = opt ? opt->mem : (lwm_mem){0};
    lwm_shard_writer *w = lwm_calloc(&mem, 1, sizeof *w);
    if (!w) return NULL;
    if (opt) w->opt = *opt;
    if (w->opt.shard_bytes <= 0) w->opt.shard_bytes = (int64_t)256 << 20;
    if (w->opt.map_bytes <= 0) {
        int64_t m = 4 * w->opt.shard_bytes;
        w->opt.map_bytes = m > ((int64_t)1 << 30) ? m : (int64_t)1 << 30;
    }
    if (w->opt.zstd_level == 0) w->opt.zstd_level = 3;
    if (w->opt.codes_min_saving == 0) w->opt.codes_min_saving = 0.2;
    w->mem = &w->opt.mem;
    w->lock_fd = -1;
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx) {
        lwm_free(&mem, w);
        return NULL;
    }
    return w;
}

const char *lwm_shard_writer_errmsg(const lwm_shard_writer *w)
{
    return w->err.msg;
}

int64_t lwm_shard_writer_count(const lwm_shard_writer *w)
{
    return w->committed;
}

/* ---- opening and recovery ---- */

int shard_lock_dir(const char *dir, int *fd, lwm_error *err)
{
    char path[4096];
    if (lwm_path_join(path, sizeof path, dir, "writer.lock") < 0)
        return lwm_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
        return lwm_error_set(err, LWM_EEXISTS,
                             "%s: another process is writing this dataset (writer.lock is held)",
                             dir);
    return 0;
}

static int new_dataset_id(char out[33], lwm_error *err)
{
    uint8_t b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return lwm_error_set(err, -errno, "getrandom: %s", strerror(errno));
    for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

static void remove_file(lwm_shard_writer *w, const char *name, const char *why)
{
    char path[4096];
    if (lwm_path_join(path, sizeof path, w->dir, name) < 0) return;
    if (unlink(path) == 0)
        lwm_log(&w->opt.log, LWM_LOG_INFO, "%s: removed %s (%s)", w->dir, name, why);
}

// Files a crash can leave behind: a half-made sealed copy (shard-K.mdb[.tmp]
// not yet in the manifest) and the open file of a shard already sealed.
static int clean_leftovers(lwm_shard_writer *w)
{
    int64_t k = w->man.n_shards;
    DIR *d = opendir(w->dir);
    if (!d) return lwm_error_set(&w->err, -errno, "%s: %s", w->dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        long long j;
        int used = 0;
        if (shard_is_manifest_tmp(e->d_name)) remove_file(w, e->d_name, "unfinished manifest save");
        if (sscanf(e->d_name, "shard-%lld%n", &j, &used) != 1) continue;
        const char *rest = e->d_name + used;
        if ((strcmp(rest, ".mdb.tmp") == 0) || (strcmp(rest, ".mdb") == 0 && j >= k))
            remove_file(w, e->d_name, "unfinished seal");
        else if ((strcmp(rest, ".open.mdb") == 0 || strcmp(rest, ".open.mdb-lock") == 0) && j < k)
            remove_file(w, e->d_name, "shard already sealed");
    }
    closedir(d);
    return 0;
}

static int open_sealed(lwm_shard_writer *w)
{
    w->sealed = lwm_calloc(w->mem, (size_t)w->man.n_shards + 1, sizeof *w->sealed);
    w->cap_sealed = w->man.n_shards + 1;
    if (!w->sealed) return lwm_error_set(&w->err, -ENOMEM, "out of memory");
    for (int i = 0; i < w->man.n_shards; i++) {
        LWM_TRY(shard_check_sealed_file(w->dir, &w->man.shards[i], 0, &w->err));
        LWM_TRY(shard_env_open(&w->sealed[i], w->dir, w->man.shards[i].name, SHARD_READ_SEALED, 0,
                               &w->err));
        w->n_sealed++;
        w->committed += w->man.shards[i].records;
    }
    return 0;
}

static int open_existing_shard(lwm_shard_writer *w)
{
    char name[64];
    shard_file_name(name, sizeof name, w->man.n_shards, 1);
    char path[4096];
    if (lwm_path_join(path, sizeof path, w->dir, name) < 0)
        return lwm_error_set(&w->err, -ENAMETOOLONG, "%s: path too long", w->dir);
    if (access(path, F_OK) != 0) return 0;
    LWM_TRY(shard_env_open(&w->open, w->dir, name, SHARD_WRITE, 0, &w->err));
    w->have_open = 1;
    int dead = 0;
    mdb_reader_check(w->open.env, &dead);
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(w->open.env, NULL, MDB_RDONLY, &txn);
    if (rc) return shard_mdb_error(&w->err, rc, w->open.path);
    rc = shard_meta_get(txn, &w->open, &w->open_meta, &w->err);
    mdb_txn_abort(txn);
    if (rc == LWM_EFORMAT && w->open_meta.records == 0) { // created, never committed
        memset(&w->open_meta, 0, sizeof w->open_meta);
        w->open_meta.number = w->man.n_shards;
        w->open_meta.first_index = w->committed;
        memcpy(w->open_meta.dataset_id, w->man.dataset_id, 33);
        return 0;
    }
    LWM_TRY(rc);
    LWM_CHECK(&w->err,
              strcmp(w->open_meta.dataset_id, w->man.dataset_id) == 0 &&
                  w->open_meta.first_index == w->committed,
              LWM_EFORMAT, "%s: shard does not belong to this dataset", w->open.path);
    w->committed += w->open_meta.records;
    lwm_log(&w->opt.log, LWM_LOG_INFO, "%s: continuing %s with %lld records", w->dir, name,
            (long long)w->open_meta.records);
    return 0;
}

// A new dataset goes only into an empty (or new) directory, so a mistyped
// --out never mixes shards into unrelated files. The manifest's temporary file
// of a run killed while creating the dataset does not count (clean_leftovers
// removes it).
static int check_empty(lwm_shard_writer *w)
{
    DIR *d = opendir(w->dir);
    if (!d) return lwm_error_set(&w->err, -errno, "%s: %s", w->dir, strerror(errno));
    struct dirent *e;
    const char *other = NULL;
    while (!other && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "writer.lock") &&
            !shard_is_manifest_tmp(e->d_name))
            other = e->d_name;
    int rc = other ? lwm_error_set(&w->err, LWM_EINVAL,
                                   "%s: not a dataset (no manifest.json) and not empty (holds %s); "
                                   "choose a new or empty directory",
                                   w->dir, other)
                   : 0;
    closedir(d);
    return rc;
}

int lwm_shard_writer_open(lwm_shard_writer *w, const char *dir)
{
    LWM_CHECK(&w->err, !w->dir[0], LWM_EINVAL, "writer is already open");
    LWM_CHECK(&w->err, lwm_format(w->dir, sizeof w->dir, "%s", dir) == 0, -ENAMETOOLONG,
              "%s: path too long", dir);
    LWM_TRY(lwm_mkdirs(dir, &w->err));
    LWM_TRY(shard_lock_dir(dir, &w->lock_fd, &w->err));
    int rc = shard_manifest_load(&w->man, w->mem, dir, &w->err);
    if (rc == -ENOENT) {
        LWM_TRY(check_empty(w));
        LWM_TRY(shard_manifest_init(&w->man, w->mem) < 0 ? lwm_error_set(&w->err, -ENOMEM, "oom")
                                                         : 0);
        w->man_loaded = 1;
        LWM_TRY(new_dataset_id(w->man.dataset_id, &w->err));
        LWM_TRY(shard_manifest_save(&w->man, dir, &w->err));
    } else {
        LWM_TRY(rc);
        w->man_loaded = 1;
    }
    LWM_TRY(clean_leftovers(w));
    LWM_TRY(open_sealed(w));
    LWM_TRY(open_existing_shard(w));
    return writer_maybe_seal(w);
}

// Every setting the stored settings and the given ones both name must agree:
// a resumed run may not change how the corpus is sampled or preprocessed.
static int check_settings(lwm_shard_writer *w, const char *stored, const char *given)
{
    cJSON *a = stored[0] ? cJSON_Parse(stored) : NULL, *b = given[0] ? cJSON_Parse(given) : NULL;
    int rc = 0;
    for (const cJSON *x = a ? a->child : NULL; x && rc == 0; x = x->next) {
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y || cJSON_Compare(x, y, 1)) continue;
        char *xs = cJSON_PrintUnformatted(x), *ys = cJSON_PrintUnformatted(y);
        rc = lwm_error_set(&w->err, LWM_EINVAL,
                           "%s: dataset was built with %s %s, this run asks for %s %s; use the "
                           "same settings or a new directory",
                           w->dir, x->string, xs ? xs : "?", x->string, ys ? ys : "?");
        cJSON_free(xs);
        cJSON_free(ys);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return rc;
}

static void describe_part(char *out, size_t cap, const lwm_shard_origin *g)
{
    if (g->parts > 0)
        lwm_format(out, cap, "part %lld/%lld", (long long)g->part, (long long)g->parts);
    else
        lwm_format(out, cap, "the whole manifest");
}

// A part stays the same part of the same manifest across reruns.
static int check_origin(lwm_shard_writer *w, const lwm_shard_origin *stored,
                        const lwm_shard_origin *given)
{
    if (!stored->source_xxh3[0]) return 0; // written before origins were recorded
    char a[64], b[64];
    describe_part(a, sizeof a, stored);
    describe_part(b, sizeof b, given);
    LWM_CHECK(&w->err, stored->parts == given->parts && stored->part == given->part, LWM_EINVAL,
              "%s: dataset holds %s, this run is %s; use the same --part or a new directory",
              w->dir, a, b);
    LWM_CHECK(&w->err, stored->parts == 0 || !strcmp(stored->source_xxh3, given->source_xxh3),
              LWM_EINVAL,
              "%s: %s was built from a manifest with XXH3-128 %s, this one has %s "
              "(the manifest changed: its parts' line ranges no longer match)",
              w->dir, a, stored->source_xxh3, given->source_xxh3);
    return 0;
}

int lwm_shard_writer_set_complete(lwm_shard_writer *w)
{
    LWM_CHECK(&w->err, w->man_loaded, LWM_EINVAL, "writer is not open");
    w->man.origin.complete = 1;
    return shard_manifest_save(&w->man, w->dir, &w->err);
}

int lwm_shard_writer_set_info(lwm_shard_writer *w, const lwm_shard_info *info)
{
    LWM_CHECK(&w->err, w->man_loaded, LWM_EINVAL, "writer is not open");
    int has_data = w->committed > 0 || w->n_sealed > 0 || w->open_meta.failed > 0;
    if (has_data) {
        LWM_TRY(check_settings(w, w->man.settings_json,
                               info->settings_json ? info->settings_json : ""));
        LWM_TRY(check_origin(w, &w->man.origin, &info->origin));
    }
    const char *vq = info->vqgan_hash ? info->vqgan_hash : "";
    const char *tok = info->tokenizer_hash ? info->tokenizer_hash : "";
    LWM_CHECK(&w->err, !has_data || !w->man.vqgan_hash[0] || strcmp(vq, w->man.vqgan_hash) == 0,
              LWM_EINVAL, "%s: dataset was built with VQGAN weights %s, not %s", w->dir,
              w->man.vqgan_hash, vq[0] ? vq : "(none)");
    LWM_CHECK(&w->err,
              !has_data || !w->man.tokenizer_hash[0] || strcmp(tok, w->man.tokenizer_hash) == 0,
              LWM_EINVAL, "%s: dataset was built with tokenizer %s, not %s", w->dir,
              w->man.tokenizer_hash, tok[0] ? tok : "(none)");
    if (shard_manifest_set_info(&w->man, w->mem, info) < 0)
        return lwm_error_set(&w->err, -ENOMEM, "out of memory");
    return shard_manifest_save(&w->man, w->dir, &w->err);
}

/* ---- lookups ---- */

static int env_has(shard_env *e, const char *id, lwm_error *err)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc) return shard_mdb_error(err, rc, e->path);
    MDB_val k = {strlen(id), (void *)id}, d;
    int found = 0;
    rc = mdb_get(txn, e->ids, &k, &d);
    if (rc == 0)
        found = 1;
    else if (rc == MDB_NOTFOUND && (rc = mdb_get(txn, e->failed, &k, &d)) == 0)
        found = 2;
    mdb_txn_abort(txn);
    if (rc && rc != MDB_NOTFOUND) return shard_mdb_error(err, rc, e->path);
    return found;
}

int lwm_shard_writer_has(lwm_shard_writer *w, const char *id)
{
    LWM_CHECK(&w->err, w->man_loaded, LWM_EINVAL, "writer is not open");
    LWM_CHECK(&w->err, id && id[0] && strlen(id) <= LWM_SHARD_MAX_ID, LWM_EINVAL,
              "bad sample id (empty or longer than %d bytes)", LWM_SHARD_MAX_ID);
    for (int i = 0; i < w->n_items; i++)
        if (strcmp(w->items[i].id, id) == 0) return w->items[i].reason ? 2 : 1;
    if (w->have_open) {
        int rc = env_has(&w->open, id, &w->err);
        if (rc != 0) return rc;
    }
    for (int i = 0; i < w->n_sealed; i++) {
        int rc = env_has(&w->sealed[i], id, &w->err);
        if (rc != 0) return rc;
    }
    return 0;
}

/* ---- batches ---- */

static int add_item(lwm_shard_writer *w, const batch_item *item)
{
    size_t cap = (size_t)w->cap_items;
    void *p = w->items;
    if (lwm_grow(w->mem, &p, &cap, (size_t)w->n_items + 1, sizeof *item) < 0) return -ENOMEM;
    w->items = p;
    w->cap_items = (int)cap;
    w->items[w->n_items++] = *item;
    return 0;
}

static void free_item(lwm_shard_writer *w, batch_item *it)
{
    lwm_free(w->mem, it->id);
    lwm_free(w->mem, it->value);
    lwm_free(w->mem, it->reason);
}

int64_t lwm_shard_writer_put(lwm_shard_writer *w, const lwm_shard_sample *s)
{
    LWM_CHECK(&w->err, w->man_loaded, LWM_EINVAL, "writer is not open");
    shard_encode_options eo = {w->opt.zstd_level, w->opt.codes_min_saving};
    int rc = shard_record_encode(w->cctx, &eo, w->mem, &w->raw, &w->enc, s, &w->err);
    if (rc < 0) return rc;
    rc = lwm_shard_writer_has(w, s->id);
    if (rc < 0) return rc;
    LWM_CHECK(&w->err, rc != 1, LWM_EEXISTS, "%s: sample id is already stored", s->id);
    batch_item it = {0};
    it.id = lwm_strdup(w->mem, s->id);
    it.value = lwm_malloc(w->mem, w->enc.size);
    if (!it.id || !it.value || add_item(w, &it) < 0) {
        free_item(w, &it);
        return lwm_error_set(&w->err, -ENOMEM, "out of memory");
    }
    memcpy(w->items[w->n_items - 1].value, w->enc.data, w->enc.size);
    batch_item *last = &w->items[w->n_items - 1];
    last->size = w->enc.size;
    last->frames = s->frames;
    last->raw_bytes = (int64_t)w->raw.size;
    return w->committed + w->batch_records++;
}

int lwm_shard_writer_fail(lwm_shard_writer *w, const char *id, int64_t manifest_line,
                          const char *reason)
{
    LWM_CHECK(&w->err, w->man_loaded, LWM_EINVAL, "writer is not open");
    char line_id[32];
    if (!id || !id[0]) {
        snprintf(line_id, sizeof line_id, "line %lld", (long long)manifest_line);
        id = line_id;
    }
    int rc = lwm_shard_writer_has(w, id);
    if (rc < 0) return rc;
    LWM_CHECK(&w->err, rc != 1, LWM_EEXISTS, "%s: sample id is already stored", id);
    if (rc == 2) return 0; // already recorded as failed
    batch_item it = {0};
    it.id = lwm_strdup(w->mem, id);
    it.reason = lwm_strdup(w->mem, reason ? reason : "unknown error");
    it.line = manifest_line;
    if (!it.id || !it.reason || add_item(w, &it) < 0) {
        free_item(w, &it);
        return lwm_error_set(&w->err, -ENOMEM, "out of memory");
    }
    return 0;
}

void lwm_shard_writer_abort(lwm_shard_writer *w)
{
    for (int i = 0; i < w->n_items; i++) free_item(w, &w->items[i]);
    w->n_items = 0;
    w->batch_records = 0;
}

void lwm_shard_writer_free(lwm_shard_writer *w)
{
    if (!w) return;
    lwm_shard_writer_abort(w);
    lwm_free(w->mem, w->items);
    if (w->have_open) shard_env_close(&w->open);
    for (int i = 0; i < w->n_sealed; i++) shard_env_close(&w->sealed[i]);
    lwm_free(w->mem, w->sealed);
    if (w->man_loaded) shard_manifest_release(&w->man, w->mem);
    if (w->lock_fd >= 0) close(w->lock_fd);
    ZSTD_freeCCtx(w->cctx);
    shard_buf_release(w->mem, &w->raw);
    shard_buf_release(w->mem, &w->enc);
    lwm_mem mem = w->opt.mem;
    lwm_free(&mem, w);
}
