// Fuzz: an LWM JSONL file (loader/source_jsonl.c), and the document of every record it
// accepts (spec parsing, vision runs, stored codes) with a tiny tokenizer trained once.
#include "fuzz.h"
#include "loader/internal.h"

static const loader_spm *tokenizer(void)
{
    static loader_spm *spm;
    static int tried;
    if (tried) return spm;
    tried = 1;
    lwm_error err = {0};
    char hash[33];
    const char *corpus = fuzz_path("corpus.txt"), *prefix = fuzz_path("spm");
    FILE *f = fopen(corpus, "w");
    if (!f) return NULL;
    for (int i = 0; i < 200; i++) fprintf(f, "a dog runs <vision> </vision> the cat %d\n", i % 10);
    fclose(f);
    char cmd[2048], model[600];
    snprintf(cmd, sizeof cmd,
             "spm_train --input=%s --model_prefix=%s --vocab_size=40 "
             "--hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1",
             corpus, prefix);
    snprintf(model, sizeof model, "%s.model", prefix);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz jsonl: spm_train failed: %s\n", cmd);
    else if (loader_spm_open(&spm, hash, model, &err) < 0)
        fprintf(stderr, "fuzz jsonl: %s\n", err.msg);
    unlink(corpus), unlink(model);
    snprintf(model, sizeof model, "%s.vocab", prefix);
    unlink(model);
    return spm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const loader_spm *spm = tokenizer();
    if (!spm) return 0;
    const char *path = fuzz_path("data.jsonl");
    if (fuzz_write(path, data, size) < 0) return 0;
    loader_build_opts b = {.separator = " ",
                           .max_n_frames = 3,
                           .spm = spm,
                           .bos = loader_spm_bos_id(spm),
                           .eos = loader_spm_eos_id(spm)};
    loader_source src;
    lwm_error err = {0};
    if (loader_source_jsonl_open(&src, path, &b, NULL, &err) == 0) {
        loader_doc doc;
        memset(&doc, 0, sizeof doc);
        for (int64_t i = 0; i < src.count; i++) {
            loader_record rec;
            if (src.read(src.impl, i, &rec, &err) == 0)
                loader_doc_build(&doc, &rec, &b, NULL, &err);
        }
        loader_doc_release(&doc, NULL);
        src.close(src.impl);
    }
    unlink(path);
    return 0;
}

FUZZ_MAIN("jsonl")
