// Merging parts: the datasets that `lwm ingest --part K/N` built from the line
// ranges of one manifest become one dataset whose dense order is the
// manifest's. Nothing is copied: each part's sealed shard files are
// hard-linked into the output under the merged numbering, and the merged
// manifest records, per shard, the part's own dataset id and the index its
// keys start at (lwm_shard_file.key_base). The manifest is written last, so
// the output is a dataset exactly when the merge finished.
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

typedef struct merge_part {
    const char *dir; // as the caller gave it
    int lock_fd;
    shard_manifest man;
    int loaded;
    int64_t records, failed, frames;
} merge_part;

typedef struct merge_ctx {
    const lwm_mem *mem;
    lwm_error *err;
    lwm_logger log;
    merge_part *parts; // sorted by part index once checked
    int n;
} merge_ctx;

/* ---- reading and checking the parts ---- */

static void part_label(char *out, size_t cap, const merge_part *p)
{
    const lwm_shard_origin *g = &p->man.origin;
    lwm_format(out, cap, "part %s (%lld/%lld)", p->dir, (long long)g->part,
               (long long)(g->parts ? g->parts : 1));
}

static int load_part(merge_ctx *c, merge_part *p)
{
    char path[4096];
    struct stat st;
    LWM_CHECK(c->err, lwm_path_join(path, sizeof path, p->dir, "manifest.json") == 0, -ENAMETOOLONG,
              "%s: path too long", p->dir);
    LWM_CHECK(c->err, stat(path, &st) == 0, LWM_ENOTFOUND,
              "part %s: not a dataset (no manifest.json)", p->dir);
    // Held for the whole merge: no ingest may write the part meanwhile.
    int rc = shard_lock_dir(p->dir, &p->lock_fd, c->err);
    if (rc == LWM_EEXISTS)
        return lwm_error_set(c->err, rc, "part %s: unfinished: an ingest is writing it now",
                             p->dir);
    LWM_TRY(rc);
    rc = shard_manifest_load(&p->man, c->mem, p->dir, c->err);
    if (rc == -ENOENT) rc = lwm_error_set(c->err, LWM_ENOTFOUND, "part %s: not a dataset", p->dir);
    LWM_TRY(rc);
    p->loaded = 1;
    const lwm_shard_origin *g = &p->man.origin;
    LWM_CHECK(c->err, g->source_xxh3[0], LWM_EINVAL,
              "part %s: records no ingest manifest it was built from (built by an older lwm?)",
              p->dir);
    char name[64];
    shard_file_name(name, sizeof name, p->man.n_shards, 1);
    LWM_CHECK(c->err, lwm_path_join(path, sizeof path, p->dir, name) == 0, -ENAMETOOLONG,
              "%s: path too long", p->dir);
    char label[4200];
    part_label(label, sizeof label, p);
    LWM_CHECK(c->err, access(path, F_OK) != 0, LWM_EINVAL,
              "%s: unfinished: shard %s is still open (its ingest stopped early); re-run that "
              "part's ingest",
              label, name);
    LWM_CHECK(c->err, g->complete, LWM_EINVAL,
              "%s: unfinished: its ingest did not handle every manifest line of %lld..%lld; "
              "re-run that part's ingest",
              label, (long long)g->first_line, (long long)g->end_line - 1);
    for (int i = 0; i < p->man.n_shards; i++) {
        const lwm_shard_file *f = &p->man.shards[i];
        LWM_CHECK(c->err, lwm_path_join(path, sizeof path, p->dir, f->name) == 0, -ENAMETOOLONG,
                  "%s: path too long", p->dir);
        LWM_CHECK(c->err, stat(path, &st) == 0 && st.st_size == f->file_bytes, LWM_EFORMAT,
                  "%s: shard %s is missing or not the size its manifest says", label, f->name);
        p->records += f->records;
        p->failed += f->failed;
        p->frames += f->frames;
    }
    return 0;
}

static int same_json(const char *a, const char *b)
{
    cJSON *x = cJSON_Parse(a[0] ? a : "{}"), *y = cJSON_Parse(b[0] ? b : "{}");
    int same = x && y && cJSON_Compare(x, y, 1);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return same;
}

