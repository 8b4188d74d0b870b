// The encoder stage of a run that builds a dataset: one thread takes decoded
// frames from a queue and turns them into VQGAN codes (the VQGAN spreads each
// call over its own OpenMP threads), so decoding workers keep it busy while
// the calling thread writes. A worker hands its frames over a chunk at a time
// and waits for each chunk, so a long video never sits in memory as pixels:
// each worker holds at most one chunk, and a sample's codes take 512 bytes a frame.
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "vqgan/vqgan.h"

// Encodes the frames j holds (those after j->encoded), appending their codes.
static void encode_held(run_state *r, job *j)
{
    const lwm_mem *mem = &r->opt->decode.mem;
    int64_t n = j->frames - j->encoded;
    if (n <= 0 || j->rc < 0) return;
    if (lwm_grow(mem, (void **)&j->codes, &j->codes_cap, (size_t)j->frames, 256 * sizeof *j->codes) < 0) {
        j->rc = lwm_error_set(&j->err, -ENOMEM, "out of memory for %lld frames of codes",
                              (long long)j->frames);
        return;
    }
    int rc = lwm_vqgan_encode_rgb(r->vqgan, j->codes + (size_t)j->encoded * 256, j->rgb, (int)n);
    if (rc < 0)
        j->rc = lwm_error_set(&j->err, rc, "%s: encoding failed: %s", j->sample.media,
                              lwm_vqgan_errmsg(r->vqgan));
    j->encoded = j->frames;
}

static void push_encode(run_state *r, job *j)
{
    j->next = NULL;
    if (r->encode_tail) r->encode_tail->next = j;
    else r->encode_head = j;
    r->encode_tail = j;
    pthread_cond_signal(&r->cv_encode);
}

static void *encoder_main(void *arg)
{
    run_state *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->encode_head) pthread_cond_wait(&r->cv_encode, &r->mu);
        if (r->stop) break;
        job *j = r->encode_head;
        r->encode_head = j->next;
        if (!r->encode_head) r->encode_tail = NULL;
        int last = !j->chunk_pending; // else its worker goes on decoding after this chunk
        pthread_mutex_unlock(&r->mu);
        encode_held(r, j);
        if (last) { // the frames are not needed once encoded
            lwm_free(&r->opt->decode.mem, j->rgb);
            j->rgb = NULL;
            j->rgb_cap = 0;
        }
        pthread_mutex_lock(&r->mu);
        if (last) j->done = 1;
        else j->chunk_pending = 0;
        pthread_cond_broadcast(&r->cv_done);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void run_encode_held(run_state *r, job *j)
{
    pthread_mutex_lock(&r->mu);
    j->chunk_pending = 1;
    push_encode(r, j);
    while (j->chunk_pending && !r->stop) pthread_cond_wait(&r->cv_done, &r->mu);
    if (j->chunk_pending && j->rc == 0) j->rc = lwm_error_set(&j->err, LWM_EINTERNAL, "run stopped");
    pthread_mutex_unlock(&r->mu);
}

void run_decoded(run_state *r, job *j)
{
    if (!r->vqgan || j->rc < 0 || j->frames == 0) {
        j->done = 1;
        return;
    }
    push_encode(r, j);
}

int run_start_encoder(run_state *r)
{
    pthread_cond_init(&r->cv_encode, NULL);
    if (!r->vqgan) return 0;
    if (pthread_create(&r->encoder, NULL, encoder_main, r) != 0)
        return lwm_error_set(r->err, -EAGAIN, "cannot start the encoder thread");
    r->encoder_started = 1;
    return 0;
}

void run_stop_encoder(run_state *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv_encode);
    pthread_mutex_unlock(&r->mu);
    if (r->encoder_started) pthread_join(r->encoder, NULL);
    r->encoder_started = 0;
    pthread_cond_destroy(&r->cv_encode);
}
