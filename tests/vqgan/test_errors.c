// Bad input gets a clear error, never a crash or garbage: truncated, corrupt,
// NaN-holding and mis-assembled weights files, NaN frames, out-of-range codes.
#include <errno.h>
#include <unistd.h>

#include "fail_alloc.h"
#include "harness.h"
#include "vqgan_test.h"

static char weights[1024];

// tiny-preset weights, made once per process.
static const char *tiny_weights(void)
{
    if (weights[0]) return weights;
    char cfg_path[1024];
    const char *root = getenv("LWM_ROOT");
    snprintf(cfg_path, sizeof cfg_path, "%s/configs/vqgan/tiny.json", root ? root : ".");
    snprintf(weights, sizeof weights, "%s/tiny.safetensors", test_tmpdir());
    lwm_vqgan_config cfg;
    lwm_error err = {0};
    if (lwm_vqgan_config_load(&cfg, cfg_path, &err) < 0 ||
        lwm_vqgan_init_weights(weights, &cfg, 3, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        weights[0] = '\0';
        return NULL;
    }
    return weights;
}

// Loads path; returns the code and copies the message.
static int try_load(const char *path, char *msg, size_t cap)
{
    lwm_vqgan *v = lwm_vqgan_create(NULL);
    int rc = lwm_vqgan_load(v, path);
    snprintf(msg, cap, "%s", lwm_vqgan_errmsg(v));
    lwm_vqgan_free(v);
    return rc;
}

static char *slurp(const char *path, size_t *size)
{
    char *d = NULL;
    lwm_error err = {0};
    return lwm_read_file(NULL, path, &d, size, &err) < 0 ? NULL : d;
}

static void spit(const char *path, const char *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(d, 1, n, f);
    fclose(f);
}

TEST(truncated_weights_file)
{
    REQUIRE(tiny_weights(), "could not make weights");
    size_t n;
    char *d = slurp(weights, &n), path[1100], msg[800];
    snprintf(path, sizeof path, "%s/truncated.safetensors", test_tmpdir());
    spit(path, d, n / 2);
    int rc = try_load(path, msg, sizeof msg);
    CHECK(rc == LWM_EFORMAT && strstr(msg, "truncated") && strstr(msg, "truncated.safetensors"),
          "rc %d, message '%s'", rc, msg);
    spit(path, d, 5);
    rc = try_load(path, msg, sizeof msg);
    CHECK(rc == LWM_EFORMAT && strstr(msg, "truncated"), "5-byte file: rc %d, '%s'", rc, msg);
    spit(path, "this is not a weights file at all", 33);
    rc = try_load(path, msg, sizeof msg);
    CHECK(rc == LWM_EFORMAT, "text file: rc %d, '%s'", rc, msg);
    free(d);
}

TEST(nan_in_weights_names_the_tensor)
{
    REQUIRE(tiny_weights(), "could not make weights");
    size_t n;
    char *d = slurp(weights, &n), path[1100], msg[800];
    float nan = NAN;
    memcpy(d + n - 8, &nan, 4); // inside the last tensor: decoder/Conv_1/bias
    snprintf(path, sizeof path, "%s/nan.safetensors", test_tmpdir());
    spit(path, d, n);
    int rc = try_load(path, msg, sizeof msg);
    CHECK(rc == LWM_ENUMERIC && strstr(msg, "decoder/Conv_1/bias") && strstr(msg, "NaN"),
          "rc %d, message '%s'", rc, msg);
    free(d);
}

// Rewrites the weights with one tensor dropped, renamed, or given a wrong shape.
static int rewrite(const char *out, const char *victim, const char *how)
{
    vq_file f;
    lwm_error err = {0};
    if (vqgan_file_open(&f, weights, NULL, &err) < 0) return -1;
    vq_writer_entry *e = calloc((size_t)f.num_tensors + 1, sizeof *e);
    const float **data = calloc((size_t)f.num_tensors + 1, sizeof *data);
    int n = 0;
    for (int i = 0; i < f.num_tensors; i++) {
        vq_tensor *t = &f.tensors[i];
        int hit = strcmp(t->name, victim) == 0;
        if (hit && strcmp(how, "drop") == 0) continue;
        int extra = hit && strcmp(how, "extra") == 0;
        if (lwm_format(e[n].name, sizeof e[n].name, "%.100s%s", t->name, extra ? "_extra" : "") < 0)
            break;
        e[n].ndim = t->ndim;
        memcpy(e[n].shape, t->shape, sizeof t->shape);
        if (hit && strcmp(how, "reshape") == 0) // (3,3,Ci,Co) → (Co,3,Ci,3)
            e[n].shape[0] = t->shape[t->ndim - 1], e[n].shape[t->ndim - 1] = t->shape[0];
        data[n++] = t->data;
        if (hit && strcmp(how, "extra") == 0) { // keep the original too
            e[n] = e[n - 1];
            snprintf(e[n].name, sizeof e[n].name, "%s", t->name);
            data[n++] = t->data;
        }
    }
    const char *meta[] = {"config", vqgan_file_meta(&f, "config"), NULL};
    lwm_st_writer *w;
    int rc = lwm_st_writer_begin(&w, out, e, n, meta, &err);
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t c = 1;
        for (int d = 0; d < e[i].ndim; d++) c *= (size_t)e[i].shape[d];
        rc = lwm_st_writer_put(w, data[i], c, &err);
    }
    if (rc == 0) rc = lwm_st_writer_commit(w, &err);
    vqgan_file_close(&f);
    free(e), free(data);
    return rc;
}