// Part p must be built as part `ref` was: same manifest, part count, weights,
// tokenizer, settings and schema. The message names both parts and values.
static int check_against(merge_ctx *c, const merge_part *ref, const merge_part *p)
{
    const shard_manifest *a = &ref->man, *b = &p->man;
    char la[4200], lb[4200];
    part_label(la, sizeof la, ref);
    part_label(lb, sizeof lb, p);
#define DIFFER(what, va, vb)                                                                       \
    lwm_error_set(c->err, LWM_EINVAL,                                                              \
                  "%s was built with %s %s, %s with %s: not parts of one corpus", lb, what, vb,    \
                  la, va)
    if (strcmp(a->origin.source_xxh3, b->origin.source_xxh3) ||
        a->origin.source_lines != b->origin.source_lines)
        return DIFFER("manifest XXH3-128", a->origin.source_xxh3, b->origin.source_xxh3);
    if ((a->origin.parts ? a->origin.parts : 1) != (b->origin.parts ? b->origin.parts : 1)) {
        char na[32], nb[32];
        snprintf(na, sizeof na, "%lld", (long long)(a->origin.parts ? a->origin.parts : 1));
        snprintf(nb, sizeof nb, "%lld", (long long)(b->origin.parts ? b->origin.parts : 1));
        return DIFFER("part count", na, nb);
    }
    if (a->schema != b->schema) return DIFFER("a different schema", "", "");
    if (strcmp(a->vqgan_hash, b->vqgan_hash) || a->vqgan_untrained != b->vqgan_untrained)
        return DIFFER("VQGAN weights", a->vqgan_hash[0] ? a->vqgan_hash : "(none)",
                      b->vqgan_hash[0] ? b->vqgan_hash : "(none)");
    if (strcmp(a->vqgan_preset, b->vqgan_preset))
        return DIFFER("VQGAN preset", a->vqgan_preset, b->vqgan_preset);
    if (strcmp(a->tokenizer_hash, b->tokenizer_hash) ||
        strcmp(a->tokenizer_name, b->tokenizer_name))
        return DIFFER("tokenizer", a->tokenizer_hash, b->tokenizer_hash);
    if (!same_json(a->settings_json, b->settings_json))
        return DIFFER("ingest settings", a->settings_json, b->settings_json);
#undef DIFFER
    return 0;
}

static int cmp_part(const void *x, const void *y)
{
    const merge_part *a = x, *b = y;
    return (a->man.origin.part > b->man.origin.part) - (a->man.origin.part < b->man.origin.part);
}

static int check_parts(merge_ctx *c)
{
    struct stat *seen = lwm_calloc(c->mem, (size_t)c->n, sizeof *seen);
    if (!seen) return lwm_error_set(c->err, -ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < c->n && rc == 0; i++) {
        if (stat(c->parts[i].dir, &seen[i]) != 0) {
            rc = lwm_error_set(c->err, LWM_ENOTFOUND, "part %s: %s", c->parts[i].dir,
                               strerror(errno));
            break;
        }
        for (int j = 0; j < i && rc == 0; j++)
            if (seen[j].st_dev == seen[i].st_dev && seen[j].st_ino == seen[i].st_ino)
                rc = lwm_error_set(c->err, LWM_EINVAL, "part %s is given twice (as %s too)",
                                   c->parts[i].dir, c->parts[j].dir);
    }
    lwm_free(c->mem, seen);
    LWM_TRY(rc);
    for (int i = 0; i < c->n; i++) LWM_TRY(load_part(c, &c->parts[i]));
    for (int i = 1; i < c->n; i++) LWM_TRY(check_against(c, &c->parts[0], &c->parts[i]));
    int64_t want = c->parts[0].man.origin.parts ? c->parts[0].man.origin.parts : 1;
    LWM_CHECK(c->err, want == c->n, LWM_EINVAL,
              "the manifest was split into %lld parts, %d were given", (long long)want, c->n);
    qsort(c->parts, (size_t)c->n, sizeof *c->parts, cmp_part);
    for (int i = 0; i < c->n; i++) {
        LWM_CHECK(c->err, c->parts[i].man.origin.part == i, LWM_EINVAL,
                  "part %d of %d is missing (%s is part %lld too)", i, c->n, c->parts[i].dir,
                  (long long)c->parts[i].man.origin.part);
    }
    return 0;
}

/* ---- duplicate ids across parts ---- */

typedef struct id_slot {
    uint64_t hash;
    char *id; // NULL = empty
    int part;
} id_slot;

typedef struct id_set {
    id_slot *slots;
    size_t cap, n;
} id_set;

