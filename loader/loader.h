/**
 * loader.h: LWM's training sequences from a stored corpus, packed, shuffled,
 * sharded over ranks, resumable and curriculum-aware.
 *
 * Terms
 * - A *document* is one record of a dataset turned into LWM's token layout
 *   (lwm-format.md §2–3): leading BOS (loss 0), the fields of its `fields` spec
 *   in order, each text field tokenized on its own with the user's
 *   SentencePiece model, each vision field as `<vision>` f0 … f(n-1) `</vision>`
 *   (codes 0..8191, 8192 `<eof>` after every frame but the last, 8193 `<eov>`),
 *   trailing EOS (loss 1). `<vision>`/`</vision>` are encoded by the tokenizer,
 *   never hard-coded; no BOS inside a document except `<|bos|>` fields.
 * - A *position* of a row holds one (input token, target token) pair: the
 *   target is the next token of the same document (shifted once, §4), so a
 *   document of n tokens fills n - 1 positions.
 * - A *row* is seq_len positions; a *batch* is the rows of one optimizer step.
 *
 * Layouts (lwm_loader_layout)
 * - LWM_LAYOUT_PACKED (default): best-fit packing of whole documents into rows.
 *   A document is split only when it has more positions than a row, and then
 *   only where a frame (or text token) ends, never inside a frame. Each
 *   document (or piece) gets its own segment id, positions restart at 0 in each
 *   (both switchable), and the rest of a row is padding (segment 0, loss 0).
 *   A piece of a split document can have no loss-bearing target (the frames
 *   of a `[vision],caption` video); batches count rows without any
 *   (rows_no_loss) and drop_no_loss (lwm train's default) leaves such pieces
 *   out when planning, from per-document loss runs kept with the lengths, so
 *   the stream stays a pure function of the same inputs.
 * - LWM_LAYOUT_LWM: LWM's `no_pad` stream, bit for bit: documents concatenated
 *   in order, row r takes stream tokens [r·L, r·L + L] (L + 1 tokens), inputs
 *   the first L, targets the last L, masks shifted the same way. Documents
 *   straddle rows. With shuffle off the order is the dataset's dense order,
 *   which reproduces LWM's token stream for the same data and tokenizer.
 * - LWM_LAYOUT_PAD: one document per row, cut to L + 1 tokens and shifted
 *   once (LWM's pad mode with its off-by-one fixed, lwm-format.md §9), the
 *   rest padded with id 1, loss 0, vision 0.
 *
 * Order, ranks and resume
 * - The document order of an epoch is a keyed bijection of dense indices (a
 *   Feistel permutation with cycle-walking, key = seed, stage, epoch): O(1)
 *   memory, each document exactly once per epoch. Documents are packed in
 *   windows of consecutive permuted documents; a window's rows are a pure
 *   function of (seed, stage, epoch, window) and per-document lengths (cached
 *   beside the dataset, so start-up never re-tokenizes the corpus).
 * - The invariant: the global stream does not depend on how many ranks read
 *   it. Its rows are a pure function of (data, tokenizer, seed, stage
 *   schedule, packing options); dp_size, sp_size and ring_layout never enter
 *   packing, the plan or the state, ranks only slice the rows.
 * - All ranks walk the same global row stream; global batch b is rows
 *   [b·R, (b+1)·R) with R = tokens_per_batch / seq_len; data-parallel rank d
 *   takes R / dp_size consecutive rows of it, so no row is shared and every
 *   rank has the same step count. Sequence-parallel rank r then takes its
 *   seq_len / sp_size positions of each row (contiguous, or zigzag chunks r and
 *   2·sp_size − 1 − r of 2·sp_size, ring-attention.md §6). A document may
 *   start anywhere in a row: ring attention needs the row length divisible by
 *   2·sp_size (checked at create), not each document.
 * - The resume state is a few integers: seed, stage, epoch, window, row in
 *   window, plus counters (step, tokens) for reporting. Since every row is a
 *   pure function of them, and no buffer (prefetch, packing) carries anything
 *   across steps that is not recomputed from the state, a loader created with
 *   a state yields exactly the batches an uninterrupted run would have yielded
 *   after it. The state is the same on every rank and holds nothing about
 *   ranks, so a state saved with P ranks (any dp × ring) resumes on Q ranks
 *   with the same global rows (elastic resume). What may change on resume:
 *   dp_size, sp_size, ring_layout, ranks, prefetch, cache_dir, logging. What
 *   may not (refused at create, naming the part): datasets and their
 *   contents, tokenizer, seed, layout, shuffle, max_n_frames, fields options,
 *   packing options, and every stage's seq_len, tokens_per_batch and
 *   total_tokens. Every field of a state is bounds-checked against the plan.
 *
 * Lifecycle: lwm_loader_create → lwm_loader_next … → lwm_loader_free.
 *
 * Caveats
 * - One loader per thread of use; loaders share nothing. With prefetch on, one
 *   background thread per loader computes batches ahead into a buffer capped
 *   at prefetch_bytes; it never changes which batches come out.
 * - A batch (its arrays) stays valid until the next lwm_loader_next or
 *   lwm_loader_free on the same loader.
 * - Save batch->state (the state after that batch), not a state read later:
 *   it is the one that resumes right after the batch the trainer consumed.
 * - Bad input fails with a message naming dataset, sample and field, or is
 *   skipped and counted when on_bad_record = LWM_LOADER_SKIP: a record failing
 *   its checksum, a spec naming a field the record lacks, a vision field whose
 *   length is not a multiple of 256, a document that cannot be split to fit a
 *   row (one frame longer than the row). A tokenizer that differs from the one
 *   the dataset was tokenized with is always an error at create; one that
 *   differs from the one it was ingested with (lwm ingest --tokenizer) unless
 *   force_tokenizer, and without a tokenizer the recorded one is used. (In the LWM
 *   and pad layouts long documents are cut, as LWM does, not rejected.)
 */
