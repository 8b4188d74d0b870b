// Fuzz: one line of an ingest manifest (lwm_ingest_sample_parse).
#include "fuzz.h"
#include "ingest/ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lwm_ingest_sample s;
    lwm_error err = {0};
    if (lwm_ingest_sample_parse(&s, (const char *)data, size, 7, "/media", NULL, &err) == 0)
        lwm_ingest_sample_release(&s, NULL);
    return 0;
}

FUZZ_MAIN("ingest_line")
