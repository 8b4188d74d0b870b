/**
 * ingest.h: decoding videos and images into LWM's 256×256 frames.
 *
 * A *frame* is one decoded picture of the source, shown upright (rotation
 * metadata applied), converted to RGB with the source's colour matrix and
 * range, resized so that its short side is 256 with bicubic filtering, and
 * centre-cropped to 256×256: 196,608 bytes of HWC RGB24. The encoder's input is
 * that frame scaled to float [-1, 1] (lwm_ingest_to_float). Images and video
 * frames go through the same code path; an image is a one-frame source.
 *
 * *Frame count* is the number of frames that actually decoded, never the
 * container's claim. Frame sampling (fps, max_frames) selects by presentation
 * time, in presentation order.
 *
 * Lifecycle: lwm_ingest_create → (lwm_ingest_open → lwm_ingest_read … LWM_EOF)* →
 * lwm_ingest_free. A context may open one source after another; it keeps its
 * decoder scratch between them.
 *
 * Sampling. With neither fps nor max_frames, every decoded frame is yielded.
 * Otherwise open() first lists the stream's packets without decoding (cheap),
 * orders them by presentation time, and picks: with fps F, for each tick k/F
 * seconds after the first frame (while the video lasts), the frame starting
 * nearest to the tick, each frame once; with max_frames N, LWM's
 * trunc(linspace(0, n-1, N)) over the n frames (or over the fps picks when
 * both are set). n <= N keeps all. Unpicked frames are not decoded when no
 * other frame needs them, and long gaps are crossed by seeking to a keyframe.
 *
 * Damaged media. Packets that fail to decode are counted and skipped; the
 * frames that did decode are yielded; at the end a warning through the logger
 * says how many failed and how many picks are missing. A source from which no
 * frame decodes fails at the end with LWM_EDECODE.
 *
 * Caveats
 * - One context per thread; contexts share nothing.
 * - Untagged video is taken as BT.709 when HD (width >= 1280 or height > 576),
 *   else BT.601, as players do; tagged colour matrix and range are honoured.
 * - Relative times: pts 0.0 is the first frame shown, whatever the container's
 *   start time.
 * - After a failed open or read, lwm_ingest_errmsg() names the file and, where
 *   known, the frame.
 */
#ifndef LWM_INGEST_H
#define LWM_INGEST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define LWM_FRAME_SIDE 256
#define LWM_FRAME_BYTES (LWM_FRAME_SIDE * LWM_FRAME_SIDE * 3)

typedef struct lwm_ingest lwm_ingest;

/** How a source is sampled and decoded. Zeroed = every frame, automatic threads. */
typedef struct lwm_ingest_options {
    double fps;         /**< set by caller: one frame per 1/fps s of video time; 0 = off */
    int64_t max_frames; /**< set by caller: at most this many, spread uniformly; 0 = off */
    int threads;        /**< set by caller: decoder threads; 0 = automatic */
    lwm_logger log;     /**< set by caller: where warnings go (zeroed = nowhere) */
    lwm_mem mem;        /**< set by caller: allocator (zeroed = libc) */
} lwm_ingest_options;

/** What the opened source is. Filled by lwm_ingest_open. */
typedef struct lwm_source_info {
    int width, height; /**< coded size before rotation, pixels */
    int rotation;      /**< clockwise degrees applied to show it upright: 0, 90, 180, 270 */
    double fps;        /**< average frame rate the container declares (0 if unknown) */
    double duration;   /**< seconds (0 if unknown) */
    int is_image;      /**< 1 for a still image */
    char codec[32];    /**< decoder name, e.g. "h264" */
    char pix_fmt[32];  /**< source pixel format, e.g. "yuv420p10le"; for MP4 sources described by
                              their header, "unknown" until read decodes the first frame */
    /* Added fields (below): counts that sampling and damage reporting need. */
    int64_t frames_total;     /**< set by open when sampling: frames found by a demux-only
                                  packet scan (not the container's claim); -1 when not scanned */
    int64_t frames_selected;  /**< set by open when sampling: frames the rules pick; -1 if not */
    int64_t decode_errors;    /**< set by read, growing: packets or frames that failed to decode */
    int64_t frames_concealed; /**< set by read, growing: yielded frames the decoder had to patch */
    int64_t frames_missing;   /**< set by read at the end: selected frames that never decoded */
    int64_t frames_decoded;   /**< set by read, growing: packets given to the decoder to decode
                                  (sampling leaves out those no selected frame needs; where it
                                  cannot tell, the decoder drops non-reference ones itself) */
    int64_t file_bytes;       /**< set by read at the end (LWM_EOF): the file's size */
    char file_xxh3[33];       /**< set by read at the end: XXH3-128 hex of the file's bytes,
                                  computed from the demuxer's own reads (plus the bytes it never
                                  read), so the file is not read twice; "" before the end */
} lwm_source_info;

