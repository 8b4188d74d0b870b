// One shard = one LMDB environment in one file (MDB_NOSUBDIR) with four
// databases: records, ids, failed, meta. Opening modes, value splitting and
// the translation of LMDB's codes into ours.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int shard_mdb_error(lwm_error *err, int rc, const char *what)
{
    int code;
    switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_READERS_FULL:
    case MDB_DBS_FULL: code = LWM_EFULL; break;
    case MDB_NOTFOUND: code = LWM_ENOTFOUND; break;
    case MDB_KEYEXIST: code = LWM_EEXISTS; break;
    case MDB_VERSION_MISMATCH: code = LWM_EVERSION; break;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_INCOMPATIBLE:
    case MDB_BAD_VALSIZE:
    case MDB_PANIC: code = LWM_EFORMAT; break;
    default: code = rc > 0 ? -rc : LWM_EINTERNAL; break;
    }
    const char *hint = "";
    if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID)
        hint = " (the shard file is damaged)";
    else if (rc == EIO || rc == ENOSPC || rc == EFBIG || rc == EDQUOT)
        hint = " (disk full, file size limit reached, or an I/O error)";
    return lwm_error_set(err, code, "%s: %s%s", what, mdb_strerror(rc), hint);
}

int shard_file_name(char *out, size_t cap, int64_t number, int open)
{
    return lwm_format(out, cap, "shard-%05lld%s", (long long)number, open ? ".open.mdb" : ".mdb");
}

static int open_dbs(shard_env *e, lwm_error *err)
{
    MDB_txn *txn = NULL;
    int write = e->mode == SHARD_WRITE;
    int rc = mdb_txn_begin(e->env, NULL, write ? 0 : MDB_RDONLY, &txn);
    if (rc) return shard_mdb_error(err, rc, e->path);
    unsigned flags = write ? MDB_CREATE : 0;
    if ((rc = mdb_dbi_open(txn, "records", flags, &e->records)) ||
        (rc = mdb_dbi_open(txn, "ids", flags, &e->ids)) ||
        (rc = mdb_dbi_open(txn, "failed", flags, &e->failed)) ||
        (rc = mdb_dbi_open(txn, "meta", flags, &e->meta))) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND) return lwm_error_set(err, LWM_EFORMAT, "%s: not a shard", e->path);
        return shard_mdb_error(err, rc, e->path);
    }
    rc = mdb_txn_commit(txn); // also for reads: an aborted txn would discard the handles
    if (rc) return shard_mdb_error(err, rc, e->path);
    return 0;
}

int shard_env_open(shard_env *e, const char *dir, const char *file, int mode, size_t map_bytes,
                   lwm_error *err)
{
    memset(e, 0, sizeof *e);
    e->mode = mode;
    if (lwm_path_join(e->path, sizeof e->path, dir, file) < 0)
        return lwm_error_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, file);
    e->name = e->path + strlen(e->path) - strlen(file);
    struct stat st = {0};
    if (mode != SHARD_WRITE && stat(e->path, &st) != 0)
        return lwm_error_set(err, errno == ENOENT ? LWM_ENOTFOUND : -errno, "%s: %s", e->path,
                             errno == ENOENT ? "shard file is missing" : strerror(errno));
    int rc = mdb_env_create(&e->env);
    if (rc) return shard_mdb_error(err, rc, e->path);
    unsigned flags = MDB_NOSUBDIR;
    if (mode == SHARD_READ_SEALED) {
        // Immutable: no lock file, no reader slots; map exactly the file so a
        // damaged page pointer is caught by LMDB's bounds checks, not a SIGBUS.
        flags |= MDB_RDONLY | MDB_NOLOCK;
        rc = mdb_env_set_mapsize(e->env, (size_t)st.st_size);
    } else if (mode == SHARD_READ_OPEN) {
        flags |= MDB_RDONLY | MDB_NOTLS;
        rc = mdb_env_set_maxreaders(e->env, 1024);
    } else {
        flags |= MDB_NOTLS;
        rc = mdb_env_set_maxreaders(e->env, 1024);
        if (!rc && map_bytes) rc = mdb_env_set_mapsize(e->env, map_bytes);
    }
    if (!rc) rc = mdb_env_set_maxdbs(e->env, 4);
    if (!rc) rc = mdb_env_open(e->env, e->path, flags, 0644);
    if (rc) {
        shard_mdb_error(err, rc, e->path);
        shard_env_close(e);
        return err ? err->code : LWM_EFORMAT;
    }
    MDB_stat ms;
    mdb_env_stat(e->env, &ms);
    e->page_size = ms.ms_psize;
    if ((rc = open_dbs(e, err)) < 0) {
        shard_env_close(e);
        return rc;
    }
    return 0;
}

void shard_env_close(shard_env *e)
{
    if (e->env) mdb_env_close(e->env);
    e->env = NULL;
}

/* ---- meta ---- */

