// The manifest run. The calling thread reads and checks manifest lines,
// hands media samples to decoding workers through a bounded window, and
// handles every result in manifest order (report, count; with a dataset,
// store). Workers only decode.
//
//   caller:  read line → parse/check → window[seq] ─┐          ┌→ handle in seq order
//   workers:                          decode queue ─┴→ decode ─┤
//   encoder (encode.c):                  chunks of frames ─→ encode ─┘
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- the decode queue and workers ---------------------------------------------------- */

static int cancelled(const run_state *r)
{
    return r->opt->cancel && *r->opt->cancel;
}

static job *queue_pop(run_state *r)
{
    job *j = r->decode_head;
    if (j) {
        r->decode_head = j->next;
        if (!r->decode_head) r->decode_tail = NULL;
    }
    return j;
}

static void queue_push(run_state *r, job *j)
{
    j->next = NULL;
    if (r->decode_tail)
        r->decode_tail->next = j;
    else
        r->decode_head = j;
    r->decode_tail = j;
}

// Decodes every sampled frame of j's media; keeps them when the run encodes.
static void decode_job(run_state *r, lwm_ingest *ing, lwm_frame *frame, job *j)
{
    if (lwm_ingest_open(ing, j->sample.media) < 0) {
        j->rc = lwm_error_set(&j->err, LWM_EDECODE, "%s", lwm_ingest_errmsg(ing));
        return;
    }
    int rc;
    const int64_t chunk = r->opt->encode_chunk > 0 ? r->opt->encode_chunk : LWM_INGEST_ENCODE_CHUNK;
    while ((rc = lwm_ingest_read(ing, frame)) == 0) {
        if (cancelled(r)) return; // never handled: run_loop stops before it
        if (r->keep_frames && job_add_frame(r, j, frame) < 0) return;
        j->frames++;
        if (r->vqgan && run_encode_held(r, j, chunk) < 0) return;
    }
    j->info = *lwm_ingest_info(ing);
    if (rc != LWM_EOF) j->rc = lwm_error_set(&j->err, rc, "%s", lwm_ingest_errmsg(ing));
}

static void *decode_worker(void *arg)
{
    run_state *r = arg;
    lwm_ingest *ing = lwm_ingest_create(&r->opt->decode);
    lwm_frame *frame = lwm_malloc(&r->opt->decode.mem, sizeof *frame);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->decode_head) pthread_cond_wait(&r->cv_work, &r->mu);
        if (r->stop) break;
        job *j = queue_pop(r);
        pthread_mutex_unlock(&r->mu);
        if (!ing || !frame)
            j->rc = lwm_error_set(&j->err, -ENOMEM, "out of memory for a decoder");
        else
            decode_job(r, ing, frame, j);
        pthread_mutex_lock(&r->mu);
        run_decoded(r, j); // done (or, with an encoder, queued for it)
        pthread_cond_broadcast(&r->cv_done);
    }
    pthread_mutex_unlock(&r->mu);
    lwm_free(&r->opt->decode.mem, frame);
    lwm_ingest_free(ing);
    return NULL;
}

/* ---- reading the manifest ------------------------------------------------------------- */

// Counts the manifest's lines and hashes its bytes in one streaming pass
// (no JSON parsed): the line count places the parts, the hash names the
// manifest they split.
static int scan_manifest(run_state *r, lwm_error *err)
{
    const char *path = r->opt->manifest;
    LWM_TRY(lwm_check_regular_file(path, err)); // /dev/zero or a pipe would never end
    FILE *f = fopen(path, "rb");
    if (!f) return lwm_error_set(err, -errno, "%s: %s", path, strerror(errno));
    lwm_hasher h;
    if (lwm_hasher_init(&h) < 0) {
        fclose(f);
        return lwm_error_set(err, -ENOMEM, "out of memory");
    }
    char buf[1 << 16];
    size_t n;
    int last = '\n';
    int64_t lines = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        lwm_hasher_update(&h, buf, n);
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + n - p))); p++) lines++;
        last = buf[n - 1];
    }
    int failed = ferror(f);
    fclose(f);
    lwm_hasher_final(&h, r->manifest_xxh3);
    if (failed) return lwm_error_set(err, -EIO, "%s: read error", path);
    r->total_lines = lines + (last != '\n');
    const lwm_ingest_run_options *o = r->opt;
    int64_t parts = o->parts > 0 ? o->parts : 1, part = o->parts > 0 ? o->part : 0;
    LWM_CHECK(err, part >= 0 && part < parts, LWM_EINVAL, "part %lld of %lld does not exist",
              (long long)part, (long long)parts);
    // Balanced by line count and a pure function of (line, parts, lines).
    r->first_line = part * r->total_lines / parts + 1;
    r->end_line = (part + 1) * r->total_lines / parts + 1;
    return 0;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

