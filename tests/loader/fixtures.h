/**
 * fixtures.h: self-checking datasets for loader tests. Every document is a
 * vision field whose frames encode (document, frame): code 0 of a frame is the
 * document id, code 1 the frame index, the rest a function of both, so any row
 * can be checked with arithmetic. A tiny SentencePiece model is trained with
 * Debian's spm_train for the `<vision>` delimiters.
 */
#ifndef LWM_TESTS_LOADER_FIXTURES_H
#define LWM_TESTS_LOADER_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loader/loader.h"
#include "shard/shard.h"

/** Frames of document d in the fixtures: 1..5, varying. */
static inline int fixture_frames(int d)
{
    return 1 + (d * 7) % 5;
}

static inline int fixture_code(int d, int f, int p)
{
    if (p == 0) return d;
    if (p == 1) return f;
    return (d * 31 + f * 17 + p) % 8192;
}

/**
 * Stores fixture document d as "docD": its frames (fixture_code) after one "caption" text
 * (token ids given, or n_tokens 0), fields "[caption],vision". 0, or -1 when the put fails.
 */
static inline int fixture_put_document(lwm_shard_writer *w, int d, const char *caption,
                                       const int32_t *tokens, int n_tokens)
{
    char id[32];
    snprintf(id, sizeof id, "doc%d", d);
    uint16_t *codes = malloc(sizeof *codes * 256 * (size_t)fixture_frames(d));
    if (!codes) return -1;
    for (int f = 0; f < fixture_frames(d); f++)
        for (int p = 0; p < 256; p++) codes[f * 256 + p] = (uint16_t)fixture_code(d, f, p);
    lwm_shard_text text = {"caption", caption, n_tokens ? tokens : NULL, n_tokens};
    lwm_shard_sample s = {.id = id,
                          .modality = LWM_SHARD_VIDEO,
                          .fields = "\"[caption],vision\"",
                          .texts = &text,
                          .n_texts = 1,
                          .vision_name = "vision",
                          .frames = fixture_frames(d),
                          .codes = codes};
    int64_t rc = lwm_shard_writer_put(w, &s);
    free(codes);
    return rc < 0 ? -1 : 0;
}

/** Writes n documents to dir/name (spec "[caption],vision" or "vision"); returns the path. */
static inline const char *fixture_jsonl(const char *name, int n, int first_id, int with_caption)
{
    static char path[4][512];
    static int k;
    char *out = path[k++ % 4];
    snprintf(out, 512, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(out, "w");
    if (!f) return NULL;
    for (int d = first_id; d < first_id + n; d++) {
        fprintf(f, "{\"id\":\"doc%d\",\"fields\":\"%s\",", d,
                with_caption ? "[caption],vision" : "vision");
        if (with_caption) fprintf(f, "\"caption\":\"a dog runs %d\",", d % 3);
        fprintf(f, "\"vision\":[");
        for (int fr = 0; fr < fixture_frames(d); fr++)
            for (int p = 0; p < 256; p++)
                fprintf(f, "%s%d", fr || p ? "," : "", fixture_code(d, fr, p));
        fprintf(f, "]}\n");
    }
    fclose(f);
    return out;
}

/** Trains (once per process) a tiny SentencePiece model; returns its path or NULL. */
static inline const char *fixture_tokenizer(void)
{
    static char model[512];
    if (model[0]) return model;
    char corpus[512], cmd[2048];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", test_tmpdir());
    FILE *f = fopen(corpus, "w");
    if (!f) return NULL;
    const char *words[] = {"a",   "dog", "runs", "<vision>", "</vision>",
                           "cat", "the", "0",    "1",        "2"};
    for (int i = 0; i < 300; i++) {
        for (int w = 0; w < 10; w++) fprintf(f, "%s ", words[(i * 7 + w * 3) % 10]);
        fprintf(f, "\n");
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "spm_train --input=%s --model_prefix=%s/tiny --vocab_size=60 --hard_vocab_limit=false "
             "--character_coverage=1.0 --minloglevel=2 >/dev/null 2>&1",
             corpus, test_tmpdir());
    if (system(cmd) != 0) return NULL;
    snprintf(model, sizeof model, "%s/tiny.model", test_tmpdir());
    return model;
}

/** Options over n datasets with the fixture tokenizer: seed 42, one row of seq_len. */
static inline lwm_loader_options fixture_options(const char **paths, int n, int64_t seq_len)
{
    lwm_loader_options o;
    memset(&o, 0, sizeof o);
    o.datasets = paths;
    o.n_datasets = n;
    o.tokenizer = fixture_tokenizer();
    o.seq_len = seq_len;
    o.seed = 42;
    return o;
}

#endif
