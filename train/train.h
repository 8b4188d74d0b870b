/**
 * train.h: the ring-attention trainer (the one public header of train/).
 *
 * Trains LWM's vision-language LLaMA (scaled by a JSON config, configs/tiny.json and
 * configs/small.json) with exact blockwise ring attention across the ranks of an MPI
 * communicator: P ranks = data-parallel replicas x ring (sequence-parallel) size. Each ring
 * rank holds seq_len / ring tokens of every row in the zigzag layout; K/V blocks travel
 * around the ring while the current block is computed; gradients are summed over all ranks
 * with one normalisation. The run walks the config's curriculum stages (sequence length,
 * RoPE theta, tokens per batch, token budget) carrying weights and optimizer state.
 *
 *   lwm_train_options o = {.config_path = "configs/tiny.json", .data_dir = "corpus",
 *                          .out_dir = "run"};
 *   lwm_train *t; lwm_error err;
 *   if (lwm_train_create(&t, &o, MPI_COMM_WORLD, &err) == 0) rc = lwm_train_run(t, &err);
 *   lwm_train_free(t);
 *
 * Outputs in out_dir: log.jsonl (one JSON object per optimizer step, rank 0 only),
 * checkpoints/step-NNNNNNNN.bin (resumable state: magic "LWMTRNST", version, model shape,
 * step, stage, parameters, both Adam moments, data-source state, XXH3-128 checksum; the
 * newest train.keep_checkpoints kept), latest (a link to the newest), checkpoint.bin (a link
 * to latest: what resume reads), weights.safetensors (parameters of the newest checkpoint
 * with the names documented in docs/train.md; kernels stored [in, out]).
 *
 * Caveats
 * - Every rank of comm must call lwm_train_create/run with the same options. A failure on
 *   one rank is returned there while the others may be waiting in a collective: the caller
 *   (the CLI) must then bring the job down (MPI_Abort). The library never aborts.
 * - With more than one rank, MPI must be initialised with MPI_THREAD_MULTIPLE (else
 *   lwm_train_create fails with LWM_EUNSUPPORTED): a communication thread per rank progresses
 *   the ring transfers and gradient reductions while the calling thread computes.
 * - OpenMP threads per rank come from omp_get_max_threads(); keep ranks x threads <= cores.
 * - Results are deterministic for a given rank layout and thread count; a resumed run
 *   repeats an uninterrupted one bit for bit. Different ring sizes agree within float32
 *   rounding (the sums run in a different order).
 */
#ifndef LWM_TRAIN_H
#define LWM_TRAIN_H

#include <mpi.h>
#include <stdint.h>

#include "common/common.h"

typedef struct lwm_train lwm_train;

/** One optimizer step's record (also one line of log.jsonl). Filled by the library. */
typedef struct lwm_train_step {
    int64_t step;                  /**< 1-based optimizer step count of the whole run */
    int stage;                     /**< curriculum stage index (0-based) */
    int64_t seq_len;               /**< tokens per row in this stage */
    double loss;                   /**< 0.5 * (text_loss + vision_loss), LWM's definition */
    double text_loss, vision_loss; /**< per-row means averaged over the step's rows */
    double grad_norm;              /**< global L2 norm before clipping */
    double lr;                     /**< learning rate applied at this step */
    double tokens_per_s;           /**< all ranks' tokens / wall time of the step */
    int64_t peak_memory;           /**< max over ranks of peak resident bytes */
    int64_t tokens;                /**< tokens trained on so far (all ranks) */
    int skipped;                   /**< 1 when the loss or gradient was not finite: no update */
    int grad_slices;               /**< gradient slices all-reduced this step (layers + heads +
                                embeddings; 0 on a single rank) */
    int grad_slices_early;         /**< of them, finished while the backward pass still ran */
    double grad_wait_s;     /**< seconds this rank waited for the reductions after its backward */
    double grad_wait_min_s; /**< the shortest such wait over the data-parallel ranks: that of
                                the rank whose backward ended last, so the communication that
                                compute did not hide (0 on a single rank) */
    double grad_wait_max_s; /**< the longest: adds the time a rank waited for a slower one */
    int64_t rows_no_loss;   /**< rows of the step without a loss-bearing target (loader data;
                                lwm pack --curriculum shows them) */
} lwm_train_step;

typedef struct lwm_train_options {
    const char *config_path; /**< set by caller: JSON config (model, optimizer, stages) */
    const char *data_dir;    /**< set by caller: corpus directory for the loader */
    const char *out_dir;     /**< set by caller: run directory (created); NULL = "run" */
    int64_t max_steps;       /**< set by caller: stop once this many steps are done in all
                                  (counting resumed ones); 0 = the whole curriculum */
    int resume;              /**< set by caller: continue from out_dir/checkpoint.bin */
    int overwrite;           /**< set by caller: replace the run out_dir holds (its log,
                                  checkpoints, weights); without it or resume, a directory
                                  holding a run is refused with LWM_EEXISTS on every rank */
    const char *tokenizer; /**< set by caller: overrides the config's data.tokenizer; NULL = none */
    const char *fields_spec; /**< set by caller: overrides data.fields_spec; NULL = none */
    const char *export_init; /**< set by caller: write the initial weights here (safetensors)
                                  before the first step; NULL = none */
    const char *init_path;   /**< set by caller: start from these pretrained weights (a Hugging
                                  Face LLaMA directory/file/index or this trainer's weights,
                                  README "Pretrained weights"); NULL = seeded random init */
    lwm_logger log;          /**< set by caller: log lines (rank 0 logs; others errors only) */
    lwm_mem mem;             /**< set by caller: allocator of the trainer, its model and data
                                  source (zeroed = libc); cJSON and libxxhash use their own */
    lwm_progress *progress;  /**< set by caller: progress sink for rank 0, may be NULL */
    /** set by caller: called on rank 0 after every step, may be NULL. */
    void (*on_step)(void *opaque, const lwm_train_step *step);
    void *on_step_opaque; /**< set by caller: passed to on_step */
} lwm_train_options;

