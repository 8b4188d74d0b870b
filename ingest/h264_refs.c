// The stream's own reference structure, replayed from its slice headers: one
// record per packet with its picture order count, marking, and the frames its
// slices' active reference lists name (§8.2.1, §8.2.4, §8.2.5). h264_plan.c
// then decides from these records what sparse sampling must decode.
//
// The analysis is all or nothing: anything outside the common case (fields,
// long-term references, MMCO other than 1, data partitioning, a frame_num gap)
// calls stop(), after which no record is trusted and the caller falls back to
// decoding every reference frame. A wrong record would silently change which
// pixels come out, a stopped analysis only costs speed; so every check that
// cannot be done cheaply stops rather than guesses. The records live in
// flat pools (slices, mods, lists, dpbs, mmcos) indexed by offsets in each
// frame_rec, so one packet costs a few appends and no allocation per packet.
#include <errno.h>
#include <string.h>

#include "h264.h"
#include "internal.h"

// Records the first reason the stream left the supported subset; later
// reasons are ignored so the message names the cause, not a consequence.
static void stop(h264_refs *r, const char *why)
{
    if (!r->stopped) r->stopped = why;
}

const char *h264_refs_stopped(const h264_refs *r)
{
    return r->stopped;
}

// Picture order count of a frame (§8.2.1): type 0 from poc_lsb with the
// wrap-around of the previous reference picture's msb, type 2 from frame_num
// (output order = decoding order). Type 1 never reaches here: the SPS parser
// refuses it. st carries the previous reference picture's values, so frames
// must be passed in decoding order, each exactly once.
int h264_picture_order(h264_poc_state *st, const frame_rec *f)
{
    int idr = f->flags & FRAME_IDR, ref = f->flags & FRAME_REF;
    if (f->poc_type == 0) {
        if (idr) st->prev_poc_msb = st->prev_poc_lsb = 0;
        int max = 1 << f->log2_max_poc_lsb, msb = st->prev_poc_msb;
        if (f->poc_lsb < st->prev_poc_lsb && st->prev_poc_lsb - f->poc_lsb >= max / 2)
            msb += max;
        else if (f->poc_lsb > st->prev_poc_lsb && f->poc_lsb - st->prev_poc_lsb > max / 2)
            msb -= max;
        if (ref) {
            st->prev_poc_msb = msb;
            st->prev_poc_lsb = f->poc_lsb;
        }
        int top = msb + f->poc_lsb, bottom = top + f->delta_poc_bottom;
        return top < bottom ? top : bottom;
    }
    int offset = idr ? 0 : st->prev_frame_offset;
    if (!idr && st->prev_frame_num > f->frame_num) offset += 1 << f->log2_max_frame_num;
    st->prev_frame_num = f->frame_num;
    st->prev_frame_offset = offset;
    return idr ? 0 : 2 * (offset + f->frame_num) - (ref ? 0 : 1);
}

// What building a slice's reference lists needs (§8.2.4): its type, the
// active counts and its list modifications, read back from the pools. The
// modifications of list 1 follow those of list 0 in r->mods.
h264_list_params h264_slice_params(const h264_refs *r, const slice_rec *s)
{
    h264_list_params lp = {.type = s->type};
    for (int l = 0; l < 2; l++) {
        lp.active[l] = s->active[l];
        lp.n_mods[l] = s->n_mods[l];
        lp.mods[l] = r->mods + s->mods_at + (l == 1 ? s->n_mods[0] : 0);
    }
    return lp;
}

// Reference marking after a reference picture is decoded (§8.2.5): an IDR
// empties the buffer, adaptive marking unmarks the short-term pictures its
// MMCO 1 operations name, otherwise the sliding window drops the oldest; then
// the picture itself is stored. Returns -1 when an MMCO names a picture the
// buffer does not hold (a stream this analysis does not understand); h264_plan.c
// replays the same marking on its own buffer, hence the const records.
int h264_mark(const h264_refs *r, const frame_rec *f, h264_dpb *d, h264_ref pic)
{
    int rc = 0;
    h264_cur cur = {f->frame_num, f->poc, f->log2_max_frame_num};
    if (f->flags & FRAME_IDR) {
        d->n = 0;
    } else if (f->flags & FRAME_ADAPTIVE) {
        for (int i = 0; i < f->n_mmco; i++) { // only op 1 is recorded (h264_refs_add)
            const h264_mmco *m = &r->mmcos[f->mmco_at + (uint32_t)i];
            if (h264_dpb_unmark(d, &cur, f->frame_num - (m->value + 1)) < 0) rc = -1;
        }
    } else {
        h264_dpb_slide(d, f->max_refs);
    }
    h264_dpb_store(d, pic, f->max_refs);
    return rc;
}

