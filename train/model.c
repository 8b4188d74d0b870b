// LWM's vision-language LLaMA, one row at a time across the ring: wiring of the layers in
// layers.c, attention in ring.c and the heads in loss.c. Per layer only the layer input, the
// attention output and its logsumexp are kept (linear in c); everything else is recomputed
// in the backward pass. Notation in internal.h.
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "model.h"

// ------------------------------------------------------------------ create / buffers

int model_create(train_model **out, const train_config *cfg, const train_ring *ring,
                 int64_t local_len, int threads, const lwm_mem *mem, lwm_error *err)
{
    *out = NULL;
    train_model *m = lwm_calloc(mem, 1, sizeof *m);
    LWM_CHECK(err, m, -ENOMEM, "out of memory for the model");
    if (mem) m->mem = *mem;
    m->cfg = *cfg;
    m->ring = *ring;
    m->threads = threads > 0 ? threads : 1;
    int rc = train_layout_build(&m->lay, &cfg->model, err);
    if (rc < 0) goto fail;
    train_layout_offsets(&m->ofs, &m->lay, cfg->model.layers);
    size_t slab = m->lay.total * sizeof(float);
    m->params = lwm_aligned_alloc(&m->mem, 4 * slab);
    if (!m->params) {
        rc = lwm_error_set(err, -ENOMEM, "out of memory for 4 slabs of %zu parameters",
                           m->lay.total);
        goto fail;
    }
    memset(m->params, 0, 4 * slab);
    m->grads = m->params + m->lay.total;
    m->adam_m = m->grads + m->lay.total;
    m->adam_v = m->adam_m + m->lay.total;
    rc = model_set_len(m, local_len, err);
    if (rc < 0) goto fail;
    *out = m;
    return 0;
fail:
    model_free(m);
    return rc;
}

void model_free(train_model *m)
{
    if (!m) return;
    lwm_mem mem = m->mem;
    lwm_aligned_free(&mem, m->params);
    lwm_aligned_free(&mem, m->block);
    lwm_free(&mem, m);
}

static float *carve(char **p, size_t floats)
{
    float *r = (float *)*p;
    *p += (floats * sizeof(float) + 63) & ~(size_t)63;
    return r;
}

// (Re)sizes every per-row buffer for c local tokens (a curriculum stage change).
int model_set_len(train_model *m, int64_t c, lwm_error *err)
{
    const train_model_shape *ms = &m->cfg.model;
    const size_t d = ms->dim, H = ms->heads, F = ms->ffn_dim, L = ms->layers, cf = m->cfg.chunk;
    const size_t V =
        (size_t)(ms->text_vocab > ms->vision_vocab ? ms->text_vocab : ms->vision_vocab);
    train_sizes s;
    train_sizes_compute(&s, ms, c, m->ring.size, m->cfg.attn_tile, m->cfg.chunk, m->threads);
    size_t floats =
        s.saved_acts + s.saved_lse + s.work + s.ring + s.chunk + s.attn_scratch + s.row_meta;
    size_t bytes = floats * sizeof(float) + 64 * 64; // alignment slack of the carve
    lwm_aligned_free(&m->mem, m->block);
    m->block = lwm_aligned_alloc(&m->mem, bytes);
    LWM_CHECK(err, m->block, -ENOMEM,
              "out of memory for %zu MB of activations at %lld tokens per rank", bytes >> 20,
              (long long)c);
    m->block_bytes = bytes;
    m->c = c;
    const size_t cd = (size_t)c * d;
    char *p = m->block;
    m->saved_in = carve(&p, L * cd);
    m->saved_o = carve(&p, L * cd);
    m->x_final = carve(&p, cd);
    m->saved_lse = carve(&p, L * H * c);
    float **work[] = {&m->xn, &m->q,    &m->k,  &m->v,     &m->dq,   &m->dk,
                      &m->dv, &m->xmid, &m->dx, &m->dxmid, &m->dout, &m->tmp};
    for (size_t i = 0; i < sizeof work / sizeof work[0]; i++) *work[i] = carve(&p, cd);
    m->rstd1 = carve(&p, c);
    m->rstd2 = carve(&p, c);
    m->D = carve(&p, H * c);
    float **ring[] = {&m->rb.kv_cur, &m->rb.kv_next, &m->rb.dkv_local, &m->rb.dkv_in,
                      &m->rb.dkv_out};
    for (size_t i = 0; i < 5; i++) *ring[i] = carve(&p, 2 * cd);
    model_chunk *ch = &m->ch;
    ch->hn = carve(&p, cf * d), ch->dhn = carve(&p, cf * d), ch->rstd = carve(&p, cf);
    ch->a = carve(&p, cf * F), ch->b = carve(&p, cf * F), ch->h = carve(&p, cf * F);
    ch->dh = carve(&p, cf * F);
    ch->gat = carve(&p, cf * d), ch->dgat = carve(&p, cf * d), ch->logits = carve(&p, cf * V);
    ch->idx = (int32_t *)carve(&p, cf);
    ch->tgt = (int32_t *)carve(&p, cf);
    ch->wts = carve(&p, cf);
    m->kern.scratch = carve(&p, s.attn_scratch);
    m->row_pos = (int32_t *)carve(&p, (size_t)m->ring.size * c);
    m->row_seg = (int32_t *)carve(&p, (size_t)m->ring.size * c);
    m->local_seg = (int32_t *)carve(&p, c);
    m->kern.H = ms->heads;
    m->kern.hd = ms->dim / ms->heads;
    m->kern.tile = m->cfg.attn_tile;
    m->kern.threads = m->threads;
    return (size_t)(p - (char *)m->block) <= bytes
               ? 0
               : lwm_error_set(err, LWM_EINTERNAL, "activation carve exceeds the sizing function");
}

