// AdamW, global-norm gradient clipping and the warmup + cosine learning-rate schedule.
// All loops are deterministic (fixed order, double accumulation) so a resumed run repeats
// an uninterrupted one bit for bit.
#include <math.h>

#include "internal.h"

void adamw_update(float *params, const float *grads, float *m, float *v, const train_layout *lay,
                  const adamw_params *p)
{
    const double bc1 = 1 - pow(p->beta1, (double)p->t), bc2 = 1 - pow(p->beta2, (double)p->t);
    const float b1 = (float)p->beta1, b2 = (float)p->beta2;
    for (int ti = 0; ti < lay->ntensors; ti++) {
        const train_tensor *t = &lay->t[ti];
        const float lr = (float)p->lr, wd = t->decay ? (float)(p->lr * p->weight_decay) : 0.0f;
        const float s1 = (float)(1 / bc1), s2 = (float)(1 / bc2), eps = (float)p->eps;
        float *w = params + t->offset, *mm_ = m + t->offset, *vv = v + t->offset;
        const float *g = grads + t->offset;
#pragma omp parallel for schedule(static) if ((size_t)(t->size) >= TRAIN_PAR_MIN)
        for (size_t i = 0; i < t->size; i++) {
            mm_[i] = b1 * mm_[i] + (1 - b1) * g[i];
            vv[i] = b2 * vv[i] + (1 - b2) * g[i] * g[i];
            float mh = mm_[i] * s1, vh = vv[i] * s2;
            w[i] -= lr * mh / (sqrtf(vh) + eps) + wd * w[i];
        }
    }
}

double grad_global_norm(const float *grads, size_t n)
{
    // Fixed-size blocks summed in order: the same result for any thread count.
    enum { BLOCK = 65536 };
    size_t nb = (n + BLOCK - 1) / BLOCK;
    double total = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t end = (b + 1) * BLOCK < n ? (b + 1) * BLOCK : n;
        double s = 0;
        for (size_t i = b * BLOCK; i < end; i++) s += (double)grads[i] * grads[i];
        total += s;
    }
    return sqrt(total);
}

void grad_scale(float *grads, size_t n, float s)
{
#pragma omp parallel for schedule(static) if ((size_t)(n) >= TRAIN_PAR_MIN)
    for (size_t i = 0; i < n; i++) grads[i] *= s;
}

// Linear warmup to lr over warmup_steps, then cosine decay to min_lr at total_steps.
double lr_at(const train_config *cfg, int64_t step, int64_t total_steps)
{
    if (cfg->warmup_steps > 0 && step < cfg->warmup_steps)
        return cfg->lr * (double)(step + 1) / (double)cfg->warmup_steps;
    int64_t span = total_steps - cfg->warmup_steps;
    if (span <= 0) return cfg->lr;
    double frac = (double)(step - cfg->warmup_steps) / (double)span;
    if (frac > 1) frac = 1;
    return cfg->min_lr + 0.5 * (cfg->lr - cfg->min_lr) * (1 + cos(M_PI * frac));
}
