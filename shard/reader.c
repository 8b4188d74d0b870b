// The dataset reader: a snapshot of the manifest's sealed shards plus the
// shard being appended, and per-thread views that fetch and decode records.
//
// Numbering. A sample's index is its position in the dataset (0..count-1),
// counted over the shards in manifest order; files[i].first_index is the index
// of shard i's first record. Inside a shard, records are stored under keys
// that start at files[i].key_base: equal to first_index for shards written
// here, but a shard merged from a part (lwm merge) keeps the part's own keys,
// so shard_reader_key_of() translates. Nothing is renumbered on merge, which
// is what makes merging independent of the records' size.
//
// Snapshot. The manifest lists sealed shards with their hashes; the one being
// appended is not listed and is found by name. A writer may seal it between
// our manifest read and our open: open_snapshot() then reports 1 and the
// whole snapshot is re-read (at most 6 times), so a reader never mixes an old
// manifest with a newer set of files. Sealed shards are hashed before LMDB
// maps them (check_sealed), because LMDB trusts its file's bytes.
//
// Threads. The reader itself is read-only after open; each thread reads
// through its own view, whose per-shard read transactions are reset after
// every get and renewed on the next (cheap in LMDB, and holds no snapshot of
// the open shard longer than one record). The lock guards only the view list.
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct lwm_shard_view {
    lwm_shard_reader *r;
    MDB_txn **txns; // one reset read transaction per shard, renewed per get
    int n_txns;
    shard_decoder dec;
    shard_buf value;
    lwm_error err;
    lwm_shard_view *next; // the reader's list of views
};

struct lwm_shard_reader {
    lwm_shard_reader_options opt;
    const lwm_mem *mem;
    lwm_error err;
    char dir[4096];
    pid_t pid; // the opener; a forked child must not touch LMDB state (LMDB forbids it)
    shard_manifest man;
    int man_loaded;
    shard_env *envs;
    lwm_shard_file *files;
    int n_files;
    int64_t count;
    lwm_shard_info info;
    lwm_shard_failure *failures;
    int64_t n_failures;
    pthread_mutex_t lock; // guards the view list
    lwm_shard_view *views;
    lwm_shard_view *own; // the view behind lwm_shard_get/find, for single-threaded callers
};

