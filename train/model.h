// model.h: the model's state (shared by model.c, loss.c, trainer.c; train/ only).
#ifndef LWM_TRAIN_MODEL_H
#define LWM_TRAIN_MODEL_H

#include "internal.h"

/** Chunk scratch for the feed-forward and the heads (cf tokens at a time). */
typedef struct model_chunk {
    float *hn, *dhn, *rstd;     // [cf, d], [cf, d], [cf]
    float *a, *b, *h, *dh;      // [cf, F] each
    float *gat, *dgat, *logits; // [cf, d], [cf, d], [cf, max(Vt, Vv)]
    int32_t *idx, *tgt;         // [cf]
    float *wts;                 // [cf]
} model_chunk;

struct train_model {
    lwm_mem mem; // allocator of everything below
    train_config cfg;
    train_ring ring;
    train_layout lay;
    train_model_ofs ofs;
    int64_t c; // local tokens per row
    int threads;
    float *params, *grads, *adam_m, *adam_v; // four slabs with one layout
    float *saved_in, *saved_o, *saved_lse;   // [L, c, d], [L, c, d], [L, H, c]
    float *x_final;                          // [c, d]
    float *xn, *q, *k, *v, *dq, *dk, *dv, *xmid, *dx, *dxmid, *dout, *tmp; // [c, d] each
    float *rstd1, *rstd2, *D;                                              // [c], [c], [H, c]
    int32_t *row_pos, *row_seg; // [ring, c]: the whole row, by source rank
    int32_t *local_seg;         // [c]
    ring_buffers rb;
    model_chunk ch;
    attn_kernel kern;
    grad_sync *sync; // set for a step's last row: slices reduced as final
    void *block;     // the one allocation behind all of the above
    size_t block_bytes;
};

/** Heads + loss, fused with their backward: dx [c, d] written from the final hidden x. */
int model_heads_loss(train_model *m, row_loss *out, float *dx, const float *x,
                     const train_batch *batch, int b, double count_t, double count_v,
                     double row_scale);

#endif
