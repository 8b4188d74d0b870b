// What sparse sampling must decode of an H.264 stream (from the records of
// h264_refs.c). Two needs: a frame's *pixels* are needed by the picked frames
// and, transitively, by whatever their active reference lists name; a frame
// may also need *decoding* only to keep the decoder's bookkeeping right, its
// pixels never looked at. Every other packet is left out.
//
// Leaving out a reference frame is not free: the decoder meets a frame_num
// gap and puts a stand-in in its place (libavcodec 5.1: a copy of the latest
// reference, picture order count 2 above it, sliding-window marking). The
// stand-in keeps the frame_num, so P lists (ordered by frame_num) come out the
// same, but B lists are ordered by picture order count, and x264's stand-ins
// land just after the previous anchor: where a needed B-frame would then
// predict from a stand-in, the frame it stands for is decoded after all, for
// bookkeeping (that frame's own references do not matter). Whether the plan
// holds is checked by replaying the decoder on exactly the packets it
// decodes: each frame whose pixels are needed must get its true picture order
// count and lists naming the true frames; where one does not, the replay
// widens the plan and runs again from the segment's IDR.
#include <string.h>

#include "h264.h"
#include "internal.h"

#define PLAN_PIXELS 8 // the frame's pixels are needed (implies H264_PLAN_DECODE)

typedef struct replay {
    h264_dpb dpb;
    h264_poc_state poc;
    int prev_frame_num; // of the last decoded picture
} replay;

// The IDR that opens the segment holding packet i (0 if none does).
static size_t segment_start(const h264_refs *r, size_t i)
{
    while (i > 0 && !(r->frames[i].flags & FRAME_IDR)) i--;
    return i;
}

// Marks the pixels of what the pixel-needed packets name, walking back so that
// references of references follow; the IDR opening a segment with anything
// to decode is decoded.
static void close_pixels(const h264_refs *r, uint8_t *plan, size_t n)
{
    int segment_decodes = 0;
    for (size_t i = n; i-- > 0;) {
        const frame_rec *f = &r->frames[i];
        if (plan[i] & PLAN_PIXELS) segment_decodes = 1;
        if (segment_decodes && ((f->flags & FRAME_IDR) || i == 0)) {
            plan[i] |= H264_PLAN_DECODE;
            segment_decodes = 0;
        }
        if (!(plan[i] & PLAN_PIXELS) || (f->flags & FRAME_NOPIC)) continue;
        for (uint16_t s = 0; s < f->n_slices; s++) {
            const slice_rec *sr = &r->slices[f->slices_at + s];
            for (int e = 0; e < sr->active[0] + sr->active[1]; e++) {
                int32_t p = r->lists[sr->lists_at + (uint32_t)e];
                if (p >= 0) plan[p] |= PLAN_PIXELS | H264_PLAN_DECODE;
            }
        }
    }
}

