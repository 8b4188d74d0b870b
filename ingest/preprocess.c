// One decoded frame → LWM's 256×256 RGB24 frame (lwm-format.md §6): colour
// conversion, bicubic resize of the short side to 256, centre crop, rotation.
//
// libswscale does conversion and resize in one pass, in the stored orientation;
// the crop and the rotation are one copy afterwards. Resizing before rotating is
// equivalent because the filter is separable and the same along both axes.
#include <errno.h>
#include <libavutil/mathematics.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <string.h>

#include "internal.h"

const char *ingest_av_err(int averr, char *buf, size_t cap)
{
    if (av_strerror(averr, buf, cap) < 0) lwm_format(buf, cap, "FFmpeg error %d", averr);
    return buf;
}

void ingest_geometry_for(ingest_geometry *g, int w, int h, int rotation)
{
    int sideways = rotation == 90 || rotation == 270;
    g->upright_w = sideways ? h : w;
    g->upright_h = sideways ? w : h;
    // LWM: long side = int(256 * long / short), evaluated in float64 as Python does.
    if (g->upright_w <= g->upright_h) {
        g->scaled_w = LWM_FRAME_SIDE;
        g->scaled_h = (int)((double)(LWM_FRAME_SIDE * (int64_t)g->upright_h) / g->upright_w);
    } else {
        g->scaled_h = LWM_FRAME_SIDE;
        g->scaled_w = (int)((double)(LWM_FRAME_SIDE * (int64_t)g->upright_w) / g->upright_h);
    }
    // PIL crops at round((w - 256) / 2) with Python's round: half to even, which
    // nearbyint does in the default rounding mode.
    g->crop_x = (int)nearbyint((g->scaled_w - LWM_FRAME_SIDE) / 2.0);
    g->crop_y = (int)nearbyint((g->scaled_h - LWM_FRAME_SIDE) / 2.0);
}

// The JPEG pixel formats are the plain ones in full range; swscale wants the plain name.
static enum AVPixelFormat plain_format(enum AVPixelFormat f, int *full_range)
{
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *full_range = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *full_range = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *full_range = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *full_range = 1; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: *full_range = 1; return AV_PIX_FMT_YUV411P;
    default: return f;
    }
}

// Untagged video: HD and larger is BT.709, smaller is BT.601, as players assume.
static int colour_matrix(const AVFrame *f)
{
    if (f->colorspace != AVCOL_SPC_UNSPECIFIED && f->colorspace != AVCOL_SPC_RESERVED &&
        f->colorspace != AVCOL_SPC_RGB)
        return f->colorspace;
    return (f->width >= 1280 || f->height > 576) ? SWS_CS_ITU709 : SWS_CS_ITU601;
}

// Resizes only the source columns the centre crop keeps, plus a margin for the
// filter's reach: 44 % less work for 16:9 video. The window starts where the
// full resize's sampling grid meets a whole source column (and a chroma
// sample), so its samples fall where the full resize's would, up to swscale's
// fixed-point rounding: at most one level, on about 0.1 % of values. Kept to
// downscaling (where the reach is 2 output columns) of planar YUV, unrotated
// landscape pictures, and to windows that save something.
static void choose_window(ingest_scaler *s, const AVPixFmtDescriptor *desc, int rotation, int src_w,
                          int dst_w, int *win_src_w, int *win_dst_w)
{
    const int margin = 4; // output columns beyond the crop, > the filter's reach
    s->win_out = 0;
    memset(s->win_bytes, 0, sizeof s->win_bytes);
    *win_src_w = src_w;
    *win_dst_w = dst_w;
    if (rotation != 0 || src_w <= dst_w || dst_w <= LWM_FRAME_SIDE || !desc ||
        !(desc->flags & AV_PIX_FMT_FLAG_PLANAR) || (desc->flags & AV_PIX_FMT_FLAG_RGB) ||
        desc->nb_components < 3)
        return;
    int g = (int)av_gcd(src_w, dst_w), step_out = dst_w / g, step_src = src_w / g;
    if (step_src % (1 << desc->log2_chroma_w)) step_out *= 2, step_src *= 2;
    int lo = s->geom.crop_x - margin < 0 ? 0 : (s->geom.crop_x - margin) / step_out;
    int hi = (s->geom.crop_x + LWM_FRAME_SIDE + margin + step_out - 1) / step_out;
    int out_lo = lo * step_out, out_hi = hi * step_out > dst_w ? dst_w : hi * step_out;
    if (out_hi - out_lo > dst_w * 9 / 10) return;
    int src_lo = lo * step_src, src_hi = out_hi == dst_w ? src_w : hi * step_src;
    s->win_out = out_lo;
    for (int c = 0; c < desc->nb_components; c++) {
        int chroma = c == 1 || c == 2;
        s->win_bytes[desc->comp[c].plane] =
            (src_lo >> (chroma ? desc->log2_chroma_w : 0)) * desc->comp[c].step;
    }
    *win_src_w = src_hi - src_lo;
    *win_dst_w = out_hi - out_lo;
}

