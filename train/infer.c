// Evaluation forward (train.h, lwm_train_model_*): the trainer's model, kernels and ring,
// forward only. Every rank of the communicator is one ring rank holding its zigzag slice of
// the row (ring-attention.md §6); the text head runs only at the requested positions.
#include <errno.h>
#include <omp.h>
#include <string.h>

#include "model.h"

_Static_assert(TRAIN_MAX_STAGES == 16, "lwm_train_model_info holds 16 stages");

struct lwm_train_model {
    lwm_mem mem;
    train_config cfg;
    train_ring ring;
    train_model *model;
    int64_t c;                     // local tokens per row of the current length
    int32_t *in, *tgt, *seg, *pos; // [c] the row's slice on this rank
    float *mask;
    uint8_t *vis;  // [c] zeros: text rows only
    float *logits; // [text_vocab]
};

int lwm_train_model_open(lwm_train_model **out, const char *config_path, const char *weights_path,
                         MPI_Comm comm, const lwm_mem *mem, lwm_error *err)
{
    *out = NULL;
    lwm_train_model *m = lwm_calloc(mem, 1, sizeof *m);
    LWM_CHECK(err, m, -ENOMEM, "out of memory");
    if (mem) m->mem = *mem;
    train_ring_reset(&m->ring);
    int rc = train_config_parse(&m->cfg, config_path, err);
    // One ring of every rank of comm: no data parallelism in evaluation.
    if (rc == 0) rc = train_ring_init(&m->ring, 0, comm, &m->mem, err);
    int64_t c = 2; // resized by the first row
    if (rc == 0)
        rc = model_create(&m->model, &m->cfg, &m->ring, c, omp_get_max_threads(), &m->mem, err);
    if (rc == 0)
        rc = safetensors_read(weights_path, model_layout(m->model), model_params(m->model), err);
    if (rc == 0) {
        m->logits = lwm_malloc(&m->mem, sizeof(float) * (size_t)m->cfg.model.text_vocab);
        if (!m->logits) rc = lwm_error_set(err, -ENOMEM, "out of memory");
    }
    if (rc < 0) {
        lwm_train_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void lwm_train_model_info_get(const lwm_train_model *m, lwm_train_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->n_stages = m->cfg.nstages;
    for (int i = 0; i < m->cfg.nstages; i++) {
        info->seq_len[i] = m->cfg.stages[i].seq_len;
        info->rope_theta[i] = m->cfg.stages[i].rope_theta;
    }
    info->text_vocab = m->cfg.model.text_vocab;
    info->ring = m->ring.size;
}

static void free_row(lwm_train_model *m)
{
    void *b[] = {m->in, m->tgt, m->seg, m->pos, m->mask, m->vis};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) lwm_free(&m->mem, b[i]);
    m->in = m->tgt = m->seg = m->pos = NULL, m->mask = NULL, m->vis = NULL;
}

static int set_len(lwm_train_model *m, int64_t len, lwm_error *err)
{
    const int n = m->ring.size;
    LWM_CHECK(err, len >= 2 * n && len % (2 * n) == 0, LWM_EINVAL,
              "a row of %lld tokens does not split into 2 x %d ring ranks (zigzag layout)",
              (long long)len, n);
    int64_t c = len / n;
    if (c == m->c) return 0;
    free_row(m);
    LWM_TRY(model_set_len(m->model, c, err));
    size_t k = (size_t)c;
    m->in = lwm_calloc(&m->mem, k, 4), m->tgt = lwm_calloc(&m->mem, k, 4);
    m->seg = lwm_calloc(&m->mem, k, 4), m->pos = lwm_calloc(&m->mem, k, 4);
    m->mask = lwm_calloc(&m->mem, k, 4), m->vis = lwm_calloc(&m->mem, k, 1);
    LWM_CHECK(err, m->in && m->tgt && m->seg && m->pos && m->mask && m->vis, -ENOMEM,
              "out of memory for a row of %lld tokens", (long long)len);
    m->c = c;
    return 0;
}

// Local index of global position g on this rank, or -1 when another rank holds it.
static int64_t local_index(const lwm_train_model *m, int64_t g)
{
    const int64_t h = m->c / 2, chunk = g / h;
    const int r = m->ring.rank, n = m->ring.size;
    if (chunk == r) return g - (int64_t)r * h;
    if (chunk == 2 * n - 1 - r) return h + g - chunk * h;
    return -1;
}

// argmax over the text head of the final hidden state at local index i.
static int32_t head_argmax(lwm_train_model *m, int64_t i)
{
    train_model *tm = m->model;
    const int d = m->cfg.model.dim, V = m->cfg.model.text_vocab;
    float *xn = tm->ch.hn, rstd;
    rmsnorm_forward(xn, &rstd, tm->x_final + i * d, tm->params + tm->ofs.ln_f, 1, d,
                    m->cfg.model.norm_eps);
    mm(m->logits, xn, tm->params + tm->ofs.lm_head, 1, d, V, 0);
    int32_t best = 0;
    for (int j = 1; j < V; j++)
        if (m->logits[j] > m->logits[best]) best = j;
    return best;
}

int lwm_train_model_argmax(lwm_train_model *m, const int32_t *tokens, int64_t len,
                           double rope_theta, const int64_t *at, int n, int32_t *out,
                           lwm_error *err)
{
    LWM_TRY(set_len(m, len, err));
    const int V = m->cfg.model.text_vocab;
    for (int64_t i = 0; i < m->c; i++) {
        int64_t g = train_zigzag_position(i, m->ring.rank, m->ring.size, m->c);
        m->in[i] = tokens[g];
        m->pos[i] = (int32_t)g;
        m->seg[i] = 1;
        LWM_CHECK(err, tokens[g] >= 0 && tokens[g] < V, LWM_EINVAL,
                  "token %d at position %lld is outside the model's text vocabulary (%d)",
                  tokens[g], (long long)g, V);
    }
    train_batch bt = {1, m->c, m->in, m->tgt, m->seg, m->pos, m->mask, m->vis, m->vis, 0};
    double counts[2];
    LWM_TRY(model_row_forward(m->model, counts, &bt, 0, rope_theta, err));
    for (int j = 0; j < n; j++) {
        LWM_CHECK(err, at[j] >= 0 && at[j] < len, LWM_EINVAL, "position %lld outside the row",
                  (long long)at[j]);
        int64_t i = local_index(m, at[j]);
        out[j] = i < 0 ? -1 : head_argmax(m, i);
    }
    if (!m->ring.use_mpi || m->ring.size == 1) return 0;
    return train_mpi_check(MPI_Allreduce(MPI_IN_PLACE, out, n, MPI_INT32_T, MPI_MAX, m->ring.ring),
                           "MPI_Allreduce (argmax)", err);
}

void lwm_train_model_free(lwm_train_model *m)
{
    if (!m) return;
    lwm_mem mem = m->mem;
    free_row(m);
    lwm_free(&mem, m->logits);
    model_free(m->model);
    train_ring_free(&m->ring);
    lwm_free(&mem, m);
}
