// internal.h: declarations shared between the files of train/ (never included elsewhere).
//
// Notation used by the kernels (train/layers.c, attention.c, ring.c, model.c):
//   c  = tokens of one row held by this rank (seq_len / ring size)
//   d  = model width, H = heads, hd = head width (d = H * hd), F = feed-forward width
//   Vt = text vocabulary, Vv = vision vocabulary
// Every activation is token-major: [c, d] row-major, head h at columns h*hd .. h*hd+hd-1.
// Weights are stored [in, out] row-major (Flax "kernel" convention), so y = x W.
#ifndef LWM_TRAIN_INTERNAL_H
#define LWM_TRAIN_INTERNAL_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "loader/loader.h"
#include "train.h"

/**
 * Elementwise loops smaller than this (elements) stay serial: an OpenMP region costs a
 * barrier, which on a loaded machine (a descheduled thread) outweighs small work.
 */
#define TRAIN_PAR_MIN ((size_t)1 << 17)

/* ---------------------------------------------------------------- config */

typedef struct train_model_shape {
    int dim, layers, heads, ffn_dim;
    int text_vocab, vision_vocab;
    double norm_eps;
} train_model_shape;

// A curriculum stage is the loader's: one definition, one count of its steps
// (lwm_loader_stage_steps).
typedef lwm_loader_stage train_stage;

#define TRAIN_MAX_STAGES 16

typedef struct train_config {
    train_model_shape model;
    int ring; // sequence-parallel ranks per ring; 0 = all ranks
    double lr, min_lr, weight_decay, beta1, beta2, adam_eps, grad_clip;
    int64_t warmup_steps;
    int64_t checkpoint_every; // steps; 0 = only at exit
    int keep_checkpoints;     // newest checkpoints kept in RUN/checkpoints (train.keep_checkpoints)
    int64_t rows_per_load;    // rows per loader batch (micro-batch)
    int attn_tile;            // attention tile (tokens)
    int chunk;                // feed-forward / head token chunk
    uint64_t seed;
    int max_nan_skips;
    int nstages;
    train_stage stages[TRAIN_MAX_STAGES];
    char data_kind[32];                  // "loader", or the synthetic "needle" / "mixed"
    int synth_values, synth_fillers;     // synthetic needle task vocabulary
    const char *tokenizer, *fields_spec; // lwm_train_options' overrides of data.*; NULL = config's
} train_config;

int train_config_parse(train_config *cfg, const char *path, lwm_error *err);

/* ------------------------------------------------- parameter slab layout */

enum { TRAIN_MAX_TENSORS = 16 + 9 * 256 };

typedef struct train_tensor {
    char name[64];
    int rank; // 1 or 2
    int64_t shape[2];
    size_t offset; // floats into the slab
    size_t size;   // floats
    int decay;     // 1 = AdamW weight decay applies
} train_tensor;

typedef struct train_layout {
    int ntensors;
    train_tensor t[TRAIN_MAX_TENSORS];
    size_t total; // floats in one slab
} train_layout;

int train_layout_build(train_layout *lay, const train_model_shape *m, lwm_error *err);

/** Offsets of one layer's tensors (floats into a slab). */
typedef struct train_layer_ofs {
    size_t attn_norm, wq, wk, wv, wo, ffn_norm, w1, w3, w2;
} train_layer_ofs;

typedef struct train_model_ofs {
    size_t wte, vte, ln_f, lm_head, vision_head;
    train_layer_ofs layer[256];
} train_model_ofs;

void train_layout_offsets(train_model_ofs *ofs, const train_layout *lay, int layers);

/* ----------------------------------------------------------------- sizing */

