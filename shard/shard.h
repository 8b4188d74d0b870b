/**
 * shard.h: the corpus store. A dataset is a directory of LMDB shards plus a
 * small manifest; one record per sample holds its id, source, text fields,
 * vision codes, frame timestamps and source metadata.
 *
 * Layout of a dataset directory DIR:
 *
 *     DIR/manifest.json          schema magic + version, identities, sealed shards
 *     DIR/shard-00000.mdb        a sealed shard: complete, compacted, checksummed
 *     DIR/shard-00001.mdb        ...
 *     DIR/shard-00002.open.mdb   the shard being appended (plus its -lock file)
 *     DIR/writer.lock            held (flock) by the one writer
 *
 * Every record has a dense index (0, 1, 2, ... in the order records were
 * put; the loader shuffles over it) and a unique id (the manifest's sample id).
 * Failed samples (id, manifest line, reason) are kept beside the records and
 * have no index.
 *
 * Writing: lwm_shard_writer_create → lwm_shard_writer_open(DIR) →
 * (lwm_shard_writer_put / lwm_shard_writer_fail … lwm_shard_writer_commit)* →
 * lwm_shard_writer_close → lwm_shard_writer_free. Each commit is one LMDB
 * transaction holding the whole batch.
 *
 * Reading: lwm_shard_reader_create → lwm_shard_reader_open(DIR) →
 * lwm_shard_get / lwm_shard_find (or per-thread views: lwm_shard_view_*) →
 * lwm_shard_reader_free.
 *
 * Caveats
 * - Crash safety. A batch is visible to readers, and survives a crash or
 *   SIGKILL, exactly when lwm_shard_writer_commit returned 0 (the LMDB commit
 *   is synced to disk); a crash before that loses the whole batch and nothing
 *   else. A shard is listed in the manifest as sealed only after it was
 *   compacted to its final file, synced and checksummed, so a crash leaves a
 *   shard either absent from the manifest or whole; the shard being appended
 *   is protected by LMDB's transactions alone. Reopening a dataset after a
 *   crash finishes or rolls back an interrupted seal. lwm_shard_writer_has()
 *   tells a resuming ingest which ids are already stored (or failed).
 * - One writer per dataset: a second writer (any process) gets LWM_EEXISTS.
 *   A writer is used by one thread at a time.
 * - fork(): open readers and writers AFTER fork(). A handle opened before a
 *   fork must be neither used nor freed in the child (LMDB's lock table keys
 *   reader slots by process; freeing in the child is made harmless by a pid
 *   check, but using is not). Within one process, open a dataset at most once
 *   for reading and never both read and write it: LMDB's file locks are per
 *   process, and a second open of the shard being appended would reset them.
 *   A reader is shared by all threads through views.
 * - Reader slots: sealed shards are opened without LMDB locks (they never
 *   change), so they use no reader slots and any number of processes can read
 *   them. Only the shard being appended needs a slot: one per view while the
 *   view exists (the lock table has 1024 slots; the writer clears slots of dead
 *   processes). A finished dataset (writer closed) has no open shard.
 * - Record views: lwm_shard_get / lwm_shard_find / lwm_shard_view_get fill a
 *   `const lwm_shard_sample *` whose pointers (strings, codes, timestamps,
 *   text fields, tokens) point into buffers owned by the view (or by the
 *   reader for lwm_shard_get/find). They stay valid until the next get/find
 *   on the same view (reader), or until the view (reader) is freed. Records are
 *   decompressed and unpacked into those buffers, so a view never points into
 *   the LMDB map and holds no transaction between calls.
 * - A reader sees the dataset as it was when it opened: records committed
 *   later by a live writer are not visible until lwm_shard_reader_refresh.
 * - Map size: each shard's LMDB map is reserved up front (4 × the roll-over
 *   size, at least 1 GiB of address space, not disk) and is never resized. A
 *   batch that does not fit the current shard seals it and goes to a fresh
 *   shard; a batch larger than an empty shard's map fails with LWM_EFULL and
 *   leaves everything committed before it intact. A full disk fails the
 *   commit the same way (-ENOSPC / -EFBIG, naming the shard).
 * - Corruption: every record carries an XXH3-64 of its uncompressed bytes,
 *   every sealed shard an XXH3-128 of its file. A bad record is reported as
 *   LWM_ECHECKSUM / LWM_EFORMAT naming the record and shard; a missing or
 *   truncated shard fails lwm_shard_reader_open; a dataset or record written
 *   by a newer schema fails with LWM_EVERSION naming the versions. Records are
 *   fetched by root-to-leaf lookups, never by stepping cursors, so a damaged
 *   B-tree page gives an error (LMDB's MDB_CORRUPTED) rather than one of LMDB's
 *   assertion aborts; a damaged page elsewhere can still trip one, which is
 *   why every sealed shard is hashed before LMDB opens it (see check_files).
 */