float *model_params(train_model *m)
{
    return m->params;
}
float *model_grads(train_model *m)
{
    return m->grads;
}
const train_layout *model_layout(const train_model *m)
{
    return &m->lay;
}
size_t model_bytes(const train_model *m)
{
    return 4 * m->lay.total * sizeof(float) + m->block_bytes;
}

// ------------------------------------------------------------------ init

// Norms start at 1, every other tensor ~ N(0, 0.02^2) (LLaMA's initializer range), one
// stream per tensor so the values do not depend on the rank or thread count.
void model_init_params(train_model *m, uint64_t seed)
{
    for (int i = 0; i < m->lay.ntensors; i++) {
        const train_tensor *t = &m->lay.t[i];
        float *w = m->params + t->offset;
        if (t->rank == 1) {
            for (size_t j = 0; j < t->size; j++) w[j] = 1.0f;
            continue;
        }
        uint64_t s = seed * 1000003u + (uint64_t)i;
        for (size_t j = 0; j < t->size; j += 2) {
            double u1 = ((lwm_splitmix64(&s) >> 11) + 1.0) / 9007199254740993.0;
            double u2 = (lwm_splitmix64(&s) >> 11) / 9007199254740992.0;
            double r = sqrt(-2 * log(u1));
            w[j] = (float)(0.02 * r * cos(2 * M_PI * u2));
            if (j + 1 < t->size) w[j + 1] = (float)(0.02 * r * sin(2 * M_PI * u2));
        }
    }
}

// ------------------------------------------------------------------ one row

static int check_row(const train_model *m, const train_batch *bt, int b, lwm_error *err)
{
    const int Vt = m->cfg.model.text_vocab, Vv = m->cfg.model.vision_vocab;
    for (int64_t i = 0; i < bt->len; i++) {
        size_t p = (size_t)b * bt->len + i;
        int vi = bt->input_vision_masks[p] != 0, vt = bt->target_vision_masks[p] != 0;
        int32_t x = bt->input_tokens[p], y = bt->target_tokens[p];
        LWM_CHECK(err, x >= 0 && x < (vi ? Vv : Vt), LWM_EINVAL,
                  "row %d position %d: input token %d outside the %s vocabulary (%d)", b,
                  bt->positions[p], x, vi ? "vision" : "text", vi ? Vv : Vt);
        LWM_CHECK(err, !(bt->loss_masks[p] > 0) || (y >= 0 && y < (vt ? Vv : Vt)), LWM_EINVAL,
                  "row %d position %d: target token %d outside the %s vocabulary (%d)", b,
                  bt->positions[p], y, vt ? "vision" : "text", vt ? Vv : Vt);
    }
    return 0;
}

