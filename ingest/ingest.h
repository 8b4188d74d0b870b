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
 * Caveats
 * - One context per thread; contexts share nothing.
 * - After a failed open or read, lwm_ingest_errmsg() names the file and, where
 *   known, the frame.
 */
#ifndef LWM_INGEST_H
#define LWM_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define LWM_FRAME_SIDE 256
#define LWM_FRAME_BYTES (LWM_FRAME_SIDE * LWM_FRAME_SIDE * 3)

typedef struct lwm_ingest lwm_ingest;

/** How a source is sampled and decoded. Zeroed = every frame, automatic threads. */
typedef struct lwm_ingest_options {
    double fps;          /**< set by caller: one frame per 1/fps s of video time; 0 = off */
    int64_t max_frames;  /**< set by caller: at most this many, spread uniformly; 0 = off */
    int threads;         /**< set by caller: decoder threads; 0 = automatic */
    lwm_logger log;      /**< set by caller: where warnings go (zeroed = nowhere) */
    lwm_mem mem;         /**< set by caller: allocator (zeroed = libc) */
} lwm_ingest_options;

/** What the opened source is. Filled by lwm_ingest_open. */
typedef struct lwm_source_info {
    int width, height;   /**< coded size before rotation, pixels */
    int rotation;        /**< clockwise degrees applied to show it upright: 0, 90, 180, 270 */
    double fps;          /**< average frame rate the container declares (0 if unknown) */
    double duration;     /**< seconds (0 if unknown) */
    int is_image;        /**< 1 for a still image */
    char codec[32];      /**< decoder name, e.g. "h264" */
    char pix_fmt[32];    /**< source pixel format, e.g. "yuv420p10le" */
} lwm_source_info;

/** One sampled frame: 256×256 HWC RGB24 plus its time. Filled by lwm_ingest_read. */
typedef struct lwm_frame {
    uint8_t rgb[LWM_FRAME_BYTES];
    double pts;          /**< presentation time in seconds from the stream start */
    int64_t index;       /**< 0-based index among the frames this source yields */
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

#endif /* LWM_INGEST_H */
