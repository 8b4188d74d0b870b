// The writer's durable steps: committing a batch in one LMDB transaction,
// sealing a full shard (compact copy, fsync, hash, rename, manifest) and
// closing the dataset. The order of each step is what makes a crash leave a
// shard either absent or whole; shard.h states the promise.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "internal.h"

static int ensure_open_shard(lwm_shard_writer *w)
{
    if (w->have_open) return 0;
    char name[64];
    shard_file_name(name, sizeof name, w->man.n_shards, 1);
    LWM_TRY(shard_env_open(&w->open, w->dir, name, SHARD_WRITE, (size_t)w->opt.map_bytes, &w->err));
    w->have_open = 1;
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(w->open.env, NULL, MDB_RDONLY, &txn);
    if (rc) return shard_mdb_error(&w->err, rc, w->open.path);
    shard_meta m;
    lwm_error ignored;
    rc = shard_meta_get(txn, &w->open, &m, &ignored);
    mdb_txn_abort(txn);
    if (rc == 0) { // reopened after a failed commit: counters come from disk
        w->open_meta = m;
        return 0;
    }
    memset(&w->open_meta, 0, sizeof w->open_meta);
    w->open_meta.number = w->man.n_shards;
    w->open_meta.first_index = w->committed;
    memcpy(w->open_meta.dataset_id, w->man.dataset_id, 33);
    return 0;
}

static int put_failure(MDB_txn *txn, lwm_shard_writer *w, const batch_item *it, shard_meta *m)
{
    size_t n = strlen(it->reason);
    uint8_t buf[8 + 2048];
    if (n > sizeof buf - 9) n = sizeof buf - 9;
    lwm_le_put64(buf, (uint64_t)it->line);
    memcpy(buf + 8, it->reason, n);
    buf[8 + n] = 0;
    MDB_val k = {strlen(it->id), it->id}, d = {9 + n, buf};
    int rc = mdb_put(txn, w->open.failed, &k, &d, 0);
    if (rc == 0) m->failed++;
    return rc;
}

// Writes every item of the batch and the updated meta into txn; an LMDB code.
static int write_batch(MDB_txn *txn, lwm_shard_writer *w, shard_meta *m)
{
    int64_t index = w->committed;
    for (int i = 0; i < w->n_items; i++) {
        const batch_item *it = &w->items[i];
        int rc;
        if (it->reason) {
            if ((rc = put_failure(txn, w, it, m))) return rc;
            continue;
        }
        if ((rc = shard_put_value(txn, &w->open, index, it->value, it->size))) return rc;
        uint8_t be[SHARD_KEY_BYTES]; // the first 8 bytes: big-endian index
        shard_key(be, index, 0);
        MDB_val k = {strlen(it->id), it->id}, d = {8, be};
        if ((rc = mdb_put(txn, w->open.ids, &k, &d, MDB_NOOVERWRITE))) return rc;
        // A retried sample that failed before: its failure entry goes (one in
        // a sealed shard stays, and readers hide it).
        rc = mdb_del(txn, w->open.failed, &k, NULL);
        if (rc == 0)
            m->failed--;
        else if (rc != MDB_NOTFOUND)
            return rc;
        m->records++;
        m->frames += it->frames;
        m->vision_tokens += it->frames * LWM_SHARD_CODES_PER_FRAME;
        m->stored_bytes += (int64_t)it->size;
        m->raw_bytes += it->raw_bytes;
        index++;
    }
    lwm_error e;
    int rc = shard_meta_put(txn, &w->open, m, &e);
    return rc == 0 ? 0 : rc == LWM_EFULL ? MDB_MAP_FULL : MDB_PANIC;
}

static int try_commit(lwm_shard_writer *w)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(w->open.env, NULL, 0, &txn);
    if (rc) return rc;
    shard_meta m = w->open_meta;
    rc = write_batch(txn, w, &m);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn); // synced: the batch is durable from here on
    if (rc == 0) w->open_meta = m;
    return rc;
}

static int64_t open_shard_bytes(const lwm_shard_writer *w)
{
    MDB_envinfo info;
    mdb_env_info(w->open.env, &info);
    return ((int64_t)info.me_last_pgno + 1) * w->open.page_size;
}

static int seal_open_shard(lwm_shard_writer *w);

int lwm_shard_writer_commit(lwm_shard_writer *w)
{
    LWM_CHECK(&w->err, w->man_loaded, LWM_EINVAL, "writer is not open");
    if (w->n_items == 0) return 0;
    int rc = ensure_open_shard(w);
    if (rc < 0) goto fail;
    int mrc = try_commit(w);
    if (mrc == MDB_MAP_FULL && (w->open_meta.records > 0 || w->open_meta.failed > 0)) {
        // The batch does not fit what is left of this shard: seal it, retry in a fresh one.
        if ((rc = seal_open_shard(w)) < 0 || (rc = ensure_open_shard(w)) < 0) goto fail;
        mrc = try_commit(w);
    }
    if (mrc == MDB_MAP_FULL) {
        size_t bytes = 0;
        for (int i = 0; i < w->n_items; i++) bytes += w->items[i].size;
        rc = lwm_error_set(&w->err, LWM_EFULL,
                           "%s: a batch of %d samples (%zu bytes) does not fit an empty shard "
                           "(LMDB map of %lld bytes); commit smaller batches or raise map_bytes",
                           w->open.path, w->n_items, bytes, (long long)w->opt.map_bytes);
        goto fail;
    }
    if (mrc) {
        rc = shard_mdb_error(&w->err, mrc, w->open.path);
        lwm_error_prefix(&w->err, "commit of %d samples failed, nothing of the batch was stored",
                         w->n_items);
        // The environment may be unusable after a failed write (LMDB marks it
        // fatal when the meta page could not be written); reopen it next time.
        shard_env_close(&w->open);
        w->have_open = 0;
        goto fail;
    }
    w->committed += w->batch_records;
    lwm_shard_writer_abort(w); // frees the items
    return writer_maybe_seal(w);
fail:
    lwm_shard_writer_abort(w);
    return rc;
}