#ifndef LWM_SHARD_H
#define LWM_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/** Schema version of the manifest and of the record layout written by this build. */
#define LWM_SHARD_SCHEMA_VERSION 1
/** Codes per frame (16×16 raster order, LWM spec §2.1). */
#define LWM_SHARD_CODES_PER_FRAME 256
/** Codes are 0..8191 (13 bits); the store packs them at 13 bits each. */
#define LWM_SHARD_CODEBOOK_SIZE 8192
/** Longest id in bytes (LMDB keys are at most 511 bytes). */
#define LWM_SHARD_MAX_ID 400

typedef struct lwm_shard_writer lwm_shard_writer;
typedef struct lwm_shard_reader lwm_shard_reader;
typedef struct lwm_shard_view lwm_shard_view;

/** What a sample holds. Set by the writer's caller; a reader returns it. */
typedef enum lwm_shard_modality {
    LWM_SHARD_TEXT = 0,  /**< text fields only, no frames */
    LWM_SHARD_IMAGE = 1, /**< one frame from a still image */
    LWM_SHARD_VIDEO = 2, /**< frames from a video (a 1-frame video stays a video) */
} lwm_shard_modality;

/** Names a modality: "text", "image", "video" ("?" for others). */
const char *lwm_shard_modality_name(int modality);
/** Parses "text"/"image"/"video"; returns the modality or LWM_EINVAL. */
int lwm_shard_modality_parse(const char *name);

/** One text field of a sample. */
typedef struct lwm_shard_text {
    const char *name;      /**< field key in the LWM JSONL line, e.g. "caption" (NUL-terminated) */
    const char *text;      /**< raw UTF-8 text (NUL-terminated) */
    const int32_t *tokens; /**< token ids of text, or NULL when not tokenized */
    int64_t n_tokens;      /**< number of tokens (0 when tokens is NULL) */
} lwm_shard_text;

/**
 * One sample. To write: the caller fills it and passes it to
 * lwm_shard_writer_put, which copies what it needs before returning. To read:
 * lwm_shard_get and friends fill one whose pointers live as described under
 * "Record views" above. Strings are NUL-terminated UTF-8; NULL reads as "".
 */
typedef struct lwm_shard_sample {
    const char *id;        /**< unique sample id, 1..LWM_SHARD_MAX_ID bytes */
    int64_t index;         /**< set by readers: dense index; ignored by put */
    int modality;          /**< lwm_shard_modality */
    const char *source;    /**< source media path ("" for LWM JSONL imports / text) */
    int64_t manifest_line; /**< 1-based line in the ingest manifest; 0 if unknown */
    const char *
        /**
         * LWM `fields` spec as JSON text ("\"[vision],caption\"" or a list); "" if none
         */
        fields;
    const lwm_shard_text *texts; /**< n_texts text fields, in the order given */
    int n_texts;
    const char *vision_name; /**< key of the vision field ("vision"); "" when frames == 0 */
    int64_t frames;          /**< frames actually decoded and encoded (not the container's claim) */
    const uint16_t *codes;   /**< frames × 256 codes, each < 8192, frame-major, raster order */
    const double *timestamps; /**< frames presentation times in seconds; NULL on put = all 0 */
    double duration;          /**< source duration in seconds (0 if unknown) */
    double fps;               /**< source's declared frame rate (0 if unknown / image) */
    int width, height;        /**< source's coded size in pixels (0 if unknown) */
    const char *codec;        /**< source decoder name, e.g. "h264" ("" if none) */
    int64_t source_bytes;     /**< size of the source file in bytes (0 if unknown / none) */
    const char *source_xxh3;  /**< XXH3-128 hex of the source file's bytes ("" if unknown / none) */
} lwm_shard_sample;