/** One sampled frame: 256×256 HWC RGB24 plus its time. Filled by lwm_ingest_read. */
typedef struct lwm_frame {
    uint8_t rgb[LWM_FRAME_BYTES];
    double pts;    /**< presentation time in seconds from the stream start */
    int64_t index; /**< 0-based index among the frames this source yields */
} lwm_frame;

/** Creates a context; NULL when out of memory. opt may be NULL (defaults). */
lwm_ingest *lwm_ingest_create(const lwm_ingest_options *opt);

/** Frees a context (NULL is fine), closing any open source. */
void lwm_ingest_free(lwm_ingest *ctx);

/**
 * Opens a video or image file. Returns 0, or a negative code with the reason in
 * lwm_ingest_errmsg (missing, empty, not media, no video stream, absurd size…).
 */
int lwm_ingest_open(lwm_ingest *ctx, const char *path);

/** The open source's description; valid until the next open or free. */
const lwm_source_info *lwm_ingest_info(const lwm_ingest *ctx);

/**
 * Reads the next sampled frame into *frame. Returns 0, LWM_EOF after the last
 * one, or a negative code (a decode error that ends the source).
 */
int lwm_ingest_read(lwm_ingest *ctx, lwm_frame *frame);

/** The last failure's message ("clip.mp4: frame 212: invalid data"). */
const char *lwm_ingest_errmsg(const lwm_ingest *ctx);

/** Scales n bytes of RGB24 to float in [-1, 1] (x / 127.5 − 1), as LWM does. */
void lwm_ingest_to_float(float *out, const uint8_t *rgb, size_t n);

/* ------------------------------------------------------------------------ */
/* Manifest samples (one JSONL line each)                                   */
/* ------------------------------------------------------------------------ */

/** What a manifest line asks for. */
typedef enum lwm_ingest_kind {
    LWM_INGEST_TEXT = 0,  /**< text fields only */
    LWM_INGEST_IMAGE = 1, /**< "image": a still to decode */
    LWM_INGEST_VIDEO = 2, /**< "video": a video to decode */
    LWM_INGEST_CODES = 3, /**< LWM's own format: vision codes inline, nothing to decode */
} lwm_ingest_kind;

/** One text field of a sample: a string-valued key of the line. */
typedef struct lwm_ingest_text {
    const char *name; /**< the key, e.g. "caption" */
    const char *text; /**< its UTF-8 value */
} lwm_ingest_text;

/**
 * One manifest line, parsed and checked. Filled by lwm_ingest_sample_parse;
 * every pointer is owned by the sample and lives until
 * lwm_ingest_sample_release.
 *
 * A line is a JSON object with a string (or integer) "id"; at most one of
 * "video" / "image" (a path; relative paths are taken from the manifest's
 * directory); LWM's optional "fields" spec (a string or a list of strings,
 * lwm-format.md §3.1); a key whose name contains "vision" holding a list of
 * codes (0..8191, a multiple of 256: LWM's pre-tokenized format, which needs
 * no decoding); and text fields: every other key, a string (see
 * lwm_ingest_sample_parse_spec for the checks; this is it without a default spec).
 */
typedef struct lwm_ingest_sample {
    int64_t line;                 /**< 1-based line in the manifest */
    const char *id;               /**< sample id, 1..400 bytes */
    int kind;                     /**< lwm_ingest_kind */
    const char *media;            /**< resolved path of the video or image; NULL otherwise */
    const char *fields;           /**< the fields spec as compact JSON text; NULL when absent */
    const lwm_ingest_text *texts; /**< n_texts text fields, in line order */
    int n_texts;
    const char *vision_name; /**< key of the inline codes ("vision"); NULL when none */
    const uint16_t *codes;   /**< LWM_INGEST_CODES: n_codes codes, frame-major */
    int64_t n_codes;
    void *internal_; /**< owned storage; not for callers */
} lwm_ingest_sample;

/**
 * Parses one manifest line (len bytes, need not be NUL-terminated) into s.
 * line is its 1-based number, manifest_dir the directory relative media paths
 * start from ("" or NULL = as given). Returns 0, or LWM_EFORMAT (not a JSON
 * object) / LWM_EINVAL / LWM_ENOTFOUND (a bad or missing field) with err
 * naming the line, the id when known and the field; s is then released.
 */
int lwm_ingest_sample_parse(lwm_ingest_sample *s, const char *text, size_t len, int64_t line,
                            const char *manifest_dir, const lwm_mem *mem, lwm_error *err);

