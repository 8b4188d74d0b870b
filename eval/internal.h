// internal.h: declarations shared between the files of eval/ (never included elsewhere).
#ifndef LWM_EVAL_INTERNAL_H
#define LWM_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "eval.h"
#include "loader/loader.h"
#include "train/train.h"

/** A span of the haystack text with its token count (encoded on its own). */
typedef struct needle_span {
    size_t at, n;
    int tokens;
} needle_span;

/** The haystack: whitespace-normalised text cut into sentences. */
typedef struct needle_hay {
    char *text;
    size_t len;
    needle_span *sent;
    int n_sent;
    const lwm_loader_tokenizer *tok; // borrowed
} needle_hay;

int needle_hay_open(needle_hay *h, const char *path, const lwm_loader_tokenizer *tok,
                    lwm_error *err);
void needle_hay_free(needle_hay *h);

/** Tokens of s[0..n) encoded on its own (no BOS/EOS), or a negative code. */
int64_t needle_count_tokens(const lwm_loader_tokenizer *tok, const char *s, size_t n,
                            lwm_error *err);

/** One sample being made. */
typedef struct needle_sample {
    char needle[LWM_NEEDLE_MAX_NEEDLES][96];
    int n_needles;
    char question[1024];
    char answer[256];
    char *haystack; // owned
    size_t haystack_len, haystack_cap;
    int64_t needle_at; // document token index of the first (asked) needle
} needle_sample;

/**
 * Fills s->haystack with filler from sentence `start` on and the needles at their depths
 * (depth[i] for needle i), exactly `tokens` tokens in all.
 */
int needle_haystack_build(needle_sample *s, const needle_hay *h, int start, const double *depth,
                          int64_t tokens, lwm_error *err);

/* ------------------------------------------------------------------ evaluation */

enum { EVAL_MAX_ANSWER = 256 };

typedef struct eval_sample {
    lwm_eval_needle_sample r;
    int line;          // in the needles file
    char tok_hash[33]; // the tokenizer the line was made with
} eval_sample;

typedef struct eval_run {
    eval_sample *s;
    int n;
    char file_tokenizer[4096], tokenizer[4096];
    lwm_train_model *model;
    lwm_loader *loader; // the file in pad layout, file order: one sample per row
    double theta;
    int64_t max_len;
    int ranks;
    int32_t *row;  // [max_len] the current sample's inputs
    int64_t first; // input position whose target is the first answer token
    int na;        // answer tokens
    int32_t gold[EVAL_MAX_ANSWER];
} eval_run;

/** Every line of a needles file into e->s (lwm_free): cell, answer, the tokenizer's hash. */
int eval_read_samples(eval_run *e, const char *path, lwm_error *err);
/** Reads the file, checks tokenizer and lengths, opens the model and the loader. Collective. */
int eval_prepare(eval_run *e, const lwm_eval_needle_options *o, MPI_Comm comm, lwm_error *err);
/** The next sample of the loader (s, in file order): greedy answer and score. Collective. */
int eval_one(eval_run *e, eval_sample *s, const char *path, lwm_error *err);

#endif
