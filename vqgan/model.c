// The encoder and decoder as wiring over the layers (spec §7.2–7.4). Four
// activation buffers per batch rotate: cur (the running activation), spare (the
// next one when a layer cannot work in place) and t, u (a resnet block's
// insides). Residual adds are fused into the second conv of a block (the conv
// accumulates onto the block's input), the nearest upsampling into the gather
// of the conv that follows it.
#include <math.h>

#include "internal.h"

typedef struct act {
    float *cur, *spare;
    int H, W; // current spatial size
} act;

static void swap(act *a)
{
    float *t = a->cur;
    a->cur = a->spare;
    a->spare = t;
}

static void conv(vq_buffers *b, float *out, const float *in, const vq_conv *p, int B, int H, int W,
                 vq_geom g, int accumulate)
{
    b->k->conv(out, in, p, B, H, W, g, accumulate, &b->scratch);
}

static void norm_silu(vq_buffers *b, float *out, const float *in, const vq_norm *p, int B, int HW)
{
    vqgan_group_norm_forward(out, in, p, B, HW, 1, b->threads);
}

// ResnetBlock: h = Conv(SiLU(GN(x))); h = Conv(SiLU(GN(h))); out = h + (x or Conv1x1(x)).
static void resnet_block(vq_buffers *b, const vq_resblock *r, act *a, int B)
{
    int H = a->H, W = a->W, HW = H * W;
    norm_silu(b, b->t, a->cur, &r->norm0, B, HW);
    conv(b, b->u, b->t, &r->conv0, B, H, W, VQ_SAME, 0);
    norm_silu(b, b->t, b->u, &r->norm1, B, HW);
    if (r->shortcut.w) {
        conv(b, a->spare, a->cur, &r->shortcut, B, H, W, VQ_POINT, 0);
        swap(a);
    }
    conv(b, a->cur, b->t, &r->conv1, B, H, W, VQ_SAME, 1);
}

float *vqgan_resnet_forward(const vq_resblock *r, float *x, float *spare, int B, int H, int W,
                            vq_buffers *b)
{
    act a = {x, spare, H, W};
    resnet_block(b, r, &a, B);
    return a.cur;
}

static void level(vq_buffers *b, const vq_level *lv, act *a, int B, vq_geom resample)
{
    for (int j = 0; j < lv->num_res; j++) resnet_block(b, &lv->res[j], a, B);
    if (!lv->has_resample) return;
    int Ho, Wo;
    vqgan_conv_out_size(a->H, a->W, 3, resample, &Ho, &Wo);
    conv(b, a->spare, a->cur, &lv->resample, B, a->H, a->W, resample, 0);
    swap(a);
    a->H = Ho, a->W = Wo;
}

float *vqgan_encoder_forward(const vq_model *m, const lwm_vqgan_config *cfg, const float *frames,
                             int B, vq_buffers *b)
{
    act a = {b->x, b->y, cfg->resolution, cfg->resolution};
    conv(b, a.cur, frames, &m->enc_in, B, a.H, a.W, VQ_SAME, 0);
    for (int i = 0; i < cfg->num_levels; i++) level(b, &m->enc[i], &a, B, VQ_DOWN);
    resnet_block(b, &m->enc_mid[0], &a, B);
    resnet_block(b, &m->enc_mid[1], &a, B);
    norm_silu(b, b->t, a.cur, &m->enc_norm, B, a.H * a.W);
    conv(b, b->u, b->t, &m->enc_out, B, a.H, a.W, VQ_SAME, 0);
    conv(b, a.spare, b->u, &m->quant_conv, B, a.H, a.W, VQ_POINT, 0);
    return a.spare;
}

void vqgan_decoder_forward(const vq_model *m, const lwm_vqgan_config *cfg, float *out,
                           const float *zq, int B, vq_buffers *b)
{
    int side = cfg->resolution >> (cfg->num_levels - 1);
    // zq may live in any buffer but t or u; post_quant_conv goes to u, conv_in to x or y.
    act a = {zq == b->x ? b->y : b->x, zq == b->x ? b->x : b->y, side, side};
    conv(b, b->u, zq, &m->post_quant_conv, B, side, side, VQ_POINT, 0);
    conv(b, a.cur, b->u, &m->dec_in, B, side, side, VQ_SAME, 0);
    resnet_block(b, &m->dec_mid[0], &a, B);
    resnet_block(b, &m->dec_mid[1], &a, B);
    for (int i = 0; i < cfg->num_levels; i++) level(b, &m->dec[i], &a, B, VQ_UP);
    norm_silu(b, b->t, a.cur, &m->dec_norm, B, a.H * a.W);
    conv(b, out, b->t, &m->dec_out, B, a.H, a.W, VQ_SAME, 0);
    size_t n = (size_t)B * a.H * a.W * (size_t)cfg->in_channels;
    for (size_t i = 0; i < n; i++) out[i] = out[i] < -1.0f ? -1.0f : out[i] > 1.0f ? 1.0f : out[i];
}
