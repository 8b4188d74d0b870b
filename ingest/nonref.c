// Which packets skip_frame = AVDISCARD_NONREF would drop whole, read from
// their NAL unit headers, so that sparse sampling need not send them at all:
// a packet the decoder drops still takes a frame thread's turn, and the
// frames that are decoded then queue behind it instead of overlapping. Used
// where no decode plan exists (HEVC; H.264 streams outside h264_plan.c).
// A packet counts only if every NAL unit in it is one libavcodec skips under
// NONREF: non-reference slices, nothing else (no parameter sets, no SEI).
#include "internal.h"

// NAL framing from the stream's extradata: avcC / hvcC length prefixes, or
// Annex B start codes (0).
int ingest_nal_length_size(const AVCodecParameters *par)
{
    const uint8_t *x = par->extradata;
    if (par->codec_id == AV_CODEC_ID_H264 && par->extradata_size >= 7 && x[0] == 1) return (x[4] & 3) + 1;
    if (par->codec_id == AV_CODEC_ID_HEVC && par->extradata_size >= 23 && x[0] == 1) return (x[21] & 3) + 1;
    return 0;
}

static int nal_is_nonref_slice(enum AVCodecID codec, const uint8_t *nal, size_t size)
{
    if (size < 2) return 0;
    if (codec == AV_CODEC_ID_H264) {
        int type = nal[0] & 31, ref_idc = (nal[0] >> 5) & 3;
        return type == 1 && ref_idc == 0;
    }
    int type = (nal[0] >> 1) & 63; // HEVC: TRAIL_N .. RSV_VCL_N14, the even types up to 14
    return type <= 14 && type % 2 == 0;
}

int ingest_packet_nonref(enum AVCodecID codec, int len_size, const uint8_t *p, size_t size)
{
    if (codec != AV_CODEC_ID_H264 && codec != AV_CODEC_ID_HEVC) return 0;
    if (len_size > 0) {
        int slices = 0;
        while (size >= (size_t)len_size) {
            size_t n = 0;
            for (int i = 0; i < len_size; i++) n = n << 8 | p[i];
            p += len_size;
            size -= (size_t)len_size;
            if (n > size || !nal_is_nonref_slice(codec, p, n)) return 0;
            slices++;
            p += n;
            size -= n;
        }
        return size == 0 && slices > 0;
    }
    size_t start = 0;
    int in_nal = 0;
    for (size_t i = 0; i + 3 <= size;) {
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1) {
            size_t end = i;
            while (end > start && p[end - 1] == 0) end--; // trailing zeros: the next start code's
            if (in_nal && !nal_is_nonref_slice(codec, p + start, end - start)) return 0;
            i += 3;
            start = i;
            in_nal = 1;
        } else {
            i++;
        }
    }
    return in_nal && nal_is_nonref_slice(codec, p + start, size - start);
}