/** Every per-rank buffer size, in floats unless noted: one sizing function (STYLE §5). */
typedef struct train_sizes {
    size_t params;       // one slab (params, grads, adam m, adam v each)
    size_t saved_acts;   // per-layer saved inputs and attention outputs: 2*L*c*d
    size_t saved_lse;    // L*H*c
    size_t work;         // q k v dq dk dv xn xmid dout dx D and friends
    size_t ring;         // K/V send/recv + dK/dV accumulators
    size_t chunk;        // FFN and head chunk scratch
    size_t attn_scratch; // per-thread tile scratch
    size_t row_meta;     // ints: positions and segments of the whole row
    size_t total_bytes;  // everything above, in bytes (4 slabs included)
} train_sizes;

void train_sizes_compute(train_sizes *s, const train_model_shape *m, int64_t local_len,
                         int ring_size, int tile, int chunk, int threads);

/* ------------------------------------------------------------------ batch */

/** One loader batch as this rank sees it: rows x local_len, zigzag-sliced. Borrowed views. */
typedef struct train_batch {
    int rows;
    int64_t len; // local tokens per row (seq_len / ring)
    const int32_t *input_tokens, *target_tokens, *segment_ids, *positions;
    const float *loss_masks;
    const uint8_t *input_vision_masks, *target_vision_masks;
    int rows_no_loss; // of these rows, whole rows without a loss-bearing target
} train_batch;

/** Global position of local index i on ring rank r (zigzag, spec §6). */
static inline int64_t train_zigzag_position(int64_t i, int r, int n, int64_t c)
{
    int64_t h = c / 2;
    return i < h ? (int64_t)r * h + i : (int64_t)(2 * n - 1 - r) * h + (i - h);
}

/* --------------------------------------------------------- ring context */

typedef struct train_ring {
    MPI_Comm world, ring, dp; // MPI_COMM_NULL when running without MPI
    int world_rank, world_size;
    int rank, size; // within the ring
    int dp_rank, dp_size;
    int use_mpi;
    struct train_comm *comm; // the communication thread when world_size > 1, else NULL
} train_ring;

/** A single process with no communicators (what train_ring_free frees nothing of). */
void train_ring_reset(train_ring *r);
/** Splits comm into rings of ring_ranks ranks (0: one ring of all) and data-parallel groups. */
int train_ring_init(train_ring *r, int ring_ranks, MPI_Comm comm, const lwm_mem *mem,
                    lwm_error *err);
void train_ring_free(train_ring *r);

/** Checks the MPI calls' result: returns LWM_EMPI with the call named. */
int train_mpi_check(int mpi_rc, const char *what, lwm_error *err);

/* ------------------------------------------------- communication thread */

/**
 * A thread that progresses the non-blocking MPI operations the compute thread posts (train/
 * comm.c): the ring's K/V transfers and the gradient reductions complete while the compute
 * thread computes, whenever it happens to call MPI. Needs MPI_THREAD_MULTIPLE.
 */
typedef struct train_comm train_comm;

int train_comm_create(train_comm **out, const lwm_mem *mem, lwm_error *err);
/** Stops and joins the thread; no request may still be watched. NULL is fine. */
void train_comm_free(train_comm *c);
/**
 * Hands a posted request to the thread, which tests it until it completes and sets *req to
 * MPI_REQUEST_NULL. *req stays the caller's storage: it must live until then.
 */
int train_comm_watch(train_comm *c, MPI_Request *req, lwm_error *err);
/**
 * Sleeps until each of reqs[0..n) (every one watched or already MPI_REQUEST_NULL) has
 * completed. *already (may be NULL) receives how many had completed on entry.
 */
int train_comm_wait(train_comm *c, MPI_Request *reqs, int n, int *already, lwm_error *err);
/**
 * Stops watching every request (left in flight, never completed): for a pass that failed and
 * whose requests' storage goes away; the run is over, MPI is aborted or finalised next.
 */
void train_comm_forget(train_comm *c);

/* ------------------------------------------------------ attention kernels */

/** Key/value block as it visits a rank: n keys with global positions and segment ids. */
typedef struct attn_keys {
    const float *k, *v;       // [n, d]
    const int32_t *pos, *seg; // [n]
    int64_t n;
} attn_keys;

