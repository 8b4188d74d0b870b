// The H.264 reference model of ingest/h264_*.c: list construction and
// picture order against the rules of ITU-T H.264 (§8.2.1, §8.2.4) worked by
// hand, and the slice headers of real x264 streams against what libavcodec
// itself reads from them (its FF_DEBUG_PICT_INFO line for every slice).
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ingest/h264.h"
#include "ingest/internal.h"

static h264_dpb dpb_of(const int *frame_nums, const int *pocs, int n)
{
    h264_dpb d = {.n = n};
    for (int k = 0; k < n; k++) d.pic[k] = (h264_ref){100 + k, frame_nums[k], pocs[k]};
    return d;
}

TEST(p_list_descending_pic_num_across_wrap)
{
    // MaxFrameNum 16, current frame_num 2: frame_nums 14, 15 wrap to PicNum -2, -1.
    const int fn[] = {14, 15, 0, 1}, poc[] = {0, 2, 4, 6};
    h264_dpb d = dpb_of(fn, poc, 4);
    h264_list_params lp = {.type = H264_P, .active = {4, 0}};
    h264_cur cur = {2, 8, 4};
    int32_t got[4];
    CHECK(h264_dpb_list(&d, &lp, &cur, 0, got) == 0, "list failed");
    const int32_t want[] = {103, 102, 101, 100}; // frame_num 1, 0, 15, 14
    CHECK(memcmp(got, want, sizeof want) == 0, "got %d %d %d %d", got[0], got[1], got[2], got[3]);
    lp.active[0] = 2; // truncated to the active count
    CHECK(h264_dpb_list(&d, &lp, &cur, 0, got) == 0 && got[0] == 103 && got[1] == 102, "truncated");
}

TEST(b_lists_by_picture_order)
{
    // Current POC 6; references at 0, 8, 4, 16. List 0: past nearest first (4, 0),
    // then future nearest first (8, 16). List 1: future first (8, 16), then past (4, 0).
    const int fn[] = {0, 1, 2, 3}, poc[] = {0, 8, 4, 16};
    h264_dpb d = dpb_of(fn, poc, 4);
    h264_list_params lp = {.type = H264_B, .active = {4, 4}};
    h264_cur cur = {4, 6, 4};
    int32_t l0[4], l1[4];
    CHECK(h264_dpb_list(&d, &lp, &cur, 0, l0) == 0 && h264_dpb_list(&d, &lp, &cur, 1, l1) == 0,
          "failed");
    const int32_t want0[] = {102, 100, 101, 103}, want1[] = {101, 103, 102, 100};
    CHECK(memcmp(l0, want0, sizeof want0) == 0, "list0 %d %d %d %d", l0[0], l0[1], l0[2], l0[3]);
    CHECK(memcmp(l1, want1, sizeof want1) == 0, "list1 %d %d %d %d", l1[0], l1[1], l1[2], l1[3]);
}

TEST(b_list1_equal_to_list0_swaps_first_two)
{
    // All references in the past (§8.2.4.2.3): list 1 would equal list 0, so its
    // first two entries swap.
    const int fn[] = {0, 1, 2}, poc[] = {0, 4, 2};
    h264_dpb d = dpb_of(fn, poc, 3);
    h264_list_params lp = {.type = H264_B, .active = {3, 3}};
    h264_cur cur = {3, 8, 4};
    int32_t l0[3], l1[3];
    CHECK(h264_dpb_list(&d, &lp, &cur, 0, l0) == 0 && h264_dpb_list(&d, &lp, &cur, 1, l1) == 0,
          "failed");
    CHECK(l0[0] == 101 && l0[1] == 102 && l0[2] == 100, "list0 %d %d %d", l0[0], l0[1], l0[2]);
    CHECK(l1[0] == 102 && l1[1] == 101 && l1[2] == 100, "list1 %d %d %d", l1[0], l1[1], l1[2]);
}

