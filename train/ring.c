// The ring exchange (ring-attention.md §4, §7, §8): K/V blocks travel one hop per step from
// rank r to r+1 with Irecv/Isend posted before the current block is computed; the
// communication thread (train/comm.c) keeps the transfer progressing meanwhile (pitfall 14).
// Backward uses the two-ring
// scheme: K/V rotate as in forward while a dK/dV accumulator follows one step behind and
// arrives home after N hops. Every rank posts the same operations on every step, masked or not
// (pitfall 13). P = ring size, c = local tokens, d = model width.
#include <string.h>

#include "internal.h"

enum { TAG_FWD_KV = 100, TAG_BWD_KV = 10000, TAG_BWD_DKV = 20000 };

int train_mpi_check(int mpi_rc, const char *what, lwm_error *err)
{
    if (mpi_rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(mpi_rc, msg, &len);
    return lwm_error_set(err, LWM_EMPI, "%s failed: %s", what, msg);
}

// A single process with no communicators. MPI_COMM_NULL is not 0 in Open MPI, so a trainer
// that fails before train_ring_init must start from here for lwm_train_free to free nothing.
void train_ring_reset(train_ring *r)
{
    memset(r, 0, sizeof *r);
    r->world = r->ring = r->dp = MPI_COMM_NULL;
    r->world_size = r->size = r->dp_size = 1;
}

// Rings of ring_ranks ranks (0: all of comm) and the data-parallel groups across them, with
// the communication thread that progresses their transfers when there is more than one rank.
int train_ring_init(train_ring *r, int ring_ranks, MPI_Comm comm, const lwm_mem *mem,
                    lwm_error *err)
{
    train_ring_reset(r);
    if (comm == MPI_COMM_NULL) {
        LWM_CHECK(err, ring_ranks <= 1, LWM_EINVAL,
                  "config asks for a ring of %d ranks but runs without MPI", ring_ranks);
        return 0;
    }
    r->use_mpi = 1;
    r->world = comm;
    MPI_Comm_rank(comm, &r->world_rank);
    MPI_Comm_size(comm, &r->world_size);
    int R = ring_ranks > 0 ? ring_ranks : r->world_size;
    LWM_CHECK(
        err, r->world_size % R == 0, LWM_EINVAL,
        "config asks for rings of %d ranks but mpirun started %d ranks (need a multiple of %d)", R,
        r->world_size, R);
    LWM_TRY(train_mpi_check(MPI_Comm_split(comm, r->world_rank / R, r->world_rank % R, &r->ring),
                            "MPI_Comm_split (ring)", err));
    LWM_TRY(train_mpi_check(MPI_Comm_split(comm, r->world_rank % R, r->world_rank / R, &r->dp),
                            "MPI_Comm_split (data parallel)", err));
    MPI_Comm_rank(r->ring, &r->rank);
    MPI_Comm_size(r->ring, &r->size);
    MPI_Comm_rank(r->dp, &r->dp_rank);
    MPI_Comm_size(r->dp, &r->dp_size);
    return r->world_size > 1 ? train_comm_create(&r->comm, mem, err) : 0;
}

void train_ring_free(train_ring *r)
{
    train_comm_free(r->comm);
    if (r->ring != MPI_COMM_NULL) MPI_Comm_free(&r->ring);
    if (r->dp != MPI_COMM_NULL) MPI_Comm_free(&r->dp);
    r->comm = NULL;
    r->ring = r->dp = MPI_COMM_NULL;
}

// Hands a step's posted requests to the communication thread.
static int watch(const train_ring *ring, MPI_Request *req, int n, lwm_error *err)
{
    for (int i = 0; i < n; i++) LWM_TRY(train_comm_watch(ring->comm, &req[i], err));
    return 0;
}

// Sleeps until the step's requests complete (the communication thread progresses them).
static int wait_all(const train_ring *ring, MPI_Request *req, int n, lwm_error *err)
{
    return train_comm_wait(ring->comm, req, n, NULL, err);
}

static int src_rank(const train_ring *ring, int s)
{
    return ((ring->rank - s) % ring->size + ring->size) % ring->size;
}

static attn_keys keys_of(const ring_row *row, int src, const float *kv, int64_t c, int d)
{
    attn_keys k = {kv, kv + (size_t)c * d, row->pos + (size_t)src * c, row->seg + (size_t)src * c,
                   c};
    return k;
}

static int check_count(size_t floats, lwm_error *err)
{
    // Pitfall 15: MPI counts are int.
    LWM_CHECK(err, floats <= 2147483647u, LWM_EUNSUPPORTED,
              "ring block of %zu floats exceeds MPI's int count; use more ring ranks", floats);
    return 0;
}

// req: this step's K/V receive and send, watched by the communication thread until complete.
static int forward_pass(const train_ring *ring, const attn_kernel *kern, ring_buffers *b,
                        MPI_Request req[2], float *o, float *m, float *l, const float *q,
                        const ring_row *row, int d, lwm_error *err)
{
    const int64_t c = row->c;
    const size_t blk = 2 * (size_t)c * d;
    const int P = ring->size;
    attn_queries qs = {q, row->pos + (size_t)ring->rank * c, row->seg + (size_t)ring->rank * c, c};
    int next = (ring->rank + 1) % P, prev = (ring->rank + P - 1) % P;
    for (int s = 0; s < P; s++) {
        if (s < P - 1) {
            LWM_TRY(train_mpi_check(MPI_Irecv(b->kv_next, (int)blk, MPI_FLOAT, prev, TAG_FWD_KV + s,
                                              ring->ring, &req[0]),
                                    "ring forward MPI_Irecv", err));
            LWM_TRY(train_mpi_check(MPI_Isend(b->kv_cur, (int)blk, MPI_FLOAT, next, TAG_FWD_KV + s,
                                              ring->ring, &req[1]),
                                    "ring forward MPI_Isend", err));
            LWM_TRY(watch(ring, req, 2, err));
        }
        attn_keys ks = keys_of(row, src_rank(ring, s), b->kv_cur, c, d);
        attn_forward_block(kern, o, m, l, &qs, &ks);
        if (s < P - 1) {
            LWM_TRY(wait_all(ring, req, 2, err));
            float *t = b->kv_cur;
            b->kv_cur = b->kv_next;
            b->kv_next = t;
        }
    }
    return 0;
}

int ring_attention_forward(const train_ring *ring, const attn_kernel *kern, ring_buffers *b,
                           float *o, float *lse, const float *q, const float *k, const float *v,
                           const ring_row *row, int d, lwm_error *err)
{
    const int64_t c = row->c;
    const size_t one = (size_t)c * d;
    LWM_TRY(check_count(2 * one, err));
    // o doubles as the accumulator; lse holds m and dkv_local holds l until the finish.
    float *m = lse, *l = b->dkv_local;
    attn_state_init(o, m, l, c, kern->H, kern->hd);
    memcpy(b->kv_cur, k, sizeof(float) * one);
    memcpy(b->kv_cur + one, v, sizeof(float) * one);
    MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    int rc = forward_pass(ring, kern, b, req, o, m, l, q, row, d, err);
    if (rc < 0) {
        if (ring->comm) train_comm_forget(ring->comm); // req dies with this frame
        return rc;
    }
    attn_forward_finish(o, lse, o, m, l, c, kern->H, kern->hd);
    return 0;
}

static void add_into(float *dst, const float *src, size_t n)
{
#pragma omp parallel for schedule(static) if ((size_t)(n) >= TRAIN_PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

// req[0..2]: this step's K/V receive and send and the accumulator's receive; req[3]: the
// accumulator sent last step, in flight across steps. All stay watched by the communication
// thread until complete, so they live in the caller's frame until the pass ends.
static int backward_pass(const train_ring *ring, const attn_kernel *kern, ring_buffers *b,
                         MPI_Request req[4], float *dq, float *dk, float *dv, const float *q,
                         const float *dout, const float *lse, const float *D, const ring_row *row,
                         int d, lwm_error *err)
{
    const int64_t c = row->c;
    const size_t one = (size_t)c * d, blk = 2 * one;
    const int P = ring->size;
    attn_queries qs = {q, row->pos + (size_t)ring->rank * c, row->seg + (size_t)ring->rank * c, c};
    int next = (ring->rank + 1) % P, prev = (ring->rank + P - 1) % P;
    for (int s = 0; s < P; s++) {
        if (s < P - 1) {
            LWM_TRY(train_mpi_check(MPI_Irecv(b->kv_next, (int)blk, MPI_FLOAT, prev, TAG_BWD_KV + s,
                                              ring->ring, &req[0]),
                                    "ring backward MPI_Irecv", err));
            LWM_TRY(train_mpi_check(MPI_Isend(b->kv_cur, (int)blk, MPI_FLOAT, next, TAG_BWD_KV + s,
                                              ring->ring, &req[1]),
                                    "ring backward MPI_Isend", err));
        }
        if (s >= 1) // the accumulator of block r-s, sent by prev after its step s-1
            LWM_TRY(train_mpi_check(MPI_Irecv(b->dkv_in, (int)blk, MPI_FLOAT, prev,
                                              TAG_BWD_DKV + s - 1, ring->ring, &req[2]),
                                    "ring backward MPI_Irecv", err));
        memset(b->dkv_local, 0, sizeof(float) * blk);
        if (P > 1) LWM_TRY(watch(ring, req, 3, err));
        attn_keys ks = keys_of(row, src_rank(ring, s), b->kv_cur, c, d);
        attn_backward_block(kern, dq, b->dkv_local, b->dkv_local + one, &qs, &ks, dout, lse, D);
        if (P == 1) break;
        LWM_TRY(wait_all(ring, req, 4, err));
        if (s >= 1) add_into(b->dkv_local, b->dkv_in, blk);
        float *t = b->dkv_out; // the previous send has completed: its buffer is free
        b->dkv_out = b->dkv_local;
        b->dkv_local = t;
        LWM_TRY(train_mpi_check(
            MPI_Isend(b->dkv_out, (int)blk, MPI_FLOAT, next, TAG_BWD_DKV + s, ring->ring, &req[3]),
            "ring backward MPI_Isend", err));
        LWM_TRY(watch(ring, &req[3], 1, err));
        if (s < P - 1) {
            t = b->kv_cur;
            b->kv_cur = b->kv_next;
            b->kv_next = t;
        }
    }
    const float *home = b->dkv_local;
    if (P > 1) { // after N hops the own block's accumulator comes home from prev
        LWM_TRY(train_mpi_check(MPI_Irecv(b->dkv_in, (int)blk, MPI_FLOAT, prev, TAG_BWD_DKV + P - 1,
                                          ring->ring, &req[0]),
                                "ring backward MPI_Irecv", err));
        LWM_TRY(watch(ring, req, 1, err));
        LWM_TRY(wait_all(ring, req, 4, err));
        home = b->dkv_in;
    }
    memcpy(dk, home, sizeof(float) * one);
    memcpy(dv, home + one, sizeof(float) * one);
    return 0;
}

int ring_attention_backward(const train_ring *ring, const attn_kernel *kern, ring_buffers *b,
                            float *dq, float *dk, float *dv, const float *q, const float *k,
                            const float *v, const float *dout, const float *lse, const float *D,
                            const ring_row *row, int d, lwm_error *err)
{
    const size_t one = (size_t)row->c * d;
    LWM_TRY(check_count(2 * one, err));
    memcpy(b->kv_cur, k, sizeof(float) * one);
    memcpy(b->kv_cur + one, v, sizeof(float) * one);
    MPI_Request req[4] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    int rc = backward_pass(ring, kern, b, req, dq, dk, dv, q, dout, lse, D, row, d, err);
    if (rc < 0 && ring->comm) train_comm_forget(ring->comm); // req dies with this frame
    return rc;
}
