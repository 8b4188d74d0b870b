/**
 * internal.h: declarations shared between the loader's files (not public).
 *
 * Pieces: the SentencePiece wrapper (spm.cc), Python's random.choice
 * (pyrandom.c), the fields-spec grammar (spec.c), document building
 * (document.c), dataset sources (source_*.c), the shuffle permutation and
 * packing plans (plan.c), state files and curriculum configs (state.c).
 */
#ifndef LWM_LOADER_INTERNAL_H
#define LWM_LOADER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "loader.h"

/* ---- SentencePiece (spm.cc): the one C++ file, behind C functions ---- */

typedef struct loader_spm loader_spm;

/** The largest tokenizer model read (LLaMA-2's is 0.5 MB; the biggest public ones ~20 MB). */
#define LOADER_MAX_TOKENIZER_BYTES ((size_t)64 << 20)
/**
 * Reads a .model file once (a regular file of at most LOADER_MAX_TOKENIZER_BYTES),
 * sets hash to its XXH3-128 hex (the tokenizer's identity) and loads it.
 * Returns 0 or LWM_EFORMAT/LWM_EINVAL/-ENOENT with err naming the file.
 */
int loader_spm_open(loader_spm **out, char hash[33], const char *path, lwm_error *err);
/** Loads a model from its bytes (path only names it in errors). */
int loader_spm_load(loader_spm **out, const char *data, size_t size, const char *path,
                    lwm_error *err);
void loader_spm_free(loader_spm *spm);
/**
 * Encodes text (no BOS/EOS) into *ids (grown through mem; capacity *cap),
 * setting *n. Returns 0 or a negative code.
 */
int loader_spm_encode(const loader_spm *spm, const lwm_mem *mem, const char *text, size_t len,
                      int32_t **ids, size_t *n, size_t *cap);
/** Decodes ids into out (capacity cap, NUL-terminated, truncated if short). Returns 0 or < 0. */
int loader_spm_decode(const loader_spm *spm, const int32_t *ids, size_t n, char *out, size_t cap);
int loader_spm_vocab_size(const loader_spm *spm);
int loader_spm_bos_id(const loader_spm *spm);
int loader_spm_eos_id(const loader_spm *spm);

/* ---- Python's random.Random(n).choice(seq) index (pyrandom.c) ---- */

/** The index random.Random(seed).choice(seq) picks from a sequence of length n (n >= 1). */
int64_t loader_py_choice(uint64_t seed, int64_t n);

/* ---- Fields spec (spec.c) ---- */

typedef enum loader_item_kind { ITEM_BOS, ITEM_EOS, ITEM_FIELD } loader_item_kind;

#define LOADER_MAX_PARTS 8
#define LOADER_MAX_ITEMS 32

/** One comma-separated entry of a spec: `<|bos|>`, `<|eos|>`, `name`, `a+b`, each maybe `[...]`. */
typedef struct loader_spec_item {
    loader_item_kind kind;
    int loss;                           /**< 0 inside [...], else 1 */
    int n_parts;                        /**< names joined with '+' */
    const char *part[LOADER_MAX_PARTS]; /**< pointers into the spec string (not NUL-terminated) */
    size_t part_len[LOADER_MAX_PARTS];
} loader_spec_item;

typedef struct loader_spec {
    int n_items;
    loader_spec_item item[LOADER_MAX_ITEMS];
} loader_spec;

/** Parses one spec string (kept by pointer: it must outlive spec). LWM_EINVAL naming the entry. */
int loader_spec_parse(loader_spec *spec, const char *text, size_t len, lwm_error *err);

/* ---- Records and sources ---- */

/** One field of a record; typed by the store (text or vision), never by its name. */
typedef struct loader_field {
    const char *name;
    size_t name_len;
    int is_vision;
    const char *text; /**< text: UTF-8 (not NUL-terminated) */
    size_t text_len;
    const int32_t *tokens; /**< text: pre-tokenized ids, or NULL to tokenize text */
    size_t n_tokens;
    const uint16_t *codes; /**< vision: frames × 256 codes */
    int64_t n_codes;
} loader_field;

#define LOADER_MAX_FIELDS 64

