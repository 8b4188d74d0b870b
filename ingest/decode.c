// Decoding the open source into sampled frames. When sampling, every packet's
// presentation time is known from the scan (demux.c), so: for H.264 the scan's
// decode plan (h264_plan.c) says which packets the wanted frames need, and the
// others are not even sent; for other codecs, packets that are not wanted are
// decoded only if they are reference frames (skip_frame = AVDISCARD_NONREF).
// Decoding stops after the last wanted frame, and when the next wanted frame
// lies beyond a keyframe we have not reached, we seek to that keyframe instead
// of reading the gap. Each wanted frame is converted to 256×256 RGB on a helper
// thread while the next one decodes (convert.c).
#include <errno.h>
#include <string.h>

#include "internal.h"

// Seeking costs a decoder flush and refilling its frame threads; below this
// many packets of gap, decoding through is cheaper.
#define SEEK_MIN_GAP 8

static const scan_packet *pick_at(const lwm_ingest *ctx, size_t i)
{
    return &ctx->by_pts[ctx->picks[i]];
}

// Is pts one of the wanted frames not yet yielded? (picks ascend in pts)
static int pts_is_pick(const lwm_ingest *ctx, int64_t pts)
{
    size_t lo = ctx->next_pick, hi = ctx->n_picks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t p = pick_at(ctx, mid)->pts;
        if (p == pts) return 1;
        if (p < pts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

// Where in decode order a packet read after a seek sits; -1 if not found.
static int64_t locate_packet(const lwm_ingest *ctx, const AVPacket *pkt)
{
    for (size_t i = 0; i < ctx->n_scan; i++)
        if (ctx->scan[i].pts == pkt->pts && ctx->scan[i].dts == pkt->dts) return (int64_t)i;
    return -1;
}

// Seeks to the keyframe before the next wanted frame when that keyframe is
// well ahead of the read position. A seek that lands anywhere unexpected
// turns seeking off and restarts from the first packet (always correct,
// because frames are matched by pts).
static int maybe_seek(lwm_ingest *ctx)
{
    if (!ctx->can_seek || ctx->next_decode_idx < 0 || ctx->next_pick >= ctx->n_picks) return 0;
    const scan_packet *target = pick_at(ctx, ctx->next_pick);
    int64_t k = target->decode_idx;
    // The keyframe must not show after the target: a leading picture of an
    // open GOP (shown before its keyframe) may need the GOP before it.
    // With a decode plan, only an IDR: the plan assumes the decoder's buffer as
    // decoding from the start leaves it, which an IDR resets and a flush empties.
    while (k > 0 && !(ctx->scan[k].key && ctx->scan[k].pts <= target->pts &&
                      (!ctx->plan || (ctx->plan[k] & H264_PLAN_CLEAN_START))))
        k--;
    if (k <= ctx->next_decode_idx + SEEK_MIN_GAP) return 0;
    const scan_packet *key = &ctx->scan[k];
    // Seek by the keyframe's pts: demuxers index either pts (Matroska) or dts
    // (MP4); pts >= dts, so a backward seek lands on this keyframe or an
    // earlier one either way, never past it.
    int64_t ts = key->pts != AV_NOPTS_VALUE ? key->pts : key->dts;
    if (av_seek_frame(ctx->fmt, ctx->stream, ts, AVSEEK_FLAG_BACKWARD) >= 0) {
        avcodec_flush_buffers(ctx->dec);
        if (ingest_read_packet(ctx) > 0) {
            int64_t at = locate_packet(ctx, ctx->pkt);
            if (at >= 0 && at <= k) {
                // Landing at or before where we were is correct (frames are
                // matched by pts) but gains nothing: stop seeking in this source.
                if (at <= ctx->next_decode_idx) ctx->can_seek = 0;
                ctx->next_decode_idx = at;
                ctx->have_pkt = 1;
                return 0;
            }
        }
    }
    lwm_log(&ctx->opt.log, LWM_LOG_DEBUG, "%s: seeking is imprecise; decoding sequentially",
            ctx->path);
    ctx->can_seek = 0;
    return ingest_rewind(ctx);
}

// Leaves the read packet out instead of sending it. Not even a discarded
// packet is sent: it would still take a frame thread's turn, and the frames
// that are decoded would queue behind it instead of overlapping.
static int drop_packet(lwm_ingest *ctx)
{
    av_packet_unref(ctx->pkt);
    ctx->have_pkt = 0;
    if (ctx->next_decode_idx >= 0) ctx->next_decode_idx++;
    return 0;
}

// Sends the next packet (or the end-of-stream flush) to the decoder.
static int feed(lwm_ingest *ctx)
{
    char e[128];
    if (!ctx->have_pkt && !ctx->demux_done) {
        LWM_TRY(maybe_seek(ctx));
        if (!ctx->have_pkt && ingest_read_packet(ctx) <= 0)
            ctx->demux_done = 1;
        else
            ctx->have_pkt = 1;
    }
    if (!ctx->have_pkt) {
        if (!ctx->flushed) avcodec_send_packet(ctx->dec, NULL);
        ctx->flushed = 1;
        return 0;
    }
    if (ctx->sampling && !ctx->by_index) {
        if (ctx->plan && ctx->next_decode_idx >= 0) {
            uint8_t plan = ctx->plan[ctx->next_decode_idx];
            if (!(plan & (H264_PLAN_DECODE | H264_PLAN_PARAMS))) return drop_packet(ctx);
            ctx->dec->skip_frame = plan & H264_PLAN_DECODE ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
        } else if (pts_is_pick(ctx, ctx->pkt->pts)) {
            ctx->dec->skip_frame = AVDISCARD_DEFAULT;
        } else if (ingest_packet_nonref(ctx->dec->codec_id, ctx->nal_len_size, ctx->pkt->data,
                                        (size_t)ctx->pkt->size)) {
            return drop_packet(ctx); // what NONREF would drop anyway
        } else {
            ctx->dec->skip_frame = AVDISCARD_NONREF;
        }
    }
    int rc = avcodec_send_packet(ctx->dec, ctx->pkt);
    if (rc == AVERROR(EAGAIN)) return 0; // keep the packet; frames must be taken first
    ctx->have_pkt = 0;
    if (ctx->dec->skip_frame != AVDISCARD_ALL) ctx->info.frames_decoded++;
    if (ctx->next_decode_idx >= 0) ctx->next_decode_idx++;
    if (rc < 0 && rc != AVERROR_EOF) {
        ctx->info.decode_errors++;
        lwm_log(&ctx->opt.log, LWM_LOG_DEBUG, "%s: packet %lld: %s", ctx->path,
                (long long)ctx->next_decode_idx - 1, ingest_av_err(rc, e, sizeof e));
    }
    av_packet_unref(ctx->pkt);
    return 0;
}

// Decides about the decoded frame in ctx->frame: 0 = wanted, moved into h; 1 = not wanted.
static int take_frame(lwm_ingest *ctx, held_frame *h)
{
    AVFrame *f = ctx->frame;
    int64_t pts = f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp;
    int64_t order = ctx->out_count++;
    double fps = ctx->info.fps > 0 ? ctx->info.fps : 25.0, tb = av_q2d(ctx->tb), t;
    if (ctx->sampling) {
        if (ctx->by_index) {
            while (ctx->next_pick < ctx->n_picks && ctx->picks[ctx->next_pick] < order)
                ctx->next_pick++;
            if (ctx->next_pick >= ctx->n_picks || ctx->picks[ctx->next_pick] != order) return 1;
            t = (double)order / fps;
        } else {
            while (ctx->next_pick < ctx->n_picks && pick_at(ctx, ctx->next_pick)->pts < pts) {
                ctx->info.frames_missing++; // wanted, but its frame never came out
                ctx->next_pick++;
            }
            if (ctx->next_pick >= ctx->n_picks || pick_at(ctx, ctx->next_pick)->pts != pts)
                return 1;
            t = (double)(pts - ctx->first_pts) * tb;
        }
        ctx->next_pick++;
    } else {
        if (ctx->first_pts == AV_NOPTS_VALUE) ctx->first_pts = pts;
        t = pts == AV_NOPTS_VALUE ? (double)order / fps : (double)(pts - ctx->first_pts) * tb;
    }
    if (f->decode_error_flags || (f->flags & AV_FRAME_FLAG_CORRUPT)) ctx->info.frames_concealed++;
    av_frame_move_ref(h->frame, f);
    h->pts = t;
    h->order = order;
    h->index = ctx->yielded++;
    return 0;
}

static int finish(lwm_ingest *ctx)
{
    lwm_source_info *in = &ctx->info;
    if (ctx->sampling && ctx->next_pick < ctx->n_picks) {
        in->frames_missing += (int64_t)(ctx->n_picks - ctx->next_pick);
        ctx->next_pick = ctx->n_picks;
    }
    if (!ctx->reported && (in->decode_errors || in->frames_missing || in->frames_concealed)) {
        lwm_log(&ctx->opt.log, LWM_LOG_WARN,
                "%s: damaged media: %lld packets failed to decode, %lld frames concealed; "
                "kept %lld decodable frames (%lld sampled frames missing)",
                ctx->path, (long long)in->decode_errors, (long long)in->frames_concealed,
                (long long)ctx->yielded, (long long)in->frames_missing);
    }
    ctx->reported = 1;
    if (ctx->yielded == 0)
        return ingest_fail(ctx, LWM_EDECODE, "no frame could be decoded (%lld decode errors)",
                           (long long)in->decode_errors);
    if (ctx->io && !in->file_xxh3[0] &&
        source_io_finish(ctx->io, &in->file_bytes, in->file_xxh3) < 0)
        lwm_log(&ctx->opt.log, LWM_LOG_WARN, "%s: the file changed while it was read: no hash",
                ctx->path);
    return LWM_EOF;
}

// Decodes up to the next wanted frame, into h: 0, LWM_EOF or a negative code.
static int next_frame(lwm_ingest *ctx, held_frame *h)
{
    for (;;) {
        if (ctx->sampling && ctx->next_pick >= ctx->n_picks) return finish(ctx);
        int rc = avcodec_receive_frame(ctx->dec, ctx->frame);
        if (rc == 0) {
            if (!ctx->pix_fmt_known) ingest_note_pix_fmt(ctx, ctx->frame->format);
            rc = take_frame(ctx, h);
            av_frame_unref(ctx->frame);
            if (rc <= 0) return rc;
            continue;
        }
        if (rc == AVERROR_EOF) return finish(ctx);
        if (rc != AVERROR(EAGAIN)) {
            ctx->info.decode_errors++; // a frame thread reports its packet's failure here
            if (ctx->flushed) return finish(ctx);
            continue;
        }
        LWM_TRY(feed(ctx));
    }
}

// Each call yields the frame decoded ahead by the call before, converting it on
// the helper thread while this call decodes the one after it (convert.c).
int lwm_ingest_read(lwm_ingest *ctx, lwm_frame *out)
{
    if (!ctx->dec) return lwm_error_set(&ctx->err, LWM_EINVAL, "no source is open");
    int rc = ctx->ahead_rc == AHEAD_NONE ? next_frame(ctx, &ctx->held[ctx->ahead]) : ctx->ahead_rc;
    if (rc != 0) {
        ctx->ahead_rc = rc == LWM_EOF ? rc : AHEAD_NONE; // the end stays the end
        return rc;
    }
    held_frame *cur = &ctx->held[ctx->ahead];
    ctx->ahead ^= 1;
    ctx->ahead_rc = AHEAD_NONE;
    rc = ingest_scaler_prepare(&ctx->scaler, &ctx->opt.mem, cur->frame, ctx->info.rotation,
                               &ctx->err);
    if (rc < 0) {
        av_frame_unref(cur->frame);
        return lwm_error_prefix(&ctx->err, "%s: frame %lld", ctx->path, (long long)cur->order);
    }
    convert_thread_start(&ctx->convert);
    convert_thread_post(&ctx->convert, &ctx->scaler, cur->frame, out->rgb);
    ctx->ahead_rc = next_frame(ctx, &ctx->held[ctx->ahead]);
    int converted = convert_thread_wait(&ctx->convert);
    int width = cur->frame->width, height = cur->frame->height;
    av_frame_unref(cur->frame);
    if (converted < 0)
        return lwm_error_set(&ctx->err, converted,
                             "%s: frame %lld: colour conversion of a %dx%d frame failed", ctx->path,
                             (long long)cur->order, width, height);
    out->pts = cur->pts;
    out->index = cur->index;
    return 0;
}
