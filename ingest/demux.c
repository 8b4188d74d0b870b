// Opening a source and reading its sampled frames: libavformat demuxing,
// threaded libavcodec decoding, rotation from the display matrix, and, when
// sampling sparsely, a demux-only packet scan that lists every frame's
// presentation time (and for H.264 reads the slice headers into a decode
// plan) so that unwanted frames are skipped and long gaps crossed by seeking
// to the keyframe before the next wanted frame.
#include <errno.h>
#include <stddef.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

// Frames larger than this are refused as absurd (a corrupt header, or a 64K
// panorama nobody meant to feed a 256×256 tokenizer).
#define MAX_SIDE 16384
#define MAX_PIXELS (8192LL * 8192LL)

int ingest_fail(lwm_ingest *ctx, int code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lwm_error_set(&ctx->err, code, "%s: %s", ctx->path, msg);
}

// The per-source part of ctx (from `info` to the end of struct lwm_ingest) to its state before
// any source: zero, with the few non-zero defaults. The one place that resets it.
static void reset_source(lwm_ingest *ctx)
{
    size_t from = offsetof(lwm_ingest, info);
    memset((char *)ctx + from, 0, sizeof *ctx - from);
    ctx->ahead_rc = AHEAD_NONE;
    ctx->first_pts = AV_NOPTS_VALUE;
}

lwm_ingest *lwm_ingest_create(const lwm_ingest_options *opt)
{
    const lwm_mem *mem = opt ? &opt->mem : NULL;
    lwm_ingest *ctx = lwm_calloc(mem, 1, sizeof *ctx);
    if (!ctx) return NULL;
    if (opt) ctx->opt = *opt;
    ctx->pkt = av_packet_alloc();
    ctx->frame = av_frame_alloc();
    ctx->held[0].frame = av_frame_alloc();
    ctx->held[1].frame = av_frame_alloc();
    reset_source(ctx);
    if (!ctx->pkt || !ctx->frame || !ctx->held[0].frame || !ctx->held[1].frame) {
        lwm_ingest_free(ctx);
        return NULL;
    }
    return ctx;
}

static void close_source(lwm_ingest *ctx)
{
    avcodec_free_context(&ctx->dec);
    avformat_close_input(&ctx->fmt);
    source_io_close(&ctx->io);
    av_packet_unref(ctx->pkt);
    for (int i = 0; i < 2; i++)
        if (ctx->held[i].frame) av_frame_unref(ctx->held[i].frame);
    const lwm_mem *mem = &ctx->opt.mem;
    lwm_free(mem, ctx->scan);
    lwm_free(mem, ctx->by_pts);
    lwm_free(mem, ctx->picks);
    lwm_free(mem, ctx->plan);
    h264_refs_free(ctx->refs);
    reset_source(ctx);
}

void lwm_ingest_free(lwm_ingest *ctx)
{
    if (!ctx) return;
    close_source(ctx);
    convert_thread_stop(&ctx->convert);
    ingest_scaler_release(&ctx->scaler, &ctx->opt.mem);
    av_packet_free(&ctx->pkt);
    av_frame_free(&ctx->frame);
    av_frame_free(&ctx->held[0].frame);
    av_frame_free(&ctx->held[1].frame);
    lwm_mem mem = ctx->opt.mem;
    lwm_free(&mem, ctx);
}

const lwm_source_info *lwm_ingest_info(const lwm_ingest *ctx)
{
    return &ctx->info;
}

const char *lwm_ingest_errmsg(const lwm_ingest *ctx)
{
    return ctx->err.msg[0] ? ctx->err.msg : lwm_strerror(ctx->err.code);
}

/* ---- opening ------------------------------------------------------------------ */