/** Queries of this rank. */
typedef struct attn_queries {
    const float *q;           // [c, d]
    const int32_t *pos, *seg; // [c]
    int64_t c;
} attn_queries;

typedef struct attn_kernel {
    int H, hd, tile;
    float *scratch; // per-thread tile scratch: threads * attn_scratch_floats(tile, hd)
    int threads;
} attn_kernel;

size_t attn_scratch_floats(int tile, int hd);

/**
 * Folds one key/value block into the online-softmax state of every query row:
 * acc [c, d] unnormalised output, m and l [H, c] running max and denominator.
 * Start with acc = 0, m = -inf, l = 0 (attn_state_init).
 */
void attn_state_init(float *acc, float *m, float *l, int64_t c, int H, int hd);
void attn_forward_block(const attn_kernel *k, float *acc, float *m, float *l, const attn_queries *q,
                        const attn_keys *kv);
void attn_forward_block_naive(const attn_kernel *k, float *acc, float *m, float *l,
                              const attn_queries *q, const attn_keys *kv);
/** o = acc / l, lse = m + ln l (rows with no visible key: o = 0, lse = 0). o may alias acc. */
void attn_forward_finish(float *o, float *lse, const float *acc, const float *m, const float *l,
                         int64_t c, int H, int hd);
/** D[h, i] = sum_j dO[i, h*hd+j] * O[i, h*hd+j]. */
void attn_backward_prep(float *D, const float *dout, const float *o, int64_t c, int H, int hd);
/**
 * Adds one key block's gradient contributions: dq [c, d] and dk, dv [n, d]
 * (accumulated, never zeroed here) from dout [c, d], the final lse and D [H, c].
 */
void attn_backward_block(const attn_kernel *k, float *dq, float *dk, float *dv,
                         const attn_queries *q, const attn_keys *kv, const float *dout,
                         const float *lse, const float *D);
void attn_backward_block_naive(const attn_kernel *k, float *dq, float *dk, float *dv,
                               const attn_queries *q, const attn_keys *kv, const float *dout,
                               const float *lse, const float *D);

/* ------------------------------------------------------------ ring passes */

/** Per-rank buffers the ring passes use (sized by train_sizes.ring). */
typedef struct ring_buffers {
    float *kv_cur, *kv_next;             // [2, c, d] each
    float *dkv_local, *dkv_in, *dkv_out; // [2, c, d] each
} ring_buffers;

/** Positions and segment ids of every ring rank's tokens of the current row: [size, c]. */
typedef struct ring_row {
    const int32_t *pos, *seg;
    int64_t c;
} ring_row;

int ring_attention_forward(const train_ring *ring, const attn_kernel *kern, ring_buffers *b,
                           float *o, float *lse, const float *q, const float *k, const float *v,
                           const ring_row *row, int d, lwm_error *err);
int ring_attention_backward(const train_ring *ring, const attn_kernel *kern, ring_buffers *b,
                            float *dq, float *dk, float *dv, const float *q, const float *k,
                            const float *v, const float *dout, const float *lse, const float *D,
                            const ring_row *row, int d, lwm_error *err);

/* ------------------------------------------------------ gradient reduction */

#define TRAIN_MAX_GRAD_SLICES 258 // one per layer, the heads, the embeddings

/**
 * One step's gradient all-reduce, slice by slice as the backward pass finishes each (sum over
 * every rank, in place). Slices must be posted in the same order on every rank.
 */
typedef struct grad_sync {
    MPI_Comm comm;      // all ranks; MPI_COMM_NULL: a single rank, nothing to reduce
    train_comm *thread; // progresses the reductions (set with comm)
    MPI_Request req[TRAIN_MAX_GRAD_SLICES];
    int posted;    // slices posted this step
    int early;     // of them, complete before grad_sync_finish (overlapped)
    double wait_s; // seconds grad_sync_finish waited
} grad_sync;