#ifndef LWM_LOADER_H
#define LWM_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/** Vision id space (separate from text ids; lwm-format.md §1.2). */
enum {
    LWM_VISION_CODES = 8192, /**< codes are 0..8191 */
    LWM_VISION_EOF = 8192,   /**< ends every frame but the last of a vision field */
    LWM_VISION_EOV = 8193,   /**< ends the last frame */
    LWM_FRAME_CODES = 256,   /**< codes per frame (16×16, raster order) */
};

/**
 * Text ids fixed by LWM's LLaMA-2 vocabulary (the tokenizer's own bos/eos are used if they differ).
 */
enum { LWM_TEXT_BOS = 1, LWM_TEXT_EOS = 2, LWM_PAD_ID = 1 };

typedef enum lwm_loader_layout {
    LWM_LAYOUT_PACKED = 0, /**< best-fit whole documents, segment ids, restarting positions */
    LWM_LAYOUT_LWM = 1,    /**< LWM's no_pad concatenated stream */
    LWM_LAYOUT_PAD = 2,    /**< one document per row, padded (LWM pad mode, fixed) */
} lwm_loader_layout;

typedef enum lwm_ring_layout {
    LWM_RING_CONTIGUOUS = 0, /**< sp rank r holds positions [r·c, (r+1)·c) */
    LWM_RING_ZIGZAG = 1,     /**< chunks r and 2P−1−r of 2P (P = sp_size) */
} lwm_ring_layout;

typedef enum lwm_loader_bad_policy {
    LWM_LOADER_FAIL = 0, /**< the first bad record fails lwm_loader_next with its reason */
    LWM_LOADER_SKIP = 1, /**< bad records are skipped, counted and logged (warning) */
} lwm_loader_bad_policy;