#define GROW(r, pool, count, need)                                                                 \
    (lwm_grow(&(r)->mem, (void **)&(r)->pool, &(r)->pool##_cap, (r)->count + (need),               \
              sizeof *(r)->pool))

// The first slice of a packet opens its record: frame_num checks, order count.
static void start_picture(h264_refs *r, const h264_slice *s, frame_rec *f)
{
    const h264_sps *sps = s->sps;
    f->flags |= (uint8_t)((s->nal_ref_idc ? FRAME_REF : 0) | (s->idr ? FRAME_IDR : 0) |
                          (s->adaptive_marking ? FRAME_ADAPTIVE : 0));
    f->log2_max_frame_num = (uint8_t)sps->log2_max_frame_num;
    f->poc_type = (uint8_t)sps->poc_type;
    f->log2_max_poc_lsb = (uint8_t)sps->log2_max_poc_lsb;
    f->max_refs = (uint8_t)sps->max_num_ref_frames;
    f->frame_num = s->frame_num;
    f->poc_lsb = s->poc_lsb;
    f->delta_poc_bottom = s->delta_poc_bottom;
    int max = 1 << sps->log2_max_frame_num;
    if (!s->idr && s->frame_num != r->prev_ref_frame_num &&
        s->frame_num != (r->prev_ref_frame_num + 1) % max)
        stop(r, "frame_num gap in the stream");
    if (s->idr && s->long_term_reference) stop(r, "long-term references");
    f->poc = h264_picture_order(&r->poc, f);
    f->slices_at = (uint32_t)r->n_slices;
    f->dpb_at = (uint32_t)r->n_dpbs;
    f->mmco_at = (uint32_t)r->n_mmcos;
    f->n_dpb = (uint8_t)r->dpb.n;
    for (int k = 0; k < r->dpb.n; k++) r->dpbs[r->n_dpbs++] = r->dpb.pic[k].packet;
    for (int i = 0; i < s->n_mmco; i++) {
        if (s->mmco[i].op == 4) continue; // a long-term index limit: there are none
        if (s->mmco[i].op != 1) {
            stop(r, "long-term references or MMCO 5");
            return;
        }
        r->mmcos[r->n_mmcos++] = s->mmco[i];
        f->n_mmco++;
    }
}

// Records one slice of the packet's picture: its list modifications and the
// reference lists it builds from the buffer as it stands before this picture's
// own marking. Grows every pool first so that nothing below can fail half way;
// H264_MAX_DPB + 1 covers the buffer snapshot start_picture may append.
static int add_slice(h264_refs *r, const h264_slice *s, frame_rec *f)
{
    if (GROW(r, slices, n_slices, 1) || GROW(r, mods, n_mods, s->n_mods[0] + s->n_mods[1]) ||
        GROW(r, lists, n_lists, s->num_ref_idx_active[0] + s->num_ref_idx_active[1]) ||
        GROW(r, dpbs, n_dpbs, H264_MAX_DPB + 1) || GROW(r, mmcos, n_mmcos, s->n_mmco))
        return -ENOMEM;
    if (!r->have_pic)
        start_picture(r, s, f);
    else if (s->first_mb == 0)
        stop(r, "two pictures in one packet");
    if (f->n_slices == UINT16_MAX) stop(r, "too many slices in a picture");
    if (r->stopped) return 0;
    r->have_pic = 1;
    if (s->type == H264_B) f->flags |= FRAME_B;
    slice_rec *sr = &r->slices[r->n_slices++];
    *sr = (slice_rec){
        .type = (uint8_t)s->type, .mods_at = (uint32_t)r->n_mods, .lists_at = (uint32_t)r->n_lists};
    for (int l = 0; l < 2; l++) {
        sr->active[l] = (uint8_t)s->num_ref_idx_active[l];
        sr->n_mods[l] = (uint8_t)s->n_mods[l];
        for (int m = 0; m < s->n_mods[l]; m++) {
            if (s->mods[l][m].idc == 2) stop(r, "long-term references");
            r->mods[r->n_mods++] = s->mods[l][m];
        }
    }
    f->n_slices++;
    h264_list_params lp = h264_slice_params(r, sr);
    h264_cur cur = {f->frame_num, f->poc, f->log2_max_frame_num};
    for (int l = 0; l < (s->type == H264_B ? 2 : s->type == H264_P ? 1 : 0); l++) {
        if (!r->stopped && h264_dpb_list(&r->dpb, &lp, &cur, l, r->lists + r->n_lists) < 0)
            stop(r, "a reference list the buffer cannot build");
        r->n_lists += (size_t)lp.active[l];
    }
    return 0;
}