/** A sample that failed to ingest. Strings live as long as the reader. */
typedef struct lwm_shard_failure {
    const char *id;        /**< the sample id (or "line N" when the line had none) */
    int64_t manifest_line; /**< 1-based manifest line; 0 if unknown */
    const char *reason;    /**< the error message, e.g. "clip.mp4: frame 212: invalid data" */
} lwm_shard_failure;

/**
 * Where a dataset's samples came from: the ingest manifest and the range of
 * its lines this dataset covers. A corpus built on many machines is N parts
 * (part k holds lines [first_line, end_line)), merged by lwm_shard_merge; the
 * merge checks the parts against each other through this. All zero = unknown.
 */
typedef struct lwm_shard_origin {
    char source_xxh3[33];         /**< XXH3-128 hex of the ingest manifest file's bytes */
    int64_t source_lines;         /**< lines in that file (a last line without '\n' counts) */
    int64_t part, parts;          /**< part `part` (0-based) of `parts`; parts == 0: not split */
    int64_t first_line, end_line; /**< 1-based manifest lines [first_line, end_line) covered */
    int complete; /**< 1 once a run handled every line of the range (stored or failed) */
} lwm_shard_origin;

/**
 * Dataset-wide identity and settings, kept in the manifest. Set by the
 * writer's caller (lwm_shard_writer_set_info); read back by readers. Strings
 * are copied; "" means unknown / not used.
 */
typedef struct lwm_shard_info {
    const char *vqgan_hash;   /**< XXH3-128 hex of the VQGAN weights file */
    const char *vqgan_preset; /**< VQGAN preset name, e.g. "lwm" or "tiny" */
    int vqgan_untrained;      /**< 1 when codes came from random (untrained) weights */
    const char
        *tokenizer_hash; /**< XXH3-128 hex of the tokenizer model; "" if text not tokenized */
    const char *tokenizer_name; /**< e.g. "llama2-sentencepiece" */
    const char
        *settings_json; /**< ingest settings as a JSON object text ("{\"fps\":1}"); "" = none */
    lwm_shard_origin origin; /**< the manifest lines it holds; see lwm_shard_origin */
    /**
     * set by lwm_shard_merge, read back by readers (ignored by set_info): the
     * parts a merged dataset was made of, as a JSON list text of objects
     * {"part", "dataset_id", "dir", "samples", "failed", "frames"}; "" when not merged.
     */
    const char *parts_json;
} lwm_shard_info;

/** One shard as listed by a reader. Filled by the reader at open / refresh. */
typedef struct lwm_shard_file {
    char name[64];       /**< file name inside DIR, e.g. "shard-00000.mdb" */
    int sealed;          /**< 1 sealed (immutable, checksummed), 0 being appended */
    int64_t first_index; /**< dense index of its first record */
    int64_t records;     /**< records in it */
    int64_t failed;      /**< failed samples recorded in it */
    int64_t frames;      /**< frames in its records */
    int64_t file_bytes;  /**< size of the file on disk */
    char checksum[33];   /**< XXH3-128 hex of the file (sealed only, else "") */
    /**
     * The dense index the shard's own keys start at. It equals first_index
     * except in a merged dataset, whose shards are the parts' files as they
     * are (hard links), keyed by the part's own indices.
     */
    int64_t key_base;
    char dataset_id[33]; /**< the dataset that wrote the shard (in a merge: its part's id) */
    int part;            /**< in a merged dataset, the part (0-based) that built it; else -1 */
    int damaged;         /**< sealed, but its bytes disagree with the manifest (open_damaged) */
} lwm_shard_file;

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