/** One curriculum stage (configs/curriculum-*.json). */
typedef struct lwm_loader_stage {
    int64_t seq_len;          /**< set by caller: positions per row */
    double rope_theta;        /**< set by caller: reported with each batch, unused by the loader */
    int64_t tokens_per_batch; /**< set by caller: global tokens per step; a multiple of seq_len */
    int64_t total_tokens;     /**< set by caller: the stage ends after this many; <= 0 = never */
} lwm_loader_stage;

/**
 * Optimizer steps of a stage: ceil(total_tokens / tokens_per_batch); a stage without
 * total_tokens never ends (INT64_MAX / tokens_per_batch). The one count of a stage's steps:
 * the loader ends stages by it and the trainer plans its run by it.
 */
int64_t lwm_loader_stage_steps(const lwm_loader_stage *s);

/** Everything a loader is created from. Zeroed + datasets + seq_len = sensible defaults. */
typedef struct lwm_loader_options {
    const char *const
        *datasets; /**< set by caller: dataset paths (store directories, or LWM JSONL files) */
    const double *weights; /**< set by caller: mixing weight per dataset; NULL = all equal */
    int n_datasets;        /**< set by caller: >= 1 */
    const char *tokenizer; /**< set by caller: SentencePiece .model; NULL = the one the
                                      datasets record (lwm ingest --tokenizer) */
    int force_tokenizer;   /**< set by caller: 1 = use tokenizer even when a dataset records
                                      another (otherwise that is an error) */

    const lwm_loader_stage *stages; /**< set by caller: curriculum; NULL = one stage below */
    int n_stages;                   /**< set by caller */
    int64_t seq_len;                /**< set by caller when stages is NULL: positions per row */
    int64_t rows; /**< set by caller when stages is NULL: global rows per batch (0 = 1) */

    lwm_loader_layout layout; /**< set by caller; default LWM_LAYOUT_PACKED */
    int no_shuffle;           /**< set by caller: 1 = dense order (LWM's file order) */
    uint64_t seed;            /**< set by caller: shuffle and alternative choice seed */
    int64_t
        max_n_frames; /**< set by caller: subsample vision fields to this many frames; <= 0 = all */
    int force_fields_index; /**< set by caller: 1 = always take entry fields_index of a list spec */
    int fields_index;       /**< set by caller: with force_fields_index; otherwise entry
                                      random.Random(dense index).choice(list), as LWM */
    const char *fields_spec;        /**< set by caller: spec used when a record has none; NULL =
                                      the dataset's (lwm ingest --fields), else for a store
                                      record its vision field without loss then its text
                                      fields in manifest order with loss ("[vision],caption");
                                      for an LWM JSONL line without one, an error */
    const char *subfield_separator; /**< set by caller: joins a+b text; NULL = " " */
    /**
     * set by caller: 1 = every real position gets segment 1 (cross-document attention)
     */
    int no_segment_ids;
    int no_position_reset; /**< set by caller: 1 = positions run 0..seq_len-1 along the row */
    int pack_window;       /**< set by caller: documents per packing window; 0 = 4096 */
    int drop_no_loss;      /**< set by caller: 1 = leave out pieces of documents with no
                                      loss-bearing target (e.g. the frames of a [vision],caption
                                      video split over rows): packed layout; lwm train's default */
    int start_stage;       /**< set by caller: begin at this curriculum stage (not when resuming) */

    int dp_rank, dp_size; /**< set by caller: data-parallel rank and size; size 0 = 1 */
    int sp_rank, sp_size; /**< set by caller: sequence-parallel (ring) rank and size; size 0 = 1 */
    lwm_ring_layout
        ring_layout; /**< set by caller; only slices rows (seq_len must divide by 2·sp_size) */

    lwm_loader_bad_policy on_bad_record; /**< set by caller; default LWM_LOADER_FAIL */
    size_t prefetch_bytes; /**< set by caller: background prefetch cap in bytes; 0 = no thread */
    const char *cache_dir; /**< set by caller: where length caches go; NULL = inside the dataset */
    lwm_logger log;        /**< set by caller: warnings and stage changes */
    lwm_progress progress; /**< set by caller: reports a length-cache build (the only slow start) */
    lwm_mem mem;           /**< set by caller: allocator */
} lwm_loader_options;