/** A record view, valid until the next read on the same source. */
typedef struct loader_record {
    const char *id;
    const char *spec; /**< the chosen spec string (not NUL-terminated), after list choice */
    size_t spec_len;
    int n_fields;
    loader_field field[LOADER_MAX_FIELDS];
} loader_record;

/** A dataset behind dense indices 0..count-1. */
typedef struct loader_source {
    void *impl;
    const char *path;
    int64_t count;
    /** Reads record index into *rec, choosing among list specs (choice). 0 or < 0 with err. */
    int (*read)(void *impl, int64_t index, loader_record *rec, lwm_error *err);
    void (*close)(void *impl);
    uint64_t identity; /**< changes whenever the stored data may have changed */
    int cacheable;     /**< 1 = lengths may be cached beside the data */
} loader_source;

/** How list specs are resolved and documents built; shared by sources and documents. */
typedef struct loader_build_opts {
    int force_fields_index, fields_index;
    const char *default_spec;
    const char *separator;
    int64_t max_n_frames;
    const loader_spm *spm;
    int32_t vision_open[32], vision_close[32]; /**< tokenizer ids of "<vision>", "</vision>" */
    int n_open, n_close;
    int32_t bos, eos;
} loader_build_opts;

/** Picks the entry of a spec value (JSON string or list text given as a cJSON item). */
struct cJSON;
int loader_spec_choose(const struct cJSON *value, int64_t index, const loader_build_opts *b,
                       const char **spec, size_t *len, lwm_error *err);
/**
 * As loader_spec_choose with a memo of the choice per record (memo[index],
 * -1 = not yet known): Python's generator is slow to seed, and records are
 * read many times (lengths, rows, pieces).
 */
int loader_spec_choose_memo(const struct cJSON *value, int64_t index, const loader_build_opts *b,
                            int8_t *memo, const char **spec, size_t *len, lwm_error *err);

/** Opens an LWM JSONL file: every line parsed and its text tokenized up front (in memory). */
int loader_source_jsonl_open(loader_source *src, const char *path, const loader_build_opts *b,
                             const lwm_mem *mem, lwm_error *err);

/**
 * Opens a store directory (shard/). tokenizer_hash (XXH3-128 hex of the
 * tokenizer file) must match the dataset's when it stores token ids.
 */
int loader_source_shard_open(loader_source *src, const char *dir, const loader_build_opts *b,
                             const char *tokenizer_hash, const lwm_mem *mem, lwm_error *err);

/* ---- Documents (document.c) ---- */

/** A built document: the token layout of one record. */
typedef struct loader_doc {
    int32_t *tokens;
    uint8_t *vision;
    uint8_t *loss;
    size_t n, cap;
    /* vision runs: the code area of each vision field, for frame-boundary splits */
    int64_t *runs;           /**< pairs (first code's token index, frames) */
    size_t n_runs, cap_runs; /**< pairs used / allocated */
    int32_t *scratch;        /**< tokenizer output scratch */
    size_t scratch_cap;
} loader_doc;

/** Builds rec into doc (reusing its buffers). Errors name the record and field. */
int loader_doc_build(loader_doc *doc, const loader_record *rec, const loader_build_opts *b,
                     const lwm_mem *mem, lwm_error *err);
void loader_doc_release(loader_doc *doc, const lwm_mem *mem);
/** Grows doc's buffers to hold need tokens (keeping its content). 0 or -ENOMEM. */
int loader_doc_reserve(loader_doc *doc, const lwm_mem *mem, size_t need);
/** Asks for transparent huge pages over the aligned interior of [p, p + n). */
void loader_advise_huge(void *p, size_t n);

/** Frames kept out of n by max_n_frames, as np.linspace(0, n-1, m).astype(int): idx[k]. */
int64_t loader_frame_index(int64_t n, int64_t m, int64_t k);

/* ---- Shuffle (plan.c) ---- */

/** A keyed bijection of [0, n): Feistel rounds on a power-of-4 domain with cycle-walking. */
typedef struct loader_perm {
    int64_t n;
    int half_bits;
    uint64_t key[4];
    int identity;
} loader_perm;

void loader_perm_init(loader_perm *p, int64_t n, uint64_t seed, uint64_t a, uint64_t b,
                      int identity);
