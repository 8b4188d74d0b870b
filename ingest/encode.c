// The encoder stage of a run that builds a dataset: one thread takes decoded
// samples from a queue and turns their frames into VQGAN codes (the VQGAN
// spreads each call over its own OpenMP threads), so decoding workers keep
// it busy while the calling thread writes.
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "vqgan/vqgan.h"

static void encode_job(run_state *r, job *j)
{
    const lwm_mem *mem = &r->opt->decode.mem;
    j->codes = lwm_malloc(mem, (size_t)j->frames * 256 * sizeof *j->codes);
    if (!j->codes) {
        j->rc = lwm_error_set(&j->err, -ENOMEM, "out of memory for %lld frames of codes",
                              (long long)j->frames);
        return;
    }
    int rc = lwm_vqgan_encode_rgb(r->vqgan, j->codes, j->rgb, (int)j->frames);
    if (rc < 0)
        j->rc = lwm_error_set(&j->err, rc, "%s: encoding failed: %s", j->sample.media,
                              lwm_vqgan_errmsg(r->vqgan));
    lwm_free(mem, j->rgb); // the frames are not needed once encoded
    j->rgb = NULL;
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
        pthread_mutex_unlock(&r->mu);
        encode_job(r, j);
        pthread_mutex_lock(&r->mu);
        j->done = 1;
        pthread_cond_broadcast(&r->cv_done);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void run_decoded(run_state *r, job *j)
{
    if (!r->vqgan || j->rc < 0 || j->frames == 0) {
        j->done = 1;
        return;
    }
    j->next = NULL;
    if (r->encode_tail) r->encode_tail->next = j;
    else r->encode_head = j;
    r->encode_tail = j;
    pthread_cond_signal(&r->cv_encode);
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
