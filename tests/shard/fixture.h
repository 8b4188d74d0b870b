// Self-checking samples for shard tests: every code, timestamp, token and
// string is a function of (sample number, frame, position), so a test can
// check any record it reads back without keeping what it wrote.
#ifndef LWM_TESTS_SHARD_FIXTURE_H
#define LWM_TESTS_SHARD_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard/shard.h"

static inline uint16_t fx_code(int64_t sample, int64_t frame, int64_t pos)
{
    return (uint16_t)((sample * 977 + frame * 131 + pos * 7) % LWM_SHARD_CODEBOOK_SIZE);
}

static inline int64_t fx_frames(int64_t sample)
{
    return sample % 5 == 0 ? 0 : sample % 7 + 1;
}

typedef struct fx_sample {
    char id[64], source[64], caption[128], codec[16];
    int32_t tokens[16];
    lwm_shard_text text[2];
    uint16_t *codes;
    double *ts;
    lwm_shard_sample s;
} fx_sample;

/** Fills f with sample number n; free with fx_release. */
static inline void fx_make(fx_sample *f, int64_t n)
{
    memset(f, 0, sizeof *f);
    int64_t frames = fx_frames(n);
    snprintf(f->id, sizeof f->id, "sample-%06lld", (long long)n);
    snprintf(f->source, sizeof f->source, "videos/clip%lld.mp4", (long long)n);
    snprintf(f->caption, sizeof f->caption, "caption of sample %lld: ünïcode ✓", (long long)n);
    snprintf(f->codec, sizeof f->codec, frames == 1 ? "png" : "h264");
    for (int i = 0; i < 16; i++) f->tokens[i] = (int32_t)(n * 100 + i);
    f->text[0] = (lwm_shard_text){"caption", f->caption, n % 2 ? f->tokens : NULL, n % 2 ? 16 : 0};
    f->text[1] = (lwm_shard_text){"question", "what is shown?", NULL, 0};
    f->codes = malloc(sizeof(uint16_t) * (size_t)(frames * 256 + 1));
    f->ts = malloc(sizeof(double) * (size_t)(frames + 1));
    for (int64_t fr = 0; fr < frames; fr++) {
        f->ts[fr] = 0.5 * (double)fr + (double)n;
        for (int p = 0; p < 256; p++) f->codes[fr * 256 + p] = fx_code(n, fr, p);
    }
    f->s = (lwm_shard_sample){.id = f->id,
                              .modality = frames == 0   ? LWM_SHARD_TEXT
                                          : frames == 1 ? LWM_SHARD_IMAGE
                                                        : LWM_SHARD_VIDEO,
                              .source = f->source,
                              .manifest_line = n + 1,
                              .fields = "\"[vision],caption\"",
                              .texts = f->text,
                              .n_texts = 2,
                              .vision_name = frames ? "vision" : "",
                              .frames = frames,
                              .codes = f->codes,
                              .timestamps = f->ts,
                              .duration = 10.0 + (double)n,
                              .fps = 25,
                              .width = 640,
                              .height = 480,
                              .codec = f->codec};
}

static inline void fx_release(fx_sample *f)
{
    free(f->codes);
    free(f->ts);
}

/** 0 when s is sample n exactly; else writes what differs into why. */
static inline int fx_check(const lwm_shard_sample *s, int64_t n, char *why, size_t cap)
{
    fx_sample want;
    fx_make(&want, n);
    const lwm_shard_sample *w = &want.s;
    int bad = 1;
    if (strcmp(s->id, w->id))
        snprintf(why, cap, "id %s, want %s", s->id, w->id);
    else if (s->frames != w->frames)
        snprintf(why, cap, "%s: %lld frames, want %lld", w->id, (long long)s->frames,
                 (long long)w->frames);
    else if (s->modality != w->modality || strcmp(s->source, w->source) ||
             strcmp(s->codec, w->codec) || strcmp(s->fields, w->fields) ||
             strcmp(s->vision_name, w->vision_name) || s->manifest_line != w->manifest_line ||
             s->duration != w->duration || s->fps != w->fps || s->width != w->width ||
             s->height != w->height)
        snprintf(why, cap, "%s: metadata differs", w->id);
    else if (s->n_texts != 2 || strcmp(s->texts[0].name, "caption") ||
             strcmp(s->texts[0].text, w->texts[0].text) ||
             strcmp(s->texts[1].text, "what is shown?") ||
             s->texts[0].n_tokens != w->texts[0].n_tokens ||
             (w->texts[0].n_tokens && memcmp(s->texts[0].tokens, w->texts[0].tokens, 64)))
        snprintf(why, cap, "%s: text fields differ", w->id);
    else if (w->frames && memcmp(s->codes, w->codes, 2 * 256 * (size_t)w->frames))
        snprintf(why, cap, "%s: codes differ", w->id);
    else if (w->frames && memcmp(s->timestamps, w->timestamps, 8 * (size_t)w->frames))
        snprintf(why, cap, "%s: timestamps differ", w->id);
    else
        bad = 0;
    fx_release(&want);
    return bad;
}

/** Writes samples [from, to) in batches of batch; returns 0 or the failing code. */
static inline int fx_write(lwm_shard_writer *w, int64_t from, int64_t to, int batch)
{
    for (int64_t n = from; n < to; n++) {
        fx_sample f;
        fx_make(&f, n);
        int64_t rc = lwm_shard_writer_put(w, &f.s);
        fx_release(&f);
        if (rc < 0) return (int)rc;
        if ((n + 1 - from) % batch == 0 || n + 1 == to) {
            int c = lwm_shard_writer_commit(w);
            if (c < 0) return c;
        }
    }
    return 0;
}

static inline void fx_dir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", getenv("LWM_TMP") ? getenv("LWM_TMP") : "/tmp", name);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
    if (system(cmd) != 0) abort();
}

#endif
