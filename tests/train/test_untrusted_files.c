// The trainer's readers of untrusted files (issue 15 items 2 and 4).
// safetensors_read parses through the shared common/safetensors.c, so offsets near 2^64 (which
// wrapped its old bound check and copied memory from before the buffer), fractional shapes and
// overlapping tensors are refused with one line naming the tensor; a file it wrote reads back.
// checkpoint.bin: the checksum is not a MAC. The files below are written by ckpt_write itself,
// so they carry valid checksums, and still a negative step, NaN/Inf parameters or moments, or a
// negative Adam second moment are refused with one line naming the field (and the tensor).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "train/layout_fixture.h"

enum { HEADER_BYTES = 4096 };

// Two tensors: name0 [rows, cols] then name1 [n] (freed by the caller).
static train_layout *layout(const char *name0, int rows, int cols, const char *name1, int n)
{
    return layout_fixture(calloc(1, sizeof(train_layout)), name0, rows, cols, name1, n);
}

// header text padded with spaces to 4096 bytes, then data_bytes bytes of 0x3f, into path.
static void craft(const char *path, const char *header, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    uint64_t n = HEADER_BYTES;
    fwrite(&n, 8, 1, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = strlen(header); i < n; i++) fputc(' ', f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0x3f, f);
    fclose(f);
}

TEST(safetensors_roundtrip)
{
    train_layout *lay = layout("w", 32, 32, "b", 4);
    float *p = calloc(lay->total, sizeof *p), *q = calloc(lay->total, sizeof *q);
    for (size_t i = 0; i < lay->total; i++) p[i] = (float)i * 0.5f;
    char path[512];
    snprintf(path, sizeof path, "%s/ok.safetensors", test_tmpdir());
    lwm_error err = {0};
    REQUIRE(safetensors_write(path, lay, p, NULL, &err) == 0, "%s", err.msg);
    CHECK(safetensors_read(path, lay, q, &err) == 0, "%s", err.msg);
    CHECK(memcmp(p, q, lay->total * sizeof *p) == 0, "data differs");
    free(p), free(q), free(lay);
}

static const struct {
    const char *name, *header, *expect;
} BAD[] = {
    // 2^64 - 6144 .. 2^64 - 2048 (4096 bytes = w, exact doubles): 8 + 4096 + end wrapped to
    // 2056, inside the file, and the old reader copied from 2040 bytes before its buffer.
    {"offsets_wrap",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[32,32],\"data_offsets\":[18446744073709545472,"
     "18446744073709549568]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
     "tensor w: data_offsets are not"},
    {"shape_fraction",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[32,32],\"data_offsets\":[16,4112]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4.5],\"data_offsets\":[0,16]}}",
     "tensor b: shape[0]"},
    {"overlap",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[32,32],\"data_offsets\":[0,4096]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
     "overlap"},
    {"past_end",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[32,32],\"data_offsets\":[16,4112]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8000,8016]}}",
     "truncated: tensor b"},
    {"wrong_shape",
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[16,64],\"data_offsets\":[16,4112]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
     "tensor w has dimension 0 = 16, model needs 32"},
};

TEST(safetensors_crafted_refused)
{
    train_layout *lay = layout("w", 32, 32, "b", 4);
    float *q = calloc(lay->total, sizeof *q);
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s.safetensors", test_tmpdir(), BAD[i].name);
        craft(path, BAD[i].header, 4112);
        lwm_error err = {0};
        int rc = safetensors_read(path, lay, q, &err);
        CHECK(rc < 0, "%s: accepted", BAD[i].name);
        CHECK(rc >= 0 || (strstr(err.msg, BAD[i].expect) && strstr(err.msg, path) &&
                          !strchr(err.msg, '\n')),
              "%s: message '%s'", BAD[i].name, err.msg);
    }
    free(q), free(lay);
}

typedef struct ckpt {
    ckpt_state st;
    char src[16];
    float p[40], m[40], v[40];
} ckpt;

static void sound(ckpt *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < 6; i++) c->st.shape[i] = 8;
    c->st.step = 10, c->st.stage_step = 4, c->st.tokens = 640, c->st.stage = 1;
    c->st.source_state_size = sizeof c->src;
    memset(c->src, 7, sizeof c->src);
    for (int i = 0; i < 40; i++) c->p[i] = 0.01f * (float)i, c->m[i] = -0.001f, c->v[i] = 1e-6f;
}

// Writes c with ckpt_write and reads it back; returns ckpt_read's code, message in err.
static int roundtrip(const ckpt *c, lwm_error *err)
{
    train_layout *lay = layout("wte", 4, 8, "ln_f", 8);
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint.bin", test_tmpdir());
    int rc = ckpt_write(path, &c->st, c->src, lay, c->p, c->m, c->v, err);
    if (rc == 0) {
        ckpt back;
        sound(&back); // expected shape
        rc = ckpt_read(path, NULL, &back.st, back.src, sizeof back.src, lay, back.p, back.m, back.v,
                       err);
        if (rc == 0 && (memcmp(back.p, c->p, sizeof c->p) || back.st.step != c->st.step))
            rc = lwm_error_set(err, LWM_EINTERNAL, "read back differs");
    }
    free(lay);
    return rc;
}

TEST(checkpoint_sound_reads_back)
{
    ckpt c;
    sound(&c);
    lwm_error err = {0};
    CHECK(roundtrip(&c, &err) == 0, "%s", err.msg);
}

TEST(checkpoint_hostile_fields_refused)
{
    static const struct {
        const char *name, *expect;
    } cases[] = {
        {"step_negative", "field step is -5 (negative)"},
        {"stage_step_negative", "field stage_step is -1 (negative)"},
        {"tokens_negative", "field tokens is -640 (negative)"},
        {"stage_negative", "field stage is -1 (negative)"},
        {"nan_skips_negative", "field nan_skips is -3 (negative)"},
        {"stage_step_above_step", "field stage_step is 11, above step 10"},
        {"param_nan", "field params[33] (tensor ln_f) is nan"},
        {"param_inf", "field params[2] (tensor wte) is inf"},
        {"adam_m_nan", "field adam_m[0] (tensor wte) is nan"},
        {"adam_v_negative", "field adam_v[39] (tensor ln_f) is -0.5 (negative)"},
        {"adam_v_inf", "field adam_v[5] (tensor wte) is -inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ckpt c;
        sound(&c);
        switch (i) {
        case 0: c.st.step = -5; break;
        case 1: c.st.stage_step = -1; break;
        case 2: c.st.tokens = -640; break;
        case 3: c.st.stage = -1; break;
        case 4: c.st.nan_skips = -3; break;
        case 5: c.st.stage_step = 11; break;
        case 6: c.p[33] = NAN; break;
        case 7: c.p[2] = INFINITY; break;
        case 8: c.m[0] = NAN; break;
        case 9: c.v[39] = -0.5f; break;
        case 10: c.v[5] = -INFINITY; break;
        }
        lwm_error err = {0};
        int rc = roundtrip(&c, &err);
        CHECK(rc < 0, "%s: accepted", cases[i].name);
        CHECK(rc >= 0 || (strstr(err.msg, cases[i].expect) && strstr(err.msg, "checkpoint.bin: ") &&
                          !strchr(err.msg, '\n')),
              "%s: message '%s'", cases[i].name, err.msg);
    }
}

TEST_MAIN("train/untrusted_files", T(safetensors_roundtrip), T(safetensors_crafted_refused),
          T(checkpoint_sound_reads_back), T(checkpoint_hostile_fields_refused))