int64_t loader_perm_apply(const loader_perm *p, int64_t i);

/* ---- Lengths and split points: what plans are computed from ---- */

/** Per-document facts for planning: token count and vision code areas. */
typedef struct loader_lengths {
    int64_t n_docs;
    uint32_t *n_tokens; /**< [n_docs] tokens of each document; 0 = bad record (skipped) */
    uint32_t *run_off;  /**< [n_docs + 1] offsets into runs */
    uint32_t *runs;     /**< pairs (start, frames) */
    size_t n_runs, cap_runs;
    uint32_t *loss_off;  /**< [n_docs + 1] offsets into loss_runs */
    uint32_t *loss_runs; /**< pairs [start, end) of tokens whose loss is 1 */
    size_t n_loss, cap_loss;
} loader_lengths;

/** 1 when some target of a piece (tokens a+1..b) of document doc carries loss. */
int loader_piece_has_loss(const loader_lengths *len, int64_t doc, int64_t a, int64_t b);

/**
 * The largest end b (a < b <= a + max_positions, b <= n - 1) at which a piece
 * that starts at token a may end without cutting a frame; -1 when none.
 */
int64_t loader_piece_end(const loader_lengths *len, int64_t doc, int64_t a, int64_t max_positions);

/* ---- Document order: slots of an epoch → (dataset, record) (plan.c) ---- */

/** The datasets and their mixing pattern; epoch = sum of dataset sizes slots. */
typedef struct loader_order {
    int n_datasets;
    int64_t size[16];    /**< records per dataset */
    int64_t offset[16];  /**< first global document id of each dataset */
    int64_t epoch_slots; /**< slots per epoch: sum of sizes */
    int cycle;           /**< pattern length (sum of integer weights) */
    uint8_t *pattern;    /**< [cycle] dataset of each slot of a cycle */
    int32_t
        *rank_in_cycle; /**< [cycle] how many earlier slots of the cycle chose the same dataset */
    int32_t count[16];  /**< slots per cycle of each dataset */
    uint64_t seed;
    int32_t stage;
    int shuffle;
} loader_order;

int loader_order_init(loader_order *o, const int64_t *sizes, const double *weights, int n,
                      const lwm_mem *mem, lwm_error *err);
void loader_order_release(loader_order *o, const lwm_mem *mem);
/** Global document id of slot i of epoch e in the current stage. */
int64_t loader_order_doc(const loader_order *o, int64_t epoch, int64_t slot);

/* ---- Packing plans (plan.c) ---- */

/** One piece of a document in a row: tokens [a, b] give positions a..b-1. */
typedef struct loader_piece {
    int64_t doc;   /**< global document id */
    int64_t a, b;  /**< first and last token */
    int64_t slots; /**< positions taken in the row (b - a) */
    int32_t row;   /**< row within the window */
    int32_t split; /**< 1 when the piece is not the whole document */
} loader_piece;

/** The rows of one window: pieces sorted by row, each row's pieces contiguous. */
typedef struct loader_plan {
    int64_t epoch, window; /**< which window this is (-1 = none yet) */
    loader_piece *pieces;
    size_t n_pieces, cap_pieces;
    int64_t *row_first; /**< [n_rows + 1] first piece of each row */
    size_t n_rows, cap_rows;
    int64_t *remaining; /**< scratch: free positions per row */
    size_t cap_remaining;
    int64_t dropped; /**< pieces without a loss-bearing target left out (drop_no_loss) */
} loader_plan;

/**
 * Computes the best-fit-decreasing plan of window w of epoch e: documents of
 * slots [w·W, (w+1)·W) cut into pieces of at most seq_len positions (at frame
 * boundaries), placed largest first into the fullest row they fit, rows then
 * shuffled by a key of (seed, stage, epoch, window) unless order->shuffle is 0.
 * Bad documents (length 0) are left out. LWM_EINVAL when a piece cannot end
 * on a frame boundary within seq_len (message names the document).
 */
int loader_plan_window(loader_plan *plan, const loader_order *order, const loader_lengths *len,
                       int64_t epoch, int64_t window, int64_t window_docs, int64_t seq_len,
                       int drop_no_loss, const lwm_mem *mem, lwm_error *err);