/** Writer settings. Zeroed = defaults. */
typedef struct lwm_shard_writer_options {
    int64_t shard_bytes; /**< set by caller: roll over to a new shard past this size; 0 = 256 MiB */
    int64_t map_bytes;   /**< set by caller: LMDB map per shard; 0 = max(4 × shard_bytes, 1 GiB) */
    int zstd_level;      /**< set by caller: zstd level for records; 0 = 3 */
    /**
     * set by caller: the packed codes of a record are zstd-compressed only when
     * that saves at least this fraction (text and metadata always are); 0 =
     * 0.2, > 1 = never. Codes of a well-used codebook (~13 bits of entropy)
     * hardly compress, and zstd's entropy decoding of them costs ~4x the read
     * time of raw codes; see bench/RESULTS.md.
     */
    double codes_min_saving;
    lwm_logger log; /**< set by caller: where notes go (seals, recoveries) */
    lwm_mem mem;    /**< set by caller: allocator (zeroed = libc) */
} lwm_shard_writer_options;

/** Creates a writer (not yet tied to a directory); NULL when out of memory. opt may be NULL. */
lwm_shard_writer *lwm_shard_writer_create(const lwm_shard_writer_options *opt);

/**
 * Opens DIR for appending, creating it (and its manifest) when absent, and
 * recovering from an interrupted run: an unfinished seal is completed or
 * undone, and the shard being appended keeps every committed batch. A new
 * dataset needs a new or empty directory (else LWM_EINVAL).
 * Returns 0, or: LWM_EEXISTS (another writer holds DIR), LWM_EVERSION (newer
 * schema), LWM_EFORMAT (not a dataset / damaged manifest), LWM_ENOTFOUND (a
 * sealed shard is missing), a negative errno.
 */
int lwm_shard_writer_open(lwm_shard_writer *w, const char *dir);

/**
 * Sets the dataset identity. On a dataset that already holds records (or
 * failures), the VQGAN and tokenizer hashes must match the stored ones, every
 * setting present in both settings objects must have the same value, and the
 * origin must name the same manifest and part (else LWM_EINVAL naming both
 * values), so a resumed ingest cannot mix codebooks, samplings or parts.
 * info->origin.complete is stored as given (a run starts incomplete; see
 * lwm_shard_writer_set_complete). Written to the manifest at once.
 */
int lwm_shard_writer_set_info(lwm_shard_writer *w, const lwm_shard_info *info);

/**
 * Marks the dataset's origin complete (every line of its range handled) and
 * writes the manifest. lwm_shard_merge takes only complete parts.
 */
int lwm_shard_writer_set_complete(lwm_shard_writer *w);

/**
 * Is id already in the dataset (committed, or put in the current batch)?
 * Returns 0 (absent), 1 (stored as a record), 2 (recorded as failed), or a
 * negative code. Lets a resumed ingest skip samples before decoding them.
 */
int lwm_shard_writer_has(lwm_shard_writer *w, const char *id);

/**
 * Adds one sample to the current batch (encoded and compressed now, written
 * at commit). The sample is copied; the caller may reuse it on return.
 * Returns its dense index (>= 0), or LWM_EEXISTS (id already stored or in the
 * batch), LWM_EINVAL (bad field: empty/long id, code >= 8192, ... named in the
 * message), -ENOMEM. A failed put leaves the batch as it was.
 */
int64_t lwm_shard_writer_put(lwm_shard_writer *w, const lwm_shard_sample *sample);

/**
 * Records a failed sample in the current batch: id (may be NULL, then
 * "line <manifest_line>"), 1-based manifest line, reason. An id already stored
 * as a record gives LWM_EEXISTS; recording the same failure twice replaces it.
 */
int lwm_shard_writer_fail(lwm_shard_writer *w, const char *id, int64_t manifest_line,
                          const char *reason);

/**
 * Writes the current batch in one LMDB transaction and syncs it. After 0,
 * the batch survives any crash. On error nothing of the batch is stored, the
 * batch is dropped (put it again to retry), and everything committed earlier
 * is intact. Rolls over to a new shard when the current one is past
 * shard_bytes. An empty batch is a no-op.
 */
int lwm_shard_writer_commit(lwm_shard_writer *w);

/** Drops the current batch (nothing of it is stored). */
void lwm_shard_writer_abort(lwm_shard_writer *w);

/** Records committed so far (the next put's index minus the batch). */
int64_t lwm_shard_writer_count(const lwm_shard_writer *w);

