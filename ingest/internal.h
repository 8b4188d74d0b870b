/**
 * internal.h: declarations shared between the files of the ingest stage.
 * No other stage includes this header.
 *
 *   demux.c       open a source, choose the stream, read rotation, scan packets
 *   decode.c      threaded decoding; skip and seek past unwanted frames
 *   sample.c      which frames to keep: fps and max_frames over presentation times
 *   preprocess.c  colour conversion, bicubic resize, centre crop, rotation (libswscale)
 *   manifest.c    JSONL manifest lines → samples
 *   run.c         the manifest run: every sample decoded, failures reported
 *   media_out.c   PNG and MP4 writers
 */
#ifndef LWM_INGEST_INTERNAL_H
#define LWM_INGEST_INTERNAL_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

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
    uint8_t *buf;       /* resized picture in stored orientation, RGB24 */
    size_t buf_size;
    int buf_stride;
} ingest_scaler;

/**
 * Converts one decoded frame into a 256×256 RGB24 frame (out): colour matrix
 * and range from the frame, bicubic resize, crop, rotation. Returns 0 or a
 * negative code with err naming what failed.
 */
int ingest_scaler_run(ingest_scaler *s, const lwm_mem *mem, uint8_t *out, const AVFrame *frame,
                      int rotation, lwm_error *err);

/** Frees the scaler's state (safe on a zeroed or already released scaler). */
void ingest_scaler_release(ingest_scaler *s, const lwm_mem *mem);

/* ---- demux.c / decode.c: the reading context ------------------------------------- */

typedef struct scan_packet {
    int64_t pts, dts;
    int64_t decode_idx; // position among the stream's packets in file order
    int key;
} scan_packet;

struct lwm_ingest {
    lwm_ingest_options opt;
    lwm_error err;
    lwm_source_info info;
    char path[1024];
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    AVRational tb;
    ingest_scaler scaler;
    // packet scan (sampling only): decode order, and presentation order
    scan_packet *scan, *by_pts;
    size_t n_scan, scan_cap;
    int64_t *picks;         // presentation indices selected
    size_t n_picks, next_pick;
    int sampling;           // 1: only picked frames are yielded, matched by pts
    int by_index;           // sampling without timestamps: picks are output counts
    int can_seek;
    int64_t next_decode_idx; // decode index of the next packet to read; -1 unknown
    int have_pkt;           // ctx->pkt holds a packet read ahead
    int demux_done, flushed;
    int reported;           // the damage warning was logged
    int64_t first_pts, out_count, yielded;
};

/** Records "path: message" in ctx's error and returns code. */
int ingest_fail(lwm_ingest *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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

/** Turns an FFmpeg error code into text ("Invalid data found when processing input"). */
const char *ingest_av_err(int averr, char *buf, size_t cap);

#endif /* LWM_INGEST_INTERNAL_H */
