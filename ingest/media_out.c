// Writing pictures people can look at: PNG stills and H.264 MP4s, both through
// FFmpeg's encoders.
#include <errno.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <string.h>

#include "internal.h"

/* ---- PNG -------------------------------------------------------------------------- */

static int encode_png(AVPacket *pkt, const uint8_t *rgb, int width, int height, const char *path,
                      lwm_error *err)
{
    char e[128];
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    LWM_CHECK(err, codec, LWM_EUNSUPPORTED, "%s: this FFmpeg has no PNG encoder", path);
    AVCodecContext *enc = avcodec_alloc_context3(codec);
    AVFrame *frame = av_frame_alloc();
    int rc = -ENOMEM;
    if (!enc || !frame) {
        lwm_error_set(err, rc, "%s: out of memory", path);
        goto done;
    }
    enc->width = width;
    enc->height = height;
    enc->pix_fmt = AV_PIX_FMT_RGB24;
    enc->time_base = (AVRational){1, 1};
    if ((rc = avcodec_open2(enc, codec, NULL)) < 0) goto av_fail;
    frame->format = AV_PIX_FMT_RGB24;
    frame->width = width;
    frame->height = height;
    // The encoder only reads the frame; it borrows the caller's rows.
    frame->data[0] = (uint8_t *)rgb;
    frame->linesize[0] = width * 3;
    if ((rc = avcodec_send_frame(enc, frame)) < 0) goto av_fail;
    if ((rc = avcodec_send_frame(enc, NULL)) < 0) goto av_fail;
    if ((rc = avcodec_receive_packet(enc, pkt)) < 0) goto av_fail;
    rc = 0;
    goto done;
av_fail:
    rc = lwm_error_set(err, LWM_EFORMAT, "%s: PNG encoding failed: %s", path,
                       ingest_av_err(rc, e, sizeof e));
done:
    frame->data[0] = NULL;
    av_frame_free(&frame);
    avcodec_free_context(&enc);
    return rc;
}

int lwm_ingest_write_png(const char *path, const uint8_t *rgb, int width, int height,
                         lwm_error *err)
{
    LWM_CHECK(err, width > 0 && height > 0 && width <= 65535 && height <= 65535, LWM_EINVAL,
              "%s: bad image size %dx%d", path, width, height);
    AVPacket *pkt = av_packet_alloc();
    LWM_CHECK(err, pkt, -ENOMEM, "%s: out of memory", path);
    int rc = encode_png(pkt, rgb, width, height, path, err);
    if (rc == 0) rc = lwm_write_file_atomic(path, pkt->data, (size_t)pkt->size, err);
    av_packet_free(&pkt);
    return rc;
}

/* ---- MP4 -------------------------------------------------------------------------- */

struct lwm_ingest_mp4 {
    AVFormatContext *mux;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *yuv;
    AVPacket *pkt;
    struct SwsContext *sws;
    int width, height, header_written;
    int64_t next_pts;
    char path[1024];
};

static int mp4_fail(lwm_ingest_mp4 *w, int averr, const char *what, lwm_error *err)
{
    char e[128];
    return lwm_error_set(err, LWM_EFORMAT, "%s: %s: %s", w->path, what,
                         ingest_av_err(averr, e, sizeof e));
}

