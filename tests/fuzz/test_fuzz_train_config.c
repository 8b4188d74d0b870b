// Fuzz: a training config (train/config.c train_config_parse), then the parameter layout
// of the model it describes (the products the range checks keep inside size_t and int).
#include "fuzz.h"
#include "train/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("config.json");
    if (fuzz_write(path, data, size) < 0) return 0;
    static train_config cfg;
    static train_layout lay;
    lwm_error err = {0};
    if (train_config_parse(&cfg, path, &err) == 0) train_layout_build(&lay, &cfg.model, &err);
    unlink(path);
    return 0;
}

FUZZ_MAIN("train_config")
