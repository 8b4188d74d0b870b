/**
 * eval.h: long-context evaluation (the one public header of eval/): needle-in-a-haystack
 * prompts and the retrieval accuracy of a trained model by context length and depth.
 * Depends downward on loader/ (tokenizer, the sample's token layout) and train/ (the model's
 * forward with the trainer's kernels).
 *
 * Prompts (lwm_needle_make): each sample is one LWM JSONL line with text fields and a
 * `fields` spec, "[haystack],[question],answer", so `lwm ingest`, `lwm pack` and the loader
 * take it as it is: haystack text with one needle sentence ("The special magic {city} number
 * is: {7-digit number}.") inserted at a sentence boundary at the requested depth, the
 * question, and the answer (the loss falls on the answer and the closing EOS only). The
 * whole sample as the loader lays it out (BOS, each field tokenized on its own, EOS) is
 * exactly `length` positions, i.e. length + 1 tokens: one row of seq_len = length.
 * Each line also has "length", "depth", "answer" (the number, or the numbers joined by ", "
 * when a multi-needle sample asks for all), "needle_at" (token index of the asked needle in
 * the document), "tokenizer" (path) and "tokenizer_xxh3".
 *
 *   lwm_needle_options o = {.tokenizer = "tok.model", .lengths = L, .n_lengths = 3, ...};
 *   lwm_needle_make(&o, "needles.jsonl", &err);
 *
 * Evaluation (lwm_eval_needle): every sample's prompt (its document up to the answer) goes
 * through the model's forward over the ranks of comm (one ring, zigzag, as in training); the
 * answer is decoded greedily for as many tokens as the answer has, and scored by exact match
 * of its text with "answer". Greedy decoding is exact and needs at most one forward per
 * answer token: the forward over the row with the tokens decoded so far followed by the
 * expected ones gives the greedy token at every answer position up to the first that differs
 * from the expected one; that one is replaced and the forward repeated from there.
 *
 * Caveats: every rank of comm must call lwm_eval_needle with the same options; the model's
 * four parameter slabs are allocated as in training (weights, plus unused gradient and Adam
 * space). Nothing here prints or exits.
 */
#ifndef LWM_EVAL_H
#define LWM_EVAL_H

#include <mpi.h>
#include <stdint.h>

#include "common/common.h"

/** The haystack used when none is given: the GNU GPL v3 text every Debian system has
 *  (package base-files; verbatim copying is permitted). */
#define LWM_NEEDLE_DEFAULT_HAYSTACK "/usr/share/common-licenses/GPL-3"

enum { LWM_NEEDLE_MAX_NEEDLES = 16 };

typedef struct lwm_needle_options {
    const char *tokenizer;  /**< set by caller: SentencePiece .model (the model's) */
    const char *haystack;   /**< set by caller: UTF-8 text file; NULL = the default */
    const int64_t *lengths; /**< set by caller: sample lengths in positions (tokens - 1) */
    int n_lengths;
    const double *depths; /**< set by caller: needle depths in [0, 1] */
    int n_depths;
    int per_cell;           /**< set by caller: samples per (length, depth); 0 = 1 */
    uint64_t seed;          /**< set by caller: the same seed gives the same file */
    int needles;            /**< set by caller: needles per sample; 0 = 1 */
    int ask_all;            /**< set by caller: with needles > 1, ask for all of them
                                     (answer "n1, n2, ..."); 0 = ask for the one at the depth */
    lwm_progress *progress; /**< set by caller: may be NULL */
} lwm_needle_options;

/** Writes the samples to out_path (atomically), length-major. Errors name the input. */
int lwm_needle_make(const lwm_needle_options *o, const char *out_path, lwm_error *err);

typedef struct lwm_eval_needle_options {
    const char *config_path;  /**< set by caller: the training config (model, stages) */
    const char *weights_path; /**< set by caller: safetensors written by lwm train */
    const char *data_path;    /**< set by caller: a file lwm_needle_make wrote */
    const char *tokenizer;    /**< set by caller: NULL = the one the file records (its hash
                                     must match the file's in every case) */
    const char *work_dir;     /**< set by caller: where the loader's length cache goes */
    int stage;                /**< set by caller: RoPE theta of this stage; -1 = the last */
    int64_t max_len;          /**< set by caller: longest length allowed; 0 = the config's
                                     largest stage seq_len */
    lwm_progress *progress;   /**< set by caller: rank 0's progress sink, may be NULL */
} lwm_eval_needle_options;

/** One sample's outcome. */
typedef struct lwm_eval_needle_sample {
    char id[64];
    int64_t length;
    double depth;
    char answer[256]; /**< expected */
    char output[256]; /**< the model's greedy answer, detokenized */
    int correct;
} lwm_eval_needle_sample;

/** Accuracy by cell: lengths x depths (ascending), counts per cell. */
typedef struct lwm_eval_needle_result {
    int n_lengths, n_depths;
    int64_t *lengths;     /**< [n_lengths] */
    double *depths;       /**< [n_depths] */
    int *correct, *total; /**< [n_lengths * n_depths], length-major */
    int n_samples;
    lwm_eval_needle_sample *samples;
    double seconds; /**< wall time of the evaluation */
    int ranks;
    double rope_theta;
} lwm_eval_needle_result;

/** Runs the evaluation. Collective over comm. *out is freed with lwm_eval_needle_free. */
int lwm_eval_needle(const lwm_eval_needle_options *o, MPI_Comm comm, lwm_eval_needle_result **out,
                    lwm_error *err);

void lwm_eval_needle_free(lwm_eval_needle_result *r);

/** results.json: {"cells": [{"length", "depth", "correct", "total", "accuracy"}], "accuracy",
 *  "samples": [{"id", "length", "depth", "answer", "output", "correct"}], ...}. NULL = no
 * memory. */
struct cJSON *lwm_eval_needle_json(const lwm_eval_needle_result *r);

/**
 * The heatmap as RGB pixels (depth down, length across, red 0 to green 1, grey = no sample,
 * each cell's accuracy in percent written in it): *rgb allocated with lwm_malloc(NULL, ...).
 */
int lwm_eval_needle_heatmap(const lwm_eval_needle_result *r, uint8_t **rgb, int *width, int *height,
                            lwm_error *err);

#endif /* LWM_EVAL_H */