/**
 * As lwm_ingest_sample_parse, with the dataset's default fields spec
 * (lwm ingest --fields; NULL = none) applying to a line without its own.
 *
 * Which keys are text: those the spec (the line's, else the default) names;
 * without any spec, every key but "id", "video", "image" and "fields" (and
 * inline vision code lists). A key one typo away from a reserved one
 * ("vidoe", "imgae", "Id") that no spec names, a text field that is not a
 * string, and a text value naming an existing media file (a path, relative to
 * manifest_dir, ending in a video or image extension) fail the line.
 */
int lwm_ingest_sample_parse_spec(lwm_ingest_sample *s, const char *text, size_t len, int64_t line,
                                 const char *manifest_dir, const char *default_spec,
                                 const lwm_mem *mem, lwm_error *err);

/** Frees what a parsed sample owns and zeroes it (safe on a zeroed sample). */
void lwm_ingest_sample_release(lwm_ingest_sample *s, const lwm_mem *mem);

/* ------------------------------------------------------------------------ */
/* The manifest run: every sample decoded (and, with a dataset, stored)     */
/* ------------------------------------------------------------------------ */

/** Frames a decoding worker holds before handing them to the encoder, by default. */
#define LWM_INGEST_ENCODE_CHUNK 32

/** What lwm_ingest_run does. Zeroed fields take the defaults given. */
typedef struct lwm_ingest_run_options {
    const char *manifest;      /**< set by caller: the JSONL manifest path (required) */
    const char *out_dir;       /**< set by caller: dataset directory to build (shard store);
                                   NULL = decode and check only */
    const char *vqgan;         /**< set by caller: VQGAN weights that encode decoded frames;
                                   recorded in the dataset (absolute path; its hash is the
                                   dataset's VQGAN identity); NULL = the ones the dataset
                                   records, else none: then a video or image sample in the
                                   manifest refuses the run before anything is read
                                   (res->usage) */
    const char *tokenizer;     /**< set by caller: recorded in the dataset's settings only: text is
                                   stored raw and tokenized by the loader (ingest may not
                                   depend on the loader); NULL = none */
    int commit_every;          /**< set by caller: samples per store commit; 0 = 16 (also at
                                   least every 2 s) */
    lwm_ingest_options decode; /**< set by caller: sampling and decoder threads per sample */
    int workers;               /**< set by caller: samples decoded at once; 0 = 2 */
    int strict;                /**< set by caller: stop at the first failed sample */
    int encode_chunk;          /**< set by caller: frames a worker holds before the encoder
                                   takes them (it takes fewer, a multiple of 4, when it is
                                   idle); a worker decodes into a second chunk meanwhile, so
                                   memory for pixels is about 2 × workers × encode_chunk ×
                                   196 KB whatever the video's length;
                                   0 = LWM_INGEST_ENCODE_CHUNK */
    lwm_progress
        *progress;  /**< set by caller: progress sink (samples, with frames/s); may be NULL */
    lwm_logger log; /**< set by caller: failures (ERROR), damage (WARN), notes (INFO) */
    /**
     * set by caller: run part `part` (0-based) of `parts` only: the manifest's
     * L lines split into contiguous ranges balanced by line count, part k
     * holding 1-based lines [k·L/parts + 1, (k+1)·L/parts + 1) (integer
     * division). Lines before the range are counted, never parsed. parts 0 =
     * the whole manifest. The dataset records which part it holds (see
     * lwm_shard_origin) and refuses another part; lwm_shard_merge joins them.
     */
    int64_t part, parts;
    int retry_failed;   /**< set by caller: samples recorded as failed are tried again
                                   (stored ones are still skipped); one that succeeds is stored
                                   after the records already there, and its failure is dropped */
    const char *fields; /**< set by caller: the dataset's default fields spec, e.g.
                                   "[vision],caption" (one spec string), recorded in its settings
                                   for lines without their own; NULL = the one recorded, else
                                   none (the loader then takes vision, then the sample's text
                                   fields in manifest order, loss on the text) */
    const volatile sig_atomic_t *cancel; /**< set by caller: when *cancel turns non-zero (a
                                   signal handler), the run stops after the samples already
                                   handled, commits them and returns with res->interrupted */
    int vqgan_precision; /**< set by caller: enum lwm_vqgan_precision of the encoder; recorded
                                   in the dataset's settings ("vqgan_precision"), so a resumed
                                   run with another precision is refused */
} lwm_ingest_run_options;

/**
 * Version of the frames ingest makes from a source for given settings,
 * recorded in a dataset's settings ("preprocess"): bumped whenever a change of
 * decoding, sampling or resizing would give other frames, so corpora (and
 * parts to merge) built by different versions are told apart.
 */
#define LWM_INGEST_PREPROCESS_VERSION 1

