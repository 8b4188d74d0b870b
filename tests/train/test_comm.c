// The communication thread (train/comm.c) on 2 ranks: the program starts itself under mpirun.
// Gradient slices of many sizes are posted in the backward pass's order with uneven compute
// between posts; each slice must come back as the exact sum over ranks (integer-valued floats,
// so any order of addition is exact): a slice the thread lost, reordered or reduced into the
// wrong buffer fails. Progress must not need the compute thread: with every slice posted and
// the compute thread asleep (no MPI call of its own), all of them complete. Ring transfers
// (Isend/Irecv handed to the thread, then waited for) arrive intact, round after round.
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "train/internal.h"

enum { SLICES = 40, ROUNDS = 24 };

static int rank_, size_;
static train_comm *comm_;

static size_t slice_floats(int s)
{
    static const size_t sizes[] = {1, 7, 1000, 65536, 3, 250000, 17, 4096};
    return sizes[s % 8] + (size_t)s;
}

static float slice_value(int rank, int s, size_t i)
{
    return (float)((rank + 1) * (int)(((size_t)s * 131 + i) % 1021));
}

static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1e3),
                          (long)((ms - 1e3 * (double)(time_t)(ms / 1e3)) * 1e6)};
    nanosleep(&ts, NULL);
}

// Work that takes a rank-dependent time and calls no MPI.
static void compute(int s)
{
    volatile double x = 0;
    long n = 20000L * ((s * 7 + rank_ * 3) % 11);
    for (long i = 0; i < n; i++) x += 1.0 / (double)(i + 1);
}

static void post_slices(float **slices, grad_sync *g, lwm_error *err, int with_compute)
{
    grad_sync_begin(g, MPI_COMM_WORLD, comm_);
    for (int s = 0; s < SLICES; s++) {
        size_t n = slice_floats(s);
        for (size_t i = 0; i < n; i++) slices[s][i] = slice_value(rank_, s, i);
        CHECK(grad_sync_post(g, slices[s], n, err) == 0, "post %d: %s", s, err->msg);
        if (with_compute) compute(s);
    }
}

static void check_sums(float **slices)
{
    const int ranks_sum = size_ * (size_ + 1) / 2;
    for (int s = 0; s < SLICES; s++) {
        size_t n = slice_floats(s), bad = 0;
        for (size_t i = 0; i < n; i++)
            bad += slices[s][i] != (float)ranks_sum * slice_value(0, s, i);
        CHECK(bad == 0, "slice %d (%zu floats): %zu values are not the sum over %d ranks", s, n,
              bad, size_);
    }
}

static float **alloc_slices(void)
{
    float **slices = calloc(SLICES, sizeof *slices);
    for (int s = 0; s < SLICES; s++) slices[s] = malloc(slice_floats(s) * sizeof(float));
    return slices;
}

static void free_slices(float **slices)
{
    for (int s = 0; s < SLICES; s++) free(slices[s]);
    free(slices);
}

TEST(slices_summed_in_order)
{
    float **slices = alloc_slices();
    lwm_error err = {0};
    for (int step = 0; step < 3; step++) {
        grad_sync g;
        post_slices(slices, &g, &err, 1);
        CHECK(grad_sync_finish(&g, &err) == 0, "finish: %s", err.msg);
        CHECK(g.posted == SLICES && g.early >= 0 && g.early <= SLICES, "posted %d, early %d",
              g.posted, g.early);
        check_sums(slices);
    }
    free_slices(slices);
}

TEST(progress_without_the_compute_thread)
{
    float **slices = alloc_slices();
    lwm_error err = {0};
    grad_sync g;
    post_slices(slices, &g, &err, 0);
    sleep_ms(1500); // no MPI call from this thread meanwhile
    CHECK(grad_sync_finish(&g, &err) == 0, "finish: %s", err.msg);
    CHECK(g.early == SLICES, "only %d of %d slices completed while the compute thread slept",
          g.early, SLICES);
    check_sums(slices);
    free_slices(slices);
}

TEST(ring_transfers_arrive_in_order)
{
    enum { N = 50000 };
    float *send = malloc(N * sizeof(float)), *recv = malloc(N * sizeof(float));
    int next = (rank_ + 1) % size_, prev = (rank_ + size_ - 1) % size_;
    lwm_error err = {0};
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++) send[i] = (float)(rank_ * 100000 + r * 1000 + i % 997);
        MPI_Request req[2];
        MPI_Irecv(recv, N, MPI_FLOAT, prev, 100 + r, MPI_COMM_WORLD, &req[0]);
        MPI_Isend(send, N, MPI_FLOAT, next, 100 + r, MPI_COMM_WORLD, &req[1]);
        CHECK(train_comm_watch(comm_, &req[0], &err) == 0 &&
                  train_comm_watch(comm_, &req[1], &err) == 0,
              "watch: %s", err.msg);
        compute(r);
        CHECK(train_comm_wait(comm_, req, 2, NULL, &err) == 0, "wait: %s", err.msg);
        size_t bad = 0;
        for (int i = 0; i < N; i++) bad += recv[i] != (float)(prev * 100000 + r * 1000 + i % 997);
        CHECK(bad == 0, "round %d: %zu values are not rank %d's", r, bad, prev);
    }
    free(send);
    free(recv);
}

// Every rank runs every case; rank 0 reports, failing when any rank failed.
static int run_all(int argc, char **argv)
{
    static const test_case cases[] = {T(slices_summed_in_order),
                                      T(progress_without_the_compute_thread),
                                      T(ring_transfers_arrive_in_order)};
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (argc > 1 && !strstr(cases[i].name, argv[1])) continue;
        test_failed_ = 0;
        test_reason_[0] = '\0';
        cases[i].fn();
        int any = test_failed_;
        MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (test_failed_) fprintf(stderr, "rank %d: %s\n", rank_, test_reason_);
        if (rank_ == 0 && any)
            printf("not ok train/comm/%s: %s\n", cases[i].name,
                   test_failed_ ? test_reason_ : "another rank failed (its stderr)");
        else if (rank_ == 0)
            printf("ok train/comm/%s\n", cases[i].name);
        fflush(stdout);
        failed += any;
    }
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE")) { // started alone: start 2 ranks of this program
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[512];
        snprintf(opts, sizeof opts, "%s:detect_leaks=0", asan ? asan : ""); // Open MPI's own leaks
        setenv("ASAN_OPTIONS", opts, 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        char *args[] = {"mpirun",
                        "--allow-run-as-root",
                        "--oversubscribe",
                        "--bind-to",
                        "none",
                        "-np",
                        "2",
                        argv[0],
                        argc > 1 ? argv[1] : NULL,
                        NULL};
        execvp("mpirun", args);
        printf("not ok train/comm/mpirun: cannot run mpirun\n");
        return 1;
    }
    alarm(120); // a lost request would hang its waiter: fail instead
    int level = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &level);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    lwm_error err = {0};
    int rc = train_comm_create(&comm_, NULL, &err);
    if (rc < 0) {
        if (rank_ == 0) printf("not ok train/comm/create: %s\n", err.msg);
        MPI_Finalize();
        return 1;
    }
    rc = run_all(argc, argv);
    train_comm_free(comm_);
    MPI_Finalize();
    return rc;
}