void loader_plan_release(loader_plan *plan, const lwm_mem *mem);

/* ---- The loader context (loader.c, rows.c) ---- */

#define LOADER_MAX_DATASETS 16

/** Positions of one whole row, before the ring slice. */
typedef struct loader_row {
    int32_t *input, *target, *segment, *position;
    float *loss;
    uint8_t *input_vision, *target_vision;
    int64_t padding, documents, split; /**< statistics of the row */
} loader_row;

/** A cursor in LWM's concatenated stream: document slot and token offset. */
typedef struct loader_stream_cursor {
    int64_t epoch, slot, offset;
} loader_stream_cursor;

struct lwm_loader {
    lwm_mem mem;
    lwm_error err;
    lwm_loader_options opt; /**< copy; strings below are owned copies */
    char *dataset_path[LOADER_MAX_DATASETS];
    char *default_spec, *separator, *cache_dir;
    double weights[LOADER_MAX_DATASETS];
    loader_spm *spm;
    char tokenizer_hash[33]; /**< XXH3-128 hex of the tokenizer file */
    loader_build_opts build;
    loader_source src[LOADER_MAX_DATASETS];
    int n_src;
    loader_lengths len;
    loader_order order;
    lwm_loader_stage *stages;
    int n_stages;
    int64_t window_docs;
    lwm_loader_state st; /**< state after the last batch returned */
    loader_plan plan;
    loader_doc doc;
    int64_t doc_id;     /**< global id of the document in doc; -1 = none */
    loader_row row;     /**< the row being built: row_own, or a row of the batch */
    loader_row row_own; /**< whole-row buffers (capacity max seq_len + 1) */
    int64_t row_cap;
    int32_t *stream_tokens; /**< LWM layout: the L + 1 stream tokens of a row */
    uint8_t *stream_vision, *stream_loss;
    lwm_loader_batch batch; /**< this rank's arrays, sized for the largest stage (no prefetch) */
    int64_t batch_cap,
        rows_cap;              /**< positions per rank batch; whole-row positions per rank batch */
    lwm_loader_state consumed; /**< state after the last batch handed to the caller */
    struct loader_prefetch *prefetch; /**< background producer, or NULL */
    int64_t epoch_rows; /**< packed: rows seen in the current epoch (detects empty data) */
    int64_t dropped;    /**< pieces without loss left out of windows planned since
                                            the last batch (drop_no_loss) */
    lwm_loader_info info;
};

/**
 * Fills ld->len for every dataset: from each dataset's length cache when it
 * is current, else by building every document once (progress reported) and
 * writing the cache (beside the data, or in opt.cache_dir).
 */
int loader_lengths_compute(lwm_loader *ld);

/** Computes the next batch of this rank into b (whose arrays are allocated). */
int loader_generate(lwm_loader *ld, lwm_loader_batch *b);
int loader_batch_alloc(const lwm_loader *ld, lwm_loader_batch *b);
void loader_batch_release(const lwm_loader *ld, lwm_loader_batch *b);
/** Bytes of one batch's arrays. */
size_t loader_batch_bytes(const lwm_loader *ld);

/* Background prefetch (prefetch.c): a producer thread fills a ring of batches. */
int loader_prefetch_start(lwm_loader *ld);
int loader_prefetch_next(lwm_loader *ld, lwm_loader_batch *out);
void loader_prefetch_stop(lwm_loader *ld);

/** Produces the next global row of the current stage; fills ld->row when materialize. */
int loader_next_row(lwm_loader *ld, int materialize);

/* Resume (resume.c): the state's part hashes and bounds. */

/** Hashes of the stream's inputs, part by part, and of all parts. */
void loader_state_parts(const lwm_loader *ld, uint64_t part[LWM_LOADER_STATE_PARTS], uint64_t *all);
/** Checks state (NULL = fresh start) against the options and the plan, then sets ld->st. */
int loader_resume(lwm_loader *ld, const lwm_loader_state *state);

/** Reads and builds global document doc into ld->doc (cached). */
int loader_build_doc(lwm_loader *ld, int64_t doc);

#endif /* LWM_LOADER_INTERNAL_H */
