// Fuzz: checkpoint.bin (train/checkpoint.c ckpt_read) for a two-tensor model.
#include "fuzz.h"
#include "train/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static train_layout lay;
    if (!lay.ntensors) {
        lay.ntensors = 2;
        snprintf(lay.t[0].name, sizeof lay.t[0].name, "wte");
        lay.t[0].rank = 2, lay.t[0].shape[0] = 2, lay.t[0].shape[1] = 4, lay.t[0].size = 8;
        snprintf(lay.t[1].name, sizeof lay.t[1].name, "ln_f");
        lay.t[1].rank = 1, lay.t[1].shape[0] = 4, lay.t[1].offset = 8, lay.t[1].size = 4;
        lay.total = 12;
    }
    const char *path = fuzz_path("ckpt");
    if (fuzz_write(path, data, size) < 0) return 0;
    ckpt_state st = {.shape = {4, 1, 1, 4, 2, 2}};
    char src[256];
    float p[12], m[12], v[12];
    lwm_error err = {0};
    ckpt_read(path, NULL, &st, src, sizeof src, &lay, p, m, v, &err);
    unlink(path);
    return 0;
}

FUZZ_MAIN("checkpoint")