void grad_sync_begin(grad_sync *g, MPI_Comm comm, train_comm *thread);
/** Starts the sum of one slice; the communication thread carries it on from here. */
int grad_sync_post(grad_sync *g, float *slice, size_t floats, lwm_error *err);
/** Waits (sleeping) for every posted slice. */
int grad_sync_finish(grad_sync *g, lwm_error *err);
// The shortest and longest wait of grad_sync_finish over the ranks. All ranks' reductions
// end together, so the rank whose backward ended last waits least: its wait is the
// communication left exposed, and the spread is time spent waiting for the slower rank.
int grad_wait_spread(const grad_sync *g, double *min_s, double *max_s, lwm_error *err);

/* ----------------------------------------------------------------- layers */

/** C = A B (+ C when accumulate): A [m, k], B [k, n], all row-major with natural strides. */
void mm(float *C, const float *A, const float *B, int64_t m, int64_t k, int64_t n, int accumulate);
/** C (+)= A Bᵀ: A [m, k], B [n, k]. */
void mm_bt(float *C, const float *A, const float *B, int64_t m, int64_t k, int64_t n,
           int accumulate);
/** C (+)= Aᵀ B: A [k, m], B [k, n]. */
void mm_at(float *C, const float *A, const float *B, int64_t m, int64_t k, int64_t n,
           int accumulate);

void embed_forward(float *x, const int32_t *tok, const uint8_t *vis, const float *wte,
                   const float *vte, int64_t c, int d);
void embed_backward(float *dwte, float *dvte, const float *dx, const int32_t *tok,
                    const uint8_t *vis, int64_t c, int d);
void rmsnorm_forward(float *y, float *rstd, const float *x, const float *g, int64_t c, int d,
                     double eps);
void rmsnorm_backward(float *dx, float *dg, const float *dy, const float *x, const float *g,
                      const float *rstd, int64_t c, int d);
/** Interleaved-pair RoPE in place on [c, d] with per-token global positions. */
void rope_forward(float *x, const int32_t *pos, int64_t c, int H, int hd, double theta);
/** The transpose rotation (gradient of rope_forward), in place. */
void rope_backward(float *dx, const int32_t *pos, int64_t c, int H, int hd, double theta);
void swiglu_forward(float *h, const float *a, const float *b, int64_t n);
void swiglu_backward(float *da, float *db, const float *dh, const float *a, const float *b,
                     int64_t n);

/* ------------------------------------------------------------------ model */

typedef struct train_model train_model;

/** Per-row loss pieces this rank computed (sums over its tokens, already divided by counts). */
typedef struct row_loss {
    double text, vision; // sum of w*nll / global count for this rank's tokens
} row_loss;

int model_create(train_model **out, const train_config *cfg, const train_ring *ring,
                 int64_t local_len, int threads, const lwm_mem *mem, lwm_error *err);
void model_free(train_model *m);
/** Resizes the per-row buffers for local_len tokens (curriculum stage change); params kept. */
int model_set_len(train_model *m, int64_t local_len, lwm_error *err);
float *model_params(train_model *m);
float *model_grads(train_model *m);
const train_layout *model_layout(const train_model *m);
size_t model_bytes(const train_model *m);
void model_init_params(train_model *m, uint64_t seed);
/**
 * Forward and backward of row b of batch: adds gradients (scaled by row_scale =
 * 1 / global rows) into the grad slab and fills *loss with this rank's share of the
 * row's per-row-mean losses (already multiplied by row_scale).
 */
int model_row_step(train_model *m, row_loss *loss, const train_batch *batch, int b,
                   double rope_theta, double row_scale, lwm_error *err);
/**
 * The forward half of model_row_step: leaves row b's final hidden states in the model's
 * x_final and the row's global text/vision target weights in counts. No gradients.
 */
int model_row_forward(train_model *m, double counts[2], const train_batch *batch, int b,
                      double rope_theta, lwm_error *err);
/**
 * From now on, model_row_step posts each gradient slice to sync as soon as it is final (the
 * caller's last row of a step) and the communication thread progresses it; NULL stops that.
 */
void model_set_sync(train_model *m, grad_sync *sync);