static int id_set_grow(const lwm_mem *mem, id_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 4096;
    id_slot *t = lwm_calloc(mem, cap, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].id) continue;
        size_t h = s->slots[i].hash & (cap - 1);
        while (t[h].id) h = (h + 1) & (cap - 1);
        t[h] = s->slots[i];
    }
    lwm_free(mem, s->slots);
    s->slots = t;
    s->cap = cap;
    return 0;
}

static void id_set_release(const lwm_mem *mem, id_set *s)
{
    for (size_t i = 0; i < s->cap; i++) lwm_free(mem, s->slots[i].id);
    lwm_free(mem, s->slots);
}

// Adds the id of part; a different part holding it is an error naming both.
static int id_set_add(merge_ctx *c, id_set *s, const char *id, size_t len, int part)
{
    if ((s->n + 1) * 2 > s->cap && id_set_grow(c->mem, s) < 0)
        return lwm_error_set(c->err, -ENOMEM, "out of memory for the sample ids");
    uint64_t hash = lwm_hash64(id, len);
    size_t h = hash & (s->cap - 1);
    for (; s->slots[h].id; h = (h + 1) & (s->cap - 1)) {
        id_slot *o = &s->slots[h];
        if (o->hash != hash || strlen(o->id) != len || memcmp(o->id, id, len)) continue;
        if (o->part == part) return 0; // a retried failure beside its record: one sample
        return lwm_error_set(c->err, LWM_EINVAL,
                             "sample id \"%.*s\" is in part %s (%d) and in part %s (%d); ids must "
                             "be unique across the manifest",
                             (int)(len > 200 ? 200 : len), id, c->parts[o->part].dir, o->part,
                             c->parts[part].dir, part);
    }
    char *copy = lwm_malloc(c->mem, len + 1);
    if (!copy) return lwm_error_set(c->err, -ENOMEM, "out of memory for the sample ids");
    memcpy(copy, id, len);
    copy[len] = 0;
    s->slots[h] = (id_slot){hash, copy, part};
    s->n++;
    return 0;
}

static int add_ids_of_table(merge_ctx *c, id_set *s, shard_env *e, MDB_dbi dbi, int part)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
    if (!rc) rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc) {
        if (txn) mdb_txn_abort(txn);
        return shard_mdb_error(c->err, rc, e->path);
    }
    MDB_val k, d;
    int mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST), out = 0;
    for (; mrc == 0 && out == 0; mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT))
        out = id_set_add(c, s, k.mv_data, k.mv_size, part);
    if (out == 0 && mrc != MDB_NOTFOUND) out = shard_mdb_error(c->err, mrc, e->path);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return out;
}

static int check_unique_ids(merge_ctx *c)
{
    id_set set = {0};
    int rc = 0;
    for (int p = 0; p < c->n && rc == 0; p++) {
        const shard_manifest *m = &c->parts[p].man;
        for (int i = 0; i < m->n_shards && rc == 0; i++) {
            shard_env e;
            rc = shard_check_sealed_file(c->parts[p].dir, &m->shards[i], 0, c->err);
            if (rc < 0) break;
            rc = shard_env_open(&e, c->parts[p].dir, m->shards[i].name, SHARD_READ_SEALED, 0,
                                c->err);
            if (rc < 0) break;
            rc = add_ids_of_table(c, &set, &e, e.ids, p);
            if (rc == 0) rc = add_ids_of_table(c, &set, &e, e.failed, p);
            shard_env_close(&e);
        }
    }
    id_set_release(c->mem, &set);
    return rc;
}

/* ---- the merged manifest ---- */

static int add_part_json(cJSON *list, const merge_part *p, int k)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return -ENOMEM;
    cJSON_AddNumberToObject(o, "part", k);
    cJSON_AddStringToObject(o, "dataset_id", p->man.dataset_id);
    cJSON_AddStringToObject(o, "dir", p->dir);
    cJSON_AddNumberToObject(o, "samples", (double)p->records);
    cJSON_AddNumberToObject(o, "failed", (double)p->failed);
    cJSON_AddNumberToObject(o, "frames", (double)p->frames);
    cJSON_AddItemToArray(list, o);
    return 0;
}

