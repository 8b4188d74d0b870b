// Gradient slices reduced over all ranks as the backward pass finishes them (STYLE §5, as
// llm.c's train_gpt2.cu reduces each layer in a background stream): the heads' slice as soon
// as the loss backward ends, each layer's slice after its backward, the embeddings last.
// The communication thread (train/comm.c) progresses each reduction from the moment it is
// posted, so the overlap no longer depends on when the compute loops call MPI. Every rank
// posts the same slices in the same order (the backward pass's), from its compute thread.
#include "internal.h"

void grad_sync_begin(grad_sync *g, MPI_Comm comm, train_comm *thread)
{
    g->comm = comm;
    g->thread = thread;
    g->posted = 0;
    g->early = 0;
    g->wait_s = 0;
}

int grad_sync_post(grad_sync *g, float *slice, size_t floats, lwm_error *err)
{
    if (g->comm == MPI_COMM_NULL) return 0;
    LWM_CHECK(err, g->posted < TRAIN_MAX_GRAD_SLICES, LWM_EINTERNAL, "more than %d gradient slices",
              TRAIN_MAX_GRAD_SLICES);
    LWM_CHECK(err, floats <= 2147483647u, LWM_EUNSUPPORTED,
              "gradient slice of %zu floats exceeds MPI's int count", floats);
    MPI_Request *r = &g->req[g->posted];
    LWM_TRY(train_mpi_check(
        MPI_Iallreduce(MPI_IN_PLACE, slice, (int)floats, MPI_FLOAT, MPI_SUM, g->comm, r),
        "gradient MPI_Iallreduce", err));
    g->posted++;
    return train_comm_watch(g->thread, r, err);
}

int grad_sync_finish(grad_sync *g, lwm_error *err)
{
    if (g->comm == MPI_COMM_NULL) return 0;
    double t0 = lwm_now();
    int rc = train_comm_wait(g->thread, g->req, g->posted, &g->early, err);
    g->wait_s = lwm_now() - t0;
    return rc;
}

int grad_wait_spread(const grad_sync *g, double *min_s, double *max_s, lwm_error *err)
{
    double w[2] = {g->wait_s, -g->wait_s}; // one MAX reduction gives both ends
    *min_s = *max_s = g->wait_s;
    if (g->comm == MPI_COMM_NULL) return 0;
    LWM_TRY(train_mpi_check(MPI_Allreduce(MPI_IN_PLACE, w, 2, MPI_DOUBLE, MPI_MAX, g->comm),
                            "MPI_Allreduce gradient wait", err));
    *max_s = w[0];
    *min_s = -w[1];
    return 0;
}