// getline that keeps at most max bytes of a line: the rest of a longer one is
// read and dropped, and *whole gets its full length (without the newline), so one absurd line costs
// no more memory than the limit. Returns the kept length or -1 at the end.
static ssize_t read_line_bounded(FILE *f, char **buf, size_t *cap, size_t max, size_t *whole)
{
    size_t n = 0;
    int c;
    while ((c = getc_unlocked(f)) != EOF) {
        if (n < max) {
            if (n + 2 > *cap) {
                size_t want = *cap ? *cap * 2 : 4096;
                char *p = realloc(*buf, want < max + 2 ? want : max + 2);
                if (!p) return -1;
                *buf = p;
                *cap = want < max + 2 ? want : max + 2;
            }
            (*buf)[n] = (char)c;
        }
        n++;
        if (c == '\n') break;
    }
    if (n == 0 && c == EOF) return -1;
    *whole = n - (c == '\n');
    size_t kept = n < max ? n : max;
    (*buf)[kept] = 0;
    return (ssize_t)kept;
}

// Reads the next non-blank line into a new job, parsed and checked. Returns 1
// (a job, maybe already failed or skipped), 0 at the end, or negative.
int run_next_job(run_state *r, job **out)
{
    ssize_t n;
    size_t whole = 0;
    for (;;) {                                       // lines before the range are only counted
        if (r->line_no + 1 >= r->end_line) return 0; // the next line is past this part
        n = read_line_bounded(r->manifest, &r->line, &r->line_cap, LWM_MAX_LINE_BYTES + 1, &whole);
        if (n < 0) return 0;
        r->line_no++;
        if (r->line_no >= r->first_line && !blank(r->line, (size_t)n)) break;
    }
    job *j = lwm_calloc(&r->opt->decode.mem, 1, sizeof *j);
    if (!j) return lwm_error_set(r->err, -ENOMEM, "out of memory");
    j->seq = r->issued++;
    j->line = r->line_no;
    if (whole > LWM_MAX_LINE_BYTES) // refused before cJSON multiplies it (~70 bytes a number)
        j->rc = lwm_error_set(&j->err, LWM_EINVAL,
                              "manifest line %lld: %zu bytes, more than the %zu "
                              "a line may have",
                              (long long)r->line_no, whole, LWM_MAX_LINE_BYTES);
    else
        j->rc =
            lwm_ingest_sample_parse_spec(&j->sample, r->line, (size_t)n, r->line_no,
                                         r->manifest_dir, r->fields, &r->opt->decode.mem, &j->err);
    run_check_new(r, j); // duplicate ids, already stored or recorded
    *out = j;
    return 1;
}

/* ---- the run -------------------------------------------------------------------------- */

// frames_unhandled: frames already encoded of samples still in progress, so that a long
// video's frames count up (and its rate shows) before the sample is stored.
static void report_progress(run_state *r, int64_t frames_unhandled, int final)
{
    const lwm_ingest_run_result *res = r->res;
    char detail[256];
    double el = lwm_now() - r->t0;
    int64_t frames = res->frames + frames_unhandled;
    snprintf(detail, sizeof detail,
             "frames %lld (%.1f frames/s), ok %lld, failed %lld, skipped %lld", (long long)frames,
             el > 0 ? (double)frames / el : 0.0, (long long)res->ok, (long long)res->failed,
             (long long)res->skipped);
    int64_t done = res->ok + res->failed + res->skipped;
    if (final)
        lwm_progress_finish(r->opt->progress, done, detail);
    else
        lwm_progress_update(r->opt->progress, done, detail);
}

// Fills the window with new jobs; returns 0 or a negative code.
static int issue_jobs(run_state *r)
{
    while (!r->eof && r->issued - r->finished < (int64_t)r->window) {
        job *j = NULL;
        int rc = run_next_job(r, &j);
        if (rc < 0) return rc;
        if (rc == 0) {
            r->eof = 1;
            break;
        }
        r->slots[j->seq % r->window] = j;
        pthread_mutex_lock(&r->mu);
        if (j->rc == 0 && !j->skipped && j->sample.media) {
            queue_push(r, j);
            pthread_cond_signal(&r->cv_work);
        } else {
            j->done = 1;
        }
        pthread_mutex_unlock(&r->mu);
    }
    return 0;
}

// Waits for cv_done, waking every 100 ms to see a cancel (a signal handler cannot signal it).
static void wait_done(run_state *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100000000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&r->cv_done, &r->mu, &until);
}

static int run_loop(run_state *r)
{
    for (;;) {
        LWM_TRY(issue_jobs(r));
        if (r->finished == r->issued) break;
        job *j = r->slots[r->finished % r->window];
        pthread_mutex_lock(&r->mu);
        while (!j->done && !cancelled(r)) {
            wait_done(r);
            int64_t unhandled = r->frames_unhandled;
            pthread_mutex_unlock(&r->mu);
            report_progress(r, unhandled, 0); // throttled: frames count up within a sample
            pthread_mutex_lock(&r->mu);
        }
        r->frames_unhandled -= j->frames_encoded; // now counted by run_handle, or failed
        int64_t unhandled = r->frames_unhandled;
        pthread_mutex_unlock(&r->mu);
        if (cancelled(r)) { // checked after the wait: a job cut short by it is never handled
            r->halted = r->res->interrupted = 1; // stop_workers drops what is in flight
            break;
        }
        int rc = run_handle(r, j); // in manifest order
        r->slots[r->finished % r->window] = NULL;
        r->finished++;
        job_free(r, j);
        if (rc < 0) return rc;
        report_progress(r, unhandled, 0);
        if (r->opt->strict && r->res->failed > 0) {
            r->halted = 1; // stop_workers drops what is in flight
            break;
        }
    }
    return 0;
}