/* -------------------------------------------------------------- optimizer */

typedef struct adamw_params {
    double lr, beta1, beta2, eps, weight_decay;
    int64_t t; // 1-based step count for bias correction
} adamw_params;

void adamw_update(float *params, const float *grads, float *m, float *v, const train_layout *lay,
                  const adamw_params *p);
double grad_global_norm(const float *grads, size_t n);
void grad_scale(float *grads, size_t n, float s);
double lr_at(const train_config *cfg, int64_t step, int64_t total_steps);

/* ------------------------------------------------------------- safetensors */

/** What a weights file records besides its tensors (its __metadata__, train/weights.c). */
typedef struct train_weights_info {
    train_model_shape model;
    double rope_theta;    // of the stage the weights were last trained in
    int64_t seq_len;      // that stage's sequence length
    char tokenizer[2048]; // the corpus's SentencePiece model; "" = none (synthetic data)
} train_weights_info;

/** Writes params under the layout's names; info (may be NULL) goes into __metadata__. */
int safetensors_write(const char *path, const train_layout *lay, const float *params,
                      const train_weights_info *info, lwm_error *err);
/**
 * Reads tensors by name into params; every layout tensor must be present with its shape and
 * finite (an error names the tensor).
 */
int safetensors_read(const char *path, const train_layout *lay, float *params, lwm_error *err);
/** info from a parsed header's __metadata__; zeroed (model.dim 0) when it records none. */
int train_weights_info_read(train_weights_info *info, const lwm_st_header *h, const char *path,
                            lwm_error *err);
/** LWM_ENUMERIC naming path, tensor and the element when x holds a NaN or infinity. */
int train_check_finite(const float *x, size_t n, const char *path, const char *tensor,
                       lwm_error *err);

/* ------------------------------------------------ pretrained weights (import_hf.c) */

/** A mapped safetensors file and its parsed header. */
typedef struct train_st_map {
    char path[4200]; // for messages
    lwm_st_file st;  // BF16 and F16 tensors accepted
} train_st_map;

int train_st_map_open(train_st_map *f, const char *path, lwm_error *err);
/** Unmaps (a zeroed or failed-to-open map is fine). */
void train_st_map_close(train_st_map *f);
/**
 * Copies tensor name of f into out after checking its shape is want[rank] and its values are
 * finite; the error names the file and the tensor.
 */
int train_st_tensor(float *out, const train_st_map *f, const char *name, const int64_t *want,
                    int rank, lwm_error *err);

/**
 * Loads pretrained weights into params (the layout of model): path is a Hugging Face LLaMA
 * directory (config.json with model.safetensors or model.safetensors.index.json), one of its
 * safetensors or index files, a weights file of this trainer, or a run directory holding one.
 * Every tensor is checked against the model's shape and for NaN/Inf, naming it. Tensors a
 * text model lacks (the vision embedding and head) keep what params held (the seeded init);
 * the log says which were loaded and which were initialised.
 */
int train_import(const char *path, const train_model_shape *model, const train_layout *lay,
                 float *params, const lwm_logger *log, lwm_error *err);

/* ------------------------------------------------- a run's weights at its edges (init.c) */

/** The tokenizer the run's loader will use ("" for synthetic data or when unresolved). */
void train_run_tokenizer(char *out, size_t cap, const char *config_path, const char *data_dir);
/**
 * o->init_path (if set) into params: refused with resume; the tokenizer (if not "") must have
 * as many pieces as the text embedding has rows.
 */
int train_init_weights(const lwm_train_options *o, const train_config *cfg, const train_layout *lay,
                       float *params, const char *tokenizer, lwm_error *err);
/** The metadata of the weights written after a step of stage (stage_step steps done in it). */
void train_weights_info_fill(train_weights_info *info, const train_config *cfg, int stage,
                             int64_t stage_step, const char *tokenizer);

/* ---------------------------------------- the Hugging Face LLaMA layout (hf_layout.c) */

