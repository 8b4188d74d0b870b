// Helpers shared by the vqgan tests: running the PyTorch reference script and
// reading/writing the safetensors files exchanged with it.
#ifndef LWM_TESTS_VQGAN_TEST_H
#define LWM_TESTS_VQGAN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vqgan/internal.h"

// Runs tests/vqgan/ref_vqgan.py with Debian's python3; 0 on success.
static inline int run_reference(const char *args)
{
    char cmd[12288];
    const char *root = getenv("LWM_ROOT");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/vqgan/ref_vqgan.py %s", root ? root : ".",
             args);
    return system(cmd);
}

// A float64 copy of a tensor (for max_rel_err); caller frees.
static inline double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; d && i < n; i++) d[i] = x[i];
    return d;
}

static inline const vq_tensor *need(vq_file *f, const char *name)
{
    const vq_tensor *t = vqgan_file_find(f, name);
    if (!t) fprintf(stderr, "reference file lacks %s\n", name);
    return t;
}

// Writes n named float tensors (name, shape, data) to path.
typedef struct test_tensor {
    const char *name;
    int ndim;
    int64_t shape[4];
    const float *data;
} test_tensor;

static inline int write_tensors(const char *path, const test_tensor *t, int n)
{
    vq_writer_entry e[16];
    memset(e, 0, sizeof e);
    for (int i = 0; i < n; i++) {
        snprintf(e[i].name, sizeof e[i].name, "%s", t[i].name);
        e[i].ndim = t[i].ndim;
        memcpy(e[i].shape, t[i].shape, sizeof t[i].shape);
    }
    lwm_st_writer *w;
    lwm_error err = {0};
    int rc = lwm_st_writer_begin(&w, path, e, n, NULL, &err);
    for (int i = 0; rc == 0 && i < n; i++) {
        size_t c = 1;
        for (int d = 0; d < t[i].ndim; d++) c *= (size_t)t[i].shape[d];
        rc = lwm_st_writer_put(w, t[i].data, c, &err);
    }
    if (rc == 0)
        rc = lwm_st_writer_commit(w, &err);
    else
        lwm_st_writer_abort(w);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

// A deterministic synthetic 256×256 "photo": smooth gradients, a disc and
// stripes, so the frame has both flat areas and edges. [-1, 1] floats.
static inline void synthetic_frame(float *x, int side, int seed)
{
    for (int y = 0; y < side; y++)
        for (int xx = 0; xx < side; xx++) {
            float fx = (float)xx / side, fy = (float)y / side;
            float dx = fx - 0.4f - 0.05f * seed, dy = fy - 0.55f;
            int disc = dx * dx + dy * dy < 0.06f, stripe = ((xx + 2 * y) / 9) % 2;
            float *p = x + ((size_t)y * side + xx) * 3;
            p[0] = disc ? 0.8f : 2 * fx - 1;
            p[1] = disc ? -0.3f : (stripe ? 0.5f : -0.5f) * fy;
            p[2] = 1 - 2 * fy * fx;
        }
}

#endif
