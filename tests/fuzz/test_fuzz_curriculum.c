// Fuzz: a curriculum config (lwm_loader_curriculum_load).
#include "fuzz.h"
#include "loader/loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("curriculum.json");
    if (fuzz_write(path, data, size) < 0) return 0;
    lwm_loader_stage *stages = NULL;
    int n = 0;
    lwm_error err = {0};
    if (lwm_loader_curriculum_load(path, NULL, &stages, &n, &err) == 0) lwm_free(NULL, stages);
    unlink(path);
    return 0;
}

FUZZ_MAIN("curriculum")
