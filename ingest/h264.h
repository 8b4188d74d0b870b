/**
 * h264.h: the part of H.264's syntax that says which pictures a picture
 * predicts from (ITU-T H.264 §7.3: parameter sets and slice headers up to the
 * reference marking), for h264_syntax.c and h264_refs.c only.
 *
 * libavcodec parses all of this but exposes none of it; sparse sampling needs
 * it to know which reference B-frames (x264's b-pyramid) no wanted frame
 * predicts from, so that they need not be decoded. Only what that question
 * needs is parsed: no macroblock data, and anything outside the common case
 * (fields, long-term references, slice groups, POC type 1, ...) stops the
 * analysis, leaving the decoder to the plain non-reference rule.
 */
#ifndef LWM_INGEST_H264_H
#define LWM_INGEST_H264_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#define H264_MAX_SPS 32
#define H264_MAX_PPS 256
#define H264_MAX_REFS 32 // num_ref_idx_active per list (fields allow 32)
#define H264_MAX_DPB 16  // max_num_ref_frames
#define H264_MAX_MMCO 66

typedef struct h264_sps {
    int valid;
    int chroma_array_type;
    int log2_max_frame_num;
    int poc_type;
    int log2_max_poc_lsb;
    int max_num_ref_frames;
    int gaps_allowed;
    int frame_mbs_only;
    int separate_colour_plane;
} h264_sps;

typedef struct h264_pps {
    int valid;
    int sps_id;
    int bottom_field_poc_present;
    int num_ref_idx_default[2];
    int weighted_pred;
    int weighted_bipred_idc;
    int redundant_pic_cnt_present;
} h264_pps;

enum { H264_P = 0, H264_B = 1, H264_I = 2 }; // slice_type % 5, SP read as P and SI as I

typedef struct h264_list_mod {
    int idc, value;
} h264_list_mod;
typedef struct h264_mmco {
    int op, value;
} h264_mmco; // value: difference_of_pic_nums_minus1 for op 1

typedef struct h264_slice {
    int nal_ref_idc, idr;
    int type; // H264_P, H264_B or H264_I
    int first_mb;
    const h264_sps *sps;
    const h264_pps *pps;
    int frame_num;
    int field_pic;
    int poc_lsb, delta_poc_bottom;
    int num_ref_idx_active[2];
    int long_term_reference; // IDR marking
    int adaptive_marking;
    int n_mmco;
    h264_mmco mmco[H264_MAX_MMCO];
    int n_mods[2];
    h264_list_mod mods[2][H264_MAX_REFS + 1]; // last: the parser clears everything before it
} h264_slice;

typedef struct h264_params {
    h264_sps sps[H264_MAX_SPS];
    h264_pps pps[H264_MAX_PPS];
} h264_params;

/* Results of the parsers: 0, or a reason the stream is outside what is modelled. */
#define H264_UNSUPPORTED (-1)

/** Parses one SPS NAL unit (header byte included) into p. */
int h264_parse_sps(h264_params *p, const uint8_t *nal, size_t size);
/** Parses one PPS NAL unit (header byte included) into p. */
int h264_parse_pps(h264_params *p, const uint8_t *nal, size_t size);
/** Parses the header of one slice NAL unit (type 1 or 5) into s, with p's parameter sets. */
int h264_parse_slice(const h264_params *p, const uint8_t *nal, size_t size, h264_slice *s);

/* ---- h264_dpb.c: the decoded picture buffer's references and the lists built from them ---- */

/** A short-term reference: the packet it came from, or H264_STAND_IN for the picture a
 *  decoder puts in place of one it was not given (a frame_num gap). */
typedef struct h264_ref {
    int32_t packet;
    int frame_num, poc;
} h264_ref;

#define H264_STAND_IN (-1)
#define H264_NO_REF (-2) // a list entry naming nothing

/** Short-term references, oldest first (decode order, as the sliding window drops them). */
typedef struct h264_dpb {
    h264_ref pic[H264_MAX_DPB + 1];
    int n;
} h264_dpb;

/** What a slice says about its reference lists. */
typedef struct h264_list_params {
    int type;
    int active[2];
    int n_mods[2];
    const h264_list_mod *mods[2];
} h264_list_params;

/** The picture being decoded, as the lists and the marking see it. */
typedef struct h264_cur {
    int frame_num, poc, log2_max_frame_num;
} h264_cur;

