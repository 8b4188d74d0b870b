// Fuzz: checkpoint.bin (train/checkpoint.c ckpt_read) for a two-tensor model.
#include "fuzz.h"
#include "train/layout_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static train_layout lay;
    if (!lay.ntensors) layout_fixture(&lay, "wte", 2, 4, "ln_f", 4);
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

// The trailing XXH3-128 hex over bytes 12..size-32, as ckpt_write computes it.
static inline void reseal(uint8_t *data, size_t size)
{
    lwm_hasher h;
    if (size >= 12 + 32 && lwm_hasher_init(&h) == 0) {
        char hex[33];
        lwm_hasher_update(&h, data + 12, size - 12 - 32);
        lwm_hasher_final(&h, hex);
        memcpy(data + size - 32, hex, 32);
    }
}
FUZZ_RESEAL_MUTANTS(reseal)

FUZZ_MAIN("checkpoint")
