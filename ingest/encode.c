// The encoder stage of a run that builds a dataset: one thread takes buffers
// of decoded frames from a queue and turns them into VQGAN codes (the VQGAN
// spreads each call over its own OpenMP threads) while the calling thread
// writes. Each job has two buffers: its worker decodes into one while the
// encoder works on the other, and waits only when both are with the encoder,
// so decoding overlaps encoding even within one video, and a long video never
// sits in memory as pixels (at most two chunks a worker; codes take 512 bytes
// a frame). A buffer goes to the encoder when it holds a chunk, or earlier, at
// a multiple of ENCODE_BATCH frames, when the encoder has nothing to do (at
// the start of a run, or when decoding is the slower side).
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "vqgan/vqgan.h"

// Encodes b's frames into its job's codes (encoder thread, not holding mu:
// the job's codes are only touched here until the job is done). 0 or negative
// with err filled.
static int encode_buffer(run_state *r, encode_buf *b, lwm_error *err)
{
    job *j = b->job;
    size_t end = (size_t)(b->first + b->n);
    if (lwm_grow(&r->opt->decode.mem, (void **)&j->codes, &j->codes_cap, end,
                 256 * sizeof *j->codes) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory for %zu frames of codes", end);
    int rc = lwm_vqgan_encode_rgb(r->vqgan, j->codes + (size_t)b->first * 256, b->rgb, (int)b->n);
    if (rc < 0)
        return lwm_error_set(err, rc, "%s: encoding failed: %s", j->sample.media,
                             lwm_vqgan_errmsg(r->vqgan));
    return 0;
}

// Under mu: j is done once its worker finished and no buffer is with the
// encoder; the pixels go, an encoding failure becomes the job's.
static void finish_if_complete(run_state *r, job *j)
{
    if (!j->decode_finished || j->in_flight) return;
    if (j->rc == 0 && j->enc_rc < 0) j->rc = j->enc_rc, j->err = j->enc_err;
    for (int i = 0; i < 2; i++) {
        lwm_free(&r->opt->decode.mem, j->buf[i].rgb);
        j->buf[i] = (encode_buf){0};
    }
    j->done = 1;
}

// Under mu: queues b (its frames end at j->frames) for the encoder.
static void push_encode(run_state *r, job *j, encode_buf *b)
{
    b->job = j, b->first = j->frames - b->n, b->in_flight = 1, b->next = NULL;
    j->in_flight++;
    if (r->encode_tail)
        r->encode_tail->next = b;
    else
        r->encode_head = b;
    r->encode_tail = b;
    pthread_cond_signal(&r->cv_encode);
}

static void *encoder_main(void *arg)
{
    run_state *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->encode_head) pthread_cond_wait(&r->cv_encode, &r->mu);
        if (r->stop) break;
        encode_buf *b = r->encode_head;
        r->encode_head = b->next;
        if (!r->encode_head) r->encode_tail = NULL;
        job *j = b->job;
        int skip = j->enc_rc < 0; // an earlier buffer of the job failed
        r->encoder_busy = 1;
        pthread_mutex_unlock(&r->mu);
        lwm_error err = {0};
        int rc = skip ? 0 : encode_buffer(r, b, &err);
        pthread_mutex_lock(&r->mu);
        r->encoder_busy = 0;
        if (rc < 0) j->enc_rc = rc, j->enc_err = err;
        if (rc == 0 && !skip) {
            j->frames_encoded += b->n;
            r->frames_unhandled += b->n;
        }
        b->in_flight = 0, b->n = 0;
        j->in_flight--;
        finish_if_complete(r, j);
        pthread_cond_broadcast(&r->cv_done);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int run_encode_held(run_state *r, job *j, int64_t chunk)
{
    encode_buf *b = &j->buf[j->cur];
    int status = 0;
    pthread_mutex_lock(&r->mu);
    int idle = !r->encode_head && !r->encoder_busy;
    if (b->n > 0 && (b->n >= chunk || (idle && b->n % ENCODE_BATCH == 0))) {
        push_encode(r, j, b);
        j->cur ^= 1;
        encode_buf *next = &j->buf[j->cur];
        while (next->in_flight && !r->stop) pthread_cond_wait(&r->cv_done, &r->mu);
        if (next->in_flight)
            status = -1, j->rc = lwm_error_set(&j->err, LWM_EINTERNAL, "run stopped");
        if (j->enc_rc < 0) status = -1; // no use decoding the rest
    }
    pthread_mutex_unlock(&r->mu);
    return status;
}

void run_decoded(run_state *r, job *j)
{
    j->decode_finished = 1;
    encode_buf *b = &j->buf[j->cur];
    if (r->vqgan && j->rc == 0 && j->enc_rc == 0 && b->n > 0) push_encode(r, j, b);
    finish_if_complete(r, j);
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