static void manifest_dir_of(char *out, size_t cap, const char *path)
{
    lwm_format(out, cap, "%s", path);
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    else
        out[0] = '\0';
}

static int start_workers(run_state *r)
{
    int n = r->opt->workers > 0 ? r->opt->workers : 2;
    r->window = (size_t)n * 2 + 2;
    r->slots = lwm_calloc(&r->opt->decode.mem, r->window, sizeof *r->slots);
    r->threads = lwm_calloc(&r->opt->decode.mem, (size_t)n, sizeof *r->threads);
    if (!r->slots || !r->threads) return lwm_error_set(r->err, -ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv_work, NULL);
    pthread_cond_init(&r->cv_done, NULL);
    r->sync_ready = 1;
    LWM_TRY(run_start_encoder(r));
    for (; r->n_threads < n; r->n_threads++)
        if (pthread_create(&r->threads[r->n_threads], NULL, decode_worker, r) != 0)
            return lwm_error_set(r->err, -EAGAIN, "cannot start decoding threads");
    return 0;
}

// Stops the workers, then frees every job still in flight (a --strict stop or an error).
static void stop_workers(run_state *r)
{
    if (r->sync_ready) {
        pthread_mutex_lock(&r->mu);
        r->stop = 1;
        pthread_cond_broadcast(&r->cv_work);
        pthread_cond_broadcast(&r->cv_done); // a worker waiting for its chunk to be encoded
        pthread_mutex_unlock(&r->mu);
        for (int i = 0; i < r->n_threads; i++) pthread_join(r->threads[i], NULL);
        run_stop_encoder(r);
    }
    for (; r->finished < r->issued; r->finished++) {
        job_free(r, r->slots[r->finished % r->window]);
        r->res->skipped++;
    }
    if (r->sync_ready) {
        pthread_cond_destroy(&r->cv_done);
        pthread_cond_destroy(&r->cv_work);
        pthread_mutex_destroy(&r->mu);
    }
    lwm_free(&r->opt->decode.mem, r->threads);
    lwm_free(&r->opt->decode.mem, r->slots);
}

int run_open_manifest(run_state *r)
{
    LWM_TRY(scan_manifest(r, r->err));
    r->res->first_line = r->first_line;
    r->res->end_line = r->end_line;
    r->manifest = fopen(r->opt->manifest, "rb");
    if (!r->manifest)
        return lwm_error_set(r->err, -errno, "%s: %s", r->opt->manifest, strerror(errno));
    manifest_dir_of(r->manifest_dir, sizeof r->manifest_dir, r->opt->manifest);
    return 0;
}

void run_close_manifest(run_state *r)
{
    if (r->manifest) fclose(r->manifest);
    r->manifest = NULL;
    free(r->line); // read_line_bounded grows it with realloc
    r->line = NULL;
}

// A --strict stop or an interrupt leaves lines unread: they count as skipped samples.
static void count_unread(run_state *r)
{
    size_t whole;
    for (ssize_t n; ++r->line_no < r->end_line &&
                    (n = read_line_bounded(r->manifest, &r->line, &r->line_cap,
                                           LWM_MAX_LINE_BYTES + 1, &whole)) >= 0;)
        r->res->skipped += !blank(r->line, (size_t)n);
}

int lwm_ingest_run(const lwm_ingest_run_options *opt, lwm_ingest_run_result *res, lwm_error *err)
{
    memset(res, 0, sizeof *res);
    LWM_CHECK(err, opt && opt->manifest, LWM_EINVAL, "no manifest given");
    run_state r = {.opt = opt, .res = res, .err = err, .t0 = lwm_now()};
    int rc = run_open_manifest(&r);
    if (rc == 0) rc = run_read_dataset(&r);
    if (rc == 0 && opt->out_dir && !r.vqgan_path[0]) rc = run_refuse_media(&r);
    if (rc < 0) {
        run_release(&r);
        run_close_manifest(&r);
        return rc;
    }
    lwm_progress_start(opt->progress, "ingest", "samples", r.end_line - r.first_line);
    rc = run_setup(&r);
    if (rc == 0) rc = start_workers(&r);
    if (rc == 0) rc = run_loop(&r);
    int stopped = r.halted && !r.eof;
    stop_workers(&r);
    if (rc == 0) rc = run_finish(&r);
    if (stopped) count_unread(&r);
    run_release(&r);
    res->samples = res->ok + res->failed + res->skipped;
    res->seconds = lwm_now() - r.t0;
    report_progress(&r, 0, 1);
    run_close_manifest(&r);
    return rc;
}