/**
 * Reads the config, splits comm into rings, checks the layout (seq_len divisible by 2 x
 * ring for every stage, rank count matching the config's "ring", rows per step divisible
 * by data-parallel size x rows per load), allocates the model and opens the data source.
 * With resume set it restores the checkpoint (an error names a shape mismatch).
 * Returns 0 or a negative code with err filled; *out is NULL on failure. Collective over comm.
 */
int lwm_train_create(lwm_train **out, const lwm_train_options *opts, MPI_Comm comm, lwm_error *err);

/**
 * Trains until max_steps or the end of the curriculum, checkpointing every
 * train.checkpoint_every steps and at the end. A non-finite loss skips the update and is
 * logged; max_nan_skips consecutive skips return LWM_ENUMERIC. Collective over comm.
 * When it fails on more than one rank's communicator, the ranks are out of step (a failing
 * rank may leave gradient reductions posted that its peers wait on, and that still write into
 * the trainer's buffers): abort the communicator (MPI_Abort, as `lwm train` does) before
 * lwm_train_free.
 */
int lwm_train_run(lwm_train *t, lwm_error *err);

/** Frees everything (NULL is fine). Not collective. */
void lwm_train_free(lwm_train *t);

/**
 * Exports a run's weights (run: its directory or its weights.safetensors) into out_dir:
 * format "hf" writes config.json and model.safetensors in the Hugging Face LLaMA layout (q/k
 * rows in rotate-half order, kernels [out, in], the vision embedding and head as the extra
 * tensors lwm.vision_embed_tokens.weight and lwm.vision_head.weight); "lwm" writes
 * weights.safetensors under the trainer's names. Both copy the run's tokenizer (when it
 * records one) to tokenizer.model. Not collective.
 */
int lwm_train_export(const char *run, const char *format, const char *out_dir,
                     const lwm_logger *log, lwm_error *err);

/** The step record as a new cJSON object (caller deletes); NULL when out of memory. */
struct cJSON *lwm_train_step_json(const lwm_train_step *s);

/**
 * Predicted bytes per rank of one training step (the sizing function behind every buffer)
 * for the config at seq_len tokens per row on ring ranks, with threads OpenMP threads.
 */
int lwm_train_predict_bytes(int64_t *bytes, const char *config_path, int64_t seq_len, int ring,
                            int threads, lwm_error *err);

/* ------------------------------------------------------------------ inference (evaluation) */

/**
 * A trained model for evaluation (train/infer.c): the config's model, weights from a
 * safetensors file, the trainer's own blockwise kernels with the ring over every rank of
 * comm (zigzag layout, as in training). Text rows of one document only.
 *
 *   lwm_train_model *m;
 *   lwm_train_model_open(&m, "configs/tiny.json", "run/weights.safetensors", MPI_COMM_WORLD,
 *                        NULL, &err);
 *   lwm_train_model_argmax(m, tokens, len, theta, at, n, ids, &err);  // greedy next tokens
 *   lwm_train_model_free(m);
 */
typedef struct lwm_train_model lwm_train_model;

/** What the config says that evaluation needs. Filled by lwm_train_model_info. */
typedef struct lwm_train_model_info {
    int n_stages;
    int64_t seq_len[16];   /**< each stage's seq_len */
    double rope_theta[16]; /**< each stage's RoPE theta */
    int text_vocab;
    int ring; /**< ranks the rows are split over (the size of comm) */
} lwm_train_model_info;

/**
 * Reads the config and the weights (every tensor the config's model has, with its shape: a
 * missing or misshapen one is an error naming it). Collective over comm (MPI_COMM_NULL: one
 * process without MPI). Returns 0 or a negative code with err filled; *out NULL on failure.
 */
int lwm_train_model_open(lwm_train_model **out, const char *config_path, const char *weights_path,
                         MPI_Comm comm, const lwm_mem *mem, lwm_error *err);

void lwm_train_model_info_get(const lwm_train_model *m, lwm_train_model_info *info);

/**
 * Greedy next text tokens of one text row: tokens[len] are the row's inputs (positions 0..len-1,
 * one document, causal); out[j] = argmax of the text head at position at[j], i.e. the model's
 * prediction of token at[j] + 1. Every rank passes the same row and gets the same ids; len must
 * divide by 2 x ring. Collective.
 */
int lwm_train_model_argmax(lwm_train_model *m, const int32_t *tokens, int64_t len,
                           double rope_theta, const int64_t *at, int n, int32_t *out,
                           lwm_error *err);

/** Frees the model (NULL is fine). Not collective. */
void lwm_train_model_free(lwm_train_model *m);

#endif /* LWM_TRAIN_H */