static int check_file(lwm_ingest *ctx)
{
    struct stat st;
    if (stat(ctx->path, &st) != 0) return ingest_fail(ctx, -errno, "%s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return ingest_fail(ctx, LWM_EFORMAT, "is a directory, not a media file");
    if (st.st_size == 0) return ingest_fail(ctx, LWM_EFORMAT, "empty file");
    return 0;
}

// Clockwise degrees that show the picture upright, from the display matrix
// (which states the counter-clockwise rotation the player applies).
static int stream_rotation(const AVStream *st)
{
    const int32_t *m =
        (const int32_t *)av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!m) return 0;
    double ccw = av_display_rotation_get(m);
    if (ccw != ccw) return 0; // NaN: a degenerate matrix
    int cw = (int)lrint(-ccw);
    cw = ((cw % 360) + 360) % 360;
    return ((cw + 45) / 90 % 4) * 90; // nearest quarter turn
}

static int is_image_format(const AVFormatContext *fmt)
{
    const char *name = fmt->iformat->name;
    size_t n = strlen(name);
    return strcmp(name, "image2") == 0 || (n > 5 && strcmp(name + n - 5, "_pipe") == 0);
}

static int find_video_stream(lwm_ingest *ctx, const AVCodec **codec)
{
    char e[128];
    int idx = av_find_best_stream(ctx->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, codec, 0);
    if (idx == AVERROR_DECODER_NOT_FOUND) {
        int any = av_find_best_stream(ctx->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
        const char *name =
            any >= 0 ? avcodec_get_name(ctx->fmt->streams[any]->codecpar->codec_id) : "unknown";
        return ingest_fail(ctx, LWM_EUNSUPPORTED, "no decoder for video codec %s in this FFmpeg",
                           name);
    }
    if (idx < 0 || (ctx->fmt->streams[idx]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
        int audio = av_find_best_stream(ctx->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0) >= 0;
        if (audio) return ingest_fail(ctx, LWM_EFORMAT, "no video stream (audio only)");
        return ingest_fail(ctx, LWM_EFORMAT, "no video stream (%s)",
                           ingest_av_err(idx, e, sizeof e));
    }
    return idx;
}

static int open_decoder(lwm_ingest *ctx, const AVCodec *codec)
{
    char e[128];
    AVStream *st = ctx->fmt->streams[ctx->stream];
    ctx->dec = avcodec_alloc_context3(codec);
    if (!ctx->dec) return ingest_fail(ctx, -ENOMEM, "out of memory for the decoder");
    int rc = avcodec_parameters_to_context(ctx->dec, st->codecpar);
    if (rc < 0)
        return ingest_fail(ctx, LWM_EDECODE, "decoder setup: %s", ingest_av_err(rc, e, sizeof e));
    ctx->dec->thread_count = ctx->opt.threads > 0 ? ctx->opt.threads : 0;
    ctx->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ctx->dec->pkt_timebase = st->time_base;
    rc = avcodec_open2(ctx->dec, codec, NULL);
    if (rc < 0)
        return ingest_fail(ctx, LWM_EDECODE, "cannot open %s decoder: %s", codec->name,
                           ingest_av_err(rc, e, sizeof e));
    return 0;
}

// Whether an MP4/MOV header already says all that probing would find out.
// Probing (avformat_find_stream_info) decodes the first frame, 40 ms of a
// 1080p file; but for H.264 and HEVC in MP4 the sample description carries
// the size and the parameter sets, the sample tables the timing, and the
// demuxer derives the reordering delay from the composition offsets
// (mov_estimate_video_delay). Only the pixel format is left unknown until the
// first frame decodes. One video stream only: choosing among several is what
// probing informs.
static int header_suffices(const AVFormatContext *fmt)
{
    if (strncmp(fmt->iformat->name, "mov,", 4) != 0) return 0;
    const AVStream *video = NULL;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        if (st->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) continue;
        if (video) return 0;
        video = st;
    }
    if (!video || (video->disposition & AV_DISPOSITION_ATTACHED_PIC)) return 0;
    const AVCodecParameters *par = video->codecpar;
    return (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC) &&
           par->extradata_size > 0 && par->width > 0 && par->height > 0 &&
           video->avg_frame_rate.num > 0 && video->avg_frame_rate.den > 0 &&
           (video->duration > 0 || fmt->duration > 0);
}

// The width and height in a PNG's IHDR (bytes 16..23, big-endian); 1 when read.
static int png_declared_size(const char *path, uint32_t *w, uint32_t *h)
{
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = fread(b, 1, sizeof b, f) == sizeof b && memcmp(b + 12, "IHDR", 4) == 0;
    fclose(f);
    if (!ok) return 0;
    *w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    *h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    return 1;
}

// Opens the container and decoder of ctx->path; fills ctx->info.
static int open_format(lwm_ingest *ctx)
{
    char e[128];
    int rc =
        ctx->io ? source_io_rewind(ctx->io) : source_io_open(&ctx->io, ctx->path, &ctx->opt.mem);
    if (rc < 0) return ingest_fail(ctx, rc, "cannot read: %s", strerror(-rc));
    if (!(ctx->fmt = avformat_alloc_context())) return ingest_fail(ctx, -ENOMEM, "out of memory");
    ctx->fmt->pb = source_io_avio(ctx->io);
    ctx->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    rc = avformat_open_input(&ctx->fmt, ctx->path, NULL, NULL);
    if (rc < 0)
        return ingest_fail(ctx, LWM_EFORMAT, "not a readable media file (%s)",
                           ingest_av_err(rc, e, sizeof e));
    int probe = !header_suffices(ctx->fmt);
    lwm_log(&ctx->opt.log, LWM_LOG_DEBUG, "%s: stream information from %s", ctx->path,
            probe ? "probing" : "the container header");
    rc = probe ? avformat_find_stream_info(ctx->fmt, NULL) : 0;
    if (rc < 0)
        return ingest_fail(ctx, LWM_EDECODE, "cannot read stream information (%s)",
                           ingest_av_err(rc, e, sizeof e));
    const AVCodec *codec = NULL;
    LWM_TRY(ctx->stream = find_video_stream(ctx, &codec));
    AVStream *st = ctx->fmt->streams[ctx->stream];
    const AVCodecParameters *par = st->codecpar;
    if (par->width <= 0 || par->height <= 0) {
        // FFmpeg's decoders leave the size unset when they refuse it (av_image_check_size):
        // name what the header declares when we can read it.
        uint32_t w = 0, h = 0;
        if (par->codec_id == AV_CODEC_ID_PNG && png_declared_size(ctx->path, &w, &h) &&
            (w > MAX_SIDE || h > MAX_SIDE || (long long)w * h > MAX_PIXELS || !w || !h))
            return ingest_fail(ctx, LWM_EINVAL,
                               "PNG header declares a frame of %ux%u (limit %d "
                               "per side, %lld pixels)",
                               w, h, MAX_SIDE, MAX_PIXELS);
        return ingest_fail(ctx, LWM_EFORMAT,
                           "video stream has no frame size (the decoder "
                           "could not read or refused its dimensions)");
    }
    if (par->width > MAX_SIDE || par->height > MAX_SIDE ||
        (long long)par->width * par->height > MAX_PIXELS)
        return ingest_fail(ctx, LWM_EINVAL,
                           "absurd frame size %dx%d (limit %d per side, %lld pixels)", par->width,
                           par->height, MAX_SIDE, MAX_PIXELS);
    ctx->tb = st->time_base;
    LWM_TRY(open_decoder(ctx, codec));
    lwm_source_info *in = &ctx->info;
    in->width = par->width;
    in->height = par->height;
    in->rotation = stream_rotation(st);
    AVRational rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    in->fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
    if (ctx->fmt->duration > 0)
        in->duration = (double)ctx->fmt->duration / AV_TIME_BASE;
    else if (st->duration > 0)
        in->duration = (double)st->duration * av_q2d(st->time_base);
    in->is_image = is_image_format(ctx->fmt);
    if (in->is_image) in->fps = in->duration = 0; // the image demuxer's 25 fps means nothing
    lwm_format(in->codec, sizeof in->codec, "%s", codec->name);
    ingest_note_pix_fmt(ctx, par->format); // unknown until a frame decodes if not probed
    return 0;
}

void ingest_note_pix_fmt(lwm_ingest *ctx, int format)
{
    const char *name = av_get_pix_fmt_name((enum AVPixelFormat)format);
    lwm_format(ctx->info.pix_fmt, sizeof ctx->info.pix_fmt, "%s", name ? name : "unknown");
    ctx->pix_fmt_known = name != NULL;
}

/* ---- the packet scan ---------------------------------------------------------- */

// Reads the next packet of the video stream into ctx->pkt: 1, 0 at the end, or
// negative on a read error (a truncated file reads as its end, with a warning).
int ingest_read_packet(lwm_ingest *ctx)
{
    for (;;) {
        av_packet_unref(ctx->pkt);
        int rc = av_read_frame(ctx->fmt, ctx->pkt);
        if (rc == AVERROR_EOF) return 0;
        if (rc < 0) {
            char e[128];
            lwm_log(&ctx->opt.log, LWM_LOG_WARN, "%s: reading stopped early: %s", ctx->path,
                    ingest_av_err(rc, e, sizeof e));
            return 0;
        }
        if (ctx->pkt->stream_index == ctx->stream && !(ctx->pkt->flags & AV_PKT_FLAG_DISCARD))
            return 1;
    }
}

static int compare_pts(const void *a, const void *b)
{
    const scan_packet *x = a, *y = b;
    if (x->pts != y->pts) return x->pts < y->pts ? -1 : 1;
    return x->decode_idx < y->decode_idx ? -1 : x->decode_idx > y->decode_idx;
}

// Lists every packet of the stream (demux only, no decoding); for H.264, also
// reads the slice headers to know which frames predict from which.
static int scan_packets(lwm_ingest *ctx)
{
    const lwm_mem *mem = &ctx->opt.mem;
    const AVCodecParameters *par = ctx->fmt->streams[ctx->stream]->codecpar;
    if (par->codec_id == AV_CODEC_ID_H264) {
        ctx->refs = h264_refs_create(mem, par);
        if (!ctx->refs) return ingest_fail(ctx, -ENOMEM, "out of memory scanning packets");
    }
    int has_all_pts = 1;
    while (ingest_read_packet(ctx) > 0) {
        if (ctx->refs && h264_refs_add(ctx->refs, ctx->pkt->data, (size_t)ctx->pkt->size))
            return ingest_fail(ctx, -ENOMEM, "out of memory scanning packets");
        if (lwm_grow(mem, (void **)&ctx->scan, &ctx->scan_cap, ctx->n_scan + 1, sizeof *ctx->scan))
            return ingest_fail(ctx, -ENOMEM, "out of memory scanning packets");
        scan_packet *p = &ctx->scan[ctx->n_scan];
        p->pts = ctx->pkt->pts;
        p->dts = ctx->pkt->dts;
        p->key = (ctx->pkt->flags & AV_PKT_FLAG_KEY) != 0;
        p->decode_idx = (int64_t)ctx->n_scan++;
        if (p->pts == AV_NOPTS_VALUE) has_all_pts = 0;
    }
    av_packet_unref(ctx->pkt);
    if (ctx->n_scan == 0) return ingest_fail(ctx, LWM_EDECODE, "no video packets");
    ctx->by_pts = lwm_malloc(mem, ctx->n_scan * sizeof *ctx->by_pts);
    if (!ctx->by_pts) return ingest_fail(ctx, -ENOMEM, "out of memory scanning packets");
    memcpy(ctx->by_pts, ctx->scan, ctx->n_scan * sizeof *ctx->scan);
    if (has_all_pts) qsort(ctx->by_pts, ctx->n_scan, sizeof *ctx->by_pts, compare_pts);
    ctx->by_index = !has_all_pts;
    return 0;
}

// Back to the first packet: seek, and check we landed there; otherwise reopen.
int ingest_rewind(lwm_ingest *ctx)
{
    const scan_packet *first = &ctx->scan[0];
    int64_t ts = first->dts != AV_NOPTS_VALUE ? first->dts : first->pts;
    if (ts != AV_NOPTS_VALUE &&
        av_seek_frame(ctx->fmt, ctx->stream, ts, AVSEEK_FLAG_BACKWARD) >= 0 &&
        ingest_read_packet(ctx) > 0 && ctx->pkt->pts == first->pts && ctx->pkt->dts == first->dts) {
        ctx->have_pkt = 1;
        avcodec_flush_buffers(ctx->dec);
    } else {
        // The demuxer could not seek back precisely: start over from the file.
        avcodec_free_context(&ctx->dec);
        avformat_close_input(&ctx->fmt);
        av_packet_unref(ctx->pkt);
        LWM_TRY(open_format(ctx));
        ctx->have_pkt = 0;
    }
    ctx->next_decode_idx = 0;
    ctx->demux_done = ctx->flushed = 0;
    return 0;
}

// Which packets the picks need, when the reference analysis knows (H.264 with
// timestamps); otherwise ctx->plan stays NULL and non-reference frames are
// the only ones skipped.
static int plan_decoding(lwm_ingest *ctx)
{
    const lwm_mem *mem = &ctx->opt.mem;
    if (!ctx->refs || ctx->by_index || ctx->n_picks == 0) return 0;
    int64_t *picked = lwm_malloc(mem, ctx->n_picks * sizeof *picked);
    ctx->plan = lwm_malloc(mem, ctx->n_scan);
    if (!picked || !ctx->plan) {
        lwm_free(mem, picked);
        return ingest_fail(ctx, -ENOMEM, "out of memory planning the sampling");
    }
    for (size_t i = 0; i < ctx->n_picks; i++) picked[i] = ctx->by_pts[ctx->picks[i]].decode_idx;
    if (h264_refs_plan(ctx->refs, picked, ctx->n_picks, ctx->plan, ctx->n_scan) < 0) {
        const char *why = h264_refs_stopped(ctx->refs);
        lwm_log(&ctx->opt.log, LWM_LOG_DEBUG, "%s: reference analysis off (%s)", ctx->path,
                why ? why : "packet count");
        lwm_free(mem, ctx->plan);
        ctx->plan = NULL;
    }
    lwm_free(mem, picked);
    h264_refs_free(ctx->refs);
    ctx->refs = NULL;
    return 0;
}

static int plan_sampling(lwm_ingest *ctx)
{
    LWM_TRY(scan_packets(ctx));
    const lwm_mem *mem = &ctx->opt.mem;
    double *times = lwm_malloc(mem, ctx->n_scan * sizeof *times);
    ctx->picks = lwm_malloc(mem, ctx->n_scan * sizeof *ctx->picks);
    if (!times || !ctx->picks) {
        lwm_free(mem, times);
        return ingest_fail(ctx, -ENOMEM, "out of memory planning the sampling");
    }
    double tb = av_q2d(ctx->tb), fps = ctx->info.fps > 0 ? ctx->info.fps : 25.0;
    for (size_t i = 0; i < ctx->n_scan; i++)
        times[i] = ctx->by_index ? (double)i / fps
                                 : (double)(ctx->by_pts[i].pts - ctx->by_pts[0].pts) * tb;
    ctx->n_picks = ingest_select(ctx->picks, times, ctx->n_scan, ctx->opt.fps, ctx->opt.max_frames);
    lwm_free(mem, times);
    LWM_TRY(plan_decoding(ctx));
    ctx->sampling = 1;
    ctx->can_seek = !ctx->by_index;
    ctx->nal_len_size = ingest_nal_length_size(ctx->fmt->streams[ctx->stream]->codecpar);
    ctx->first_pts = ctx->by_pts[0].pts;
    LWM_TRY(ingest_rewind(ctx));
    ctx->info.frames_total = (int64_t)ctx->n_scan;
    ctx->info.frames_selected = (int64_t)ctx->n_picks;
    return 0;
}

int lwm_ingest_open(lwm_ingest *ctx, const char *path)
{
    close_source(ctx);
    lwm_error_clear(&ctx->err);
    if (lwm_format(ctx->path, sizeof ctx->path, "%s", path) < 0)
        return lwm_error_set(&ctx->err, -ENAMETOOLONG, "path too long: %.200s...", path);
    ctx->info.frames_total = ctx->info.frames_selected = -1;
    int rc = check_file(ctx);
    if (rc == 0) rc = open_format(ctx);
    if (rc == 0 && !ctx->info.is_image && (ctx->opt.fps > 0 || ctx->opt.max_frames > 0))
        rc = plan_sampling(ctx);
    if (rc < 0) close_source(ctx);
    return rc;
}