// The manifest of the merge: the parts' identity, the whole manifest as
// origin, every part's shards renumbered after each other.
static int build_manifest(merge_ctx *c, shard_manifest *m)
{
    if (shard_manifest_init(m, c->mem) < 0) return lwm_error_set(c->err, -ENOMEM, "out of memory");
    lwm_shard_info info;
    shard_manifest_info(&c->parts[0].man, &info);
    info.origin.part = info.origin.parts = 0;
    info.origin.first_line = 1;
    info.origin.end_line = info.origin.source_lines + 1;
    info.origin.complete = 1;
    if (shard_manifest_set_info(m, c->mem, &info) < 0)
        return lwm_error_set(c->err, -ENOMEM, "out of memory");
    m->schema = c->parts[0].man.schema;
    // Deterministic: the same parts always make the same dataset id.
    lwm_hasher h;
    if (lwm_hasher_init(&h) < 0) return lwm_error_set(c->err, -ENOMEM, "out of memory");
    cJSON *parts = cJSON_CreateArray();
    int64_t next = 0;
    int rc = parts ? 0 : -ENOMEM;
    for (int p = 0; p < c->n && rc == 0; p++) {
        const shard_manifest *pm = &c->parts[p].man;
        lwm_hasher_update(&h, pm->dataset_id, strlen(pm->dataset_id));
        rc = add_part_json(parts, &c->parts[p], p);
        for (int i = 0; i < pm->n_shards && rc == 0; i++) {
            lwm_shard_file f = pm->shards[i];
            shard_file_name(f.name, sizeof f.name, m->n_shards, 0);
            f.key_base = pm->shards[i].key_base;
            f.first_index = next;
            lwm_format(f.dataset_id, sizeof f.dataset_id, "%s",
                       shard_file_owner(pm, &pm->shards[i]));
            f.part = p;
            next += f.records;
            rc = shard_manifest_add(m, c->mem, &f);
        }
    }
    lwm_hasher_final(&h, m->dataset_id);
    char *text = rc == 0 ? cJSON_PrintUnformatted(parts) : NULL;
    cJSON_Delete(parts);
    if (text) {
        lwm_free(c->mem, m->parts_json);
        m->parts_json = lwm_strdup(c->mem, text);
        cJSON_free(text);
    }
    if (rc < 0 || !text || !m->parts_json) return lwm_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

/* ---- the output directory ---- */

// 1 when the name is something an interrupted merge into out leaves.
static int merge_leftover(const char *name)
{
    long long k;
    int used = 0;
    if (sscanf(name, "shard-%lld.mdb%n", &k, &used) == 1 && name[used] == 0) return 1;
    return shard_is_manifest_tmp(name);
}

// out may hold only what a merge (or `mpirun lwm ingest`, its parts/) leaves.
static int check_out_dir(merge_ctx *c, const char *out)
{
    DIR *d = opendir(out);
    if (!d) return lwm_error_set(c->err, -errno, "%s: %s", out, strerror(errno));
    struct dirent *e;
    const char *other = NULL;
    while (!other && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "writer.lock") &&
            strcmp(e->d_name, "parts") && !merge_leftover(e->d_name))
            other = e->d_name;
    int rc = other
                 ? lwm_error_set(c->err, LWM_EINVAL,
                                 "%s: not empty (holds %s); merge into a new directory", out, other)
                 : 0;
    closedir(d);
    return rc;
}

// Links every part shard into out under its merged name; an existing name is
// kept when it already is that file, else replaced (a merge killed earlier).
static int link_shards(merge_ctx *c, const shard_manifest *m, const char *out)
{
    int done = 0;
    for (int p = 0; p < c->n; p++) {
        const shard_manifest *pm = &c->parts[p].man;
        for (int i = 0; i < pm->n_shards; i++, done++) {
            char src[4096], dst[4096];
            if (lwm_path_join(src, sizeof src, c->parts[p].dir, pm->shards[i].name) < 0 ||
                lwm_path_join(dst, sizeof dst, out, m->shards[done].name) < 0)
                return lwm_error_set(c->err, -ENAMETOOLONG, "%s: path too long", out);
            struct stat a, b;
            if (stat(src, &a) != 0)
                return lwm_error_set(c->err, -errno, "%s: %s", src, strerror(errno));
            if (lstat(dst, &b) == 0) {
                if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) continue;
                if (unlink(dst) != 0)
                    return lwm_error_set(c->err, -errno, "%s: %s", dst, strerror(errno));
            }
            if (link(src, dst) != 0) {
                int e = errno;
                if (e == EXDEV)
                    return lwm_error_set(
                        c->err, -e,
                        "%s and %s are on different file systems: "
                        "merge links shard files, so put the output beside the parts",
                        c->parts[p].dir, out);
                return lwm_error_set(c->err, -e, "%s: cannot link %s: %s", dst, src, strerror(e));
            }
        }
    }
    // Higher-numbered shards can only come from another, interrupted attempt.
    DIR *d = opendir(out);
    if (!d) return lwm_error_set(c->err, -errno, "%s: %s", out, strerror(errno));
    for (struct dirent *e; (e = readdir(d));) {
        long long k;
        char path[4096];
        if (merge_leftover(e->d_name) && sscanf(e->d_name, "shard-%lld", &k) == 1 && k >= done &&
            lwm_path_join(path, sizeof path, out, e->d_name) == 0)
            unlink(path);
    }
    closedir(d);
    return shard_sync_dir(out, c->err);
}

