// Per-document lengths and vision runs: what packing plans are computed from.
//
// Building them means reading and tokenizing every record once, so for stores
// they are cached in a file keyed by everything that changes them (the data's
// identity, the tokenizer, max_n_frames, spec choice, separator). A current
// cache makes start-up one sequential read; a stale one is rebuilt.
//
// Cache file (little-endian): "LWMLLEN\0", u32 version, u32 0, u64 key,
// u64 n_docs, u64 n_runs, u32 n_tokens[n_docs], u32 run_off[n_docs + 1]
// (local to the file), u32 runs[2 n_runs], then u64 n_loss, u32
// loss_off[n_docs + 1] (local), u32 loss_runs[2 n_loss], u64 XXH3 of
// everything before. Version 2 added the loss runs.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum { CACHE_VERSION = 2 };
static const char cache_magic[8] = "LWMLLEN";

static int add_runs(loader_lengths *len, const loader_doc *doc, const lwm_mem *mem)
{
    size_t need = 2 * (len->n_runs + doc->n_runs);
    if (need > len->cap_runs)
        LWM_TRY(lwm_grow(mem, (void **)&len->runs, &len->cap_runs, need, sizeof *len->runs));
    for (size_t r = 0; r < 2 * doc->n_runs; r++)
        len->runs[2 * len->n_runs + r] = (uint32_t)doc->runs[r];
    len->n_runs += doc->n_runs;
    // Runs of loss-bearing tokens: what tells a piece without any trained target.
    for (size_t i = 0; i < doc->n; i++) {
        if (!doc->loss[i]) continue;
        size_t j = i;
        while (j < doc->n && doc->loss[j]) j++;
        if (2 * (len->n_loss + 1) > len->cap_loss)
            LWM_TRY(lwm_grow(mem, (void **)&len->loss_runs, &len->cap_loss, 2 * (len->n_loss + 1),
                             sizeof *len->loss_runs));
        len->loss_runs[2 * len->n_loss] = (uint32_t)i,
                           len->loss_runs[2 * len->n_loss + 1] = (uint32_t)j;
        len->n_loss++;
        i = j;
    }
    return 0;
}

int loader_piece_has_loss(const loader_lengths *len, int64_t doc, int64_t a, int64_t b)
{
    for (uint32_t r = len->loss_off[doc]; r < len->loss_off[doc + 1]; r++)
        if (len->loss_runs[2 * r] <= b && len->loss_runs[2 * r + 1] > a + 1) return 1;
    return 0;
}

// Builds every document of dataset d once: lengths at [first, first + count).
static int build_dataset(lwm_loader *ld, int d, int64_t first)
{
    loader_lengths *len = &ld->len;
    const loader_source *src = &ld->src[d];
    lwm_progress_start(&ld->opt.progress, "lengths", "documents", src->count);
    for (int64_t i = 0; i < src->count; i++) {
        loader_record rec;
        int rc = src->read(src->impl, i, &rec, &ld->err);
        if (rc >= 0) rc = loader_doc_build(&ld->doc, &rec, &ld->build, &ld->mem, &ld->err);
        if (rc >= 0 && ld->doc.n > UINT32_MAX)
            rc = lwm_error_set(&ld->err, LWM_EINVAL, "sample %s: over 2^32 tokens", rec.id);
        if (rc < 0 && (ld->opt.on_bad_record != LWM_LOADER_SKIP || rc == -ENOMEM))
            return lwm_error_prefix(&ld->err, "%s", src->path);
        if (rc < 0) {
            lwm_log(&ld->opt.log, LWM_LOG_WARN, "%s: skipped: %s", src->path, ld->err.msg);
        } else {
            len->n_tokens[first + i] = (uint32_t)ld->doc.n;
            if (add_runs(len, &ld->doc, &ld->mem) < 0)
                return lwm_error_set(&ld->err, -ENOMEM, "out of memory");
        }
        len->run_off[first + i + 1] = (uint32_t)len->n_runs;
        len->loss_off[first + i + 1] = (uint32_t)len->n_loss;
        lwm_progress_update(&ld->opt.progress, i + 1, NULL);
    }
    lwm_progress_finish(&ld->opt.progress, src->count, NULL);
    ld->doc_id = -1;
    ld->info.cache_built = 1;
    return 0;
}

static uint64_t cache_key(const lwm_loader *ld, const loader_source *src)
{
    const loader_build_opts *b = &ld->build;
    char text[1024];
    snprintf(text, sizeof text, "%llu|%s|%lld|%d|%d|%s|%s|%d|%d|%lld|%d",
             (unsigned long long)src->identity, ld->tokenizer_hash, (long long)b->max_n_frames,
             b->force_fields_index, b->fields_index, b->default_spec ? b->default_spec : "",
             b->separator, b->bos, b->eos, (long long)src->count, CACHE_VERSION);
    return lwm_hash64(text, strlen(text));
}

static int cache_path(const lwm_loader *ld, const loader_source *src, uint64_t key, char *out,
                      size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "loader-lengths-%016llx.bin", (unsigned long long)key);
    return lwm_path_join(out, cap, ld->cache_dir ? ld->cache_dir : src->path, name);
}