TEST(list_modification_moves_a_picture_first)
{
    // P, current frame_num 5, references 1..4. abs_diff_pic_num_minus1 = 2 subtracts 3:
    // PicNum 2 goes first, the rest keep their order without it (§8.2.4.3.1);
    // then idc 1 with 0 adds 1: PicNum 3 second.
    const int fn[] = {1, 2, 3, 4}, poc[] = {2, 4, 6, 8};
    h264_dpb d = dpb_of(fn, poc, 4);
    const h264_list_mod mods[] = {{0, 2}, {1, 0}};
    h264_list_params lp = {
        .type = H264_P, .active = {4, 0}, .n_mods = {2, 0}, .mods = {mods, NULL}};
    h264_cur cur = {5, 10, 4};
    int32_t got[4];
    CHECK(h264_dpb_list(&d, &lp, &cur, 0, got) == 0, "list failed");
    const int32_t want[] = {101, 102, 103, 100}; // PicNum 2, 3, 4, 1
    CHECK(memcmp(got, want, sizeof want) == 0, "got %d %d %d %d", got[0], got[1], got[2], got[3]);
    const h264_list_mod missing[] = {{0, 9}}; // PicNum -5: not in the buffer
    lp.mods[0] = missing;
    lp.n_mods[0] = 1;
    CHECK(h264_dpb_list(&d, &lp, &cur, 0, got) < 0, "a missing picture was not reported");
}

TEST(sliding_window_drops_the_oldest)
{
    const int fn[] = {3, 4, 5}, poc[] = {6, 8, 10};
    h264_dpb d = dpb_of(fn, poc, 3);
    h264_dpb_slide(&d, 3);
    CHECK(d.n == 2 && d.pic[0].frame_num == 4, "n %d first %d", d.n, d.pic[0].frame_num);
    h264_dpb_store(&d, (h264_ref){200, 4, 99}, 3); // same frame_num replaces
    CHECK(d.n == 2 && d.pic[1].packet == 200, "n %d", d.n);
}

TEST(picture_order_type0_follows_lsb_wraps)
{
    // MaxPicOrderCntLsb 16: lsb 0, 8, 14 then 4 (a wrap: +16), then a non-reference 2
    // (still after the wrap: 18), then a reference 12 (28).
    frame_rec f = {.poc_type = 0, .log2_max_poc_lsb = 4, .log2_max_frame_num = 4};
    h264_poc_state st = {0};
    const int lsb[] = {0, 8, 14, 4, 2, 12}, ref[] = {1, 1, 1, 1, 0, 1},
              want[] = {0, 8, 14, 20, 18, 28};
    for (int i = 0; i < 6; i++) {
        f.flags = (uint8_t)((ref[i] ? FRAME_REF : 0) | (i == 0 ? FRAME_IDR : 0));
        f.poc_lsb = lsb[i];
        int got = h264_picture_order(&st, &f);
        CHECK(got == want[i], "picture %d: %d, want %d", i, got, want[i]);
    }
}

/* ---- slice headers against libavcodec --------------------------------------------- */

typedef struct pict_line {
    int frame_num, poc, ref0, ref1;
    char type;
} pict_line;
typedef struct pict_log {
    pict_line line[64];
    int n;
} pict_log;
static pict_log *g_log; // libavcodec's log callback has no user pointer

static void collect(void *avcl, int level, const char *fmt, va_list vl)
{
    (void)avcl;
    (void)level;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, vl);
    const char *s = strstr(buf, "slice:");
    if (!s || !g_log || g_log->n >= 64) return;
    pict_line *l = &g_log->line[g_log->n];
    const char *m = strstr(s, " mb:"), *fr = strstr(s, "frame:"), *po = strstr(s, "poc:");
    const char *rf = strstr(s, "ref:");
    if (!m || !fr || !po || !rf) return;
    l->type = m[4 + strspn(m + 4, "0123456789") + 1]; // " mb:N T": the slice type letter
    if (sscanf(fr, "frame:%d", &l->frame_num) == 1 && sscanf(po, "poc:%d", &l->poc) == 1 &&
        sscanf(rf, "ref:%d/%d", &l->ref0, &l->ref1) == 2)
        g_log->n++;
}

