// Store benchmark: write and read throughput (records/s, MB/s) and decoding
// speed in vision tokens/s on one core from a warm store, beside references
// measured in the same run on the same bytes: memcpy, zstd's own
// decompression, and the 13-bit unpack alone.
//
//   bench_shard DIR [records] [frames_per_record]
//
// Two code distributions: uniform over 8192 (what a well-used codebook looks
// like: ~13 bits of entropy, incompressible) and a skewed one (Zipf-like,
// ~10 bits: an under-used codebook, where zstd's entropy coder helps).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/common.h"
#include "shard/shard.h"

typedef struct rng {
    uint64_t s;
} rng;
static uint64_t next(rng *r)
{
    r->s ^= r->s << 13, r->s ^= r->s >> 7, r->s ^= r->s << 17;
    return r->s;
}

static uint16_t draw(rng *r, int skewed)
{
    if (!skewed) return (uint16_t)(next(r) % 8192);
    // Zipf-like: code = floor(8192^u) - 1 for uniform u is log-uniform.
    double u = (double)(next(r) >> 11) / 9007199254740992.0;
    return (uint16_t)((int)floor(pow(8192.0, u)) - 1);
}

static double write_dataset(const char *dir, int64_t n, int64_t frames, int skewed, int64_t *bytes)
{
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    if (lwm_shard_writer_open(w, dir) < 0) {
        fprintf(stderr, "bench: %s\n", lwm_shard_writer_errmsg(w));
        exit(1);
    }
    uint16_t *codes = malloc(sizeof *codes * (size_t)frames * 256);
    double *ts = malloc(sizeof *ts * (size_t)frames);
    rng r = {0x9e3779b97f4a7c15ull + (uint64_t)skewed};
    char id[32], caption[96];
    lwm_shard_text text = {"caption", caption, NULL, 0};
    double t0 = lwm_now();
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < frames * 256; k++) codes[k] = draw(&r, skewed);
        for (int64_t f = 0; f < frames; f++) ts[f] = (double)f;
        snprintf(id, sizeof id, "clip-%08lld", (long long)i);
        snprintf(caption, sizeof caption, "a short caption for clip %lld of the benchmark",
                 (long long)i);
        lwm_shard_sample s = {.id = id,
                              .modality = LWM_SHARD_VIDEO,
                              .source = id,
                              .texts = &text,
                              .n_texts = 1,
                              .vision_name = "vision",
                              .frames = frames,
                              .codes = codes,
                              .timestamps = ts,
                              .fps = 1,
                              .codec = "h264"};
        if (lwm_shard_writer_put(w, &s) < 0 ||
            ((i + 1) % 64 == 0 && lwm_shard_writer_commit(w) < 0)) {
            fprintf(stderr, "bench: %s\n", lwm_shard_writer_errmsg(w));
            exit(1);
        }
    }
    if (lwm_shard_writer_close(w) < 0) exit(1);
    double t = lwm_now() - t0;
    lwm_shard_writer_free(w);
    free(codes);
    free(ts);
    lwm_shard_reader *rd = lwm_shard_reader_create(NULL);
    lwm_shard_reader_open(rd, dir);
    int nf;
    const lwm_shard_file *files = lwm_shard_reader_files(rd, &nf);
    *bytes = 0;
    for (int i = 0; i < nf; i++) *bytes += files[i].file_bytes;
    lwm_shard_reader_free(rd);
    return t;
}

// Reads every record `passes` times through one view; returns seconds.
static double read_all(lwm_shard_reader *r, int passes, uint64_t *checksum)
{
    lwm_shard_view *v = lwm_shard_view_create(r);
    double t0 = lwm_now();
    for (int p = 0; p < passes; p++)
        for (int64_t i = 0; i < lwm_shard_reader_count(r); i++) {
            const lwm_shard_sample *s;
            if (lwm_shard_view_get(v, i, &s) < 0) {
                fprintf(stderr, "bench: %s\n", lwm_shard_view_errmsg(v));
                exit(1);
            }
            *checksum += s->codes[(size_t)i % 256];
        }
    double t = lwm_now() - t0;
    lwm_shard_view_free(v);
    return t;
}

typedef struct refs {
    double memcpy_s, zstd_s, unpack_s;
    size_t compressed, raw;
} refs;