/**
 * Where the loader is: everything needed to resume. Filled by the loader; the
 * caller only stores and restores it (lwm_loader_state_save/_load).
 */
/** Parts of the stream's inputs hashed one by one in the state (see lwm_loader_state_part_name). */
enum { LWM_LOADER_STATE_PARTS = 10 };

typedef struct lwm_loader_state {
    uint64_t seed;  /**< the shuffle seed the state belongs to (checked on resume) */
    int32_t stage;  /**< curriculum stage index */
    int64_t epoch;  /**< pass over the data within the stage */
    int64_t window; /**< packing window within the epoch (LWM layout: document cursor) */
    int64_t row;    /**< next row within the window (LWM layout: token offset in the document) */
    int64_t step;   /**< global batches delivered in this stage */
    int64_t tokens; /**< global positions delivered in this stage (step · tokens_per_batch) */
    uint64_t
        config_hash; /**< hash of what shapes the stream (the parts below); checked on resume */
    uint64_t part_hash[LWM_LOADER_STATE_PARTS]; /**< one hash per part of the stream's inputs
                                                     (lwm_loader_state_part_name), so a mismatch
                                                     on resume names what changed */
} lwm_loader_state;

/** Size of a serialized state: magic "LWMLDST", version, the fields, a checksum. */
#define LWM_LOADER_STATE_BYTES 160

/** What part i of lwm_loader_state.part_hash covers (a config field name), or NULL. */
const char *lwm_loader_state_part_name(int i);

/**
 * One batch for this rank: rows × len arrays (row-major), len = seq_len /
 * sp_size positions of each of the rank's rows. Filled by lwm_loader_next;
 * owned by the loader, valid until the next call.
 */
typedef struct lwm_loader_batch {
    int64_t rows;                 /**< this rank's rows: global rows / dp_size */
    int64_t len;                  /**< positions per row on this rank: seq_len / sp_size */
    int64_t seq_len;              /**< whole-row length of the current stage */
    int32_t *input_tokens;        /**< [rows·len] text or vision id of the input token */
    int32_t *target_tokens;       /**< [rows·len] id of the next token of the same document */
    float *loss_masks;            /**< [rows·len] loss weight of the target (0 or 1) */
    uint8_t *input_vision_masks;  /**< [rows·len] 1 = input id is in the vision space */
    uint8_t *target_vision_masks; /**< [rows·len] 1 = target id is in the vision space */
    int32_t *segment_ids;         /**< [rows·len] document within the row, 1-based; 0 = padding */
    int32_t *positions;    /**< [rows·len] RoPE position (restarts per document by default) */
    int32_t *global_index; /**< [len] index in the whole row of each local position (ring slice) */
    int32_t *
        /**
         * [rows·seq_len] segment ids of whole rows, for ring masks of other ranks' blocks
         */
        row_segment_ids;

    int32_t stage;           /**< curriculum stage of this batch */
    double rope_theta;       /**< the stage's RoPE theta */
    int64_t epoch;           /**< epoch the batch's first row came from */
    int64_t step;            /**< global step index within the stage (0-based) */
    int stage_done;          /**< 1 when this is the last batch of its stage */
    double padding_fraction; /**< padding positions / positions over this rank's rows */
    int64_t documents;       /**< documents (or pieces) that start in this rank's rows */
    int64_t documents_split; /**< pieces that are not a whole document, in this rank's rows */
    int64_t rows_no_loss;    /**< this rank's rows without any loss-bearing target */
    int64_t pieces_dropped;  /**< pieces without loss left out (drop_no_loss) of the windows
                                       planned for this batch (the same count on every rank) */
    int64_t run_step;        /**< steps of the whole curriculum before this one (the trainer
                                       logs this batch as step run_step + 1) */
    int64_t run_row;         /**< global row number, over the whole curriculum, of this
                                       rank's first row (the same whatever the rank layout) */
    lwm_loader_state state;  /**< the state right after this batch: save this one */
} lwm_loader_batch;

