// Fuzz: a dataset's manifest.json (shard/manifest.c shard_manifest_load).
#include "fuzz.h"
#include "shard/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_path("ds");
    char path[600];
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (fuzz_write(path, data, size) < 0) return 0;
    shard_manifest m;
    lwm_error err = {0};
    if (shard_manifest_load(&m, NULL, dir, &err) == 0) { // on failure it released m itself
        lwm_shard_info info;
        shard_manifest_info(&m, &info);
        shard_manifest_release(&m, NULL);
    }
    unlink(path);
    rmdir(dir);
    return 0;
}

FUZZ_MAIN("shard_manifest")