// Positions and segment ids of the whole row (every ring rank's slice) and the row's global
// text/vision target counts (lwm-format.md §5: reduced across the ring before backward).
static int gather_row(train_model *m, double counts[2], const train_batch *bt, int b,
                      lwm_error *err)
{
    const int64_t c = m->c;
    const int32_t *pos = bt->positions + (size_t)b * c, *seg = bt->segment_ids + (size_t)b * c;
    double local[2] = {0, 0};
    for (int64_t i = 0; i < c; i++) {
        size_t p = (size_t)b * c + i;
        float w = bt->loss_masks[p] > 0 ? bt->loss_masks[p] : 0;
        local[bt->target_vision_masks[p] ? 1 : 0] += w;
    }
    if (!m->ring.use_mpi || m->ring.size == 1) {
        memcpy(m->row_pos, pos, sizeof(int32_t) * c);
        memcpy(m->row_seg, seg, sizeof(int32_t) * c);
        counts[0] = local[0], counts[1] = local[1];
        return 0;
    }
    LWM_TRY(train_mpi_check(
        MPI_Allgather(pos, (int)c, MPI_INT32_T, m->row_pos, (int)c, MPI_INT32_T, m->ring.ring),
        "MPI_Allgather positions", err));
    LWM_TRY(train_mpi_check(
        MPI_Allgather(seg, (int)c, MPI_INT32_T, m->row_seg, (int)c, MPI_INT32_T, m->ring.ring),
        "MPI_Allgather segments", err));
    return train_mpi_check(MPI_Allreduce(local, counts, 2, MPI_DOUBLE, MPI_SUM, m->ring.ring),
                           "MPI_Allreduce row counts", err);
}

// q, k, v of layer l from its input x (also leaves the normalised input in m->xn).
static void qkv_forward(train_model *m, const float *x, int l, double theta, const int32_t *pos)
{
    const int d = m->cfg.model.dim, H = m->kern.H, hd = m->kern.hd;
    const float *P = m->params;
    const train_layer_ofs *o = &m->ofs.layer[l];
    rmsnorm_forward(m->xn, m->rstd1, x, P + o->attn_norm, m->c, d, m->cfg.model.norm_eps);
    mm(m->q, m->xn, P + o->wq, m->c, d, d, 0);
    mm(m->k, m->xn, P + o->wk, m->c, d, d, 0);
    mm(m->v, m->xn, P + o->wv, m->c, d, d, 0);
    rope_forward(m->q, pos, m->c, H, hd, theta);
    rope_forward(m->k, pos, m->c, H, hd, theta);
}

// Feed-forward over token chunks: out = xmid + W2 swiglu(norm(xmid) W1, norm(xmid) W3).
static void ffn_forward(train_model *m, float *out, const float *xmid, int l)
{
    const int d = m->cfg.model.dim, F = m->cfg.model.ffn_dim, cf = m->cfg.chunk;
    const float *P = m->params;
    const train_layer_ofs *o = &m->ofs.layer[l];
    model_chunk *ch = &m->ch;
    for (int64_t t0 = 0; t0 < m->c; t0 += cf) {
        int64_t n = m->c - t0 < cf ? m->c - t0 : cf;
        rmsnorm_forward(ch->hn, ch->rstd, xmid + t0 * d, P + o->ffn_norm, n, d,
                        m->cfg.model.norm_eps);
        mm(ch->a, ch->hn, P + o->w1, n, d, F, 0);
        mm(ch->b, ch->hn, P + o->w3, n, d, F, 0);
        swiglu_forward(ch->h, ch->a, ch->b, n * F);
        memcpy(out + t0 * d, xmid + t0 * d, sizeof(float) * (size_t)n * d);
        mm(out + t0 * d, ch->h, P + o->w2, n, F, d, 1);
    }
}

