// Gradient slices reduced over all ranks as the backward pass finishes them (STYLE §5, as
// llm.c's train_gpt2.cu reduces each layer in a background stream): the heads' slice as soon
// as the loss backward ends, each layer's slice after its backward, the embeddings last.
// Open MPI has no progress thread, so the compute loops poke (grad_sync_poke) and the
// reductions advance while later layers compute.
#include "internal.h"

void grad_sync_begin(grad_sync *g, MPI_Comm comm)
{
    g->comm = comm;
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
    LWM_TRY(train_mpi_check(MPI_Iallreduce(MPI_IN_PLACE, slice, (int)floats, MPI_FLOAT, MPI_SUM, g->comm, r),
                            "gradient MPI_Iallreduce", err));
    g->posted++;
    return 0;
}

void grad_sync_poke(void *opaque)
{
    grad_sync *g = opaque;
    int flag;
    for (int i = 0; i < g->posted; i++)
        if (g->req[i] != MPI_REQUEST_NULL) MPI_Test(&g->req[i], &flag, MPI_STATUS_IGNORE);
}

int grad_sync_finish(grad_sync *g, lwm_error *err)
{
    if (g->comm == MPI_COMM_NULL) return 0;
    grad_sync_poke(g);
    for (int i = 0; i < g->posted; i++) g->early += g->req[i] == MPI_REQUEST_NULL;
    double t0 = lwm_now();
    int rc = MPI_Waitall(g->posted, g->req, MPI_STATUSES_IGNORE);
    g->wait_s = lwm_now() - t0;
    return train_mpi_check(rc, "gradient MPI_Waitall", err);
}