/**
 * Commits the pending batch, seals the shard being appended and writes the
 * final manifest: afterwards the dataset holds only sealed shards. Returns 0
 * or a negative code (then the dataset is still consistent; reopen to retry).
 */
int lwm_shard_writer_close(lwm_shard_writer *w);

/**
 * Frees the writer (NULL is fine). Without a prior close, the pending batch is
 * dropped and the open shard stays open for a later writer to continue: the
 * same state a crash leaves.
 */
void lwm_shard_writer_free(lwm_shard_writer *w);

/** The last failure's message, naming the dataset, shard and sample. */
const char *lwm_shard_writer_errmsg(const lwm_shard_writer *w);

/* ------------------------------------------------------------------------ */
/* Merge: parts built apart become one dataset                              */
/* ------------------------------------------------------------------------ */

/** Merge settings. Zeroed = defaults. */
typedef struct lwm_shard_merge_options {
    lwm_logger log; /**< set by caller: notes (links made, an earlier merge found) */
    lwm_mem mem;    /**< set by caller: allocator (zeroed = libc) */
} lwm_shard_merge_options;

/** What a merge did. Filled by lwm_shard_merge. */
typedef struct lwm_shard_merge_result {
    int64_t samples, failed, frames; /**< totals of the merged dataset */
    int64_t shards;                  /**< shard files linked into it */
    int already;                     /**< 1 when out_dir already held this merge: nothing done */
    double seconds;                  /**< wall time */
} lwm_shard_merge_result;

/**
 * Makes one dataset in out_dir of the n parts in part_dirs: part k of n of one
 * ingest manifest each (lwm_shard_origin), given in any order, merged in part
 * order, so the dense order is the manifest's, as one ingest of the whole
 * manifest would give. Records are neither copied nor re-compressed: every
 * sealed shard of every part is hard-linked into out_dir under the merged
 * shard numbering and the merged manifest maps dense indices onto the parts'
 * own keys (lwm_shard_file.key_base), so the cost grows with the number of
 * shards and ids, not with record bytes. The parts stay datasets of their own.
 *
 * Refused (LWM_EINVAL / LWM_EFORMAT, err naming the part's directory and both
 * values; nothing is written): a part that is not a dataset, is being written
 * (its writer.lock is held), is unfinished (a shard still open, or its run did
 * not handle every line), parts of different manifests or part counts, a
 * missing or repeated part, different VQGAN weights, tokenizer, ingest
 * settings or schema, a sample id stored (or failed) in two parts, an out_dir
 * that holds anything but an earlier attempt at this merge, and parts on
 * another file system than out_dir (hard links cannot cross them).
 *
 * Crash-safe: the merged manifest is written (atomically) last, so until then
 * out_dir is no dataset and a re-run starts over, replacing what it finds; a
 * re-run after a finished merge finds it and returns 0 with res->already = 1.
 * The parts are only read. opt may be NULL. Returns 0 or a negative code.
 */
int lwm_shard_merge(const char *const *part_dirs, int n, const char *out_dir,
                    const lwm_shard_merge_options *opt, lwm_shard_merge_result *res,
                    lwm_error *err);

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */
/* ------------------------------------------------------------------------ */

/** Reader settings. Zeroed = defaults. */
typedef struct lwm_shard_reader_options {
    /**
     * Every sealed shard is hashed against the manifest before LMDB opens it (LMDB
     * aborts on a damaged page); one that hashed right before and is unchanged
     * since (same inode, size, mtime, ctime) is not read again: the cache lives in
     * $LWM_CACHE_DIR, else $XDG_CACHE_HOME/lwm, else ~/.cache/lwm.
     */
    int check_files; /**< set by caller: 1 = hash every sealed shard now, cache or not (slow) */
    /**
     * 0: a damaged sealed shard fails the open (LWM_ECHECKSUM naming it). 1: the
     * open succeeds, the shard is marked damaged, its records count but reading
     * one fails (lwm verify reports every damaged shard this way).
     */
    int open_damaged;
    lwm_logger log; /**< set by caller */
    lwm_mem mem;    /**< set by caller: allocator (zeroed = libc) */
} lwm_shard_reader_options;

/** Creates a reader; NULL when out of memory. opt may be NULL. */
lwm_shard_reader *lwm_shard_reader_create(const lwm_shard_reader_options *opt);