static int load_cache(lwm_loader *ld, const char *path, uint64_t key, int64_t first, int64_t count)
{
    char *data = NULL;
    size_t size = 0;
    lwm_error ignore = {0};
    if (lwm_read_file(&ld->mem, path, &data, &size, &ignore) < 0) return 0;
    const uint8_t *p = (const uint8_t *)data;
    int ok = size >= 48 && memcmp(p, cache_magic, 8) == 0 && p[8] == CACHE_VERSION &&
             lwm_le_get64(p + 16) == key && (int64_t)lwm_le_get64(p + 24) == count;
    uint64_t runs = ok ? lwm_le_get64(p + 32) : 0, losses = 0;
    ok = ok && runs < size;
    size_t part = 40 + 4 * ((size_t)count + (size_t)count + 1 + 2 * (size_t)runs);
    if (ok && size >= part + 8) losses = lwm_le_get64(p + part);
    size_t want = part + 8 + 4 * ((size_t)count + 1 + 2 * (size_t)losses) + 8;
    ok = ok && losses < size && size == want &&
         lwm_le_get64(p + want - 8) == lwm_hash64(p, want - 8);
    loader_lengths *len = &ld->len;
    if (ok && (lwm_grow(&ld->mem, (void **)&len->runs, &len->cap_runs, 2 * (len->n_runs + runs),
                        sizeof *len->runs) < 0 ||
               lwm_grow(&ld->mem, (void **)&len->loss_runs, &len->cap_loss,
                        2 * (len->n_loss + losses), sizeof *len->loss_runs) < 0))
        ok = 0;
    if (ok) {
        const uint8_t *at = p + 40;
        memcpy(len->n_tokens + first, at, 4 * (size_t)count);
        at += 4 * (size_t)count;
        uint32_t base = (uint32_t)len->n_runs;
        for (int64_t i = 0; i <= count; i++, at += 4) {
            len->run_off[first + i] = base + lwm_le_get32(at);
        }
        if (runs) memcpy(len->runs + 2 * len->n_runs, at, 8 * (size_t)runs);
        at += 8 * (size_t)runs + 8;
        len->n_runs += runs;
        base = (uint32_t)len->n_loss;
        for (int64_t i = 0; i <= count; i++, at += 4) {
            len->loss_off[first + i] = base + lwm_le_get32(at);
        }
        if (losses) memcpy(len->loss_runs + 2 * len->n_loss, at, 8 * (size_t)losses);
        len->n_loss += losses;
    }
    lwm_free(&ld->mem, data);
    return ok;
}

static void save_cache(lwm_loader *ld, const char *path, uint64_t key, int64_t first, int64_t count)
{
    const loader_lengths *len = &ld->len;
    uint32_t base = len->run_off[first];
    uint64_t runs = len->run_off[first + count] - base;
    uint32_t lbase = len->loss_off[first];
    uint64_t losses = len->loss_off[first + count] - lbase;
    size_t size = 40 + 4 * ((size_t)count + (size_t)count + 1 + 2 * (size_t)runs) + 8 +
                  4 * ((size_t)count + 1 + 2 * (size_t)losses) + 8;
    uint8_t *buf = lwm_calloc(&ld->mem, 1, size);
    if (!buf) return;
    memcpy(buf, cache_magic, 8);
    buf[8] = CACHE_VERSION;
    lwm_le_put64(buf + 16, key);
    lwm_le_put64(buf + 24, (uint64_t)count);
    lwm_le_put64(buf + 32, runs);
    uint8_t *at = buf + 40;
    memcpy(at, len->n_tokens + first, 4 * (size_t)count);
    at += 4 * (size_t)count;
    for (int64_t i = 0; i <= count; i++, at += 4) {
        lwm_le_put32(at, len->run_off[first + i] - base);
    }
    if (runs) memcpy(at, len->runs + 2 * (size_t)base, 8 * (size_t)runs);
    at += 8 * (size_t)runs;
    lwm_le_put64(at, losses);
    at += 8;
    for (int64_t i = 0; i <= count; i++, at += 4) {
        lwm_le_put32(at, len->loss_off[first + i] - lbase);
    }
    if (losses) memcpy(at, len->loss_runs + 2 * (size_t)lbase, 8 * (size_t)losses);
    lwm_le_put64(buf + size - 8, lwm_hash64(buf, size - 8));
    lwm_error err = {0};
    if (lwm_write_file_atomic(path, buf, size, &err) < 0)
        lwm_log(&ld->opt.log, LWM_LOG_WARN, "length cache not written: %s", err.msg);
    lwm_free(&ld->mem, buf);
}

int loader_lengths_compute(lwm_loader *ld)
{
    loader_lengths *len = &ld->len;
    int64_t total = 0;
    for (int d = 0; d < ld->n_src; d++) total += ld->src[d].count;
    len->n_docs = total;
    len->n_tokens = lwm_calloc(&ld->mem, (size_t)total + 1, sizeof *len->n_tokens);
    len->run_off = lwm_calloc(&ld->mem, (size_t)total + 1, sizeof *len->run_off);
    len->loss_off = lwm_calloc(&ld->mem, (size_t)total + 1, sizeof *len->loss_off);
    LWM_CHECK(&ld->err, len->n_tokens && len->run_off && len->loss_off, -ENOMEM, "out of memory");
    int64_t first = 0;
    for (int d = 0; d < ld->n_src; first += ld->src[d].count, d++) {
        const loader_source *src = &ld->src[d];
        char path[4096];
        uint64_t key = cache_key(ld, src);
        int cached = src->cacheable && cache_path(ld, src, key, path, sizeof path) == 0;
        if (cached && load_cache(ld, path, key, first, src->count)) continue;
        LWM_TRY(build_dataset(ld, d, first));
        if (cached) save_cache(ld, path, key, first, src->count);
    }
    for (int64_t i = 0; i < total; i++) {
        ld->info.tokens += len->n_tokens[i];
        ld->info.skipped += len->n_tokens[i] == 0;
    }
    ld->info.documents = total;
    return 0;
}
