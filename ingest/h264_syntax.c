// H.264 parameter sets and slice headers, read as far as the reference
// structure goes (ITU-T H.264 §7.3.2.1, §7.3.2.2, §7.3.3). See h264.h.
#include <string.h>

#include "h264.h"

// Headers sit at the start of a NAL unit; a slice header with a full weight
// table for 32 references stays well under this.
#define RBSP_MAX 2048

typedef struct bits {
    uint8_t buf[RBSP_MAX];
    size_t size, pos; // in bytes, in bits
    int overrun;
} bits;

// The NAL payload without its header byte, emulation prevention bytes removed.
static void bits_init(bits *b, const uint8_t *nal, size_t size)
{
    size_t n = 0, zeros = 0;
    for (size_t i = 1; i < size && n < RBSP_MAX; i++) {
        if (zeros >= 2 && nal[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal[i] == 0 ? zeros + 1 : 0;
        b->buf[n++] = nal[i];
    }
    b->size = n;
    b->pos = 0;
    b->overrun = 0;
}

static unsigned read_bit(bits *b)
{
    if (b->pos >= b->size * 8) {
        b->overrun = 1;
        return 0;
    }
    unsigned v = (b->buf[b->pos >> 3] >> (7 - (b->pos & 7))) & 1;
    b->pos++;
    return v;
}

static unsigned read_u(bits *b, int n)
{
    unsigned v = 0;
    while (n-- > 0) v = (v << 1) | read_bit(b);
    return v;
}

// ue(v): Exp-Golomb; values beyond 32 bits are malformed here.
static unsigned read_ue(bits *b)
{
    int zeros = 0;
    while (!read_bit(b)) {
        if (b->overrun || ++zeros > 31) {
            b->overrun = 1;
            return 0;
        }
    }
    return (unsigned)((1ull << zeros) - 1 + read_u(b, zeros));
}

static int read_se(bits *b)
{
    unsigned k = read_ue(b);
    return k & 1 ? (int)((k + 1) / 2) : -(int)(k / 2);
}

static void skip_scaling_list(bits *b, int size)
{
    int last = 8, next = 8;
    for (int j = 0; j < size && !b->overrun; j++) {
        if (next != 0) next = (last + read_se(b) + 256) % 256;
        last = next == 0 ? last : next;
    }
}

static int high_profile(unsigned profile)
{
    static const unsigned ids[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i] == profile) return 1;
    return 0;
}

int h264_parse_sps(h264_params *p, const uint8_t *nal, size_t size)
{
    bits b;
    bits_init(&b, nal, size);
    h264_sps s = {.valid = 1, .chroma_array_type = 1};
    unsigned profile = read_u(&b, 8);
    read_u(&b, 16); // constraint flags, level
    unsigned id = read_ue(&b);
    if (id >= H264_MAX_SPS) return H264_UNSUPPORTED;
    if (high_profile(profile)) {
        unsigned chroma_format = read_ue(&b);
        if (chroma_format == 3) s.separate_colour_plane = (int)read_bit(&b);
        s.chroma_array_type = s.separate_colour_plane ? 0 : (int)chroma_format;
        read_ue(&b); // bit depths
        read_ue(&b);
        read_bit(&b); // qpprime_y_zero_transform_bypass
        if (read_bit(&b))
            for (int i = 0; i < (chroma_format != 3 ? 8 : 12); i++)
                if (read_bit(&b)) skip_scaling_list(&b, i < 6 ? 16 : 64);
    }
    s.log2_max_frame_num = (int)read_ue(&b) + 4;
    s.poc_type = (int)read_ue(&b);
    if (s.poc_type == 0)
        s.log2_max_poc_lsb = (int)read_ue(&b) + 4;
    else if (s.poc_type == 1)
        return H264_UNSUPPORTED;
    s.max_num_ref_frames = (int)read_ue(&b);
    s.gaps_allowed = (int)read_bit(&b);
    read_ue(&b); // size in macroblocks
    read_ue(&b);
    s.frame_mbs_only = (int)read_bit(&b);
    if (b.overrun || s.log2_max_frame_num > 16 || s.poc_type > 2 || s.log2_max_poc_lsb > 16 ||
        s.max_num_ref_frames > H264_MAX_DPB)
        return H264_UNSUPPORTED;
    p->sps[id] = s;
    return 0;
}

int h264_parse_pps(h264_params *p, const uint8_t *nal, size_t size)
{
    bits b;
    bits_init(&b, nal, size);
    h264_pps s = {.valid = 1};
    unsigned id = read_ue(&b);
    s.sps_id = (int)read_ue(&b);
    if (id >= H264_MAX_PPS || s.sps_id >= H264_MAX_SPS) return H264_UNSUPPORTED;
    read_bit(&b); // entropy_coding_mode
    s.bottom_field_poc_present = (int)read_bit(&b);
    if (read_ue(&b) != 0) return H264_UNSUPPORTED; // slice groups (FMO)
    s.num_ref_idx_default[0] = (int)read_ue(&b) + 1;
    s.num_ref_idx_default[1] = (int)read_ue(&b) + 1;
    s.weighted_pred = (int)read_bit(&b);
    s.weighted_bipred_idc = (int)read_u(&b, 2);
    read_se(&b); // pic_init_qp, pic_init_qs, chroma_qp_index_offset
    read_se(&b);
    read_se(&b);
    read_bit(&b); // deblocking_filter_control_present
    read_bit(&b); // constrained_intra_pred
    s.redundant_pic_cnt_present = (int)read_bit(&b);
    if (b.overrun || s.num_ref_idx_default[0] > H264_MAX_REFS ||
        s.num_ref_idx_default[1] > H264_MAX_REFS)
        return H264_UNSUPPORTED;
    p->pps[id] = s;
    return 0;
}

static int read_list_mods(bits *b, h264_slice *s, int list)
{
    s->n_mods[list] = 0;
    if (!read_bit(b)) return 0;
    for (;;) {
        int idc = (int)read_ue(b);
        if (idc == 3) return 0;
        if (idc > 2 || b->overrun || s->n_mods[list] > H264_MAX_REFS) return H264_UNSUPPORTED;
        h264_list_mod *m = &s->mods[list][s->n_mods[list]++];
        m->idc = idc;
        m->value = (int)read_ue(b);
    }
}

static void skip_weights(bits *b, const h264_slice *s, int lists)
{
    read_ue(b); // luma_log2_weight_denom
    if (s->sps->chroma_array_type != 0) read_ue(b);
    for (int l = 0; l < lists; l++)
        for (int i = 0; i < s->num_ref_idx_active[l] && !b->overrun; i++) {
            if (read_bit(b)) { // luma weight, offset
                read_se(b);
                read_se(b);
            }
            if (s->sps->chroma_array_type != 0 && read_bit(b))
                for (int k = 0; k < 4; k++) read_se(b); // two chroma weights, offsets
        }
}

static int read_marking(bits *b, h264_slice *s)
{
    s->n_mmco = 0;
    if (s->idr) {
        read_bit(b); // no_output_of_prior_pics
        s->long_term_reference = (int)read_bit(b);
        return 0;
    }
    s->adaptive_marking = (int)read_bit(b);
    if (!s->adaptive_marking) return 0;
    for (;;) {
        int op = (int)read_ue(b);
        if (op == 0) return 0;
        if (op > 6 || b->overrun || s->n_mmco >= H264_MAX_MMCO) return H264_UNSUPPORTED;
        h264_mmco *m = &s->mmco[s->n_mmco++];
        m->op = op;
        m->value = 0;
        if (op == 1 || op == 3) m->value = (int)read_ue(b);
        if (op == 2) m->value = (int)read_ue(b);
        if (op == 3 || op == 6) read_ue(b); // long_term_frame_idx
        if (op == 4) read_ue(b);            // max_long_term_frame_idx_plus1
    }
}

int h264_parse_slice(const h264_params *p, const uint8_t *nal, size_t size, h264_slice *s)
{
    bits b;
    bits_init(&b, nal, size);
    memset(s, 0, offsetof(h264_slice, mods));
    s->nal_ref_idc = (nal[0] >> 5) & 3;
    s->idr = (nal[0] & 31) == 5;
    s->first_mb = (int)read_ue(&b);
    unsigned type = read_ue(&b) % 5;
    s->type = type == 3 ? H264_P : type == 4 ? H264_I : (int)type;
    unsigned pps_id = read_ue(&b);
    if (b.overrun || pps_id >= H264_MAX_PPS || !p->pps[pps_id].valid) return H264_UNSUPPORTED;
    s->pps = &p->pps[pps_id];
    s->sps = &p->sps[s->pps->sps_id];
    const h264_sps *sps = s->sps;
    const h264_pps *pps = s->pps;
    if (!sps->valid || pps->redundant_pic_cnt_present) return H264_UNSUPPORTED;
    if (sps->separate_colour_plane) read_u(&b, 2);
    s->frame_num = (int)read_u(&b, sps->log2_max_frame_num);
    if (!sps->frame_mbs_only && (s->field_pic = (int)read_bit(&b))) return H264_UNSUPPORTED;
    if (s->idr) read_ue(&b); // idr_pic_id
    if (sps->poc_type == 0) {
        s->poc_lsb = (int)read_u(&b, sps->log2_max_poc_lsb);
        if (pps->bottom_field_poc_present) s->delta_poc_bottom = read_se(&b);
    }
    if (s->type == H264_B) read_bit(&b); // direct_spatial_mv_pred
    s->num_ref_idx_active[0] = s->type == H264_I ? 0 : pps->num_ref_idx_default[0];
    s->num_ref_idx_active[1] = s->type == H264_B ? pps->num_ref_idx_default[1] : 0;
    if (s->type != H264_I && read_bit(&b)) { // num_ref_idx_active_override
        s->num_ref_idx_active[0] = (int)read_ue(&b) + 1;
        if (s->type == H264_B) s->num_ref_idx_active[1] = (int)read_ue(&b) + 1;
    }
    if (s->num_ref_idx_active[0] > H264_MAX_REFS || s->num_ref_idx_active[1] > H264_MAX_REFS)
        return H264_UNSUPPORTED;
    if (s->type != H264_I && read_list_mods(&b, s, 0)) return H264_UNSUPPORTED;
    if (s->type == H264_B && read_list_mods(&b, s, 1)) return H264_UNSUPPORTED;
    if ((pps->weighted_pred && s->type == H264_P) ||
        (pps->weighted_bipred_idc == 1 && s->type == H264_B))
        skip_weights(&b, s, s->type == H264_B ? 2 : 1);
    if (s->nal_ref_idc && read_marking(&b, s)) return H264_UNSUPPORTED;
    return b.overrun ? H264_UNSUPPORTED : 0;
}