/** Counts of a run. Filled by lwm_ingest_run. */
typedef struct lwm_ingest_run_result {
    int64_t samples; /**< non-blank manifest lines seen */
    int64_t ok;      /**< samples that decoded (and were stored) */
    int64_t failed;  /**< samples that failed: each reported through the logger */
    int64_t skipped; /**< samples not processed: already stored (or recorded as failed) in the
                           dataset, or after a --strict stop */
    int64_t frames;  /**< frames decoded in ok samples */
    double seconds;  /**< wall time of the run */
    int64_t first_line, end_line; /**< the manifest lines this run covered: [first, end) */
    int64_t failed_before; /**< skipped samples an earlier run recorded as failed (not retried) */
    int64_t stored;        /**< with a dataset: records in it when the run ended */
    int interrupted;       /**< 1 when *cancel stopped the run (what it handled is stored) */
    int usage;             /**< 1 when the run was refused for what it was asked (media
                                   samples and no VQGAN, other settings than the dataset's):
                                   nothing was read or written; err says why */
} lwm_ingest_run_result;

/**
 * Runs a manifest: every line parsed and checked, every video or image
 * decoded into its sampled frames, `workers` samples at a time, results
 * handled in manifest order.
 *
 * With out_dir, it builds a dataset: decoding workers feed one encoder thread
 * (the VQGAN, its own OpenMP threads inside) through a bounded window, and the
 * calling thread writes every sample in manifest order (so the dense index
 * follows the manifest) and commits in batches. Crash-safe and resumable: a
 * batch is durable once committed (shard.h), and a re-run of the same command
 * skips ids already stored or recorded as failed before decoding them, so
 * after any crash (even SIGKILL) and a re-run every sample is there exactly
 * once. Failed samples are recorded in the dataset (id or "line N", line,
 * reason). A sample whose id repeats an earlier line fails as a duplicate.
 *
 * A failed sample (malformed line, no id,
 * duplicate id, missing / empty / corrupt / non-media / audio-only file,
 * absurd size, ...) is logged at LWM_LOG_ERROR as
 * `sample "ID" (manifest line N): reason` and the run goes on (with strict,
 * it stops there and the rest count as skipped). Returns 0 when the run went
 * through (res says how many failed), or a negative code with err filled when
 * it could not run at all (manifest unreadable, out of memory).
 * Threads: creates its own decoding workers (and, with a VQGAN, one encoder
 * thread); the progress sink and the run's log lines are called from the
 * calling thread only, decode.log (damage warnings) from the workers.
 * Memory: at most workers*2+2 samples are in flight, and a sample's frames are
 * held until it is encoded (196,608 bytes each): sample long videos with fps
 * or max_frames.
 */
int lwm_ingest_run(const lwm_ingest_run_options *opt, lwm_ingest_run_result *res, lwm_error *err);

/**
 * Checks a manifest (the part opt asks for) as lwm_ingest_run would read it,
 * without decoding or writing anything: every line parsed and checked (keys,
 * fields specs against opt->fields, duplicate ids), each bad one logged at
 * LWM_LOG_ERROR as lwm_ingest_run logs it. res->samples, ok and failed count
 * lines; res->frames is unused. *media gets the number of video and image
 * samples (NULL = not wanted). Returns 0, or negative when the manifest cannot
 * be read.
 */
int lwm_ingest_check(const lwm_ingest_run_options *opt, lwm_ingest_run_result *res, int64_t *media,
                     lwm_error *err);

/* ------------------------------------------------------------------------ */
/* Media output: what `lwm frames`, `lwm vqgan decode` and `lwm render` write */
/* ------------------------------------------------------------------------ */

/**
 * Writes a width×height RGB24 image (rows packed, stride width*3) to path as
 * PNG with FFmpeg's PNG encoder, atomically (temporary file, then rename).
 * Returns 0 or a negative code with err naming the file.
 */
int lwm_ingest_write_png(const char *path, const uint8_t *rgb, int width, int height,
                         lwm_error *err);

/** An MP4 (H.264) writer of RGB24 frames. Opaque; one per file; one thread. */
typedef struct lwm_ingest_mp4 lwm_ingest_mp4;

/**
 * Creates path as an MP4 of width×height frames (both even) at fps frames per
 * second, H.264 (libx264 when present, else FFmpeg's default H.264 encoder).
 * Returns 0 and *out, or a negative code with err filled (*out NULL).
 */
int lwm_ingest_mp4_open(lwm_ingest_mp4 **out, const char *path, int width, int height, double fps,
                        lwm_error *err);

/** Appends one RGB24 frame (packed rows). 0 or a negative code with err filled. */
int lwm_ingest_mp4_write(lwm_ingest_mp4 *w, const uint8_t *rgb, lwm_error *err);

/**
 * Flushes the encoder, finishes the file and frees w (NULL is fine). Returns 0
 * or a negative code (err filled) when the file could not be completed.
 */
int lwm_ingest_mp4_close(lwm_ingest_mp4 *w, lwm_error *err);

#endif /* LWM_INGEST_H */