TEST(missing_extra_misshaped_tensors)
{
    REQUIRE(tiny_weights(), "could not make weights");
    char path[1100], msg[800];
    snprintf(path, sizeof path, "%s/edited.safetensors", test_tmpdir());
    const char *victim = "encoder/DownsamplingBlock_1/ResnetBlock_0/Conv_0/kernel";
    REQUIRE(rewrite(path, victim, "drop") == 0, "rewrite failed");
    int rc = try_load(path, msg, sizeof msg);
    CHECK(rc == LWM_EFORMAT && strstr(msg, "missing tensor") && strstr(msg, victim),
          "drop: %d '%s'", rc, msg);
    REQUIRE(rewrite(path, victim, "extra") == 0, "rewrite failed");
    rc = try_load(path, msg, sizeof msg);
    CHECK(rc == LWM_EFORMAT && strstr(msg, "unexpected tensor") && strstr(msg, "_extra"),
          "extra: %d '%s'", rc, msg);
    REQUIRE(rewrite(path, victim, "reshape") == 0, "rewrite failed");
    rc = try_load(path, msg, sizeof msg);
    CHECK(rc == LWM_EFORMAT && strstr(msg, "has shape") && strstr(msg, victim), "reshape: %d '%s'",
          rc, msg);
}

TEST(nan_frame_and_bad_codes)
{
    REQUIRE(tiny_weights(), "could not make weights");
    lwm_vqgan *v = lwm_vqgan_create(&(lwm_vqgan_options){.max_batch = 2});
    REQUIRE(lwm_vqgan_load(v, weights) == 0, "load: %s", lwm_vqgan_errmsg(v));
    CHECK(lwm_vqgan_untrained(v) == 1, "init weights not flagged untrained");
    CHECK(strlen(lwm_vqgan_weights_hash(v)) == 32, "hash '%s'", lwm_vqgan_weights_hash(v));
    size_t ff = 256 * 256 * 3;
    float *frames = calloc(ff * 3, sizeof(float));
    uint16_t codes[3 * 256];
    frames[ff * 2 + 1000] = NAN; // frame 2, in the second batch
    int rc = lwm_vqgan_encode(v, codes, frames, 3);
    CHECK(rc == LWM_ENUMERIC && strstr(lwm_vqgan_errmsg(v), "frame 2"), "NaN frame: %d '%s'", rc,
          lwm_vqgan_errmsg(v));
    frames[ff * 2 + 1000] = 0;
    rc = lwm_vqgan_encode(v, codes, frames, 3);
    CHECK(rc == 0, "clean frames after a failure: %d '%s'", rc, lwm_vqgan_errmsg(v));
    codes[256 + 17] = 512; // tiny's codebook has 512 entries
    rc = lwm_vqgan_decode(v, frames, codes, 2);
    CHECK(rc == LWM_EINVAL && strstr(lwm_vqgan_errmsg(v), "frame 1, position 17") &&
              strstr(lwm_vqgan_errmsg(v), "512"),
          "bad code: %d '%s'", rc, lwm_vqgan_errmsg(v));
    free(frames);
    lwm_vqgan_free(v);
}