/**
 * Opens the dataset in DIR as it is now (a snapshot; see Caveats). Checks the
 * manifest's magic and schema version (LWM_EVERSION for a newer one), that
 * every sealed shard exists with the recorded size (LWM_ENOTFOUND / LWM_EFORMAT
 * naming the shard) and belongs to this dataset. Returns 0 or a negative code.
 */
int lwm_shard_reader_open(lwm_shard_reader *r, const char *dir);

/**
 * Picks up records committed since open by a live writer (and shards it
 * sealed). Invalidates every record view of this reader and its views; call
 * it only while no other thread uses the reader. Returns 0 or a negative code.
 */
int lwm_shard_reader_refresh(lwm_shard_reader *r);

/** Frees the reader (NULL is fine). Its views must be freed first. */
void lwm_shard_reader_free(lwm_shard_reader *r);

/** Number of records (dense indices are 0 .. count-1). */
int64_t lwm_shard_reader_count(const lwm_shard_reader *r);

/** Dataset identity; strings live as long as the reader (until refresh). */
const lwm_shard_info *lwm_shard_reader_info(const lwm_shard_reader *r);

/** The shards, *n of them; valid until refresh or free. */
const lwm_shard_file *lwm_shard_reader_files(const lwm_shard_reader *r, int *n);

/** The failed samples, *n of them, ordered by manifest line; valid until refresh or free. */
const lwm_shard_failure *lwm_shard_reader_failures(const lwm_shard_reader *r, int64_t *n);

/**
 * Reads record `index` into *out using the reader's own view (single-threaded
 * use; see lwm_shard_view_get for threads). Returns 0, LWM_ENOTFOUND (index out
 * of range), LWM_ECHECKSUM / LWM_EFORMAT / LWM_EVERSION (bad record, named), or
 * a negative errno. *out is valid until the next get/find on this reader.
 */
int lwm_shard_get(lwm_shard_reader *r, int64_t index, const lwm_shard_sample **out);

/** As lwm_shard_get, by id. LWM_ENOTFOUND when no record has that id. */
int lwm_shard_find(lwm_shard_reader *r, const char *id, const lwm_shard_sample **out);

/** The last failure's message of the reader (open, refresh, get, find). */
const char *lwm_shard_reader_errmsg(const lwm_shard_reader *r);

/* Views: one per thread; each owns its decode buffers and its error message. */

/** Creates a view of r; NULL when out of memory. Thread-safe with respect to r. */
lwm_shard_view *lwm_shard_view_create(lwm_shard_reader *r);
/** As lwm_shard_get, into the view's buffers (valid until the next get/find on v). */
int lwm_shard_view_get(lwm_shard_view *v, int64_t index, const lwm_shard_sample **out);
/** As lwm_shard_find, into the view's buffers. */
int lwm_shard_view_find(lwm_shard_view *v, const char *id, const lwm_shard_sample **out);
/** The last failure's message of this view. */
const char *lwm_shard_view_errmsg(const lwm_shard_view *v);
/** Frees the view (NULL is fine). */
void lwm_shard_view_free(lwm_shard_view *v);

/* ------------------------------------------------------------------------ */
/* Inspection and verification (what `lwm inspect` / `lwm verify` report)   */
/* ------------------------------------------------------------------------ */

/**
 * Bins of the per-sample histograms, by powers of two: bin 0 = [0], bin b =
 * [2^(b-1), 2^b - 1], the last bin open-ended. Frames use LWM_SHARD_HIST_BINS
 * bins (last: >= 2^14), tokens LWM_SHARD_TOKEN_HIST_BINS (last: >= 2^30).
 */
#define LWM_SHARD_HIST_BINS 16
#define LWM_SHARD_TOKEN_HIST_BINS 32

