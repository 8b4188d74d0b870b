// Output heads and LWM's loss, blockwise and fused with their backward (lwm-format.md §5).
// Never forms a c x vocab tensor: tokens go through in chunks of cf, and each token only
// through the head its target selects (a token with zero weight goes through neither, as its
// logits cannot affect the loss). Because the global per-row counts are known before the
// forward pass (reduced across the ring), the logit gradient is formed right away:
//   d loss / d logit = row_scale * 0.5 * w / count * (softmax - onehot).
#include <math.h>
#include <string.h>

#include "internal.h"
#include "model.h"

// One head over the gathered rows G [n, d]: logits [n, V] in place, returns sum of w*nll;
// dW += Gᵀ dlogits, dG = dlogits Wᵀ.
static double head_pass(float *dG, float *dW, float *logits, const float *G, const float *W,
                        const int32_t *target, const float *w, int64_t n, int d, int V,
                        double grad_coef)
{
    if (n == 0) return 0;
    mm(logits, G, W, n, d, V, 0);
    double loss = 0;
    for (int64_t i = 0; i < n; i++) {
        float *z = logits + i * V;
        float mx = z[0];
        for (int j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0;
        for (int j = 0; j < V; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        loss += w[i] * (lse - z[target[i]]);
        float g = (float)(grad_coef * w[i]);
        for (int j = 0; j < V; j++) z[j] = g * (float)exp((double)z[j] - lse);
        z[target[i]] -= g;
    }
    mm_at(dW, G, logits, d, n, V, 1);
    mm_bt(dG, logits, W, n, V, d, 0);
    return loss;
}

int model_heads_loss(train_model *m, row_loss *out, float *dx, const float *x,
                     const train_batch *batch, int b, double count_t, double count_v,
                     double row_scale)
{
    const int d = m->cfg.model.dim, cf = m->cfg.chunk;
    const int Vt = m->cfg.model.text_vocab, Vv = m->cfg.model.vision_vocab;
    const int64_t c = m->c, base = (int64_t)b * batch->len;
    const float *P = m->params, *gf = P + m->ofs.ln_f;
    float *G = m->grads;
    const float *lm = P + m->ofs.lm_head, *vh = P + m->ofs.vision_head;
    const double coef_t = 0.5 * row_scale / (count_t > 1e-10 ? count_t : 1e-10);
    const double coef_v = 0.5 * row_scale / (count_v > 1e-10 ? count_v : 1e-10);
    float *xn = m->ch.hn, *rstd = m->ch.rstd, *gat = m->ch.gat, *dgat = m->ch.dgat;
    float *dxn = m->ch.dhn, *logits = m->ch.logits;
    int32_t *idx = m->ch.idx, *tgt = m->ch.tgt;
    float *wts = m->ch.wts;
    double sum_t = 0, sum_v = 0;
    for (int64_t t0 = 0; t0 < c; t0 += cf) {
        int64_t n = c - t0 < cf ? c - t0 : cf;
        rmsnorm_forward(xn, rstd, x + t0 * d, gf, n, d, m->cfg.model.norm_eps);
        memset(dxn, 0, sizeof(float) * (size_t)n * d);
        for (int vis = 0; vis <= 1; vis++) {
            int64_t k = 0;
            for (int64_t i = 0; i < n; i++) {
                int64_t p = base + t0 + i;
                float w = batch->loss_masks[p];
                if (!(w > 0) || (batch->target_vision_masks[p] != 0) != vis) continue;
                idx[k] = (int32_t)i;
                tgt[k] = batch->target_tokens[p];
                wts[k] = w;
                memcpy(gat + k * d, xn + i * d, sizeof(float) * (size_t)d);
                k++;
            }
            double s =
                head_pass(dgat, G + (vis ? m->ofs.vision_head : m->ofs.lm_head), logits, gat,
                          vis ? vh : lm, tgt, wts, k, d, vis ? Vv : Vt, vis ? coef_v : coef_t);
            if (vis)
                sum_v += s;
            else
                sum_t += s;
            for (int64_t j = 0; j < k; j++)
                memcpy(dxn + (size_t)idx[j] * d, dgat + j * d, sizeof(float) * (size_t)d);
        }
        rmsnorm_backward(dx + t0 * d, G + m->ofs.ln_f, dxn, x + t0 * d, gf, rstd, n, d);
    }
    out->text = row_scale * sum_t / (count_t > 1e-10 ? count_t : 1e-10);
    out->vision = row_scale * sum_v / (count_v > 1e-10 ? count_v : 1e-10);
    return 0;
}
