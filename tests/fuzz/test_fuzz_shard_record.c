// Fuzz: one stored shard record value (shard/record.c shard_record_decode), then every field
// of the decoded sample is read.
#include "fuzz.h"
#include "shard/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shard_decoder d;
    memset(&d, 0, sizeof d);
    lwm_error err = {0};
    if (shard_record_decode(&d, NULL, data, size, &err) == 0) {
        const lwm_shard_sample *s = &d.sample;
        volatile size_t sink = strlen(s->id ? s->id : "") + strlen(s->fields ? s->fields : "");
        for (int i = 0; i < s->n_texts; i++) {
            sink += strlen(s->texts[i].name) + strlen(s->texts[i].text);
            for (int64_t t = 0; t < s->texts[i].n_tokens; t++)
                sink += (size_t)s->texts[i].tokens[t];
        }
        for (int64_t c = 0; c < s->frames * LWM_SHARD_CODES_PER_FRAME; c++) sink += s->codes[c];
        for (int64_t f = 0; s->timestamps && f < s->frames; f++) sink += (size_t)s->timestamps[f];
        (void)sink;
    }
    shard_decoder_release(NULL, &d);
    return 0;
}

FUZZ_MAIN("shard_record")