/** Whole-dataset statistics, from a full scan. Filled by lwm_shard_inspect. */
typedef struct lwm_shard_stats {
    int64_t samples;                         /**< records */
    int64_t by_modality[3];                  /**< records per lwm_shard_modality */
    int64_t frames;                          /**< frames in all records */
    int64_t vision_tokens;                   /**< codes in all records (frames × 256) */
    int64_t text_tokens;                     /**< token ids in all text fields */
    int64_t text_bytes;                      /**< UTF-8 bytes in all text fields */
    int64_t failed;                          /**< failed samples */
    int64_t frame_hist[LWM_SHARD_HIST_BINS]; /**< samples per frame-count bin (see above) */
    int64_t min_frames, max_frames; /**< per-sample frame count range (0 when no records) */
    int64_t
        token_hist[LWM_SHARD_TOKEN_HIST_BINS]; /**< samples per token-count bin (vision + text) */
    int64_t max_tokens;                        /**< most tokens (vision + text) in one sample */
    int64_t codes_used;                        /**< distinct codes that occur */
    double code_entropy_bits;                  /**< order-0 entropy of the codes, bits per code */
    int64_t raw_bytes;           /**< uncompressed record bytes (codes packed at 13 bits) */
    int64_t unpacked_code_bytes; /**< codes at 16 bits (vision_tokens × 2), for comparison */
    int64_t stored_bytes;        /**< compressed record bytes as stored in LMDB values */
    int64_t file_bytes;          /**< all shard files */
    int64_t page_bytes;          /**< LMDB pages in use (leaf + branch + overflow) × page size */
    double page_waste;           /**< 1 − stored payload / page bytes (keys, headers, slack) */
    int64_t bad_records;         /**< records that failed to read during the scan */
} lwm_shard_stats;

/**
 * Scans every record of r (progress through *progress if non-NULL) and fills
 * *stats. A record that fails to read is counted in bad_records (use
 * lwm_shard_verify to name them). Returns 0 or a negative code.
 */
int lwm_shard_inspect(lwm_shard_reader *r, lwm_progress *progress, lwm_shard_stats *stats);

/** One problem found by lwm_shard_verify. */
typedef struct lwm_shard_problem {
    int code;            /**< LWM_ECHECKSUM, LWM_EFORMAT, LWM_EVERSION, ... */
    const char *shard;   /**< shard file name */
    int64_t index;       /**< record index, or -1 when the problem is the whole shard */
    const char *message; /**< what is wrong, naming the record's id when it could be read */
} lwm_shard_problem;

/**
 * Reads every record and checks its checksum and schema, and every sealed
 * shard's file checksum (hashed now unless r was opened with check_files; a
 * shard r marked damaged is one problem, its records are skipped); calls
 * on_problem for each problem (may be NULL).
 * Returns the number of problems (0 = all good) or a negative code when
 * verification itself could not run.
 */
int64_t lwm_shard_verify(lwm_shard_reader *r, lwm_progress *progress,
                         void (*on_problem)(void *opaque, const lwm_shard_problem *p),
                         void *opaque);

/**
 * Writes every sample of r, in dense-index order, as one line of LWM's JSONL to out_path:
 * {"id", "fields" (the stored spec, left out when none), each text field as a string, the vision
 * field as one flat list of frames x 256 codes}. Streams (one record in memory at a time) into a
 * temp file renamed into place when complete; progress (may be NULL) counts samples. Returns 0
 * or a negative code with err naming the sample or the file.
 */
int lwm_shard_export_jsonl(lwm_shard_reader *r, const char *out_path, lwm_progress *progress,
                           lwm_error *err);

/* ------------------------------------------------------------------------ */
/* Code packing (exposed for the loader and the benchmarks)                 */
/* ------------------------------------------------------------------------ */

/** Bytes that n codes take at 13 bits each: ceil(13 n / 8). */
size_t lwm_shard_packed_size(size_t n);

/**
 * Packs n codes (each < 8192) at 13 bits, little-endian bit order: code k
 * occupies bits 13k .. 13k+12 of the stream, bit b of the stream being bit
 * (b mod 8) of byte b / 8. out holds lwm_shard_packed_size(n) bytes.
 */
void lwm_shard_pack13(uint8_t *out, const uint16_t *codes, size_t n);

/**
 * Unpacks n codes. in must be readable for lwm_shard_packed_size(n) + 8 bytes
 * (the fast loop reads 8 bytes at a time; the reader's buffers are padded).
 */
void lwm_shard_unpack13(uint16_t *out, const uint8_t *in, size_t n);

#endif /* LWM_SHARD_H */
