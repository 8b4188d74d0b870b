// Fuzz: pretrained checkpoints as `lwm train --init` and `lwm export` read them
// (train/import_hf.c, train/weights.c, train/export.c). The first input byte picks the file
// the rest of the input replaces in a valid tiny Hugging Face model directory: 0 config.json,
// 1 model.safetensors.index.json (then read with its shards), 2 model.safetensors; 3 makes it a
// weights file of the trainer (its __metadata__ model record), imported and exported.
#include <sys/stat.h>

#include "fuzz.h"
#include "train/internal.h"

static const train_model_shape SHAPE = {8, 1, 2, 8, 6, 4, 1e-5};

// A valid tiny model: the trainer's weights (with metadata) and their HF export in dir.
static int make_fixture(const char *dir, const char *weights, train_layout *lay, float **params)
{
    static float p[4096];
    lwm_error err = {0};
    if (train_layout_build(lay, &SHAPE, &err) < 0 || lay->total > 4096) return -1;
    for (size_t i = 0; i < lay->total; i++) p[i] = (float)(i % 7) * 0.01f;
    *params = p;
    train_config cfg = {.model = SHAPE, .nstages = 1};
    cfg.stages[0] = (train_stage){16, 10000, 16, 16};
    train_weights_info info;
    train_weights_info_fill(&info, &cfg, 0, 0, "");
    if (safetensors_write(weights, lay, p, &info, &err) < 0) return -1;
    return lwm_train_export(weights, "hf", dir, NULL, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[512], weights[512], target[700], saved[720];
    static train_layout lay;
    static float *params;
    static int ready;
    if (!ready) {
        snprintf(dir, sizeof dir, "%s", fuzz_path("hf"));
        snprintf(weights, sizeof weights, "%s", fuzz_path("weights"));
        mkdir(dir, 0755);
        if (make_fixture(dir, weights, &lay, &params) < 0) return 0;
        ready = 1;
    }
    if (size < 1) return 0;
    static const char *const files[3] = {"config.json", "model.safetensors.index.json",
                                         "model.safetensors"};
    int which = data[0] % 4;
    lwm_error err = {0};
    if (which == 3) {
        snprintf(target, sizeof target, "%s", fuzz_path("lwm.safetensors"));
        if (fuzz_write(target, data + 1, size - 1) == 0) {
            train_import(target, &SHAPE, &lay, params, NULL, &err);
            lwm_train_export(target, "lwm", fuzz_path("out"), NULL, &err);
            unlink(target);
        }
        return 0;
    }
    snprintf(target, sizeof target, "%s/%s", dir, files[which]);
    snprintf(saved, sizeof saved, "%s.saved", target);
    if (which != 1) rename(target, saved); // the fixture's own file, put back below
    if (fuzz_write(target, data + 1, size - 1) == 0)
        train_import(dir, &SHAPE, &lay, params, NULL, &err);
    if (which != 1)
        rename(saved, target);
    else
        unlink(target);
    return 0;
}

FUZZ_MAIN("hf_checkpoint")
