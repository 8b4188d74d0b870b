// Synthetic data sources for tests and the demo, sliced per ring rank in the zigzag layout
// exactly as the loader slices real data (ring-attention.md §6). Row k of the run is a pure
// function of (seed, k), so any ring size or data-parallel split sees the same rows.
//   needle: BOS, filler tokens, one value token planted in the first quarter, ..., QUERY;
//           the only weighted target is the planted value (text loss floor 0, chance
//           log(values)): the retrieval needs attention across the whole row.
//   mixed:  random text and vision spans in several packed documents (segment ids), random
//           loss weights: exercises both heads, both embeddings and the segment masks.
#include <errno.h>
#include <string.h>

#include "internal.h"

enum { TOK_BOS = 1, TOK_QUERY = 3, TOK_FIRST_FILLER = 4 };

typedef struct synth {
    lwm_mem mem;
    train_config cfg;
    train_ring ring;
    int mixed;
    int64_t seq_len, c;
    int64_t next_row;             // rows of the run handed out so far (all data-parallel ranks)
    int32_t *full_tok, *full_seg; // [seq_len + 1]
    uint8_t *full_vis;
    float *full_w;
    int32_t *in, *tgt, *seg, *pos; // [rows, c]
    float *mask;
    uint8_t *vin, *vtgt;
} synth;

static uint64_t rnd(uint64_t *s)
{
    return lwm_splitmix64_of((*s)++ * 0x2545F4914F6CDD1Dull + 77);
}

static void make_needle(synth *s, uint64_t row)
{
    uint64_t st = lwm_splitmix64_of(s->cfg.seed ^ lwm_splitmix64_of(row));
    const int64_t L = s->seq_len;
    const int nf = s->cfg.synth_fillers, nv = s->cfg.synth_values;
    s->full_tok[0] = TOK_BOS;
    for (int64_t i = 1; i <= L; i++) s->full_tok[i] = TOK_FIRST_FILLER + (int32_t)(rnd(&st) % nf);
    int64_t at = 1 + (int64_t)(rnd(&st) % (uint64_t)(L / 4 > 1 ? L / 4 : 1));
    int32_t value = TOK_FIRST_FILLER + nf + (int32_t)(rnd(&st) % nv);
    s->full_tok[at] = value;
    s->full_tok[L - 1] = TOK_QUERY;
    s->full_tok[L] = value;
    memset(s->full_vis, 0, (size_t)L + 1);
    memset(s->full_seg, 0, sizeof(int32_t) * (size_t)(L + 1));
    for (int64_t i = 0; i <= L; i++) s->full_w[i] = i == L ? 1.0f : 0.0f;
}

static void make_mixed(synth *s, uint64_t row)
{
    uint64_t st = lwm_splitmix64_of(s->cfg.seed ^ lwm_splitmix64_of(row) ^ 0xABCDEFull);
    const int64_t L = s->seq_len;
    const int Vt = s->cfg.model.text_vocab, Vv = s->cfg.model.vision_vocab;
    int32_t seg = 0;
    int vis = 0;
    for (int64_t i = 0; i <= L; i++) {
        if (i > 0 && rnd(&st) % 97 == 0) seg++;
        if (rnd(&st) % 23 == 0) vis = !vis;
        s->full_seg[i] = seg;
        s->full_vis[i] = (uint8_t)vis;
        s->full_tok[i] = (int32_t)(rnd(&st) % (uint64_t)(vis ? Vv : Vt));
        uint64_t w = rnd(&st) % 8;
        s->full_w[i] = w == 0 ? 0.0f : w == 1 ? 0.5f : 1.0f;
    }
}

// Input i = token i, target i = token i+1 (lwm-format.md §4), then the zigzag slice.
static void slice_row(synth *s, int r)
{
    const int64_t c = s->c;
    for (int64_t i = 0; i < c; i++) {
        int64_t g = train_zigzag_position(i, s->ring.rank, s->ring.size, c);
        size_t o = (size_t)r * c + i;
        s->in[o] = s->full_tok[g];
        s->tgt[o] = s->full_tok[g + 1];
        s->vin[o] = s->full_vis[g];
        s->vtgt[o] = s->full_vis[g + 1];
        s->mask[o] = s->full_w[g + 1];
        s->seg[o] = s->full_seg[g];
        s->pos[o] = (int32_t)g;
    }
}