// The same work split into its parts, on one record's bytes held in memory.
static void references(int64_t frames, int skewed, int reps, refs *out)
{
    size_t n = (size_t)frames * 256, packed_n = lwm_shard_packed_size(n);
    uint16_t *codes = malloc(2 * n), *back = malloc(2 * n + 16);
    uint8_t *packed = calloc(1, packed_n + 16), *dst = malloc(packed_n + 16);
    rng r = {0x9e3779b97f4a7c15ull + (uint64_t)skewed};
    for (size_t k = 0; k < n; k++) codes[k] = draw(&r, skewed);
    lwm_shard_pack13(packed, codes, n);
    size_t cap = ZSTD_compressBound(packed_n);
    uint8_t *z = malloc(cap);
    out->compressed = ZSTD_compress(z, cap, packed, packed_n, 3);
    out->raw = packed_n;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    double t0 = lwm_now();
    for (int i = 0; i < reps; i++) memcpy(dst, packed + (i & 1), packed_n - 1);
    out->memcpy_s = lwm_now() - t0;
    t0 = lwm_now();
    for (int i = 0; i < reps; i++) ZSTD_decompressDCtx(d, dst, packed_n + 16, z, out->compressed);
    out->zstd_s = lwm_now() - t0;
    t0 = lwm_now();
    for (int i = 0; i < reps; i++) lwm_shard_unpack13(back, packed, n);
    out->unpack_s = lwm_now() - t0;
    if (memcmp(back, codes, 2 * n)) fprintf(stderr, "bench: unpack mismatch\n");
    ZSTD_freeDCtx(d);
    free(codes), free(back), free(packed), free(dst), free(z);
}

static void run(const char *base, int64_t n, int64_t frames, int skewed)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", base, skewed ? "skewed" : "uniform");
    int64_t file_bytes = 0;
    double tw = write_dataset(dir, n, frames, skewed, &file_bytes);
    lwm_shard_reader *r = lwm_shard_reader_create(NULL);
    if (lwm_shard_reader_open(r, dir) < 0) exit(1);
    lwm_shard_stats st;
    lwm_shard_inspect(r, NULL, &st);
    uint64_t sink = 0;
    read_all(r, 1, &sink); // warm the page cache
    int passes = 3;
    double tr = read_all(r, passes, &sink);
    double tokens = (double)st.vision_tokens * passes;
    refs ref;
    int reps = 20000;
    references(frames, skewed, reps, &ref);
    double ref_tokens = (double)frames * 256 * reps;
    printf("codes %s (order-0 entropy %.2f bits/code), %lld records x %lld frames = %lld tokens\n",
           skewed ? "skewed" : "uniform", st.code_entropy_bits, (long long)n, (long long)frames,
           (long long)st.vision_tokens);
    printf("  write: %.0f records/s, %.1f MB/s of shard files (batches of 64, synced commits)\n",
           (double)n / tw, (double)file_bytes / tw / 1e6);
    printf("  store: %.2f bits per token stored (entropy %.2f, packed 13.00); zstd ratio %.3f on "
           "packed codes; page waste %.1f%%\n",
           8.0 * (double)st.stored_bytes / (double)st.vision_tokens, st.code_entropy_bits,
           (double)st.raw_bytes / (double)st.stored_bytes, 100 * st.page_waste);
    printf("  read (warm, 1 core): %.0f records/s, %.0f MB/s stored, %.1f M tokens/s (target >= "
           "300)\n",
           (double)n * passes / tr, (double)st.stored_bytes * passes / tr / 1e6, tokens / tr / 1e6);
    printf("  same bytes, parts alone: memcpy %.0f MB/s; zstd -d %.1f M tokens/s; unpack13 %.1f M "
           "tokens/s\n",
           (double)ref.raw * reps / ref.memcpy_s / 1e6, ref_tokens / ref.zstd_s / 1e6,
           ref_tokens / ref.unpack_s / 1e6);
    printf("  ratio: store read / zstd alone = %.2f; store read / unpack alone = %.2f\n",
           (tokens / tr) / (ref_tokens / ref.zstd_s), (tokens / tr) / (ref_tokens / ref.unpack_s));
    lwm_shard_reader_free(r);
    if (sink == 42) printf(" "); // keeps the reads from being optimised away
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_shard DIR [records] [frames_per_record]\n");
        return 2;
    }
    int64_t n = argc > 2 ? atoll(argv[2]) : 4000, frames = argc > 3 ? atoll(argv[3]) : 16;
    run(argv[1], n, frames, 0);
    run(argv[1], n, frames, 1);
    return 0;
}