int writer_maybe_seal(lwm_shard_writer *w)
{
    if (!w->have_open || open_shard_bytes(w) < w->opt.shard_bytes) return 0;
    return seal_open_shard(w);
}

/* ---- sealing ---- */

static int fsync_file(const char *path, lwm_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc ? lwm_error_set(err, rc, "%s: fsync: %s", path, strerror(-rc)) : 0;
}

static int add_sealed_handle(lwm_shard_writer *w, const char *name)
{
    size_t cap = (size_t)w->cap_sealed;
    void *p = w->sealed;
    if (lwm_grow(w->mem, &p, &cap, (size_t)w->n_sealed + 1, sizeof *w->sealed) < 0)
        return lwm_error_set(&w->err, -ENOMEM, "out of memory");
    w->sealed = p;
    w->cap_sealed = (int)cap;
    LWM_TRY(shard_env_open(&w->sealed[w->n_sealed], w->dir, name, SHARD_READ_SEALED, 0, &w->err));
    w->n_sealed++;
    return 0;
}

// Order matters: (1) compact copy to .tmp, fsync; (2) hash; (3) rename to the
// final name, fsync the directory; (4) list it in the manifest (atomic); (5)
// delete the open file. A crash before (4) leaves the open shard authoritative
// and the copy is removed at the next open; after (4) the sealed file is.
static int seal_open_shard(lwm_shard_writer *w)
{
    lwm_shard_file f = {0};
    char tmp[4096], final[4096], open_path[4096], lock_path[4096 + 8];
    shard_file_name(f.name, sizeof f.name, w->open_meta.number, 0);
    if (lwm_path_join(final, sizeof final, w->dir, f.name) < 0 ||
        lwm_format(tmp, sizeof tmp, "%s.tmp", final) < 0)
        return lwm_error_set(&w->err, -ENAMETOOLONG, "%s: path too long", w->dir);
    memcpy(open_path, w->open.path, sizeof open_path);
    lwm_format(lock_path, sizeof lock_path, "%s-lock", open_path);
    unlink(tmp);
    int rc = mdb_env_copy2(w->open.env, tmp, MDB_CP_COMPACT);
    if (rc) {
        unlink(tmp);
        return shard_mdb_error(&w->err, rc, tmp);
    }
    LWM_TRY(fsync_file(tmp, &w->err));
    LWM_TRY(lwm_file_hash(tmp, f.checksum, &f.file_bytes, &w->err));
    if (rename(tmp, final) != 0)
        return lwm_error_set(&w->err, -errno, "%s: rename: %s", final, strerror(errno));
    LWM_TRY(shard_sync_dir(w->dir, &w->err));
    shard_verified_remember(final, f.checksum); // so the first reader need not hash it again
    f.sealed = 1;
    f.first_index = f.key_base = w->open_meta.first_index;
    f.part = -1;
    f.records = w->open_meta.records;
    f.failed = w->open_meta.failed;
    f.frames = w->open_meta.frames;
    if (shard_manifest_add(&w->man, w->mem, &f) < 0)
        return lwm_error_set(&w->err, -ENOMEM, "out of memory");
    rc = shard_manifest_save(&w->man, w->dir, &w->err);
    if (rc < 0) {
        w->man.n_shards--;
        unlink(final);
        return rc;
    }
    shard_env_close(&w->open);
    w->have_open = 0;
    unlink(open_path);
    unlink(lock_path);
    lwm_log(&w->opt.log, LWM_LOG_INFO, "%s: sealed %s (%lld records, %lld bytes)", w->dir, f.name,
            (long long)f.records, (long long)f.file_bytes);
    return add_sealed_handle(w, f.name);
}

int lwm_shard_writer_close(lwm_shard_writer *w)
{
    LWM_CHECK(&w->err, w->man_loaded, LWM_EINVAL, "writer is not open");
    LWM_TRY(lwm_shard_writer_commit(w));
    if (!w->have_open) return 0;
    if (w->open_meta.records > 0 || w->open_meta.failed > 0) return seal_open_shard(w);
    // An empty open shard (created, nothing committed) is simply dropped.
    char open_path[4096], lock_path[4096 + 8];
    memcpy(open_path, w->open.path, sizeof open_path);
    lwm_format(lock_path, sizeof lock_path, "%s-lock", open_path);
    shard_env_close(&w->open);
    w->have_open = 0;
    unlink(open_path);
    unlink(lock_path);
    return 0;
}