static int synth_set_stage(void *ctx, int stage, const train_stage *st, int64_t c, lwm_error *err)
{
    synth *s = ctx;
    (void)stage;
    const size_t L1 = (size_t)st->seq_len + 1, n = (size_t)s->cfg.rows_per_load * c;
    void **bufs[] = {(void **)&s->full_tok, (void **)&s->full_seg, (void **)&s->full_vis,
                     (void **)&s->full_w,   (void **)&s->in,       (void **)&s->tgt,
                     (void **)&s->seg,      (void **)&s->pos,      (void **)&s->mask,
                     (void **)&s->vin,      (void **)&s->vtgt};
    const size_t counts[] = {L1 * 4, L1 * 4, L1, L1 * 4, n * 4, n * 4, n * 4, n * 4, n * 4, n, n};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        lwm_free(&s->mem, *bufs[i]);
        *bufs[i] = lwm_malloc(&s->mem, counts[i]);
        LWM_CHECK(err, *bufs[i], -ENOMEM, "out of memory for synthetic batches");
    }
    s->seq_len = st->seq_len;
    s->c = c;
    LWM_CHECK(err,
              s->mixed || s->cfg.model.text_vocab >=
                              TOK_FIRST_FILLER + s->cfg.synth_fillers + s->cfg.synth_values,
              LWM_EINVAL, "synthetic needle task needs text_vocab >= %d",
              TOK_FIRST_FILLER + s->cfg.synth_fillers + s->cfg.synth_values);
    return 0;
}

static int synth_next(void *ctx, train_batch *out, lwm_error *err)
{
    synth *s = ctx;
    (void)err;
    const int rows = (int)s->cfg.rows_per_load;
    for (int r = 0; r < rows; r++) {
        uint64_t row = (uint64_t)(s->next_row + (int64_t)s->ring.dp_rank * rows + r);
        if (s->mixed)
            make_mixed(s, row);
        else
            make_needle(s, row);
        slice_row(s, r);
    }
    s->next_row += (int64_t)rows * s->ring.dp_size;
    *out = (train_batch){rows, s->c, s->in, s->tgt, s->seg, s->pos, s->mask, s->vin, s->vtgt, 0};
    return 0;
}

static size_t synth_state_size(void *ctx)
{
    (void)ctx;
    return sizeof(int64_t);
}

static int synth_save(void *ctx, void *buf, size_t cap, lwm_error *err)
{
    synth *s = ctx;
    LWM_CHECK(err, cap >= sizeof(int64_t), LWM_EINTERNAL, "state buffer too small");
    memcpy(buf, &s->next_row, sizeof(int64_t));
    return 0;
}

static int synth_restore(void *ctx, const void *buf, size_t size, lwm_error *err)
{
    synth *s = ctx;
    LWM_CHECK(err, size == sizeof(int64_t), LWM_EFORMAT, "synthetic source state has %zu bytes",
              size);
    memcpy(&s->next_row, buf, sizeof(int64_t));
    return 0;
}

static void synth_free(void *ctx)
{
    synth *s = ctx;
    if (!s) return;
    void *bufs[] = {s->full_tok, s->full_seg, s->full_vis, s->full_w, s->in,  s->tgt,
                    s->seg,      s->pos,      s->mask,     s->vin,    s->vtgt};
    lwm_mem mem = s->mem;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) lwm_free(&mem, bufs[i]);
    lwm_free(&mem, s);
}

int source_synthetic_create(train_source *src, const train_config *cfg, const train_ring *ring,
                            const lwm_mem *mem, lwm_error *err)
{
    synth *s = lwm_calloc(mem, 1, sizeof *s);
    LWM_CHECK(err, s, -ENOMEM, "out of memory");
    if (mem) s->mem = *mem;
    s->cfg = *cfg;
    s->ring = *ring;
    s->mixed = strcmp(cfg->data_kind, "mixed") == 0;
    *src = (train_source){s,          synth_set_stage, synth_next, synth_state_size,
                          synth_save, synth_restore,   synth_free};
    return 0;
}
