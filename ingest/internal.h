/**
 * internal.h: declarations shared between the files of the ingest stage.
 * No other stage includes this header.
 *
 *   demux.c       open a source, choose the stream, read rotation, scan packets
 *   decode.c      threaded decoding; skip and seek past unwanted frames
 *   sample.c      which frames to keep: fps and max_frames over presentation times
 *   h264_*.c      which H.264 frames the kept ones predict from: the decode plan
 *   nal.c         NAL unit framing; packets the decoder would drop as non-reference
 *   preprocess.c  colour conversion, bicubic resize, centre crop, rotation (libswscale)
 *   manifest.c    JSONL manifest lines → samples
 *   run.c         the manifest run: every sample decoded, failures reported
 *   store.c       each finished sample: counted, stored or recorded as failed
 *   settings.c    the dataset's recorded settings: checked, carried over, used as defaults
 *   media_out.c   PNG and MP4 writers
 */
#ifndef LWM_INGEST_INTERNAL_H
#define LWM_INGEST_INTERNAL_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <pthread.h>

#include "ingest.h"

/* ---- preprocess.c: one frame to 256×256 RGB ---------------------------------------- */

/** Where the upright, resized picture is cut: computed once per source geometry. */
typedef struct ingest_geometry {
    int upright_w, upright_h; /**< source size after rotation */
    int scaled_w, scaled_h;   /**< resized upright size: short side 256 */
    int crop_x, crop_y;       /**< top-left of the 256×256 crop in the resized upright picture */
} ingest_geometry;

/** Fills g for a coded size w×h shown with rotation (clockwise degrees). */
void ingest_geometry_for(ingest_geometry *g, int w, int h, int rotation);

/** The swscale state of one source; reused while the frame format stays the same. */
typedef struct ingest_scaler {
    struct SwsContext *sws;
    int src_w, src_h, src_fmt, src_space, src_range, rotation; /* cache key */
    ingest_geometry geom;
    uint8_t *buf; /* resized picture in stored orientation, RGB24 */
    size_t buf_size;
    int buf_stride;
    int win_out;      /* column of the resized picture where buf starts (choose_window) */
    int win_bytes[4]; /* where that window starts in each plane of the source, bytes */
} ingest_scaler;

/**
 * Sets the scaler up for frames like this one (colour matrix and range from the
 * frame, size, rotation); allocates only when they change. 0, or a negative
 * code with err naming what failed.
 */
int ingest_scaler_prepare(ingest_scaler *s, const lwm_mem *mem, const AVFrame *frame, int rotation,
                          lwm_error *err);

/**
 * Converts one decoded frame, as prepared for, into a 256×256 RGB24 frame
 * (out): bicubic resize, crop, rotation. Allocates nothing, so it may run on
 * another thread than prepare's. 0, or LWM_EDECODE if swscale fails.
 */
int ingest_scaler_convert(ingest_scaler *s, uint8_t *out, const AVFrame *frame);

/** Frees the scaler's state (safe on a zeroed or already released scaler). */
void ingest_scaler_release(ingest_scaler *s, const lwm_mem *mem);

/* ---- convert.c: converting a frame while the next one decodes ------------------------- */

typedef enum { CONVERT_OFF, CONVERT_IDLE, CONVERT_POSTED, CONVERT_DONE } convert_state;

/** A helper thread for ingest_scaler_convert (zeroed: not started). */
typedef struct convert_thread {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    convert_state state;
    int stop;
    ingest_scaler *scaler; // the posted job
    const AVFrame *frame;
    uint8_t *out;
    int rc;
} convert_thread;

/**
 * Starts the thread if it is not running; if it cannot start, posts convert on the caller's thread.
 */
void convert_thread_start(convert_thread *c);
/**
 * Starts converting frame into out with s (prepared for it); returns at once if the thread runs.
 */
void convert_thread_post(convert_thread *c, ingest_scaler *s, const AVFrame *frame, uint8_t *out);
/** Waits for the posted conversion; its ingest_scaler_convert result. */
int convert_thread_wait(convert_thread *c);
/** Stops and joins the thread (nothing may be posted); safe on a zeroed one. */
void convert_thread_stop(convert_thread *c);

/* ---- h264_refs.c: which frames the sampled H.264 frames need -------------------------- */

typedef struct h264_refs h264_refs;

/**
 * Starts the analysis of an H.264 stream (parameter sets from its extradata); NULL if out of
 * memory.
 */
