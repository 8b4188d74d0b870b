// NAL unit framing of H.264 and HEVC packets (avcC / hvcC length prefixes or
// Annex B start codes), and which packets skip_frame = AVDISCARD_NONREF would
// drop whole, so that sparse sampling need not send them at all: a packet the
// decoder drops still takes a frame thread's turn, and the frames that are
// decoded then queue behind it instead of overlapping. The non-reference test
// serves where no decode plan exists (HEVC; H.264 streams outside h264_plan.c):
// a packet counts only if every NAL unit in it is one libavcodec skips under
// NONREF, non-reference slices and nothing else (no parameter sets, no SEI).
#include "internal.h"

int ingest_nal_length_size(const AVCodecParameters *par)
{
    const uint8_t *x = par->extradata;
    if (par->codec_id == AV_CODEC_ID_H264 && par->extradata_size >= 7 && x[0] == 1)
        return (x[4] & 3) + 1;
    if (par->codec_id == AV_CODEC_ID_HEVC && par->extradata_size >= 23 && x[0] == 1)
        return (x[21] & 3) + 1;
    return 0;
}

int ingest_nal_next(nal_reader *rd, const uint8_t **nal, size_t *size)
{
    if (rd->len_size > 0) {
        if (rd->left < (size_t)rd->len_size) return 0;
        size_t n = 0;
        for (int i = 0; i < rd->len_size; i++) n = n << 8 | rd->p[i];
        rd->p += rd->len_size;
        rd->left -= (size_t)rd->len_size;
        if (n > rd->left) return -1;
        *nal = rd->p;
        *size = n;
        rd->p += n;
        rd->left -= n;
        return 1;
    }
    // Annex B: a NAL unit runs from after a start code to the next one (its
    // trailing zero bytes belong to that start code).
    const uint8_t *p = rd->p, *end = rd->p + rd->left;
    while (p + 3 <= end && !(p[0] == 0 && p[1] == 0 && p[2] == 1)) p++;
    if (p + 3 > end) return 0;
    const uint8_t *start = p + 3, *q = start;
    while (q + 3 <= end && !(q[0] == 0 && q[1] == 0 && q[2] == 1)) q++;
    const uint8_t *stop = q + 3 <= end ? q : end;
    rd->p = stop;
    rd->left = (size_t)(end - stop);
    while (stop > start && stop < end && stop[-1] == 0) stop--;
    *nal = start;
    *size = (size_t)(stop - start);
    return 1;
}

static int nal_is_nonref_slice(enum AVCodecID codec, const uint8_t *nal, size_t size)
{
    if (size < 2) return 0;
    if (codec == AV_CODEC_ID_H264) return (nal[0] & 31) == 1 && ((nal[0] >> 5) & 3) == 0;
    int type = (nal[0] >> 1) & 63; // HEVC: TRAIL_N .. RSV_VCL_N14, the even types up to 14
    return type <= 14 && type % 2 == 0;
}

int ingest_packet_nonref(enum AVCodecID codec, int len_size, const uint8_t *data, size_t size)
{
    if (codec != AV_CODEC_ID_H264 && codec != AV_CODEC_ID_HEVC) return 0;
    nal_reader rd = {data, size, len_size};
    const uint8_t *nal;
    size_t n;
    int rc, slices = 0;
    while ((rc = ingest_nal_next(&rd, &nal, &n)) > 0) {
        if (!nal_is_nonref_slice(codec, nal, n)) return 0;
        slices++;
    }
    return rc == 0 && rd.left == 0 && slices > 0;
}