typedef struct lwm_loader lwm_loader;

/**
 * Creates a loader: opens the datasets, loads the tokenizer, validates every
 * record's fields spec against its fields (an unknown field name fails here,
 * naming dataset, sample and field), and loads or builds the length cache.
 * state NULL = start of stage 0; otherwise resume from it (its seed and
 * config_hash must match these options: LWM_EINVAL naming the mismatch).
 * Returns 0 and *out, or a negative code with err filled (*out NULL).
 */
int lwm_loader_create(lwm_loader **out, const lwm_loader_options *opt,
                      const lwm_loader_state *state, lwm_error *err);

/** Frees the loader (NULL is fine), stopping its prefetch thread. */
void lwm_loader_free(lwm_loader *ld);

/**
 * Fills *batch with the next batch for this rank. Returns 0, LWM_EOF when the
 * last stage's total_tokens are delivered, or a negative code (message in
 * lwm_loader_errmsg). After an error the loader can only be freed.
 */
int lwm_loader_next(lwm_loader *ld, lwm_loader_batch *batch);

/** The state after the last batch returned (start state before the first). */
lwm_loader_state lwm_loader_get_state(const lwm_loader *ld);

/** The last error's message: dataset, sample id and field where known. */
const char *lwm_loader_errmsg(const lwm_loader *ld);

/** Dataset facts the loader knows after create. Filled by lwm_loader_info. */
typedef struct lwm_loader_info {
    int64_t documents;      /**< records over all datasets */
    int64_t tokens;         /**< document tokens over all datasets (after max_n_frames) */
    int64_t skipped;        /**< bad records skipped so far (on_bad_record = SKIP) */
    int32_t n_stages;       /**< curriculum stages */
    double startup_seconds; /**< wall time of lwm_loader_create */
    int cache_built;        /**< 1 when create had to build the length cache */
    size_t prefetch_cap;    /**< bytes the prefetch buffer may hold (0 = off) */
} lwm_loader_info;

void lwm_loader_get_info(const lwm_loader *ld, lwm_loader_info *info);

/**
 * Detokenizes text ids (no vision ids) into out (capacity cap, NUL-terminated,
 * truncated when short) with the loader's tokenizer: for inspection output.
 */
int lwm_loader_detokenize(const lwm_loader *ld, const int32_t *ids, size_t n, char *out,
                          size_t cap);

/* ---- The text tokenizer on its own (for tools that store token ids) ---- */

typedef struct lwm_loader_tokenizer lwm_loader_tokenizer;

/**
 * Loads a SentencePiece .model. Returns 0 and *out, or a negative code with err naming the file.
 */
int lwm_loader_tokenizer_open(lwm_loader_tokenizer **out, const char *path, lwm_error *err);

/**
 * Encodes text without BOS/EOS (LWM's training-time rule) into ids
 * (capacity cap). Returns the token count (which may exceed cap: then only
 * cap ids were written), or a negative code.
 */
int64_t lwm_loader_tokenizer_encode(const lwm_loader_tokenizer *t, const char *text, int32_t *ids,
                                    size_t cap);

/**
 * XXH3-128 hex of the model file: the identity the store records (lwm_shard_info.tokenizer_hash).
 */
const char *lwm_loader_tokenizer_hash(const lwm_loader_tokenizer *t);

/** Pieces in the tokenizer's vocabulary (the rows a text embedding for it must have). */
int lwm_loader_tokenizer_vocab_size(const lwm_loader_tokenizer *t);

/** Frees the tokenizer (NULL is fine). */
void lwm_loader_tokenizer_free(lwm_loader_tokenizer *t);