// One NAL unit: parameter sets update r->params (a later slice may refer to
// them), slices are recorded, other types (SEI, AUD, filler) are ignored.
// Returns only allocation failures; a stream it cannot follow stops instead.
static int add_nal(h264_refs *r, const uint8_t *nal, size_t size, frame_rec *f)
{
    if (size < 2 || r->stopped) return 0;
    int type = nal[0] & 31;
    if ((type == 7 || type == 8) && f) f->flags |= FRAME_PARAMS;
    if (type == 7 && h264_parse_sps(&r->params, nal, size)) stop(r, "sequence parameter set");
    if (type == 8 && h264_parse_pps(&r->params, nal, size)) stop(r, "picture parameter set");
    if (type >= 2 && type <= 4) stop(r, "data partitioning");
    if ((type == 1 || type == 5) && !r->stopped) {
        if (h264_parse_slice(&r->params, nal, size, &r->slice))
            stop(r, "slice header");
        else if (f)
            return add_slice(r, &r->slice, f);
        else
            stop(r, "a slice in the extradata");
    }
    return 0;
}

// add_nal for each NAL unit of a packet (or of Annex B extradata, f NULL).
static int add_nals(h264_refs *r, const uint8_t *p, size_t size, int len_size, frame_rec *f)
{
    nal_reader rd = {p, size, len_size};
    const uint8_t *nal;
    size_t n;
    int rc;
    while ((rc = ingest_nal_next(&rd, &nal, &n)) > 0) LWM_TRY(add_nal(r, nal, n, f));
    if (rc < 0) stop(r, "truncated NAL unit");
    return 0;
}

// Starts the analysis of one stream from its codec parameters: the sequence
// and picture parameter sets come from the extradata, either avcC (MP4, MKV:
// length-prefixed NAL units) or Annex B (start codes). Damaged extradata is
// skipped entry by entry; the first slice that names a missing set then stops.
h264_refs *h264_refs_create(const lwm_mem *mem, const AVCodecParameters *par)
{
    h264_refs *r = lwm_calloc(mem, 1, sizeof *r);
    if (!r) return NULL;
    if (mem) r->mem = *mem;
    const uint8_t *x = par->extradata;
    size_t size = x && par->extradata_size > 0 ? (size_t)par->extradata_size : 0;
    r->nal_len_size = ingest_nal_length_size(par);
    if (r->nal_len_size > 0) { // avcC: the parameter sets, each with a 16-bit length
        size_t at = 5;
        for (int set = 0; set < 2 && at < size; set++) {
            int count = set == 0 ? x[at++] & 31 : x[at++];
            for (int i = 0; i < count && at + 2 <= size; i++) {
                size_t n = (size_t)x[at] << 8 | x[at + 1];
                at += 2;
                if (n > size - at) break;
                add_nal(r, x + at, n, NULL);
                at += n;
            }
        }
    } else if (size > 0) {
        add_nals(r, x, size, 0, NULL);
    }
    return r;
}

// Appends the record of the next packet in decoding order. Every packet gets
// a record, even after the analysis stopped or when it holds no picture
// (FRAME_NOPIC), so that record i is always packet i for h264_plan.c.
int h264_refs_add(h264_refs *r, const uint8_t *data, size_t size)
{
    if (GROW(r, frames, n_frames, 1)) return -ENOMEM;
    frame_rec *f = &r->frames[r->n_frames];
    memset(f, 0, sizeof *f);
    r->have_pic = 0;
    if (!r->stopped) LWM_TRY(add_nals(r, data, size, r->nal_len_size, f));
    h264_ref self = {(int32_t)r->n_frames, f->frame_num, f->poc};
    if (!r->have_pic)
        f->flags |= FRAME_NOPIC;
    else if (!r->stopped && (f->flags & FRAME_REF) && h264_mark(r, f, &r->dpb, self) < 0)
        stop(r, "marking names a picture not in the buffer");
    if (f->flags & FRAME_REF) r->prev_ref_frame_num = f->frame_num;
    if (r->n_frames >= INT32_MAX - 1 || r->n_lists >= UINT32_MAX / 2) stop(r, "too many packets");
    r->n_frames++;
    return 0;
}

void h264_refs_free(h264_refs *r)
{
    if (!r) return;
    lwm_mem mem = r->mem;
    lwm_free(&mem, r->frames);
    lwm_free(&mem, r->slices);
    lwm_free(&mem, r->mods);
    lwm_free(&mem, r->lists);
    lwm_free(&mem, r->mmcos);
    lwm_free(&mem, r->dpbs);
    lwm_free(&mem, r);
}
