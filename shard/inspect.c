// Whole-dataset scans: statistics for `lwm inspect`, checks for `lwm verify`.
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "internal.h"

static int hist_bin(int64_t count, int bins)
{
    if (count <= 0) return 0;
    int b = 1;
    while (b < bins - 1 && count >= ((int64_t)1 << b)) b++;
    return b;
}

static void add_sample(lwm_shard_stats *st, uint64_t *counts, const lwm_shard_sample *s)
{
    st->by_modality[s->modality]++;
    st->frames += s->frames;
    st->frame_hist[hist_bin(s->frames, LWM_SHARD_HIST_BINS)]++;
    if (st->samples == 0 || s->frames < st->min_frames) st->min_frames = s->frames;
    if (s->frames > st->max_frames) st->max_frames = s->frames;
    size_t n = (size_t)s->frames * LWM_SHARD_CODES_PER_FRAME;
    for (size_t i = 0; i < n; i++) counts[s->codes[i]]++;
    int64_t tokens = (int64_t)n;
    for (int t = 0; t < s->n_texts; t++) {
        st->text_tokens += s->texts[t].n_tokens;
        st->text_bytes += (int64_t)strlen(s->texts[t].text);
        tokens += s->texts[t].n_tokens;
    }
    st->token_hist[hist_bin(tokens, LWM_SHARD_TOKEN_HIST_BINS)]++;
    if (tokens > st->max_tokens) st->max_tokens = tokens;
}

static void code_usage(lwm_shard_stats *st, const uint64_t *counts)
{
    uint64_t total = 0;
    for (int c = 0; c < LWM_SHARD_CODEBOOK_SIZE; c++) total += counts[c];
    double h = 0;
    for (int c = 0; c < LWM_SHARD_CODEBOOK_SIZE; c++) {
        if (!counts[c]) continue;
        st->codes_used++;
        double p = (double)counts[c] / (double)total;
        h -= p * log2(p);
    }
    st->code_entropy_bits = h;
    st->vision_tokens = (int64_t)total;
    st->unpacked_code_bytes = 2 * (int64_t)total;
}

static int page_usage(lwm_shard_reader *r, lwm_shard_stats *st, lwm_error *err)
{
    int n;
    lwm_shard_reader_files(r, &n);
    for (int i = 0; i < n; i++) {
        shard_env *e;
        LWM_TRY(shard_reader_env(r, i, &e));
        MDB_txn *txn;
        int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn);
        if (rc) return shard_mdb_error(err, rc, e->path);
        MDB_stat ms;
        rc = mdb_stat(txn, e->records, &ms);
        mdb_txn_abort(txn);
        if (rc) return shard_mdb_error(err, rc, e->path);
        st->page_bytes +=
            (int64_t)(ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages) * ms.ms_psize;
    }
    return 0;
}

int lwm_shard_inspect(lwm_shard_reader *r, lwm_progress *progress, lwm_shard_stats *st)
{
    memset(st, 0, sizeof *st);
    lwm_error err = {0};
    uint64_t *counts = lwm_calloc(NULL, LWM_SHARD_CODEBOOK_SIZE, sizeof *counts);
    lwm_shard_view *v = lwm_shard_view_create(r);
    int rc = 0;
    if (!counts || !v) {
        rc = -ENOMEM;
        goto end;
    }
    int64_t count = lwm_shard_reader_count(r);
    if (progress) lwm_progress_start(progress, "inspect", "records", count);
    for (int64_t i = 0; i < count; i++) {
        const lwm_shard_sample *s;
        if (lwm_shard_view_get(v, i, &s) < 0) {
            st->bad_records++;
            continue;
        }
        add_sample(st, counts, s);
        st->samples++;
        int64_t stored, raw;
        shard_view_sizes(v, &stored, &raw);
        st->stored_bytes += stored;
        st->raw_bytes += raw;
        if (progress) lwm_progress_update(progress, i + 1, NULL);
    }
    if (progress) lwm_progress_finish(progress, count, NULL);
    code_usage(st, counts);
    lwm_shard_reader_failures(r, &st->failed);
    int n;
    const lwm_shard_file *files = lwm_shard_reader_files(r, &n);
    for (int i = 0; i < n; i++) st->file_bytes += files[i].file_bytes;
    rc = page_usage(r, st, &err);
    st->page_waste =
        st->page_bytes > 0 ? 1.0 - (double)st->stored_bytes / (double)st->page_bytes : 0;
end:
    lwm_shard_view_free(v);
    lwm_free(NULL, counts);
    return rc;
}

/* ---- verify ---- */