// dxmid = dx + d(ffn)/d(xmid)ᵀ dx, adding the FFN weight gradients.
static void ffn_backward(train_model *m, float *dxmid, const float *dx, const float *xmid, int l)
{
    const int d = m->cfg.model.dim, F = m->cfg.model.ffn_dim, cf = m->cfg.chunk;
    const float *P = m->params;
    float *G = m->grads;
    const train_layer_ofs *o = &m->ofs.layer[l];
    model_chunk *ch = &m->ch;
    for (int64_t t0 = 0; t0 < m->c; t0 += cf) {
        int64_t n = m->c - t0 < cf ? m->c - t0 : cf;
        const float *xr = xmid + t0 * d, *dy = dx + t0 * d;
        rmsnorm_forward(ch->hn, ch->rstd, xr, P + o->ffn_norm, n, d, m->cfg.model.norm_eps);
        mm(ch->a, ch->hn, P + o->w1, n, d, F, 0);
        mm(ch->b, ch->hn, P + o->w3, n, d, F, 0);
        swiglu_forward(ch->h, ch->a, ch->b, n * F);
        mm_at(G + o->w2, ch->h, dy, F, n, d, 1);
        mm_bt(ch->dh, dy, P + o->w2, n, d, F, 0);
        swiglu_backward(ch->a, ch->b, ch->dh, ch->a, ch->b, n * F);
        mm_at(G + o->w1, ch->hn, ch->a, d, n, F, 1);
        mm_at(G + o->w3, ch->hn, ch->b, d, n, F, 1);
        mm_bt(ch->dhn, ch->a, P + o->w1, n, F, d, 0);
        mm_bt(ch->dhn, ch->b, P + o->w3, n, F, d, 1);
        rmsnorm_backward(dxmid + t0 * d, G + o->ffn_norm, ch->dhn, xr, P + o->ffn_norm, ch->rstd, n,
                         d);
        for (int64_t i = 0; i < n * d; i++) dxmid[t0 * d + i] += dy[i];
    }
}

static int layer_forward(train_model *m, float *out, int l, double theta, const ring_row *row,
                         const int32_t *pos, lwm_error *err)
{
    const int d = m->cfg.model.dim;
    const size_t cd = (size_t)m->c * d;
    const float *x = m->saved_in + l * cd;
    float *o = m->saved_o + l * cd, *lse = m->saved_lse + (size_t)l * m->kern.H * m->c;
    qkv_forward(m, x, l, theta, pos);
    LWM_TRY(
        ring_attention_forward(&m->ring, &m->kern, &m->rb, o, lse, m->q, m->k, m->v, row, d, err));
    memcpy(m->xmid, x, sizeof(float) * cd);
    mm(m->xmid, o, m->params + m->ofs.layer[l].wo, m->c, d, d, 1);
    ffn_forward(m, out, m->xmid, l);
    return 0;
}

// m->dx holds d loss / d (layer output) on entry and d loss / d (layer input) on return.
static int layer_backward(train_model *m, int l, double theta, const ring_row *row,
                          const int32_t *pos, lwm_error *err)
{
    const int d = m->cfg.model.dim;
    const int64_t c = m->c;
    const size_t cd = (size_t)c * d;
    const float *x = m->saved_in + l * cd, *o = m->saved_o + l * cd;
    const float *lse = m->saved_lse + (size_t)l * m->kern.H * c, *P = m->params;
    float *G = m->grads;
    const train_layer_ofs *lo = &m->ofs.layer[l];
    qkv_forward(m, x, l, theta, pos);
    memcpy(m->xmid, x, sizeof(float) * cd);
    mm(m->xmid, o, P + lo->wo, c, d, d, 1);
    ffn_backward(m, m->dxmid, m->dx, m->xmid, l);
    mm_at(G + lo->wo, o, m->dxmid, d, c, d, 1);
    mm_bt(m->dout, m->dxmid, P + lo->wo, c, d, d, 0);
    attn_backward_prep(m->D, m->dout, o, c, m->kern.H, m->kern.hd);
    memset(m->dq, 0, sizeof(float) * cd);
    LWM_TRY(ring_attention_backward(&m->ring, &m->kern, &m->rb, m->dq, m->dk, m->dv, m->q, m->k,
                                    m->v, m->dout, lse, m->D, row, d, err));
    rope_backward(m->dq, pos, c, m->kern.H, m->kern.hd, theta);
    rope_backward(m->dk, pos, c, m->kern.H, m->kern.hd, theta);
    mm_at(G + lo->wq, m->xn, m->dq, d, c, d, 1);
    mm_at(G + lo->wk, m->xn, m->dk, d, c, d, 1);
    mm_at(G + lo->wv, m->xn, m->dv, d, c, d, 1);
    mm_bt(m->tmp, m->dq, P + lo->wq, c, d, d, 0);
    mm_bt(m->tmp, m->dk, P + lo->wk, c, d, d, 1);
    mm_bt(m->tmp, m->dv, P + lo->wv, c, d, d, 1);
    rmsnorm_backward(m->dx, G + lo->attn_norm, m->tmp, x, P + lo->attn_norm, m->rstd1, c, d);
    for (size_t i = 0; i < cd; i++) m->dx[i] += m->dxmid[i];
    return 0;
}