// 1 when out already holds the merge of exactly these parts (a re-run).
static int already_merged(merge_ctx *c, const char *out, const shard_manifest *want)
{
    shard_manifest have;
    lwm_error ignored;
    if (shard_manifest_load(&have, c->mem, out, &ignored) < 0) return -1;
    int same = strcmp(have.dataset_id, want->dataset_id) == 0 && have.n_shards == want->n_shards;
    for (int i = 0; same && i < have.n_shards; i++)
        same = strcmp(have.shards[i].checksum, want->shards[i].checksum) == 0 &&
               have.shards[i].key_base == want->shards[i].key_base;
    shard_manifest_release(&have, c->mem);
    return same;
}

static int merge_into(merge_ctx *c, const char *out, lwm_shard_merge_result *res)
{
    LWM_TRY(check_parts(c));
    LWM_TRY(check_unique_ids(c));
    LWM_TRY(lwm_mkdirs(out, c->err));
    int out_lock = -1;
    int rc = shard_lock_dir(out, &out_lock, c->err);
    shard_manifest m = {0};
    if (rc == 0) rc = build_manifest(c, &m);
    if (rc == 0) {
        char path[4096];
        lwm_path_join(path, sizeof path, out, "manifest.json");
        int already = access(path, F_OK) == 0 ? already_merged(c, out, &m) : 0;
        if (already == 1) {
            res->already = 1;
            lwm_log(&c->log, LWM_LOG_INFO, "%s already holds this merge", out);
        } else if (already != 0) {
            rc = lwm_error_set(c->err, LWM_EINVAL,
                               "%s already holds another dataset; merge into "
                               "a new directory",
                               out);
        } else if ((rc = check_out_dir(c, out)) == 0 && (rc = link_shards(c, &m, out)) == 0) {
            rc = shard_manifest_save(&m, out, c->err); // the merge is done exactly from here on
        }
    }
    for (int i = 0; rc == 0 && i < m.n_shards; i++) {
        res->samples += m.shards[i].records;
        res->failed += m.shards[i].failed;
        res->frames += m.shards[i].frames;
    }
    res->shards = m.n_shards;
    shard_manifest_release(&m, c->mem);
    if (out_lock >= 0) close(out_lock);
    return rc;
}

int lwm_shard_merge(const char *const *part_dirs, int n, const char *out_dir,
                    const lwm_shard_merge_options *opt, lwm_shard_merge_result *res, lwm_error *err)
{
    double t0 = lwm_now();
    memset(res, 0, sizeof *res);
    LWM_CHECK(err, n > 0 && part_dirs && out_dir, LWM_EINVAL, "nothing to merge");
    lwm_shard_merge_options o = opt ? *opt : (lwm_shard_merge_options){0};
    merge_ctx c = {.mem = &o.mem, .err = err, .log = o.log, .n = n};
    c.parts = lwm_calloc(c.mem, (size_t)n, sizeof *c.parts);
    if (!c.parts) return lwm_error_set(err, -ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        c.parts[i].dir = part_dirs[i];
        c.parts[i].lock_fd = -1;
    }
    int rc = merge_into(&c, out_dir, res);
    for (int i = 0; i < n; i++) {
        if (c.parts[i].loaded) shard_manifest_release(&c.parts[i].man, c.mem);
        if (c.parts[i].lock_fd >= 0) close(c.parts[i].lock_fd);
    }
    lwm_free(c.mem, c.parts);
    res->seconds = lwm_now() - t0;
    return rc;
}