// The id of the record with this key, found through the shard's id table (the
// record itself may be unreadable). "" when no id maps to it.
static void id_of(lwm_shard_reader *r, int file, int64_t key, char *out, size_t cap)
{
    out[0] = 0;
    shard_env *e;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    if (shard_reader_env(r, file, &e) < 0 || mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn)) return;
    uint8_t want[SHARD_KEY_BYTES];
    shard_key(want, key, 0);
    MDB_val k, d;
    if (mdb_cursor_open(txn, e->ids, &cur) == 0) {
        for (int rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
            if (d.mv_size == 8 && memcmp(d.mv_data, want, 8) == 0) {
                lwm_format(out, cap, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
                break;
            }
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
}

// 1 when the shard's id table maps id to the key (what find-by-id relies on).
static int id_maps_to(lwm_shard_reader *r, int file, const char *id, int64_t key)
{
    shard_env *e;
    MDB_txn *txn = NULL;
    if (shard_reader_env(r, file, &e) < 0 || mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn))
        return 0;
    MDB_val k = {strlen(id), (void *)id}, d;
    uint8_t want[SHARD_KEY_BYTES];
    shard_key(want, key, 0);
    int ok = mdb_get(txn, e->ids, &k, &d) == 0 && d.mv_size == 8 && memcmp(d.mv_data, want, 8) == 0;
    mdb_txn_abort(txn);
    return ok;
}

typedef struct verify_sink {
    void (*fn)(void *opaque, const lwm_shard_problem *p);
    void *opaque;
    int64_t problems;
} verify_sink;

static void report(verify_sink *sink, int code, const char *shard, int64_t index, const char *msg)
{
    lwm_shard_problem p = {code, shard, index, msg};
    sink->problems++;
    if (sink->fn) sink->fn(sink->opaque, &p);
}

static void verify_files(lwm_shard_reader *r, verify_sink *sink)
{
    int n;
    const lwm_shard_file *files = lwm_shard_reader_files(r, &n);
    for (int i = 0; i < n; i++) {
        if (!files[i].sealed) continue;
        char path[4096], hex[33], msg[512];
        int64_t size = 0;
        lwm_error err = {0};
        if (files[i].damaged) {
            snprintf(msg, sizeof msg,
                     "%s: shard file is damaged (its checksum disagrees with the "
                     "manifest); its %lld records were not read",
                     files[i].name, (long long)files[i].records);
            report(sink, LWM_ECHECKSUM, files[i].name, -1, msg);
            continue;
        }
        if (shard_reader_hashed_at_open(r)) continue;
        lwm_path_join(path, sizeof path, shard_reader_dir(r), files[i].name);
        int rc = lwm_file_hash(path, hex, &size, &err);
        if (rc < 0)
            report(sink, rc, files[i].name, -1, err.msg);
        else if (strcmp(hex, files[i].checksum) != 0) {
            snprintf(msg, sizeof msg, "%s: shard file checksum mismatch (xxh3-128 %s, manifest %s)",
                     files[i].name, hex, files[i].checksum);
            report(sink, LWM_ECHECKSUM, files[i].name, -1, msg);
        }
    }
}

int64_t lwm_shard_verify(lwm_shard_reader *r, lwm_progress *progress,
                         void (*on_problem)(void *opaque, const lwm_shard_problem *p), void *opaque)
{
    verify_sink sink = {on_problem, opaque, 0};
    verify_files(r, &sink);
    lwm_shard_view *v = lwm_shard_view_create(r);
    if (!v) return -ENOMEM;
    int64_t count = lwm_shard_reader_count(r);
    int n;
    const lwm_shard_file *files = lwm_shard_reader_files(r, &n);
    if (progress) lwm_progress_start(progress, "verify", "records", count);
    for (int64_t i = 0; i < count; i++) {
        const lwm_shard_sample *s;
        int file = shard_reader_file_of(r, i);
        if (files[file].damaged) continue; // reported once above
        int rc = lwm_shard_view_get(v, i, &s);
        char id[LWM_SHARD_MAX_ID + 1], msg[1400];
        if (rc < 0) {
            id_of(r, file, shard_reader_key_of(r, file, i), id, sizeof id);
            snprintf(msg, sizeof msg, "record %lld (id \"%s\", %s): %s", (long long)i,
                     id[0] ? id : "?", files[file].name, lwm_shard_view_errmsg(v));
            report(&sink, rc, files[file].name, i, msg);
        } else if (!id_maps_to(r, file, s->id, shard_reader_key_of(r, file, i))) {
            snprintf(msg, sizeof msg,
                     "record %lld (id \"%.400s\", %s): the id table does not map "
                     "this id to this record",
                     (long long)i, s->id, files[file].name);
            report(&sink, LWM_EFORMAT, files[file].name, i, msg);
        }
        if (progress) lwm_progress_update(progress, i + 1, NULL);
    }
    if (progress) lwm_progress_finish(progress, count, NULL);
    lwm_shard_view_free(v);
    return sink.problems;
}