h264_refs *h264_refs_create(const lwm_mem *mem, const AVCodecParameters *par);
/** Adds the stream's next packet in decode order: 0, or -ENOMEM. */
int h264_refs_add(h264_refs *r, const uint8_t *data, size_t size);
/** Why the stream is outside what the analysis models (then it answers nothing); NULL if inside. */
const char *h264_refs_stopped(const h264_refs *r);
/**
 * Fills plan[i] (n_packets entries, decode order) with H264_PLAN_* bits:
 * DECODE for each packet that must be decoded for the packets picked[] to
 * come out exactly as from a full decode (the picked ones, what their active
 * reference lists name, transitively, and what the decoder's handling of the
 * packets left out requires). 0, or negative when the stream is outside the
 * analysis (then decode as if it were not there).
 */
int h264_refs_plan(const h264_refs *r, const int64_t *picked, size_t n_picked, uint8_t *plan,
                   size_t n_packets);
void h264_refs_free(h264_refs *r);

/* plan[] entries of h264_refs_plan */
#define H264_PLAN_DECODE 1      // decode this packet
#define H264_PLAN_CLEAN_START 2 // an IDR: decoding may start here after a seek
#define H264_PLAN_PARAMS 4      // carries parameter sets: the decoder must see it, decoded or not

/* ---- nal.c: NAL unit framing; packets the decoder would drop as non-reference ------- */

/**
 * Bytes of each NAL unit's length prefix (H.264 avcC, HEVC hvcC), or 0 for Annex B / other codecs.
 */
int ingest_nal_length_size(const AVCodecParameters *par);

/** Walks the NAL units of a packet (or of Annex B extradata). */
typedef struct nal_reader {
    const uint8_t *p;
    size_t left;
    int len_size; // ingest_nal_length_size; 0: Annex B start codes
} nal_reader;

/** The next NAL unit (header byte first): 1, 0 at the end, -1 if a length prefix overruns. */
int ingest_nal_next(nal_reader *rd, const uint8_t **nal, size_t *size);

/**
 * 1 if skip_frame = AVDISCARD_NONREF would drop every NAL unit of this H.264 or
 * HEVC packet (non-reference slices only), so that not sending it is the same.
 */
int ingest_packet_nonref(enum AVCodecID codec, int len_size, const uint8_t *data, size_t size);

/* ---- demux.c / decode.c: the reading context ------------------------------------- */

typedef struct scan_packet {
    int64_t pts, dts;
    int64_t decode_idx; // position among the stream's packets in file order
    int key;
} scan_packet;

// A wanted frame, decoded and not yet converted.
typedef struct held_frame {
    AVFrame *frame;
    double pts;    // seconds from the first frame
    int64_t order; // among all frames the decoder output
    int64_t index; // among the frames yielded
} held_frame;

#define AHEAD_NONE 1 // lwm_ingest.ahead_rc: nothing decoded ahead yet

/* ---- the source file's bytes (source_io.c) ---- */
typedef struct source_io source_io;
struct AVIOContext;
/** Opens path for libavformat's reads, hashing them; 0 or a negative errno. */
int source_io_open(source_io **out, const char *path, const lwm_mem *mem);
/** The AVIOContext to give the demuxer (owned by io). */
struct AVIOContext *source_io_avio(source_io *io);
/** Back to byte 0 (before the demuxer opens the file again). */
int source_io_rewind(source_io *io);
/** Hashes what the demuxer never read; the size and XXH3-128 hex of the whole file. */
int source_io_finish(source_io *io, int64_t *bytes, char hex[33]);
/** Closes the file and frees io (NULL is fine); *io becomes NULL. */
void source_io_close(source_io **io);

struct lwm_ingest {
    // Kept across sources (made by lwm_ingest_create, freed by lwm_ingest_free).
    lwm_ingest_options opt;
    lwm_error err;
    AVPacket *pkt;
    AVFrame *frame;
    ingest_scaler scaler;
    convert_thread convert;
    held_frame held[2]; // the frame being converted, and the one decoded ahead
    // Per source: everything from `info` to the end is reset in one place (reset_source in
    // demux.c) when a source closes, so no field of one file leaks into the next.
    lwm_source_info info;
    char path[1024];
    AVFormatContext *fmt;
    source_io *io; // the file under fmt: our reads, hashed as they happen
    AVCodecContext *dec;
    int stream;
    AVRational tb;
    int ahead;    // which of held is ahead
    int ahead_rc; // 0: held[ahead] holds the next frame; AHEAD_NONE; or LWM_EOF / an error
    // packet scan (sampling only): decode order, and presentation order
    scan_packet *scan, *by_pts;
    size_t n_scan, scan_cap;
    int64_t *picks;  // presentation indices selected
    h264_refs *refs; // H.264 reference analysis during the scan, or NULL
    uint8_t *plan;   // per packet in decode order: H264_PLAN_* bits; NULL: no decode plan
    size_t n_picks, next_pick;
    int sampling; // 1: only picked frames are yielded, matched by pts
    int by_index; // sampling without timestamps: picks are output counts
    int can_seek;
    int nal_len_size;        // NAL framing of the stream's packets (ingest_nal_length_size)
    int64_t next_decode_idx; // decode index of the next packet to read; -1 unknown
    int have_pkt;            // ctx->pkt holds a packet read ahead
    int demux_done, flushed;
    int reported;      // the damage warning was logged
    int pix_fmt_known; // info.pix_fmt names a format (from probing or a decoded frame)
    int64_t first_pts, out_count, yielded;
};

