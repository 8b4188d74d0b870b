// Converting a decoded frame (swscale's bicubic resize, crop, rotation) on a
// helper thread while the reading thread decodes the next one. Done in turn on
// one thread, the two take turns: the decoder's frame threads run dry while a
// frame is converted, and on two cores converting every frame of a 1080p video
// takes as long as decoding it.
#include "internal.h"

static void *convert_main(void *arg)
{
    convert_thread *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && c->state != CONVERT_POSTED) pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        int rc = ingest_scaler_convert(c->scaler, c->out, c->frame);
        pthread_mutex_lock(&c->mu);
        c->rc = rc;
        c->state = CONVERT_DONE;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void convert_thread_start(convert_thread *c)
{
    if (c->state != CONVERT_OFF) return;
    if (pthread_mutex_init(&c->mu, NULL) != 0) return;
    if (pthread_cond_init(&c->cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        return;
    }
    c->stop = 0;
    c->state = CONVERT_IDLE;
    if (pthread_create(&c->thread, NULL, convert_main, c) != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        c->state = CONVERT_OFF;
    }
}

void convert_thread_post(convert_thread *c, ingest_scaler *s, const AVFrame *frame, uint8_t *out)
{
    if (c->state == CONVERT_OFF) { // no thread: convert now, wait returns the result
        c->rc = ingest_scaler_convert(s, out, frame);
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->scaler = s;
    c->frame = frame;
    c->out = out;
    c->state = CONVERT_POSTED;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int convert_thread_wait(convert_thread *c)
{
    if (c->state == CONVERT_OFF) return c->rc;
    pthread_mutex_lock(&c->mu);
    while (c->state == CONVERT_POSTED) pthread_cond_wait(&c->cv, &c->mu);
    c->state = CONVERT_IDLE;
    int rc = c->rc;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void convert_thread_stop(convert_thread *c)
{
    if (c->state == CONVERT_OFF) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    c->state = CONVERT_OFF;
}
