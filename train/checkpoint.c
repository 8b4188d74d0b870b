// The resumable training state (weights alone are in weights.c): one file with a magic, a
// version, the model shape, step/stage counters, the three slabs (params, Adam m, Adam v),
// the data source's state and an XXH3 checksum, written atomically.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

// ------------------------------------------------------------------ streaming atomic file

// The checkpoint is hashed as it is written (after the magic and version).
typedef struct out_file {
    lwm_atomic_file af;
    lwm_hasher h;
    int hashing;
} out_file;

static int out_open(out_file *o, const char *path, lwm_error *err)
{
    memset(o, 0, sizeof *o);
    return lwm_atomic_open(&o->af, path, err);
}

static int out_write(out_file *o, const void *p, size_t n, lwm_error *err)
{
    if (o->hashing) lwm_hasher_update(&o->h, p, n);
    return lwm_atomic_write(&o->af, p, n, err);
}

// ------------------------------------------------------------------ training state

static const char CKPT_MAGIC[8] = {'L', 'W', 'M', 'T', 'R', 'N', 'S', 'T'};
enum { CKPT_VERSION = 1 };

static void shape_text(char *out, size_t cap, const int32_t s[6])
{
    snprintf(out, cap, "dim %d, layers %d, heads %d, ffn_dim %d, text_vocab %d, vision_vocab %d",
             s[0], s[1], s[2], s[3], s[4], s[5]);
}

int ckpt_write(const char *path, const ckpt_state *st, const void *source_state,
               const train_layout *lay, const float *params, const float *m, const float *v,
               lwm_error *err)
{
    out_file o;
    LWM_TRY(out_open(&o, path, err));
    uint32_t version = CKPT_VERSION;
    int rc = out_write(&o, CKPT_MAGIC, 8, err);
    if (rc == 0) rc = out_write(&o, &version, 4, err);
    o.hashing = lwm_hasher_init(&o.h) == 0;
    if (rc == 0) rc = out_write(&o, st, sizeof *st, err);
    if (rc == 0) rc = out_write(&o, source_state, st->source_state_size, err);
    const float *slabs[3] = {params, m, v};
    for (int i = 0; rc == 0 && i < 3; i++)
        rc = out_write(&o, slabs[i], lay->total * sizeof(float), err);
    char hex[33] = {0};
    if (o.hashing) lwm_hasher_final(&o.h, hex);
    o.hashing = 0;
    if (rc == 0) rc = out_write(&o, hex, 32, err);
    if (rc == 0) return lwm_atomic_commit(&o.af, err);
    lwm_atomic_abort(&o.af);
    return rc;
}

// The counters come from the file: a negative step would resume with a negative learning rate.
static int check_counters(const ckpt_state *st, const char *path, lwm_error *err)
{
    const struct {
        const char *name;
        int64_t value;
    } f[] = {{"step", st->step},
             {"stage_step", st->stage_step},
             {"tokens", st->tokens},
             {"stage", st->stage},
             {"nan_skips", st->nan_skips}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        LWM_CHECK(err, f[i].value >= 0, LWM_EFORMAT, "%s: field %s is %lld (negative)", path,
                  f[i].name, (long long)f[i].value);
    LWM_CHECK(err, st->stage_step <= st->step, LWM_EFORMAT,
              "%s: field stage_step is %lld, above step %lld", path, (long long)st->stage_step,
              (long long)st->step);
    return 0;
}

static const char *tensor_at(const train_layout *lay, size_t i)
{
    for (int t = 0; t < lay->ntensors; t++)
        if (i >= lay->t[t].offset && i - lay->t[t].offset < lay->t[t].size) return lay->t[t].name;
    return "?";
}

// Parameters and Adam moments finite, second moments non-negative (sqrt of a negative v is NaN
// on the first update). slabs holds params, m and v, lay->total floats each (maybe unaligned).
static int check_slabs(const char *slabs, const train_layout *lay, const char *path, lwm_error *err)
{
    static const char *const names[3] = {"params", "adam_m", "adam_v"};
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < lay->total; i++) {
            float x;
            memcpy(&x, slabs + (s * lay->total + i) * sizeof x, sizeof x);
            LWM_CHECK(err, isfinite(x), LWM_EFORMAT, "%s: field %s[%zu] (tensor %s) is %g", path,
                      names[s], i, tensor_at(lay, i), (double)x);
            LWM_CHECK(err, s < 2 || x >= 0, LWM_EFORMAT,
                      "%s: field adam_v[%zu] (tensor %s) is %g (negative)", path, i,
                      tensor_at(lay, i), (double)x);
        }
    return 0;
}

int ckpt_read(const char *path, const lwm_mem *mem, ckpt_state *st, void *source_state,
              size_t source_cap, const train_layout *lay, float *params, float *m, float *v,
              lwm_error *err)
{
    char *data = NULL;
    size_t size = 0;
    LWM_TRY(lwm_read_file(mem, path, &data, &size, err));
    int rc = 0;
    const size_t head = 12 + sizeof *st;
    uint32_t version = 0;
    if (size < head + 32 || memcmp(data, CKPT_MAGIC, 8) != 0) {
        rc = lwm_error_set(err, LWM_EFORMAT, "%s: not an lwm training checkpoint", path);
        goto done;
    }
    memcpy(&version, data + 8, 4);
    if (version != CKPT_VERSION) {
        rc = lwm_error_set(err, LWM_EVERSION, "%s: checkpoint version %u, expected %d", path,
                           version, CKPT_VERSION);
        goto done;
    }
    ckpt_state want = *st;
    memcpy(st, data + 12, sizeof *st);
    if (memcmp(st->shape, want.shape, sizeof want.shape) != 0) {
        char a[200], b[200];
        shape_text(a, sizeof a, st->shape);
        shape_text(b, sizeof b, want.shape);
        rc = lwm_error_set(err, LWM_EINVAL,
                           "%s: checkpoint of another model shape (%s; config has %s)", path, a, b);
        goto done;
    }
    if (st->source_state_size > source_cap) {
        rc = lwm_error_set(err, LWM_EFORMAT, "%s: field source_state_size is %llu, above %zu", path,
                           (unsigned long long)st->source_state_size, source_cap);
        goto done;
    }
    size_t need = head + st->source_state_size + 3 * lay->total * sizeof(float) + 32;
    if (size != need) {
        rc =
            lwm_error_set(err, LWM_EFORMAT, "%s: truncated or wrong size (%zu bytes, expected %zu)",
                          path, size, need);
        goto done;
    }
    lwm_hasher h;
    char hex[33];
    rc = lwm_hasher_init(&h);
    if (rc < 0) goto done;
    lwm_hasher_update(&h, data + 12, need - 12 - 32);
    lwm_hasher_final(&h, hex);
    if (memcmp(hex, data + need - 32, 32) != 0) {
        rc = lwm_error_set(err, LWM_ECHECKSUM, "%s: checksum mismatch (file damaged)", path);
        goto done;
    }
    if ((rc = check_counters(st, path, err)) < 0) goto done;
    const char *p = data + head;
    if ((rc = check_slabs(p + st->source_state_size, lay, path, err)) < 0) goto done;
    memcpy(source_state, p, st->source_state_size);
    p += st->source_state_size;
    float *slabs[3] = {params, m, v};
    for (int i = 0; i < 3; i++, p += lay->total * sizeof(float))
        memcpy(slabs[i], p, lay->total * sizeof(float));
done:
    lwm_free(mem, data);
    return rc;
}
