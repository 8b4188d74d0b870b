// The SentencePiece tokenizer behind C functions: the loader's one C++ file.
// Exceptions never cross into C: the library reports through util::Status,
// and allocation failures inside std::vector are caught here.
#include <sentencepiece_processor.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "internal.h"
}

struct loader_spm {
    sentencepiece::SentencePieceProcessor proc;
};

extern "C" int loader_spm_load(loader_spm **out, const char *data, size_t size, const char *path,
                               lwm_error *err)
{
    *out = nullptr;
    loader_spm *spm = new (std::nothrow) loader_spm;
    if (!spm) return lwm_error_set(err, -ENOMEM, "%s: out of memory loading tokenizer", path);
    sentencepiece::util::Status status;
    try { // parsing may allocate (std::bad_alloc); nothing may cross into C
        status = spm->proc.LoadFromSerializedProto(absl::string_view(data, size));
    } catch (const std::exception &e) {
        delete spm;
        return lwm_error_set(err, -ENOMEM, "%s: loading the tokenizer failed: %s", path, e.what());
    }
    if (!status.ok()) {
        std::string why = status.ToString();
        delete spm;
        return lwm_error_set(err, LWM_EFORMAT, "%s: not a SentencePiece model: %s", path,
                             why.c_str());
    }
    *out = spm;
    return 0;
}

extern "C" void loader_spm_free(loader_spm *spm)
{
    delete spm;
}

extern "C" int loader_spm_encode(const loader_spm *spm, const lwm_mem *mem, const char *text,
                                 size_t len, int32_t **ids, size_t *n, size_t *cap)
{
    try {
        std::vector<int> out;
        auto status = spm->proc.Encode(absl::string_view(text, len), &out);
        if (!status.ok()) return LWM_EINVAL;
        int rc =
            lwm_grow(mem, reinterpret_cast<void **>(ids), cap, out.size() + 1, sizeof(int32_t));
        if (rc < 0) return rc;
        for (size_t i = 0; i < out.size(); i++) (*ids)[i] = out[i];
        *n = out.size();
        return 0;
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    }
}

extern "C" int loader_spm_decode(const loader_spm *spm, const int32_t *ids, size_t n, char *out,
                                 size_t cap)
{
    if (cap == 0) return LWM_EINVAL;
    try {
        std::vector<int> in(ids, ids + n);
        std::string text;
        auto status = spm->proc.Decode(in, &text);
        if (!status.ok()) return LWM_EINVAL;
        size_t m = text.size() < cap - 1 ? text.size() : cap - 1;
        std::memcpy(out, text.data(), m);
        out[m] = '\0';
        return 0;
    } catch (const std::bad_alloc &) {
        return -ENOMEM;
    }
}

extern "C" int loader_spm_vocab_size(const loader_spm *spm)
{
    return spm->proc.GetPieceSize();
}
extern "C" int loader_spm_bos_id(const loader_spm *spm)
{
    return spm->proc.bos_id();
}
extern "C" int loader_spm_eos_id(const loader_spm *spm)
{
    return spm->proc.eos_id();
}