// Sends frame (NULL = flush) and writes every packet the encoder returns.
static int mp4_drain(lwm_ingest_mp4 *w, const AVFrame *frame, lwm_error *err)
{
    int rc = avcodec_send_frame(w->enc, frame);
    if (rc < 0) return mp4_fail(w, rc, "encoding failed", err);
    for (;;) {
        rc = avcodec_receive_packet(w->enc, w->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
        if (rc < 0) return mp4_fail(w, rc, "encoding failed", err);
        // One frame lasts one tick; without a duration the muxer's edit list
        // would cut the last frame off.
        if (w->pkt->duration == 0) w->pkt->duration = 1;
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        rc = av_interleaved_write_frame(w->mux, w->pkt);
        if (rc < 0) return mp4_fail(w, rc, "write failed", err);
    }
}

static int mp4_setup(lwm_ingest_mp4 *w, double fps, lwm_error *err)
{
    int rc = avformat_alloc_output_context2(&w->mux, NULL, "mp4", w->path);
    if (rc < 0) return mp4_fail(w, rc, "cannot create MP4 muxer", err);
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_H264);
    LWM_CHECK(err, codec, LWM_EUNSUPPORTED, "%s: this FFmpeg has no H.264 encoder", w->path);
    w->st = avformat_new_stream(w->mux, NULL);
    w->enc = avcodec_alloc_context3(codec);
    w->yuv = av_frame_alloc();
    w->pkt = av_packet_alloc();
    LWM_CHECK(err, w->st && w->enc && w->yuv && w->pkt, -ENOMEM, "%s: out of memory", w->path);
    AVRational rate = av_d2q(fps, 100000);
    w->enc->width = w->width;
    w->enc->height = w->height;
    w->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    w->enc->time_base = av_inv_q(rate);
    w->enc->framerate = rate;
    w->enc->colorspace = AVCOL_SPC_BT709;
    w->enc->color_range = AVCOL_RANGE_MPEG;
    w->enc->thread_count = 1; // a contact video is small; keep the caller's cores
    if (w->mux->oformat->flags & AVFMT_GLOBALHEADER) w->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    av_opt_set(w->enc->priv_data, "crf", "18", 0); // near-lossless: people inspect details
    if ((rc = avcodec_open2(w->enc, codec, NULL)) < 0)
        return mp4_fail(w, rc, "cannot open encoder", err);
    if ((rc = avcodec_parameters_from_context(w->st->codecpar, w->enc)) < 0)
        return mp4_fail(w, rc, "encoder parameters", err);
    w->st->time_base = w->enc->time_base;
    w->yuv->format = AV_PIX_FMT_YUV420P;
    w->yuv->width = w->width;
    w->yuv->height = w->height;
    if ((rc = av_frame_get_buffer(w->yuv, 0)) < 0) return mp4_fail(w, rc, "frame buffer", err);
    w->sws = sws_getContext(w->width, w->height, AV_PIX_FMT_RGB24, w->width, w->height,
                            AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND, NULL, NULL, NULL);
    LWM_CHECK(err, w->sws, LWM_EUNSUPPORTED, "%s: cannot convert RGB to YUV", w->path);
    sws_setColorspaceDetails(w->sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                             sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16);
    if ((rc = avio_open(&w->mux->pb, w->path, AVIO_FLAG_WRITE)) < 0)
        return mp4_fail(w, rc, "cannot create file", err);
    if ((rc = avformat_write_header(w->mux, NULL)) < 0) return mp4_fail(w, rc, "header", err);
    w->header_written = 1;
    return 0;
}

static void mp4_free(lwm_ingest_mp4 *w)
{
    if (w->mux && w->mux->pb) avio_closep(&w->mux->pb);
    avformat_free_context(w->mux);
    avcodec_free_context(&w->enc);
    av_frame_free(&w->yuv);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    av_free(w);
}

int lwm_ingest_mp4_open(lwm_ingest_mp4 **out, const char *path, int width, int height, double fps,
                        lwm_error *err)
{
    *out = NULL;
    LWM_CHECK(err,
              width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0 && width <= 8192 &&
                  height <= 8192,
              LWM_EINVAL,
              "%s: MP4 frames must have even sizes up to 8192, "
              "got %dx%d",
              path, width, height);
    LWM_CHECK(err, fps > 0 && fps <= 1000, LWM_EINVAL, "%s: frame rate %g out of range", path, fps);
    lwm_ingest_mp4 *w = av_mallocz(sizeof *w);
    LWM_CHECK(err, w, -ENOMEM, "%s: out of memory", path);
    w->width = width;
    w->height = height;
    if (lwm_format(w->path, sizeof w->path, "%s", path) < 0) {
        av_free(w);
        return lwm_error_set(err, -ENAMETOOLONG, "path too long: %.200s", path);
    }
    int rc = mp4_setup(w, fps, err);
    if (rc < 0) {
        mp4_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int lwm_ingest_mp4_write(lwm_ingest_mp4 *w, const uint8_t *rgb, lwm_error *err)
{
    int rc = av_frame_make_writable(w->yuv);
    if (rc < 0) return mp4_fail(w, rc, "frame buffer", err);
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    int src_stride[4] = {w->width * 3, 0, 0, 0};
    sws_scale(w->sws, src, src_stride, 0, w->height, w->yuv->data, w->yuv->linesize);
    w->yuv->pts = w->next_pts++;
    return mp4_drain(w, w->yuv, err);
}

int lwm_ingest_mp4_close(lwm_ingest_mp4 *w, lwm_error *err)
{
    if (!w) return 0;
    int rc = mp4_drain(w, NULL, err);
    if (rc == 0) {
        int arc = av_write_trailer(w->mux);
        if (arc < 0) rc = mp4_fail(w, arc, "cannot finish the file", err);
    }
    mp4_free(w);
    return rc;
}
