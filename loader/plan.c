// Document order and packing plans: pure functions of (seed, stage, epoch,
// window) and the per-document lengths, so any row can be recomputed from a
// few integers and resuming never depends on what a buffer held.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

// ---- Keyed permutation ---------------------------------------------------

void loader_perm_init(loader_perm *p, int64_t n, uint64_t seed, uint64_t a, uint64_t b,
                      int identity)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->identity = identity || n <= 1;
    p->half_bits = 1;
    while (((int64_t)1 << (2 * p->half_bits)) < n) p->half_bits++;
    uint64_t k = lwm_mix64(seed ^ 0x4c574d4c4f414452ull) ^ lwm_mix64(a + 0x9e3779b97f4a7c15ull);
    k = lwm_mix64(k ^ lwm_mix64(b + 0x632be59bd9b4e019ull));
    for (int r = 0; r < 4; r++) p->key[r] = k = lwm_mix64(k + (uint64_t)r + 1);
}

static uint64_t feistel(const loader_perm *p, uint64_t x)
{
    // Balanced Feistel network on 2·half_bits bits: a bijection for any round
    // function; 4 rounds × 2 halves (each round mixes both halves once).
    uint64_t mask = ((uint64_t)1 << p->half_bits) - 1;
    uint64_t left = x >> p->half_bits, right = x & mask;
    for (int r = 0; r < 4; r++) {
        uint64_t t = left ^ (lwm_mix64(right ^ p->key[r]) & mask);
        left = right;
        right = t;
    }
    return (left << p->half_bits) | right;
}

int64_t loader_perm_apply(const loader_perm *p, int64_t i)
{
    if (p->identity) return i;
    // Cycle-walking: the domain is at most 4n, so on average < 4 steps.
    uint64_t x = (uint64_t)i;
    do x = feistel(p, x);
    while (x >= (uint64_t)p->n);
    return (int64_t)x;
}

// ---- Dataset mixing ------------------------------------------------------

int loader_order_init(loader_order *o, const int64_t *sizes, const double *weights, int n,
                      const lwm_mem *mem, lwm_error *err)
{
    memset(o, 0, sizeof *o);
    LWM_CHECK(err, n >= 1 && n <= 16, LWM_EINVAL, "between 1 and 16 datasets, got %d", n);
    double total = 0;
    for (int d = 0; d < n; d++) {
        double w = weights ? weights[d] : 1.0;
        LWM_CHECK(err, w > 0 && isfinite(w), LWM_EINVAL, "dataset %d: weight must be positive", d);
        LWM_CHECK(err, sizes[d] > 0, LWM_EINVAL, "dataset %d is empty", d);
        total += w;
    }
    o->n_datasets = n;
    for (int d = 0; d < n; d++) {
        o->size[d] = sizes[d];
        o->offset[d] = d ? o->offset[d - 1] + sizes[d - 1] : 0;
        o->epoch_slots += sizes[d];
        double w = weights ? weights[d] : 1.0;
        o->count[d] = n == 1 ? 1 : (int32_t)fmax(1.0, round(w / total * 256.0));
        o->cycle += o->count[d];
    }
    o->pattern = lwm_malloc(mem, (size_t)o->cycle);
    o->rank_in_cycle = lwm_malloc(mem, (size_t)o->cycle * sizeof *o->rank_in_cycle);
    if (!o->pattern || !o->rank_in_cycle) {
        loader_order_release(o, mem);
        return lwm_error_set(err, -ENOMEM, "out of memory");
    }
    // Smooth weighted round-robin: each dataset's slots spread evenly over a cycle.
    int64_t current[16] = {0};
    int32_t seen[16] = {0};
    for (int p = 0; p < o->cycle; p++) {
        int best = 0;
        for (int d = 0; d < n; d++) {
            current[d] += o->count[d];
            if (current[d] > current[best]) best = d;
        }
        current[best] -= o->cycle;
        o->pattern[p] = (uint8_t)best;
        o->rank_in_cycle[p] = seen[best]++;
    }
    return 0;
}

void loader_order_release(loader_order *o, const lwm_mem *mem)
{
    lwm_free(mem, o->pattern);
    lwm_free(mem, o->rank_in_cycle);
    o->pattern = NULL;
    o->rank_in_cycle = NULL;
}

int64_t loader_order_doc(const loader_order *o, int64_t epoch, int64_t slot)
{
    int64_t j = epoch * o->epoch_slots + slot;
    int64_t q = j / o->cycle, p = j % o->cycle;
    int d = o->pattern[p];
    int64_t k = q * o->count[d] + o->rank_in_cycle[p];
    int64_t dataset_epoch = k / o->size[d], index = k % o->size[d];
    loader_perm perm;
    loader_perm_init(&perm, o->size[d], o->seed, ((uint64_t)o->stage << 8) | (uint64_t)d,
                     (uint64_t)dataset_epoch, !o->shuffle);
    return o->offset[d] + loader_perm_apply(&perm, index);
}

// ---- Frame-boundary split points ----------------------------------------

int64_t loader_piece_end(const loader_lengths *len, int64_t doc, int64_t a, int64_t max_positions)
{
    int64_t n = len->n_tokens[doc];
    int64_t b = a + max_positions < n - 1 ? a + max_positions : n - 1;
    if (b == n - 1) return b;
    // A piece's last target must close a frame (eof/eov) or be text.
    for (uint32_t r = len->run_off[doc]; r < len->run_off[doc + 1]; r++) {
        int64_t start = len->runs[2 * r], frames = len->runs[2 * r + 1];
        int64_t end = start + frames * (LWM_FRAME_CODES + 1);
        if (b < start || b >= end) continue;
        int64_t in = (b - start) % (LWM_FRAME_CODES + 1);
        if (in != LWM_FRAME_CODES) b = b - in - 1;
        break;
    }
    return b > a ? b : -1;
}
