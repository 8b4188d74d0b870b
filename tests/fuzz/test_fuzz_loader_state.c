// Fuzz: loader state bytes (lwm_loader_state_load) and state files (lwm_loader_state_read).
#include "fuzz.h"
#include "loader/loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lwm_loader_state s;
    lwm_error err = {0};
    uint8_t buf[LWM_LOADER_STATE_BYTES] = {0};
    memcpy(buf, data, size < sizeof buf ? size : sizeof buf);
    lwm_loader_state_load(&s, buf, &err);
    const char *path = fuzz_path("state");
    if (fuzz_write(path, data, size) == 0) {
        lwm_loader_state_read(path, &s, &err);
        unlink(path);
    }
    return 0;
}

// The state's XXH3 (bytes 72..79, little-endian, over bytes 0..71).
static inline void reseal(uint8_t *data, size_t size)
{
    if (size >= LWM_LOADER_STATE_BYTES) {
        uint64_t hash = lwm_hash64(data, 72);
        for (int i = 0; i < 8; i++) data[72 + i] = (uint8_t)(hash >> (8 * i));
    }
}
FUZZ_RESEAL_MUTANTS(reseal)

FUZZ_MAIN("loader_state")