void model_set_sync(train_model *m, grad_sync *sync)
{
    m->sync = sync;
}

// Gradients [begin, end) of the slab are final for this step: reduce them while the backward
// pass goes on (only during a step's last row, when the trainer has set m->sync).
static int slice_done(train_model *m, size_t begin, size_t end, lwm_error *err)
{
    if (!m->sync) return 0;
    return grad_sync_post(m->sync, m->grads + begin, end - begin, err);
}

int model_row_forward(train_model *m, double counts[2], const train_batch *bt, int b, double theta,
                      lwm_error *err)
{
    LWM_CHECK(err, bt->len == m->c, LWM_EINTERNAL, "batch has %lld tokens per rank, model %lld",
              (long long)bt->len, (long long)m->c);
    LWM_TRY(check_row(m, bt, b, err));
    LWM_TRY(gather_row(m, counts, bt, b, err));
    const int L = m->cfg.model.layers, d = m->cfg.model.dim;
    const size_t cd = (size_t)m->c * d, base = (size_t)b * m->c;
    const int32_t *pos = bt->positions + base;
    ring_row row = {m->row_pos, m->row_seg, m->c};
    embed_forward(m->saved_in, bt->input_tokens + base, bt->input_vision_masks + base,
                  m->params + m->ofs.wte, m->params + m->ofs.vte, m->c, d);
    for (int l = 0; l < L; l++) {
        float *out = l + 1 < L ? m->saved_in + (l + 1) * cd : m->x_final;
        LWM_TRY(layer_forward(m, out, l, theta, &row, pos, err));
    }
    return 0;
}

int model_row_step(train_model *m, row_loss *loss, const train_batch *bt, int b, double theta,
                   double row_scale, lwm_error *err)
{
    double counts[2];
    LWM_TRY(model_row_forward(m, counts, bt, b, theta, err));
    const int L = m->cfg.model.layers, d = m->cfg.model.dim;
    const size_t base = (size_t)b * m->c;
    const int32_t *pos = bt->positions + base;
    ring_row row = {m->row_pos, m->row_seg, m->c};
    LWM_TRY(model_heads_loss(m, loss, m->dx, m->x_final, bt, b, counts[0], counts[1], row_scale));
    LWM_TRY(slice_done(m, m->ofs.ln_f, m->lay.total, err));
    for (int l = L - 1; l >= 0; l--) {
        LWM_TRY(layer_backward(m, l, theta, &row, pos, err));
        LWM_TRY(slice_done(m, m->ofs.layer[l].attn_norm,
                           l + 1 < L ? m->ofs.layer[l + 1].attn_norm : m->ofs.ln_f, err));
    }
    embed_backward(m->grads + m->ofs.wte, m->grads + m->ofs.vte, m->dx, bt->input_tokens + base,
                   bt->input_vision_masks + base, m->c, d);
    return slice_done(m, m->ofs.wte, m->ofs.layer[0].attn_norm, err);
}