int shard_meta_put(MDB_txn *txn, const shard_env *e, const shard_meta *m, lwm_error *err)
{
    uint8_t b[SHARD_META_BYTES] = {0};
    lwm_le_put32(b, SHARD_META_MAGIC);
    lwm_le_put32(b + 4, SHARD_META_VERSION);
    lwm_le_put64(b + 8, (uint64_t)m->number);
    memcpy(b + 16, m->dataset_id, 32);
    const int64_t v[7] = {m->first_index,   m->records,      m->failed,   m->frames,
                          m->vision_tokens, m->stored_bytes, m->raw_bytes};
    for (int i = 0; i < 7; i++) lwm_le_put64(b + 48 + 8 * i, (uint64_t)v[i]);
    MDB_val k = {5, "shard"}, d = {sizeof b, b};
    int rc = mdb_put(txn, e->meta, &k, &d, 0);
    return rc ? shard_mdb_error(err, rc, e->path) : 0;
}

int shard_meta_get(MDB_txn *txn, const shard_env *e, shard_meta *m, lwm_error *err)
{
    MDB_val k = {5, "shard"}, d;
    int rc = mdb_get(txn, e->meta, &k, &d);
    if (rc == MDB_NOTFOUND)
        return lwm_error_set(err, LWM_EFORMAT, "%s: shard has no meta record", e->path);
    if (rc) return shard_mdb_error(err, rc, e->path);
    const uint8_t *b = d.mv_data;
    LWM_CHECK(err, d.mv_size >= SHARD_META_BYTES && lwm_le_get32(b) == SHARD_META_MAGIC,
              LWM_EFORMAT, "%s: shard meta record is damaged", e->path);
    LWM_CHECK(err, lwm_le_get32(b + 4) <= SHARD_META_VERSION, LWM_EVERSION,
              "%s: shard written by a newer schema (shard version %u, this build reads %d)",
              e->path, lwm_le_get32(b + 4), SHARD_META_VERSION);
    m->number = (int64_t)lwm_le_get64(b + 8);
    memcpy(m->dataset_id, b + 16, 32);
    m->dataset_id[32] = 0;
    int64_t *v[7] = {&m->first_index,   &m->records,      &m->failed,   &m->frames,
                     &m->vision_tokens, &m->stored_bytes, &m->raw_bytes};
    for (int i = 0; i < 7; i++) *v[i] = (int64_t)lwm_le_get64(b + 48 + 8 * i);
    return 0;
}

/* ---- values split into page-sized parts ---- */

void shard_key(uint8_t key[SHARD_KEY_BYTES], int64_t index, unsigned part)
{
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)((uint64_t)index >> (56 - 8 * i));
    key[8] = (uint8_t)part;
}

// LMDB stores a value that does not fit a leaf node in whole overflow pages
// (16-byte header + data, rounded up), wasting up to a page per record. We
// store floor((size+16)/page) pages' worth as one overflow head of exactly
// that many pages, and the rest as parts of <= SHARD_TAIL_PART bytes, which
// live densely in leaf pages next to other records' tails.
int shard_put_value(MDB_txn *txn, const shard_env *e, int64_t index, const uint8_t *value,
                    size_t size)
{
    size_t page = e->page_size, head = 0;
    if (size > SHARD_TAIL_PART && size + 16 >= page) head = (size + 16) / page * page - 16;
    size_t rest = size - head;
    size_t tails = (rest + SHARD_TAIL_PART - 1) / SHARD_TAIL_PART;
    unsigned part = 0;
    uint8_t key[SHARD_KEY_BYTES];
    MDB_val k = {SHARD_KEY_BYTES, key}, d;
    int rc;
    if (head) {
        shard_key(key, index, part++);
        d.mv_size = head;
        d.mv_data = (void *)value;
        if ((rc = mdb_put(txn, e->records, &k, &d, MDB_APPEND))) return rc;
    }
    for (size_t t = 0, off = head; t < tails; t++) {
        size_t n = (rest - (off - head) + (tails - t) - 1) / (tails - t); // even split
        shard_key(key, index, part++);
        d.mv_size = n;
        d.mv_data = (void *)(value + off);
        if ((rc = mdb_put(txn, e->records, &k, &d, MDB_APPEND))) return rc;
        off += n;
    }
    return 0;
}

// Each part is looked up from the root (no cursor stepping): on a damaged
// page LMDB then returns MDB_CORRUPTED / MDB_PAGE_NOTFOUND, where stepping a
// cursor onto it would trip an assertion and abort the process.
int shard_get_value(MDB_txn *txn, const shard_env *e, int64_t index, const lwm_mem *mem,
                    shard_buf *out)
{
    uint8_t key[SHARD_KEY_BYTES];
    MDB_val k = {SHARD_KEY_BYTES, key}, d;
    out->size = 0;
    for (unsigned part = 0; part < 256; part++) {
        shard_key(key, index, part);
        int rc = mdb_get(txn, e->records, &k, &d);
        if (rc == MDB_NOTFOUND) return part > 0 ? 0 : MDB_NOTFOUND;
        if (rc) return rc;
        if (shard_buf_reserve(mem, out, out->size + d.mv_size) < 0) return ENOMEM;
        if (d.mv_size) memcpy(out->data + out->size, d.mv_data, d.mv_size); // data may be NULL
        out->size += d.mv_size;
    }
    return MDB_CORRUPTED;
}

/* ---- files ---- */

int shard_sync_dir(const char *dir, lwm_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return lwm_error_set(err, -errno, "%s: %s", dir, strerror(errno));
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    if (rc) return lwm_error_set(err, rc, "%s: fsync: %s", dir, strerror(-rc));
    return 0;
}