// Decodes packet i in the replay; 0, or -1 if its pixels are needed and it
// would not decode as in the stream.
static int replay_frame(const h264_refs *r, replay *rp, size_t i, int pixels)
{
    const frame_rec *f = &r->frames[i];
    int max = 1 << f->log2_max_frame_num;
    if (f->flags & FRAME_IDR) {
        rp->dpb.n = 0;
    } else {
        while (rp->prev_frame_num != f->frame_num &&
               f->frame_num != (rp->prev_frame_num + 1) % max) {
            if (rp->dpb.n == 0) return -1; // a stand-in with nothing to copy: its order is unknown
            rp->prev_frame_num = (rp->prev_frame_num + 1) % max;
            rp->poc.prev_frame_num =
                rp->prev_frame_num; // as libavcodec: POC type 2 then sees no wrap
            int poc = rp->dpb.pic[rp->dpb.n - 1].poc + 2;
            h264_dpb_slide(&rp->dpb, f->max_refs);
            h264_dpb_store(&rp->dpb, (h264_ref){H264_STAND_IN, rp->prev_frame_num, poc},
                           f->max_refs);
        }
    }
    rp->prev_frame_num = f->frame_num;
    int poc = h264_picture_order(&rp->poc, f);
    if (pixels && poc != f->poc) return -1;
    h264_cur cur = {f->frame_num, poc, f->log2_max_frame_num};
    for (uint16_t s = 0; s < f->n_slices && pixels; s++) {
        const slice_rec *sr = &r->slices[f->slices_at + s];
        h264_list_params lp = h264_slice_params(r, sr);
        const int32_t *want = r->lists + sr->lists_at;
        for (int l = 0; l < (sr->type == H264_B ? 2 : sr->type == H264_P ? 1 : 0); l++) {
            int32_t got[H264_MAX_REFS];
            if (h264_dpb_list(&rp->dpb, &lp, &cur, l, got) < 0) return -1;
            if (memcmp(got, want, (size_t)lp.active[l] * sizeof *got) != 0) return -1;
            want += lp.active[l];
        }
    }
    // A failed MMCO is skipped, as the decoder skips it.
    if (f->flags & FRAME_REF) h264_mark(r, f, &rp->dpb, (h264_ref){(int32_t)i, f->frame_num, poc});
    return 0;
}

// After the replay failed at packet i: decode, for bookkeeping, the frames the
// stream held as references there and the replay did not (or, if there are
// none, the latest reference left out before i). 0 when nothing is left to add.
static int widen(const h264_refs *r, uint8_t *plan, size_t i)
{
    const frame_rec *f = &r->frames[i];
    int added = 0;
    for (int k = 0; k < f->n_dpb; k++) {
        int32_t p = r->dpbs[f->dpb_at + (uint32_t)k];
        if (!(plan[p] & H264_PLAN_DECODE)) {
            plan[p] |= H264_PLAN_DECODE;
            added = 1;
        }
    }
    for (size_t j = i, start = segment_start(r, i); !added && j-- > start;)
        if ((r->frames[j].flags & FRAME_REF) && !(plan[j] & H264_PLAN_DECODE)) {
            plan[j] |= H264_PLAN_DECODE;
            added = 1;
        }
    return added;
}

int h264_refs_plan(const h264_refs *r, const int64_t *picked, size_t n_picked, uint8_t *plan,
                   size_t n_packets)
{
    if (r->stopped || r->n_frames != n_packets) return H264_UNSUPPORTED;
    memset(plan, 0, n_packets);
    for (size_t i = 0; i < n_picked; i++) plan[picked[i]] = PLAN_PIXELS | H264_PLAN_DECODE;
    for (size_t i = 0; i < n_packets; i++) {
        if (r->frames[i].flags & FRAME_NOPIC) plan[i] = H264_PLAN_DECODE; // nothing to decode
        if (r->frames[i].flags & FRAME_IDR) plan[i] |= H264_PLAN_CLEAN_START;
        if (r->frames[i].flags & FRAME_PARAMS) plan[i] |= H264_PLAN_PARAMS;
    }
    close_pixels(r, plan, n_packets);
    // The replay restarts from a segment's IDR after each widening; bound the work.
    size_t budget = 64 * n_packets + 100000;
    replay rp = {0};
    for (size_t i = 0; i < n_packets; i++) {
        if (!(plan[i] & H264_PLAN_DECODE) || (r->frames[i].flags & FRAME_NOPIC)) continue;
        if (budget-- == 0) return H264_UNSUPPORTED;
        if (replay_frame(r, &rp, i, plan[i] & PLAN_PIXELS) == 0) continue;
        if (!widen(r, plan, i)) return H264_UNSUPPORTED;
        size_t start = segment_start(r, i);
        if (!(r->frames[start].flags & FRAME_IDR)) memset(&rp, 0, sizeof rp);
        i = start - 1; // the loop's i++ lands on start (start 0 wraps around to 0)
    }
    for (size_t i = 0; i < n_packets; i++) plan[i] &= (uint8_t)~PLAN_PIXELS;
    return 0;
}