int ingest_scaler_prepare(ingest_scaler *s, const lwm_mem *mem, const AVFrame *f, int rotation,
                          lwm_error *err)
{
    int full = f->color_range == AVCOL_RANGE_JPEG;
    enum AVPixelFormat fmt = plain_format((enum AVPixelFormat)f->format, &full);
    // RGB, palette and grey pictures (PNG, WebP lossless, grey JPEG) are full range
    // whatever the tag says; telling swscale otherwise stretches their levels.
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(fmt);
    if (desc && ((desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) ||
                 (desc->nb_components <= 2 && f->color_range != AVCOL_RANGE_MPEG)))
        full = 1;
    int space = colour_matrix(f);
    if (s->sws && s->src_w == f->width && s->src_h == f->height && s->src_fmt == (int)fmt &&
        s->src_space == space && s->src_range == full && s->rotation == rotation)
        return 0;
    sws_freeContext(s->sws);
    s->sws = NULL;
    ingest_geometry_for(&s->geom, f->width, f->height, rotation);
    int sideways = rotation == 90 || rotation == 270;
    int dst_w = sideways ? s->geom.scaled_h : s->geom.scaled_w;
    int dst_h = sideways ? s->geom.scaled_w : s->geom.scaled_h;
    int src_w = f->width;
    choose_window(s, desc, rotation, f->width, dst_w, &src_w, &dst_w);
    // Pillow's BICUBIC is Keys' cubic with a = -0.5, i.e. B = 0, C = 0.5 in swscale's
    // (B, C) parameters, widened when downscaling as swscale does by default.
    // Full-chroma interpolation and accurate rounding keep us close to Pillow on RGB.
    double param[2] = {0.0, 0.5};
    int flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;
    s->sws = sws_getContext(src_w, f->height, fmt, dst_w, dst_h, AV_PIX_FMT_RGB24, flags, NULL,
                            NULL, param);
    const char *name = av_get_pix_fmt_name((enum AVPixelFormat)f->format);
    LWM_CHECK(err, s->sws, LWM_EUNSUPPORTED, "cannot convert %dx%d %s frames to RGB", f->width,
              f->height, name ? name : "unknown");
    // The matrix and range apply to YUV sources only: on RGB input swscale would
    // also apply them to its internal RGB→YUV step and shift every level.
    if (desc && !(desc->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)))
        sws_setColorspaceDetails(s->sws, sws_getCoefficients(space), full,
                                 sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    int stride = (dst_w * 3 + 63) & ~63;
    size_t need = (size_t)stride * (size_t)dst_h + 64;
    if (need > s->buf_size) {
        lwm_free(mem, s->buf);
        s->buf = lwm_malloc(mem, need);
        s->buf_size = s->buf ? need : 0;
        LWM_CHECK(err, s->buf, -ENOMEM, "out of memory for a %dx%d frame", dst_w, dst_h);
    }
    s->buf_stride = stride;
    s->src_w = f->width;
    s->src_h = f->height;
    s->src_fmt = (int)fmt;
    s->src_space = space;
    s->src_range = full;
    s->rotation = rotation;
    return 0;
}

// Copies the crop out of the resized picture, turning it upright. For an upright
// pixel (X, Y) the stored pixel is, with the stored size sw×sh:
//   90° clockwise: (Y, sh-1-X); 180°: (sw-1-X, sh-1-Y); 270°: (sw-1-Y, X).
static void crop_upright(uint8_t *out, const ingest_scaler *s)
{
    const ingest_geometry *g = &s->geom;
    int sw = (s->rotation == 90 || s->rotation == 270) ? g->scaled_h : g->scaled_w;
    int sh = (s->rotation == 90 || s->rotation == 270) ? g->scaled_w : g->scaled_h;
    const uint8_t *src = s->buf;
    int stride = s->buf_stride;
    for (int y = 0; y < LWM_FRAME_SIDE; y++) {
        int Y = y + g->crop_y;
        uint8_t *row = out + (size_t)y * LWM_FRAME_SIDE * 3;
        if (s->rotation == 0) {
            memcpy(row, src + (size_t)Y * stride + (size_t)(g->crop_x - s->win_out) * 3,
                   LWM_FRAME_SIDE * 3);
            continue;
        }
        for (int x = 0; x < LWM_FRAME_SIDE; x++) {
            int X = x + g->crop_x, sx, sy;
            if (s->rotation == 90)
                sx = Y, sy = sh - 1 - X;
            else if (s->rotation == 180)
                sx = sw - 1 - X, sy = sh - 1 - Y;
            else
                sx = sw - 1 - Y, sy = X;
            memcpy(row + x * 3, src + (size_t)sy * stride + (size_t)sx * 3, 3);
        }
    }
}

int ingest_scaler_convert(ingest_scaler *s, uint8_t *out, const AVFrame *frame)
{
    uint8_t *dst[4] = {s->buf, NULL, NULL, NULL};
    int dst_stride[4] = {s->buf_stride, 0, 0, 0};
    const uint8_t *src[4];
    for (int p = 0; p < 4; p++) src[p] = frame->data[p] ? frame->data[p] + s->win_bytes[p] : NULL;
    int rows = sws_scale(s->sws, src, frame->linesize, 0, frame->height, dst, dst_stride);
    if (rows <= 0) return LWM_EDECODE;
    crop_upright(out, s);
    return 0;
}

void ingest_scaler_release(ingest_scaler *s, const lwm_mem *mem)
{
    sws_freeContext(s->sws);
    lwm_free(mem, s->buf);
    memset(s, 0, sizeof *s);
}

void lwm_ingest_to_float(float *out, const uint8_t *rgb, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = (float)rgb[i] / 127.5f - 1.0f;
}