TEST(import_rejects_unknown_layout)
{
    REQUIRE(tiny_weights(), "could not make weights");
    char path[1100], out[1100];
    snprintf(path, sizeof path, "%s/other.safetensors", test_tmpdir());
    snprintf(out, sizeof out, "%s/out.safetensors", test_tmpdir());
    float x[4] = {1, 2, 3, 4};
    test_tensor t[] = {{"model.layers.0.weight", 1, {4}, x}};
    REQUIRE(write_tensors(path, t, 1) == 0, "write failed");
    lwm_error err = {0};
    int layout = -1, rc = lwm_vqgan_import(out, path, &layout, &err);
    CHECK(rc == LWM_EFORMAT && layout == LWM_VQGAN_LAYOUT_UNKNOWN && strstr(err.msg, "diffusers"),
          "rc %d layout %d '%s'", rc, layout, err.msg);
    CHECK(access(out, F_OK) != 0, "a failed import left its output behind");
}

// create + load + encode 2 frames + decode 1 through the hook; 0 or the first failure.
static int run_hooked(fail_alloc *c, const float *frames, uint16_t *codes, float *out)
{
    lwm_vqgan *v = lwm_vqgan_create(&(lwm_vqgan_options){.max_batch = 2, .mem = fail_alloc_mem(c)});
    if (!v) return -ENOMEM;
    int rc = lwm_vqgan_load(v, weights);
    if (rc == 0) rc = lwm_vqgan_encode(v, codes, frames, 2);
    if (rc == 0) rc = lwm_vqgan_decode(v, out, codes, 1);
    if (rc < 0 && !lwm_vqgan_errmsg(v)[0]) rc = LWM_EINTERNAL - 1000; // a failure without a message
    lwm_vqgan_free(v);
    return rc;
}

// Every allocation the context makes through its hook (the context, its tables and the
// activation arena) fails in turn: a clean error with a message, no crash, and under the
// sanitizer build no leak.
TEST(every_allocation_failure_is_clean)
{
    REQUIRE(tiny_weights(), "could not make weights");
    lwm_vqgan *probe = lwm_vqgan_create(NULL);
    REQUIRE(probe && lwm_vqgan_load(probe, weights) == 0, "load: %s",
            probe ? lwm_vqgan_errmsg(probe) : "");
    const lwm_vqgan_config *cfg = lwm_vqgan_config_of(probe);
    size_t px = (size_t)cfg->resolution * cfg->resolution * 3;
    int cpf = lwm_vqgan_config_codes_per_frame(cfg);
    size_t arena = lwm_vqgan_scratch_bytes(probe, 2, 0);
    lwm_vqgan_free(probe);
    float *frames = malloc(2 * px * sizeof(float)), *out = malloc(px * sizeof(float));
    uint16_t *codes = malloc(2 * (size_t)cpf * sizeof(uint16_t));
    REQUIRE(frames && out && codes, "out of memory");
    for (size_t i = 0; i < 2 * px; i++)
        frames[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
    fail_alloc c = {0};
    REQUIRE(run_hooked(&c, frames, codes, out) == 0, "run without failures");
    long total = c.calls;
    CHECK(total >= 3 && c.bytes >= arena,
          "%ld allocations, %zu bytes through the hook: the %zu-byte arena bypasses it", total,
          c.bytes, arena);
    for (long n = 1; n <= total; n++) {
        fail_alloc f = {.fail_at = n};
        int rc = run_hooked(&f, frames, codes, out);
        CHECK(rc < 0 || f.calls < n, "allocation %ld of %ld failed but the run succeeded", n,
              total);
        CHECK(rc != LWM_EINTERNAL - 1000, "allocation %ld failed without a message", n);
    }
    free(frames), free(out), free(codes);
}

TEST_MAIN("vqgan/errors", T(truncated_weights_file), T(nan_in_weights_names_the_tensor),
          T(missing_extra_misshaped_tensors), T(nan_frame_and_bad_codes),
          T(import_rejects_unknown_layout), T(every_allocation_failure_is_clean))