/** One trainer tensor's Hugging Face name and how its data is arranged there. */
typedef struct hf_tensor {
    char name[96]; // e.g. model.layers.3.self_attn.q_proj.weight
    int transpose; // 1: HF stores [out, in] (torch Linear), the trainer [in, out]
    int rope_rows; // 1: q/k, whose output rows HF orders rotate-half per head
    int optional;  // 1: the vision tensors (extras of LWM), absent from text models
} hf_tensor;

/** The HF name and arrangement of the trainer's tensor i of lay (built for model). */
void hf_tensor_of(hf_tensor *out, const train_layout *lay, int i);
/**
 * Converts one tensor between layouts: to_trainer 1 reads src in HF arrangement [rows, cols]
 * (rows, cols of the HF tensor) and writes dst in the trainer's; 0 the other way. hd is the
 * head width (for rope_rows).
 */
void hf_convert(float *dst, const float *src, const hf_tensor *t, int64_t rows, int64_t cols,
                int hd, int to_trainer);

/** The fixed part of a training checkpoint (written as is after magic and version). */
typedef struct ckpt_state {
    int32_t shape[6];           // dim, layers, heads, ffn_dim, text_vocab, vision_vocab
    int32_t stage;              // curriculum stage index of the next step
    int32_t nan_skips;          // consecutive skipped steps
    int64_t step;               // optimizer steps completed
    int64_t stage_step;         // steps completed in the current stage
    int64_t tokens;             // tokens trained on
    uint64_t source_state_size; // bytes of data-source state that follow
} ckpt_state;

int ckpt_write(const char *path, const ckpt_state *st, const void *source_state,
               const train_layout *lay, const float *params, const float *m, const float *v,
               lwm_error *err);
/** st->shape holds the expected shape on entry; mismatch is an error naming both. */
int ckpt_read(const char *path, const lwm_mem *mem, ckpt_state *st, void *source_state,
              size_t source_cap, const train_layout *lay, float *params, float *m, float *v,
              lwm_error *err);

/* ---------------------------------------------------------- run directory */

/** Refuses a directory holding a run unless resume (nothing checked) or overwrite (its
 *  outputs removed, nothing else). LWM_EEXISTS names the way out. */
int run_dir_prepare(const char *dir, int resume, int overwrite, lwm_error *err);
/** Creates dir and dir/checkpoints. */
int run_dir_make(const char *dir, lwm_error *err);
/** dir/checkpoints/step-%08lld.bin */
int run_dir_checkpoint_path(char *out, size_t cap, const char *dir, int64_t step);
/** After the checkpoint of step is written: RUN/latest names it, RUN/checkpoint.bin links to
 *  latest, and only the newest keep checkpoints stay. */
int run_dir_publish(const char *dir, int64_t step, int keep, lwm_error *err);

/* ------------------------------------------------------------ data sources */

/** Where batches come from: the loader (loader/loader.h) or the synthetic tasks. */
typedef struct train_source {
    void *ctx;
    /** Prepares stage st (seq_len, local_len = seq_len / ring). */
    int (*set_stage)(void *ctx, int stage, const train_stage *st, int64_t local_len,
                     lwm_error *err);
    /** Next batch of rows_per_load rows for this rank; views valid until the next call. */
    int (*next)(void *ctx, train_batch *out, lwm_error *err);
    /** Resume state: size, save into buf, restore. */
    size_t (*state_size)(void *ctx);
    int (*save)(void *ctx, void *buf, size_t cap, lwm_error *err);
    int (*restore)(void *ctx, const void *buf, size_t size, lwm_error *err);
    void (*free)(void *ctx);
} train_source;

/** The loader over the corpus in data_dir (loader/loader.h), configured by the same config. */
int source_loader_create(train_source *src, const train_config *cfg, const char *config_path,
                         const char *data_dir, const train_ring *ring, const lwm_mem *mem,
                         lwm_error *err);
int source_synthetic_create(train_source *src, const train_config *cfg, const train_ring *ring,
                            const lwm_mem *mem, lwm_error *err);

#endif