/**
 * The tokenizer a store dataset was ingested with (lwm ingest --tokenizer T
 * records T's absolute path and XXH3-128): 1 with path/hash filled, 0 when it
 * records none (or dataset is a JSONL file), < 0 when it cannot be opened.
 */
int lwm_loader_dataset_tokenizer(const char *dataset, char *path, size_t cap, char hash[33],
                                 lwm_error *err);

/**
 * Which tokenizer to use with these datasets: given when not NULL (an error
 * when a dataset records another one, unless force), else the one the
 * datasets record (an error when none does, when they disagree, or when the
 * file changed since ingest). The path goes to out (capacity cap).
 */
int lwm_loader_tokenizer_resolve(const char *const *datasets, int n, const char *given, int force,
                                 char *out, size_t cap, lwm_error *err);

/**
 * sizeof of the public structs, for bindings that mirror them (python/):
 * which = 0 options, 1 batch, 2 state, 3 info. 0 for other values.
 */
size_t lwm_loader_struct_size(int which);

/** Writes state into buf[LWM_LOADER_STATE_BYTES] (little-endian, magic, version, checksum). */
void lwm_loader_state_save(uint8_t buf[LWM_LOADER_STATE_BYTES], const lwm_loader_state *state);

/** Reads a state saved by lwm_loader_state_save: LWM_EFORMAT / LWM_EVERSION / LWM_ECHECKSUM. */
int lwm_loader_state_load(lwm_loader_state *state, const uint8_t buf[LWM_LOADER_STATE_BYTES],
                          lwm_error *err);

/**
 * As lwm_loader_state_load for a buffer of size bytes (checked): a state of an
 * older version is refused with a message saying why (LWM_EVERSION). This only
 * checks the bytes; lwm_loader_create checks every field against the plan.
 */
int lwm_loader_state_parse(lwm_loader_state *state, const void *buf, size_t size, lwm_error *err);

/** State files: the same bytes, written atomically / read with the file named in errors. */
int lwm_loader_state_write(const char *path, const lwm_loader_state *state, lwm_error *err);
int lwm_loader_state_read(const char *path, lwm_loader_state *state, lwm_error *err);

/**
 * Reads a curriculum config (JSON: {"stages": [{"seq_len", "rope_theta",
 * "tokens_per_batch", "total_tokens"}, ...]}). *stages is allocated through
 * mem (lwm_free) and holds *n entries.
 */
int lwm_loader_curriculum_load(const char *path, const lwm_mem *mem, lwm_loader_stage **stages,
                               int *n, lwm_error *err);

/** The seed of a training config without "train.seed" (lwm train's default). */
#define LWM_LOADER_TRAIN_SEED 1

/**
 * What a config file says about the stream: a curriculum (its "stages") or a
 * training config (configs/tiny.json: "stages", "train.seed" and the "data"
 * options tokenizer, fields_spec, layout), read the one way lwm train and
 * lwm pack --curriculum both use, so that pack prints the trainer's rows.
 */
typedef struct lwm_loader_run_config {
    lwm_loader_stage *stages; /**< allocated through mem (lwm_free) */
    int n_stages;
    int is_training;          /**< 1 when the file has "model", "train" or "data" */
    uint64_t seed;            /**< train.seed, LWM_LOADER_TRAIN_SEED when absent */
    char tokenizer[2048];     /**< data.tokenizer; "" = not given (the dataset's) */
    int force_tokenizer;      /**< data.force_tokenizer (JSON bool): use it over the dataset's */
    char fields_spec[1024];   /**< data.fields_spec; "" = not given */
    lwm_loader_layout layout; /**< data.layout; default packed */
    int drop_no_loss; /**< data.drop_no_loss (JSON bool); default true in a training config */
} lwm_loader_run_config;

/** Reads a curriculum or training config. Errors name the file and field. */
int lwm_loader_run_config_load(const char *path, const lwm_mem *mem, lwm_loader_run_config *cfg,
                               lwm_error *err);

#endif /* LWM_LOADER_H */
