// Fuzz: a needles file (lwm needle make's JSONL) as lwm eval needle reads it before anything
// else (eval/needle_eval.c: every line's id, answer, length, depth and tokenizer hash).
#include "fuzz.h"
#include "eval/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("needles.jsonl");
    if (fuzz_write(path, data, size) < 0) return 0;
    eval_run e;
    memset(&e, 0, sizeof e);
    lwm_error err = {0};
    if (eval_read_samples(&e, path, &err) == 0 && e.n > 0 && e.s[0].r.length < 2) abort();
    lwm_free(NULL, e.s);
    unlink(path);
    return 0;
}

FUZZ_MAIN("needles")