/**
 * Builds reference list `which` (0 or 1) of a slice (§8.2.4): initial order,
 * then the modifications. Writes lp->active[which] packet numbers (or
 * H264_STAND_IN / H264_NO_REF) into out. Returns 0, or -1 when a modification
 * names a picture that is not in the buffer.
 */
int h264_dpb_list(const h264_dpb *d, const h264_list_params *lp, const h264_cur *cur, int which,
                  int32_t *out);
/** Removes the short-term reference with this PicNum (MMCO 1); 0, or -1 if none has it. */
int h264_dpb_unmark(h264_dpb *d, const h264_cur *cur, int pic_num);
/** Drops the oldest references until fewer than max(max_refs, 1) remain (sliding window). */
void h264_dpb_slide(h264_dpb *d, int max_refs);
/** Stores the current picture as a short-term reference (replacing one with its frame_num);
 *  then, as a decoder does with a buffer that overflows, drops the oldest beyond max_refs. */
void h264_dpb_store(h264_dpb *d, h264_ref pic, int max_refs);

/* ---- h264_refs.c (the stream's own references) and h264_plan.c (what to decode) ---- */

typedef struct h264_refs h264_refs;

enum {
    FRAME_REF = 1, // nal_ref_idc != 0
    FRAME_B = 2,   // has a B slice
    FRAME_IDR = 4,
    FRAME_ADAPTIVE = 8, // marked by MMCOs, not the sliding window
    FRAME_NOPIC = 16,   // a packet without a slice
    FRAME_PARAMS = 32,  // carries a parameter set
};

/** One slice's list syntax and the lists it really builds (from the stream's own buffer). */
typedef struct slice_rec {
    uint8_t type, active[2], n_mods[2];
    uint32_t mods_at;  // into h264_refs.mods
    uint32_t lists_at; // active[0] + active[1] packet numbers into h264_refs.lists
} slice_rec;

/** One packet in decode order. */
typedef struct frame_rec {
    uint32_t slices_at, mmco_at, dpb_at; // into h264_refs.slices, .mmcos, .dpbs
    uint16_t n_slices;
    uint8_t n_mmco, n_dpb, flags;
    uint8_t log2_max_frame_num, poc_type, log2_max_poc_lsb, max_refs; // from its SPS
    int frame_num, poc, poc_lsb, delta_poc_bottom;
} frame_rec;

/**
 * Picture order count state (§8.2.1, types 0 and 2): what the next picture's count derives from.
 */
typedef struct h264_poc_state {
    int prev_poc_msb, prev_poc_lsb;        // of the previous reference picture (type 0)
    int prev_frame_num, prev_frame_offset; // of the previous picture (type 2)
} h264_poc_state;

/** The picture order count of f; updates st as a decoder does after decoding f. */
int h264_picture_order(h264_poc_state *st, const frame_rec *f);

struct h264_refs {
    lwm_mem mem;
    h264_params params;
    int nal_len_size;    // bytes of each NAL's length prefix (avcC); 0: Annex B start codes
    const char *stopped; // why the stream is outside the model; NULL while it holds
    // the stream's own buffer and picture order state while reading
    h264_dpb dpb;
    int prev_ref_frame_num;
    h264_poc_state poc;
    h264_slice slice;
    int have_pic;
    // records: one frame_rec per packet, the rest in pools
    frame_rec *frames;
    size_t n_frames, frames_cap;
    slice_rec *slices;
    size_t n_slices, slices_cap;
    h264_list_mod *mods;
    size_t n_mods, mods_cap;
    int32_t *lists;
    size_t n_lists, lists_cap;
    h264_mmco *mmcos;
    size_t n_mmcos, mmcos_cap;
    int32_t *dpbs; // each packet's buffer (packet numbers) when it was decoded
    size_t n_dpbs, dpbs_cap;
};

/** Slice s of a record as list parameters (pointing into r's pools). */
h264_list_params h264_slice_params(const h264_refs *r, const slice_rec *s);
/**
 * Marks the decoded reference frame f in d: IDR, MMCOs or the sliding window,
 * then stores it as pic. Returns 0, or -1 when an MMCO names a picture d lacks
 * (the decoder then skips that command, and so does this).
 */
int h264_mark(const h264_refs *r, const frame_rec *f, h264_dpb *d, h264_ref pic);

#endif /* LWM_INGEST_H264_H */
