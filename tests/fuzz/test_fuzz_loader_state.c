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

FUZZ_MAIN("loader_state")
