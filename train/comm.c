// The communication thread (issue 13): MPI progress that does not depend on when the compute
// loops happen to call MPI. Open MPI here has no progress thread of its own ("OMPI progress:
// no"): a non-blocking transfer or reduction advances only inside an MPI call. The compute
// thread posts its operations (Isend/Irecv of the ring's K/V blocks, Iallreduce of the gradient
// slices) and hands their requests to this thread, which tests them every COMM_POLL_NS until
// they complete; whoever needs a result sleeps on a condition variable. Nothing here spins:
// Open MPI's blocking waits busy-poll, which on a 2-core machine would take a core from the
// other rank's compute (the thread sleeps between sweeps, about 1 % of a core at 200 µs).
// Needs MPI_THREAD_MULTIPLE: the compute thread posts while this thread tests.
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "internal.h"

// Between sweeps. A shared-memory hop of a large message takes a sweep or two, a reduction a
// few per round, so 200 µs costs a 1-3 s step nothing measurable; shorter only burns CPU.
#define COMM_POLL_NS 200000L
enum { COMM_MAX_WATCH = TRAIN_MAX_GRAD_SLICES + 16 };

struct train_comm {
    lwm_mem mem;
    pthread_t thread;
    pthread_mutex_t mu;                 // guards everything below and the watched requests
    pthread_cond_t work;                // to the thread: a request to watch, or stop
    pthread_cond_t done;                // to waiters: a watched request completed
    MPI_Request *watch[COMM_MAX_WATCH]; // the callers' requests, progressed until MPI_REQUEST_NULL
    int nwatch;
    int stop;
    int mpi_rc; // first failed MPI_Test (its request is dropped)
};

// Tests every watched request once (mu held); wakes waiters when any completed.
static void sweep(train_comm *c)
{
    int kept = 0, finished = 0;
    for (int i = 0; i < c->nwatch; i++) {
        int flag = 0, rc = MPI_Test(c->watch[i], &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            if (c->mpi_rc == MPI_SUCCESS) c->mpi_rc = rc;
            *c->watch[i] = MPI_REQUEST_NULL; // so that no waiter waits for it forever
            flag = 1;
        }
        if (flag)
            finished = 1;
        else
            c->watch[kept++] = c->watch[i];
    }
    c->nwatch = kept;
    if (finished) pthread_cond_broadcast(&c->done);
}

static void *comm_main(void *opaque)
{
    train_comm *c = opaque;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (c->nwatch == 0) {
            pthread_cond_wait(&c->work, &c->mu);
            continue;
        }
        sweep(c);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += COMM_POLL_NS;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&c->work, &c->mu, &until); // woken early by a new request
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int train_comm_create(train_comm **out, const lwm_mem *mem, lwm_error *err)
{
    *out = NULL;
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    LWM_CHECK(err, level == MPI_THREAD_MULTIPLE, LWM_EUNSUPPORTED,
              "MPI was initialised without MPI_THREAD_MULTIPLE (level %d): the communication "
              "thread needs it (MPI_Init_thread)",
              level);
    train_comm *c = lwm_calloc(mem, 1, sizeof *c);
    LWM_CHECK(err, c, -ENOMEM, "out of memory (communication thread)");
    c->mem = mem ? *mem : (lwm_mem){0};
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work, &attr);
    pthread_cond_init(&c->done, NULL);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&c->thread, NULL, comm_main, c);
    if (rc != 0) {
        pthread_cond_destroy(&c->done);
        pthread_cond_destroy(&c->work);
        pthread_mutex_destroy(&c->mu);
        lwm_free(&c->mem, c);
        return lwm_error_set(err, -rc, "cannot start the communication thread");
    }
    *out = c;
    return 0;
}

void train_comm_free(train_comm *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->done);
    pthread_cond_destroy(&c->work);
    pthread_mutex_destroy(&c->mu);
    lwm_mem mem = c->mem;
    lwm_free(&mem, c);
}

int train_comm_watch(train_comm *c, MPI_Request *req, lwm_error *err)
{
    pthread_mutex_lock(&c->mu);
    int full = c->nwatch == COMM_MAX_WATCH;
    if (!full && *req != MPI_REQUEST_NULL) {
        c->watch[c->nwatch++] = req;
        pthread_cond_signal(&c->work);
    }
    pthread_mutex_unlock(&c->mu);
    LWM_CHECK(err, !full, LWM_EINTERNAL, "more than %d MPI requests in flight", COMM_MAX_WATCH);
    return 0;
}

int train_comm_wait(train_comm *c, MPI_Request *reqs, int n, int *already, lwm_error *err)
{
    pthread_mutex_lock(&c->mu);
    int pending = 0;
    for (int i = 0; i < n; i++) pending += reqs[i] != MPI_REQUEST_NULL;
    if (already) *already = n - pending;
    while (pending > 0) {
        pthread_cond_wait(&c->done, &c->mu);
        pending = 0;
        for (int i = 0; i < n; i++) pending += reqs[i] != MPI_REQUEST_NULL;
    }
    int rc = c->mpi_rc;
    pthread_mutex_unlock(&c->mu);
    return train_mpi_check(rc, "MPI_Test (communication thread)", err);
}

void train_comm_forget(train_comm *c)
{
    pthread_mutex_lock(&c->mu);
    c->nwatch = 0;
    pthread_mutex_unlock(&c->mu);
}