/** Records "path: message" in ctx's error and returns code. */
int ingest_fail(lwm_ingest *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Names format (an AVPixelFormat, or -1 when unknown yet) in ctx->info.pix_fmt. */
void ingest_note_pix_fmt(lwm_ingest *ctx, int format);

/**
 * Reads the next packet of the video stream into ctx->pkt: 1, or 0 at the end
 * (a read error ends the stream early, with a warning: a truncated file).
 */
int ingest_read_packet(lwm_ingest *ctx);

/** Goes back to the first packet (seek, verified; else reopen). 0 or negative. */
int ingest_rewind(lwm_ingest *ctx);

/* ---- sample.c: frame selection -------------------------------------------------- */

/**
 * LWM's max_frames rule (lwm-format.md §2.3): writes the indices
 * trunc(linspace(0, n-1, m)) into out (capacity >= min(n, m)) and returns how
 * many. n <= m or m <= 0 selects all n. Computed as NumPy does: float64
 * step (n-1)/(m-1), k*step floored, the last index forced to n-1.
 */
size_t ingest_linspace_pick(int64_t *out, int64_t n, int64_t m);

/**
 * The fps rule: ticks k/fps seconds after the first frame, while the video
 * lasts (the last frame lasting as long as the one before it); each tick takes
 * the frame whose start is nearest (ties: the earlier), each frame at most once.
 * times are presentation times in seconds, ascending, times[0] the first frame.
 * Writes indices into times into out (capacity n) and returns how many.
 */
size_t ingest_fps_pick(int64_t *out, const double *times, size_t n, double fps);

/**
 * Both rules as the options ask: fps first (when set), then max_frames over
 * what fps kept (when set). out has capacity n. Returns the count.
 */
size_t ingest_select(int64_t *out, const double *times, size_t n, double fps, int64_t max_frames);

/* ---- run.c / store.c: the manifest run ------------------------------------------------ */

#include <stdio.h>

/** Frames of one sample held for the encoder (RGB24, LWM_FRAME_BYTES each). */
typedef struct encode_buf {
    uint8_t *rgb;
    size_t cap;    // frames rgb can hold
    int64_t n;     // frames held
    int64_t first; // index in the sample of the first one
    int in_flight; // handed to the encoder (under mu)
    struct job *job;
    struct encode_buf *next; // encode queue link
} encode_buf;

/** Frames the encoder takes at once (lwm_vqgan max_batch); hand-offs start at multiples of it,
    so a sample's frames meet the same batches whatever the timing, and its codes are the same. */
#define ENCODE_BATCH 4

/** One manifest sample on its way through the run. */
typedef struct job {
    int64_t seq;              // position among non-blank lines
    int64_t line;             // 1-based manifest line
    lwm_ingest_sample sample; // parsed line (zeroed when the line did not parse)
    int rc;                   // 0, or why it failed (err has the message)
    lwm_error err;
    int skipped;            // already in the dataset
    int failed_before;      // skipped: an earlier run recorded it as failed
    int done;               // set under run_state.mu when the result is ready
    int64_t frames;         // frames decoded
    int64_t frames_encoded; // frames the encoder has finished (under mu)
    uint16_t *codes;        // frames × 256 codes, written by the encoder thread only
    size_t codes_cap;       // frames' worth of codes allocated
    double *pts;            // frames presentation times when kept
    size_t frames_cap;
    encode_buf buf[2];   // frames held for the encoder: the worker fills buf[cur] while
    int cur;             // the encoder works on the other (double buffering)
    int in_flight;       // buffers handed to the encoder, not yet encoded (under mu)
    int decode_finished; // the worker is done with it (under mu)
    int enc_rc;          // the encoder's failure, merged into rc when done (under mu)
    lwm_error enc_err;
    lwm_source_info info;
    struct job *next; // decode queue link
} job;

typedef struct run_state {
    const lwm_ingest_run_options *opt;
    lwm_ingest_run_result *res;
    lwm_error *err;
    double t0;
    FILE *manifest;
    char manifest_dir[4096];
    char *line; // getline buffer (libc)
    size_t line_cap;
    int64_t line_no, total_lines;
    int64_t first_line, end_line; // this run's lines [first, end): its part of the manifest
    char manifest_xxh3[33];       // XXH3-128 of the manifest file, recorded as the dataset's origin
    int64_t issued, finished;     // jobs made / handled
    int eof, stop, halted;        // stop: workers quit (under mu); halted: --strict stop
    size_t window;                // jobs in flight at most
    job **slots;                  // window ring, by seq
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    job *decode_head, *decode_tail;
    pthread_t *threads;
    int n_threads, sync_ready;
    int keep_frames;                       // frames are kept for an encoder
    struct lwm_shard_writer *writer;       // the dataset being built, or NULL
    struct lwm_vqgan *vqgan;               // the encoder, or NULL
    encode_buf *encode_head, *encode_tail; // buffers waiting for the encoder (under mu)
    int encoder_busy;                      // the encoder is working on a buffer (under mu)
    int64_t frames_unhandled; // frames encoded of samples not yet handled: progress per
                              // frame within a long sample (under mu)
    pthread_t encoder;
    int encoder_started;
    pthread_cond_t cv_encode;
    int64_t pending; // samples put since the last commit
    double last_commit;
    struct seen_id *ids; // ids seen in this manifest (open addressing)
    size_t ids_cap, ids_n;
    // settings.c: what the dataset in out_dir records, and what this run uses
    struct cJSON *stored; // its settings object, or NULL (new dataset, or unreadable)
    int stored_data;      // it holds records or failures: its settings bind this run
    char stored_vqgan_hash[33];
    const char *fields;    // default fields spec: opt->fields, else the recorded one; or NULL
    char vqgan_path[4096]; // opt->vqgan, else the recorded weights; "" = none
} run_state;

/**
 * settings.c: reads what the dataset in out_dir records (settings, VQGAN
 * identity), refuses other sampling settings or fields spec than its own
 * (res->usage), and picks the weights and default spec. 0 or negative.
 */
int run_read_dataset(run_state *r);
/**
 * The settings object to record (JSON text, cJSON_free it): the recorded one
 * updated with this run's; the tokenizer and the weights (vqgan_hash: the
 * loaded weights' hash, "" = none) are checked against the recorded ones.
 * NULL with err filled (res->usage when the run asks for another identity).
 */
char *run_settings_json(run_state *r, const char *vqgan_hash, lwm_error *err);
/** Frees what run_read_dataset read. */
void run_release_dataset(run_state *r);

/** Sets up what the run needs beyond decoding (ids table); 0 or negative with r->err. */
int run_setup(run_state *r);
/**
 * Marks a freshly read job failed (duplicate id) or skipped (already stored,
 * or its failure already recorded). Called for lines that did not parse too.
 */
void run_check_new(run_state *r, job *j);
/**
 * Called by a worker under r->mu after decoding j: hands the frames it still holds to the
 * encoder; j is done once the encoder has them all (at once when it has no frames or failed).
 */
void run_decoded(run_state *r, job *j);
/**
 * Called by a worker (not holding r->mu) after each frame it keeps: hands the held frames to
 * the encoder when they make a chunk, or a multiple of ENCODE_BATCH while the encoder is idle,
 * and goes on decoding into the other buffer; it waits only while that one is still being
 * encoded, so a worker holds at most two chunks. 0, or -1 when j must stop (the run stopped,
 * or encoding it failed).
 */
int run_encode_held(run_state *r, job *j, int64_t chunk);
/** Starts the encoder thread when the run encodes; 0 or negative. Called after the mutex exists. */
int run_start_encoder(run_state *r);
/** Stops the encoder thread (r->stop is set); frees jobs left in its queue are not freed here. */
void run_stop_encoder(run_state *r);
/** Handles a finished job in manifest order: report, count, store. 0 or fatal negative. */
int run_handle(run_state *r, job *j);
/** Completes the run after the last job (final commit). 0 or negative. */
int run_finish(run_state *r);
/** Appends one frame to j (when frames are kept). 0 or -ENOMEM (j->rc set). */
int job_add_frame(run_state *r, job *j, const lwm_frame *frame);
/** Frees a job and what it owns. */
void job_free(run_state *r, job *j);
/** Frees the setup's state. */
void run_release(run_state *r);
/** Logs j's failure as the run reports it and counts it in res->failed. */
void run_report_failure(run_state *r, job *j);

/** run.c: hashes and counts the manifest, places the run's lines, opens it. 0 or negative. */
int run_open_manifest(run_state *r);
/** Closes what run_open_manifest opened (safe to repeat). */
void run_close_manifest(run_state *r);
/**
 * Reads the next non-blank line of the range into a new job, parsed and checked: 1, 0 at the end,
 * or negative.
 */
int run_next_job(run_state *r, job **out);

/**
 * check.c: with a dataset to build and no VQGAN weights, a video or image sample in the
 * run's lines is a usage error (res->usage) found before anything is decoded or written.
 */
int run_refuse_media(run_state *r);

/** Turns an FFmpeg error code into text ("Invalid data found when processing input"). */
const char *ingest_av_err(int averr, char *buf, size_t cap);

#endif /* LWM_INGEST_INTERNAL_H */