static void headers_case(const char *name, const char *x264)
{
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/h264_%s.mp4", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             name);
    snprintf(cmd, sizeof cmd,
             "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=s=192x108:r=25:d=4 "
             "-vf noise=alls=20:allf=t -c:v libx264 %s -pix_fmt yuv420p %s",
             x264, path);
    REQUIRE(system(cmd) == 0, "%s: ffmpeg failed", name);
    AVFormatContext *fmt = NULL;
    REQUIRE(avformat_open_input(&fmt, path, NULL, NULL) == 0, "open %s", path);
    avformat_find_stream_info(fmt, NULL);
    AVCodecParameters *par = fmt->streams[0]->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dec, par);
    dec->thread_count = 1;
    dec->debug = FF_DEBUG_PICT_INFO;
    avcodec_open2(dec, codec, NULL);
    h264_refs *r = h264_refs_create(NULL, par);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    pict_log log;
    int packets = 0, slices = 0, idr_poc_ours = 0, idr_poc_theirs = 0;
    while (av_read_frame(fmt, pkt) >= 0 && !test_failed_) {
        memset(&log, 0, sizeof log);
        g_log = &log;
        avcodec_send_packet(dec, pkt);
        while (avcodec_receive_frame(dec, frame) == 0) av_frame_unref(frame);
        g_log = NULL;
        CHECK(h264_refs_add(r, pkt->data, (size_t)pkt->size) == 0, "add");
        CHECK(!h264_refs_stopped(r), "%s: model stopped: %s", name, h264_refs_stopped(r));
        const frame_rec *f = &r->frames[packets];
        CHECK(f->n_slices == log.n, "%s packet %d: %d slices, libavcodec %d", name, packets,
              f->n_slices, log.n);
        if (f->flags & FRAME_IDR) {
            idr_poc_ours = f->poc;
            idr_poc_theirs = log.line[0].poc;
        }
        for (int s = 0; s < log.n && s < f->n_slices; s++) {
            const pict_line *l = &log.line[s];
            const slice_rec *sr = &r->slices[f->slices_at + (uint32_t)s];
            char type = sr->type == H264_B ? 'B' : sr->type == H264_P ? 'P' : 'I';
            CHECK(l->type == type && l->frame_num == f->frame_num &&
                      l->poc - idr_poc_theirs == f->poc - idr_poc_ours,
                  "%s packet %d: %c frame_num %d poc %d; libavcodec %c %d %d", name, packets, type,
                  f->frame_num, f->poc - idr_poc_ours, l->type, l->frame_num,
                  l->poc - idr_poc_theirs);
            CHECK(type == 'I' || l->ref0 == sr->active[0], "%s packet %d: list0 %d, libavcodec %d",
                  name, packets, sr->active[0], l->ref0);
            CHECK(type != 'B' || l->ref1 == sr->active[1], "%s packet %d: list1 %d, libavcodec %d",
                  name, packets, sr->active[1], l->ref1);
        }
        slices += log.n;
        packets++;
        av_packet_unref(pkt);
    }
    CHECK(packets == 100 && slices >= 100, "%s: %d packets, %d slices", name, packets, slices);
    h264_refs_free(r);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    remove(path);
}

TEST(slice_headers_match_libavcodec)
{
    av_log_set_callback(collect);
    av_log_set_level(AV_LOG_DEBUG);
    headers_case("pyramid", "-preset veryfast -g 60");
    headers_case("ref3_weightp", "-preset medium -x264-params weightp=2:ref=3");
    headers_case("slices", "-x264-params slices=3:b-pyramid=strict");
    headers_case("p_only_poc2", "-bf 0 -x264-params ref=4:keyint=30"); // x264 uses POC type 2 here
    headers_case("mbaff", "-flags +ildct+ilme -x264-params interlaced=1");
    av_log_set_callback(av_log_default_callback);
    av_log_set_level(AV_LOG_INFO);
}

TEST_MAIN("ingest/h264", T(p_list_descending_pic_num_across_wrap), T(b_lists_by_picture_order),
          T(b_list1_equal_to_list0_swaps_first_two), T(list_modification_moves_a_picture_first),
          T(sliding_window_drops_the_oldest), T(picture_order_type0_follows_lsb_wraps),
          T(slice_headers_match_libavcodec))
