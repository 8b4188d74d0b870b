// Background prefetch: one producer thread computes batches ahead into a ring
// of slots whose total size is capped by prefetch_bytes (at least one slot).
//
// The producer runs exactly the code the synchronous path runs, in the same
// order, so prefetching never changes which batches come out. The slot handed
// to the caller stays reserved until the next lwm_loader_next, which is what
// keeps the batch valid "until the next call". The state the caller saves is
// the one stored in each batch, not the producer's (which runs ahead).
#include <errno.h>
#include <pthread.h>

#include "internal.h"

#define MAX_SLOTS 8

typedef struct loader_prefetch {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    lwm_loader_batch slot[MAX_SLOTS];
    int n_slots;
    int head, count;    /**< oldest filled slot; filled slots (including the one held) */
    int held;           /**< 1 while the caller holds slot[head] */
    int stop, done, rc; /**< stop requested; producer finished with rc (0 = running) */
    int started;        /**< the thread, lock and condition exist */
} loader_prefetch;

static void *produce(void *arg)
{
    lwm_loader *ld = arg;
    loader_prefetch *p = ld->prefetch;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->count == p->n_slots && !p->stop) pthread_cond_wait(&p->changed, &p->lock);
        int stop = p->stop, tail = (p->head + p->count) % p->n_slots;
        pthread_mutex_unlock(&p->lock);
        if (stop) break;
        int rc =
            loader_generate(ld, &p->slot[tail]); // touches only slot[tail] and ld's producer state
        pthread_mutex_lock(&p->lock);
        if (rc < 0)
            p->done = 1, p->rc = rc;
        else
            p->count++;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        if (rc < 0) break;
    }
    return NULL;
}

int loader_prefetch_start(lwm_loader *ld)
{
    loader_prefetch *p = lwm_calloc(&ld->mem, 1, sizeof *p);
    LWM_CHECK(&ld->err, p, -ENOMEM, "out of memory");
    size_t bytes = loader_batch_bytes(ld);
    p->n_slots = (int)(ld->opt.prefetch_bytes / bytes);
    // One slot is held by the caller, so two are needed to compute ahead at all.
    if (p->n_slots < 2) p->n_slots = 2;
    if (p->n_slots > MAX_SLOTS) p->n_slots = MAX_SLOTS;
    ld->prefetch = p;
    for (int i = 0; i < p->n_slots; i++)
        LWM_CHECK(&ld->err, loader_batch_alloc(ld, &p->slot[i]) == 0, -ENOMEM,
                  "out of memory for %d prefetch slots of %zu bytes", p->n_slots, bytes);
    ld->info.prefetch_cap = (size_t)p->n_slots * bytes;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    if (pthread_create(&p->thread, NULL, produce, ld) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->changed);
        return lwm_error_set(&ld->err, -EAGAIN, "cannot start the prefetch thread");
    }
    p->started = 1;
    return 0;
}

int loader_prefetch_next(lwm_loader *ld, lwm_loader_batch *out)
{
    loader_prefetch *p = ld->prefetch;
    pthread_mutex_lock(&p->lock);
    if (p->held) { // the caller is done with the previous batch
        p->held = 0;
        p->head = (p->head + 1) % p->n_slots;
        p->count--;
        pthread_cond_broadcast(&p->changed);
    }
    while (p->count == 0 && !p->done) pthread_cond_wait(&p->changed, &p->lock);
    int rc = 0;
    if (p->count > 0) {
        *out = p->slot[p->head];
        p->held = 1;
    } else {
        rc = p->rc; // the producer's error (message in ld->err) or LWM_EOF
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void loader_prefetch_stop(lwm_loader *ld)
{
    loader_prefetch *p = ld->prefetch;
    if (!p) return;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->changed);
    }
    for (int i = 0; i < p->n_slots; i++) loader_batch_release(ld, &p->slot[i]);
    lwm_free(&ld->mem, p);
    ld->prefetch = NULL;
}
