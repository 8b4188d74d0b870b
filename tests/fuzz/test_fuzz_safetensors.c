// Fuzz: safetensors headers (common/safetensors.c) as the vqgan weights reader and the
// trainer's safetensors_read use them. Every tensor the parser accepts is read in full from an
// exact-size copy of the input, so a bound the parser got wrong is an ASan error.
#include "common/common.h"
#include "fuzz.h"
#include "train/layout_fixture.h"
#include "vqgan/internal.h"

static train_layout *layout(void)
{
    static train_layout lay;
    return lay.ntensors ? &lay : layout_fixture(&lay, "w", 4, 8, "b", 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lwm_st_header h;
    lwm_error err = {0};
    if (lwm_st_parse(&h, data, size, "fuzz", NULL, &err) == 0) {
        volatile uint8_t sink = 0;
        for (int i = 0; i < h.n; i++)
            for (size_t b = 0; b < h.tensors[i].bytes; b++) sink ^= data[h.tensors[i].offset + b];
        (void)sink;
        lwm_st_release(&h);
    }
    const char *path = fuzz_path("st");
    if (fuzz_write(path, data, size) == 0) {
        float params[40];
        safetensors_read(path, layout(), params, &err);
        vq_file f;
        if (vqgan_file_open(&f, path, NULL, &err) == 0) vqgan_file_close(&f);
        unlink(path);
    }
    return 0;
}

FUZZ_MAIN("safetensors")
