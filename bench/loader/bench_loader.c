// Loader benchmark: writes a synthetic corpus through the shard API (and the
// same documents as LWM JSONL for the Python reference), then measures, from
// the warm store: packed tokens/s on one core, time to first batch at a
// 1M-token sequence, start-up with a cold and a warm length cache, and peak
// resident memory while streaming.
//
//   bench_loader write DIR JSONL|- N_DOCS [TOKENIZER]   videos of 4..60 frames + captions
//                                   (captions stored as token ids when TOKENIZER is given)
//   bench_loader stream DIR TOKENIZER SEQ_LEN ROWS TOKENS [LAYOUT]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/loader.h"
#include "shard/shard.h"

static int write_corpus(const char *dir, const char *jsonl, int n, const char *tokenizer)
{
    lwm_loader_tokenizer *tok = NULL;
    lwm_error err = {0};
    if (tokenizer && lwm_loader_tokenizer_open(&tok, tokenizer, &err) < 0)
        return fprintf(stderr, "%s\n", err.msg), 1;
    lwm_shard_writer *w = lwm_shard_writer_create(NULL);
    if (!w || lwm_shard_writer_open(w, dir) < 0) {
        fprintf(stderr, "open %s: %s\n", dir, w ? lwm_shard_writer_errmsg(w) : "oom");
        return 1;
    }
    if (tok) {
        lwm_shard_info info = {.tokenizer_hash = lwm_loader_tokenizer_hash(tok),
                               .tokenizer_name = "bench"};
        if (lwm_shard_writer_set_info(w, &info) < 0) return fprintf(stderr, "set_info\n"), 1;
    }
    FILE *f = jsonl ? fopen(jsonl, "w") : NULL;
    uint16_t *codes = malloc(sizeof *codes * 256 * 64);
    uint64_t x = 88172645463325252ull;
    for (int d = 0; d < n; d++) {
        int frames = 4 + d * 7 % 57;
        for (int i = 0; i < frames * 256; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            codes[i] = (uint16_t)(x % 8192);
        }
        char id[32], caption[96];
        snprintf(id, sizeof id, "v%06d", d);
        snprintf(caption, sizeof caption, "a video of a dog that runs over the lazy fox, take %d",
                 d);
        int32_t ids[256];
        int64_t n_ids = tok ? lwm_loader_tokenizer_encode(tok, caption, ids, 256) : 0;
        lwm_shard_text text = {"caption", caption, tok ? ids : NULL, n_ids};
        lwm_shard_sample s = {.id = id,
                              .modality = LWM_SHARD_VIDEO,
                              .fields = "[\"[caption],vision\",\"[vision],caption\"]",
                              .texts = &text,
                              .n_texts = 1,
                              .vision_name = "vision",
                              .frames = frames,
                              .codes = codes};
        if (lwm_shard_writer_put(w, &s) < 0)
            return fprintf(stderr, "%s\n", lwm_shard_writer_errmsg(w)), 1;
        if (d % 256 == 255 && lwm_shard_writer_commit(w) < 0) return 1;
        if (f) {
            fprintf(f,
                    "{\"fields\":[\"[caption],vision\",\"[vision],caption\"],\"caption\":\"%s\","
                    "\"vision\":[",
                    caption);
            for (int i = 0; i < frames * 256; i++) fprintf(f, "%s%u", i ? "," : "", codes[i]);
            fprintf(f, "]}\n");
        }
    }
    int rc = lwm_shard_writer_close(w);
    lwm_shard_writer_free(w);
    free(codes);
    lwm_loader_tokenizer_free(tok);
    if (f) fclose(f);
    return rc < 0;
}

// Anonymous resident memory (heap, buffers) in MB: what the loader owns. The
// peak RSS also counts the store's memory-mapped file pages, which are page
// cache that grows with whatever part of the store was read.
static double rss_anon_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %lf", &kb) == 1) break;
    if (f) fclose(f);
    return kb / 1024.0;
}

static int stream(const char *dir, const char *tok, long long seq_len, long long rows,
                  long long tokens, const char *layout)
{
    lwm_loader_options o;
    memset(&o, 0, sizeof o);
    o.datasets = &dir;
    o.n_datasets = 1;
    o.tokenizer = tok;
    o.seq_len = seq_len;
    o.rows = rows;
    o.seed = 1;
    o.layout = layout && !strcmp(layout, "lwm") ? LWM_LAYOUT_LWM : LWM_LAYOUT_PACKED;
    lwm_error err = {0};
    lwm_loader *ld = NULL;
    double t0 = lwm_now();
    if (lwm_loader_create(&ld, &o, NULL, &err) < 0) return fprintf(stderr, "%s\n", err.msg), 1;
    double t1 = lwm_now();
    lwm_loader_batch b;
    if (lwm_loader_next(ld, &b) < 0) return fprintf(stderr, "%s\n", lwm_loader_errmsg(ld)), 1;
    double t2 = lwm_now();
    long long done = b.rows * b.len;
    double pad = b.padding_fraction;
    long long batches = 1;
    while (done < tokens) {
        if (lwm_loader_next(ld, &b) < 0) return fprintf(stderr, "%s\n", lwm_loader_errmsg(ld)), 1;
        done += b.rows * b.len;
        pad += b.padding_fraction;
        batches++;
    }
    double t3 = lwm_now();
    lwm_loader_info info;
    lwm_loader_get_info(ld, &info);
    printf("{\"layout\":\"%s\",\"seq_len\":%lld,\"rows\":%lld,\"documents\":%lld,\"corpus_tokens\":"
           "%lld,"
           "\"create_s\":%.4f,\"cache_built\":%d,\"first_batch_s\":%.4f,\"tokens\":%lld,"
           "\"tokens_per_s\":%.1f,\"padding\":%.4f,\"peak_rss_mb\":%.1f,\"rss_anon_mb\":%.1f}\n",
           layout ? layout : "packed", seq_len, rows, (long long)info.documents,
           (long long)info.tokens, t1 - t0, info.cache_built, t2 - t1, done,
           (double)(done - b.rows * b.len * 0) / (t3 - t1), pad / (double)batches,
           (double)lwm_peak_rss() / 1048576.0, rss_anon_mb());
    lwm_loader_free(ld);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "write"))
        return write_corpus(argv[2], strcmp(argv[3], "-") ? argv[3] : NULL, atoi(argv[4]),
                            argc > 5 ? argv[5] : NULL);
    if (argc >= 7 && !strcmp(argv[1], "stream"))
        return stream(argv[2], argv[3], atoll(argv[4]), atoll(argv[5]), atoll(argv[6]),
                      argc > 7 ? argv[7] : NULL);
    fprintf(stderr,
            "usage: bench_loader write DIR JSONL|- N | stream DIR TOK SEQ_LEN ROWS TOKENS [lwm]\n");
    return 2;
}