lwm_shard_reader *lwm_shard_reader_create(const lwm_shard_reader_options *opt)
{
    lwm_mem mem = opt ? opt->mem : (lwm_mem){0};
    lwm_shard_reader *r = lwm_calloc(&mem, 1, sizeof *r);
    if (!r) return NULL;
    if (opt) r->opt = *opt;
    r->mem = &r->opt.mem;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

const char *lwm_shard_reader_errmsg(const lwm_shard_reader *r)
{
    return r->err.msg;
}
int64_t lwm_shard_reader_count(const lwm_shard_reader *r)
{
    return r->count;
}
const lwm_shard_info *lwm_shard_reader_info(const lwm_shard_reader *r)
{
    return &r->info;
}
const char *shard_reader_dir(const lwm_shard_reader *r)
{
    return r->dir;
}

const lwm_shard_file *lwm_shard_reader_files(const lwm_shard_reader *r, int *n)
{
    *n = r->n_files;
    return r->files;
}

const lwm_shard_failure *lwm_shard_reader_failures(const lwm_shard_reader *r, int64_t *n)
{
    *n = r->n_failures;
    return r->failures;
}

int shard_reader_hashed_at_open(const lwm_shard_reader *r)
{
    return r->opt.check_files;
}

int shard_reader_env(lwm_shard_reader *r, int file, shard_env **env)
{
    if (file < 0 || file >= r->n_files || r->files[file].damaged) return LWM_ENOTFOUND;
    *env = &r->envs[file];
    return 0;
}

/* ---- opening ---- */

static void drop_view_txns(lwm_shard_view *v)
{
    for (int i = 0; i < v->n_txns; i++)
        if (v->txns[i]) mdb_txn_abort(v->txns[i]);
    lwm_free(v->r->mem, v->txns);
    v->txns = NULL;
    v->n_txns = 0;
}

// Releases everything open_snapshot() built, leaving the reader reopenable.
// In a forked child (a Python DataLoader worker) the LMDB handles belong to
// the parent: only memory is freed, transactions and environments are left.
static void close_snapshot(lwm_shard_reader *r)
{
    int same_process = r->pid == getpid();
    for (lwm_shard_view *v = r->views; v; v = v->next)
        if (same_process) drop_view_txns(v);
    for (int i = 0; i < r->n_files; i++)
        if (same_process) shard_env_close(&r->envs[i]);
    for (int64_t i = 0; i < r->n_failures; i++) {
        lwm_free(r->mem, (void *)r->failures[i].id);
        lwm_free(r->mem, (void *)r->failures[i].reason);
    }
    lwm_free(r->mem, r->failures);
    lwm_free(r->mem, r->envs);
    lwm_free(r->mem, r->files);
    if (r->man_loaded) shard_manifest_release(&r->man, r->mem);
    r->failures = NULL;
    r->n_failures = 0;
    r->envs = NULL;
    r->files = NULL;
    r->n_files = 0;
    r->count = 0;
    r->man_loaded = 0;
}

// A sealed shard LMDB may not open: missing, resized or damaged. With
// open_damaged it is kept out of the snapshot (damaged = 1) instead of failing it.
static int check_sealed(lwm_shard_reader *r, int i)
{
    lwm_shard_file *f = &r->files[i];
    int rc = shard_check_sealed_file(r->dir, f, r->opt.check_files, &r->err);
    if (rc < 0 && r->opt.open_damaged && rc != -ENOMEM) {
        f->damaged = 1;
        lwm_log(&r->opt.log, LWM_LOG_WARN, "%s", r->err.msg);
        return 1;
    }
    return rc;
}

// Reads meta and failures of shard i (opened in r->envs[i]). A failure entry is
// the manifest line (8 bytes little-endian) then the reason; entries of every
// shard are appended to r->failures, sorted once the snapshot is complete.
static int load_shard_meta(lwm_shard_reader *r, int i, shard_meta *m)
{
    shard_env *e = &r->envs[i];
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (rc) return shard_mdb_error(&r->err, rc, e->path);
    rc = shard_meta_get(txn, e, m, &r->err);
    MDB_cursor *cur = NULL;
    if (rc == 0 && (rc = mdb_cursor_open(txn, e->failed, &cur)) != 0)
        rc = shard_mdb_error(&r->err, rc, e->path);
    MDB_val k, d;
    int mrc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_FIRST) : MDB_NOTFOUND;
    for (; mrc == 0; mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        size_t cap = (size_t)r->n_failures;
        void *p = r->failures;
        if (d.mv_size < 9 || lwm_grow(r->mem, &p, &cap, cap + 1, sizeof *r->failures) < 0) {
            rc = lwm_error_set(&r->err, d.mv_size < 9 ? LWM_EFORMAT : -ENOMEM,
                               "%s: failed-sample entry is damaged or out of memory", e->path);
            break;
        }
        r->failures = p;
        lwm_shard_failure *f = &r->failures[r->n_failures];
        char *id = lwm_malloc(r->mem, k.mv_size + 1);
        char *reason = lwm_malloc(r->mem, d.mv_size - 8 + 1);
        if (!id || !reason) {
            lwm_free(r->mem, id);
            lwm_free(r->mem, reason);
            rc = lwm_error_set(&r->err, -ENOMEM, "out of memory");
            break;
        }
        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = 0;
        memcpy(reason, (const char *)d.mv_data + 8, d.mv_size - 8);
        reason[d.mv_size - 8] = 0;
        f->id = id;
        f->reason = reason;
        f->manifest_line = (int64_t)lwm_le_get64(d.mv_data);
        r->n_failures++;
    }
    if (rc == 0 && mrc != MDB_NOTFOUND) rc = shard_mdb_error(&r->err, mrc, e->path);
    if (cur) mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

// Opens shard i and checks it against the manifest: it belongs to this
// dataset, its keys start where the manifest says, and a sealed shard holds
// exactly the records listed. The open shard is ours by construction and its
// count is read from its meta, since the manifest does not list it.
static int open_one(lwm_shard_reader *r, int i, int sealed)
{
    lwm_shard_file *f = &r->files[i];
    int rc = sealed ? check_sealed(r, i) : 0;
    LWM_TRY(rc);
    if (rc == 1) { // damaged: its records are counted from the manifest, never read
        r->n_files = i + 1;
        r->count += f->records;
        return 0;
    }
    LWM_TRY(shard_env_open(&r->envs[i], r->dir, f->name,
                           sealed ? SHARD_READ_SEALED : SHARD_READ_OPEN, 0, &r->err));
    r->n_files = i + 1;
    shard_meta m = {0};
    rc = load_shard_meta(r, i, &m);
    if (!sealed) { // the shard being appended is always this dataset's own
        f->first_index = f->key_base = r->count;
        f->part = -1;
    }
    if (!sealed && rc == LWM_EFORMAT && m.records == 0) return 0; // created, nothing committed yet
    LWM_TRY(rc);
    LWM_CHECK(&r->err, strcmp(m.dataset_id, shard_file_owner(&r->man, f)) == 0, LWM_EFORMAT,
              "%s: shard belongs to another dataset", r->envs[i].path);
    // Its own keys start at key_base (a merged part's shard keeps the part's indices).
    LWM_CHECK(&r->err,
              m.first_index == f->key_base && f->first_index == r->count &&
                  (!sealed || m.records == f->records),
              LWM_EFORMAT, "%s: shard holds records %lld..+%lld, the manifest expects %lld..+%lld",
              r->envs[i].path, (long long)m.first_index, (long long)m.records,
              (long long)f->key_base, (long long)f->records);
    f->records = m.records;
    f->failed = m.failed;
    f->frames = m.frames;
    if (!sealed) {
        struct stat st;
        f->file_bytes = stat(r->envs[i].path, &st) == 0 ? (int64_t)st.st_size : 0;
    }
    r->count += m.records;
    return 0;
}

// 1 when some shard stores id as a record (a failure that a retry superseded).
static int stored_as_record(lwm_shard_reader *r, const char *id)
{
    MDB_val k = {strlen(id), (void *)id}, d;
    for (int i = 0; i < r->n_files; i++) {
        MDB_txn *txn = NULL;
        if (r->files[i].damaged || mdb_txn_begin(r->envs[i].env, NULL, MDB_RDONLY, &txn)) continue;
        int found = mdb_get(txn, r->envs[i].ids, &k, &d) == 0;
        mdb_txn_abort(txn);
        if (found) return 1;
    }
    return 0;
}

// Drops the failures whose sample was stored later (lwm ingest --retry-failed):
// a sealed shard keeps its failure entries, so the snapshot hides them.
static void drop_superseded_failures(lwm_shard_reader *r)
{
    int64_t kept = 0;
    for (int64_t i = 0; i < r->n_failures; i++) {
        lwm_shard_failure *f = &r->failures[i];
        if (stored_as_record(r, f->id)) {
            lwm_free(r->mem, (void *)f->id);
            lwm_free(r->mem, (void *)f->reason);
            continue;
        }
        r->failures[kept++] = *f;
    }
    r->n_failures = kept;
}

static int cmp_failure(const void *a, const void *b)
{
    const lwm_shard_failure *x = a, *y = b;
    if (x->manifest_line != y->manifest_line) return x->manifest_line < y->manifest_line ? -1 : 1;
    return strcmp(x->id, y->id);
}

// One attempt: returns 1 when the open shard vanished (sealed meanwhile) and
// the caller should read the manifest again.
static int open_snapshot(lwm_shard_reader *r)
{
    int rc = shard_manifest_load(&r->man, r->mem, r->dir, &r->err);
    if (rc == -ENOENT)
        return lwm_error_set(&r->err, LWM_ENOTFOUND, "%s: not a dataset (no manifest.json)",
                             r->dir);
    LWM_TRY(rc);
    r->man_loaded = 1;
    int n = r->man.n_shards;
    r->envs = lwm_calloc(r->mem, (size_t)n + 1, sizeof *r->envs);
    r->files = lwm_calloc(r->mem, (size_t)n + 1, sizeof *r->files);
    if (!r->envs || !r->files) return lwm_error_set(&r->err, -ENOMEM, "out of memory");
    if (n) memcpy(r->files, r->man.shards, (size_t)n * sizeof *r->files);
    for (int i = 0; i < n; i++) LWM_TRY(open_one(r, i, 1));
    lwm_shard_file *open = &r->files[n];
    shard_file_name(open->name, sizeof open->name, n, 1);
    char path[4096];
    LWM_CHECK(&r->err, lwm_path_join(path, sizeof path, r->dir, open->name) == 0, -ENAMETOOLONG,
              "%s/%s: path too long", r->dir, open->name);
    if (access(path, F_OK) == 0) {
        rc = open_one(r, n, 0);
        if (rc == LWM_ENOTFOUND) return 1;
        LWM_TRY(rc);
    }
    drop_superseded_failures(r);
    if (r->n_failures) qsort(r->failures, (size_t)r->n_failures, sizeof *r->failures, cmp_failure);
    shard_manifest_info(&r->man, &r->info);
    return 0;
}

static int open_with_retries(lwm_shard_reader *r)
{
    for (int attempt = 0;; attempt++) {
        int rc = open_snapshot(r);
        if (rc <= 0 || attempt == 5) return rc < 0 ? rc : 0;
        close_snapshot(r);
    }
}

int lwm_shard_reader_open(lwm_shard_reader *r, const char *dir)
{
    LWM_CHECK(&r->err, !r->dir[0], LWM_EINVAL, "reader is already open");
    LWM_CHECK(&r->err, lwm_format(r->dir, sizeof r->dir, "%s", dir) == 0, -ENAMETOOLONG,
              "%s: path too long", dir);
    r->pid = getpid();
    int rc = open_with_retries(r);
    if (rc < 0) close_snapshot(r);
    return rc;
}

int lwm_shard_reader_refresh(lwm_shard_reader *r)
{
    LWM_CHECK(&r->err, r->dir[0], LWM_EINVAL, "reader is not open");
    close_snapshot(r);
    int rc = open_with_retries(r);
    if (rc < 0) close_snapshot(r);
    return rc;
}

void lwm_shard_reader_free(lwm_shard_reader *r)
{
    if (!r) return;
    lwm_shard_view_free(r->own);
    close_snapshot(r);
    pthread_mutex_destroy(&r->lock);
    lwm_mem mem = r->opt.mem;
    lwm_free(&mem, r);
}

/* ---- views ---- */

lwm_shard_view *lwm_shard_view_create(lwm_shard_reader *r)
{
    lwm_shard_view *v = lwm_calloc(r->mem, 1, sizeof *v);
    if (!v) return NULL;
    v->r = r;
    pthread_mutex_lock(&r->lock);
    v->next = r->views;
    r->views = v;
    pthread_mutex_unlock(&r->lock);
    return v;
}

void lwm_shard_view_free(lwm_shard_view *v)
{
    if (!v) return;
    lwm_shard_reader *r = v->r;
    pthread_mutex_lock(&r->lock);
    for (lwm_shard_view **p = &r->views; *p; p = &(*p)->next)
        if (*p == v) {
            *p = v->next;
            break;
        }
    pthread_mutex_unlock(&r->lock);
    if (r->pid == getpid())
        drop_view_txns(v);
    else
        lwm_free(r->mem, v->txns);
    shard_decoder_release(r->mem, &v->dec);
    shard_buf_release(r->mem, &v->value);
    lwm_free(r->mem, v);
}

const char *lwm_shard_view_errmsg(const lwm_shard_view *v)
{
    return v->err.msg;
}

void shard_view_sizes(const lwm_shard_view *v, int64_t *stored, int64_t *raw)
{
    *stored = (int64_t)v->value.size;
    *raw = (int64_t)v->dec.raw.size;
}

// The shard holding index (binary search on first_index; files are in index
// order). The caller has checked 0 <= index < count.
int shard_reader_file_of(const lwm_shard_reader *r, int64_t index)
{
    int lo = 0, hi = r->n_files - 1;
    while (lo < hi) { // last file whose first_index <= index
        int mid = (lo + hi + 1) / 2;
        if (r->files[mid].first_index <= index)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int64_t shard_reader_key_of(const lwm_shard_reader *r, int file, int64_t index)
{
    return index - r->files[file].first_index + r->files[file].key_base;
}

// A renewed read transaction of shard file for v; reset again after use.
static int view_txn(lwm_shard_view *v, int file, MDB_txn **out)
{
    lwm_shard_reader *r = v->r;
    if (v->n_txns != r->n_files) {
        drop_view_txns(v);
        v->txns = lwm_calloc(r->mem, (size_t)r->n_files + 1, sizeof *v->txns);
        if (!v->txns) return lwm_error_set(&v->err, -ENOMEM, "out of memory");
        v->n_txns = r->n_files;
    }
    LWM_CHECK(&v->err, !r->files[file].damaged, LWM_ECHECKSUM,
              "%s/%s: shard file is damaged (its checksum disagrees with the manifest)", r->dir,
              r->files[file].name);
    int rc = v->txns[file] ? mdb_txn_renew(v->txns[file])
                           : mdb_txn_begin(r->envs[file].env, NULL, MDB_RDONLY, &v->txns[file]);
    if (rc) return shard_mdb_error(&v->err, rc, r->envs[file].path);
    *out = v->txns[file];
    return 0;
}

int lwm_shard_view_get(lwm_shard_view *v, int64_t index, const lwm_shard_sample **out)
{
    lwm_shard_reader *r = v->r;
    LWM_CHECK(&v->err, index >= 0 && index < r->count, LWM_ENOTFOUND,
              "%s: record %lld does not exist (the dataset has %lld)", r->dir, (long long)index,
              (long long)r->count);
    int file = shard_reader_file_of(r, index);
    MDB_txn *txn;
    LWM_TRY(view_txn(v, file, &txn));
    int rc = shard_get_value(txn, &r->envs[file], shard_reader_key_of(r, file, index), r->mem,
                             &v->value);
    mdb_txn_reset(txn);
    if (rc == MDB_NOTFOUND) rc = MDB_CORRUPTED; // listed in the counts but absent
    if (rc) {
        shard_mdb_error(&v->err, rc, r->envs[file].name);
        return lwm_error_prefix(&v->err, "record %lld", (long long)index);
    }
    rc = shard_record_decode(&v->dec, r->mem, v->value.data, v->value.size, &v->err);
    if (rc < 0)
        return lwm_error_prefix(&v->err, "record %lld (%s)", (long long)index, r->envs[file].name);
    v->dec.sample.index = index;
    *out = &v->dec.sample;
    return 0;
}

// Looks id up in each shard's id table (id -> big-endian key, so LMDB keeps
// keys in numeric order) and fetches that record. The table is as hostile as
// any file: the key must fall inside the shard and the record found must
// carry the same id, or the shard is reported damaged.
int lwm_shard_view_find(lwm_shard_view *v, const char *id, const lwm_shard_sample **out)
{
    lwm_shard_reader *r = v->r;
    size_t n = id ? strlen(id) : 0;
    LWM_CHECK(&v->err, n > 0 && n <= LWM_SHARD_MAX_ID, LWM_EINVAL, "bad sample id");
    for (int f = 0; f < r->n_files; f++) {
        MDB_txn *txn;
        if (r->files[f].damaged) continue;
        LWM_TRY(view_txn(v, f, &txn));
        MDB_val k = {n, (void *)id}, d;
        int rc = mdb_get(txn, r->envs[f].ids, &k, &d);
        uint8_t be[8] = {0};
        size_t entry = rc == 0 ? d.mv_size : 8;
        if (rc == 0 && d.mv_size == 8) memcpy(be, d.mv_data, 8);
        mdb_txn_reset(txn);
        if (rc == MDB_NOTFOUND) continue;
        if (rc) return shard_mdb_error(&v->err, rc, r->envs[f].path);
        LWM_CHECK(&v->err, entry == 8, LWM_EFORMAT,
                  "%s: the id table entry of \"%s\" is %zu bytes, not 8 (damaged)", r->envs[f].path,
                  id, entry);
        int64_t key = 0;
        for (int i = 0; i < 8; i++) key = key << 8 | be[i];
        const lwm_shard_file *file = &r->files[f];
        LWM_CHECK(&v->err, key >= file->key_base && key - file->key_base < file->records,
                  LWM_EFORMAT,
                  "%s: the id table maps \"%s\" to record %lld, which the shard "
                  "does not hold",
                  r->envs[f].path, id, (long long)key);
        LWM_TRY(lwm_shard_view_get(v, key - file->key_base + file->first_index, out));
        LWM_CHECK(&v->err, strcmp((*out)->id, id) == 0, LWM_EFORMAT,
                  "%s: the id table maps \"%s\" to record %lld, which holds \"%s\" (damaged)",
                  r->envs[f].path, id, (long long)key, (*out)->id);
        return 0;
    }
    return lwm_error_set(&v->err, LWM_ENOTFOUND, "%s: no sample with id \"%s\"", r->dir, id);
}

static int own_view(lwm_shard_reader *r)
{
    if (!r->own && !(r->own = lwm_shard_view_create(r)))
        return lwm_error_set(&r->err, -ENOMEM, "out of memory");
    return 0;
}

int lwm_shard_get(lwm_shard_reader *r, int64_t index, const lwm_shard_sample **out)
{
    LWM_TRY(own_view(r));
    int rc = lwm_shard_view_get(r->own, index, out);
    if (rc < 0) r->err = r->own->err;
    return rc;
}

int lwm_shard_find(lwm_shard_reader *r, const char *id, const lwm_shard_sample **out)
{
    LWM_TRY(own_view(r));
    int rc = lwm_shard_view_find(r->own, id, out);
    if (rc < 0) r->err = r->own->err;
    return rc;
}
