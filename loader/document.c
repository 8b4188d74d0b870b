// One record → LWM's token layout (lwm-format.md §2–3, training-time: one
// leading BOS with loss 0, no BOS per field, trailing EOS with loss 1).
#include <errno.h>
#include <string.h>

#include "internal.h"

int loader_doc_reserve(loader_doc *doc, const lwm_mem *mem, size_t need)
{
    if (need <= doc->cap) return 0;
    size_t cap = doc->cap ? doc->cap : 256;
    while (cap < need) cap *= 2;
    int32_t *t = lwm_malloc(mem, cap * sizeof *t);
    uint8_t *v = lwm_malloc(mem, cap), *l = lwm_malloc(mem, cap);
    if (!t || !v || !l) {
        lwm_free(mem, t), lwm_free(mem, v), lwm_free(mem, l);
        return -ENOMEM;
    }
    if (doc->n) {
        memcpy(t, doc->tokens, doc->n * sizeof *t);
        memcpy(v, doc->vision, doc->n);
        memcpy(l, doc->loss, doc->n);
    }
    lwm_free(mem, doc->tokens), lwm_free(mem, doc->vision), lwm_free(mem, doc->loss);
    doc->tokens = t, doc->vision = v, doc->loss = l, doc->cap = cap;
    return 0;
}

static int reserve(loader_doc *doc, const lwm_mem *mem, size_t more)
{
    return loader_doc_reserve(doc, mem, doc->n + more);
}

static int push(loader_doc *doc, const lwm_mem *mem, const int32_t *ids, size_t n, int vision,
                int loss)
{
    LWM_TRY(reserve(doc, mem, n));
    memcpy(doc->tokens + doc->n, ids, n * sizeof *ids);
    memset(doc->vision + doc->n, vision, n);
    memset(doc->loss + doc->n, loss, n);
    doc->n += n;
    return 0;
}

int64_t loader_frame_index(int64_t n, int64_t m, int64_t k)
{
    // np.linspace(0, n-1, m): step = (n-1)/(m-1) in float64, value k*step, the
    // last value exactly n-1; astype(int) truncates.
    if (m <= 1) return 0;
    if (k == m - 1) return n - 1;
    double step = (double)(n - 1) / (double)(m - 1);
    return (int64_t)((double)k * step);
}

static const loader_field *find_field(const loader_record *rec, const char *name, size_t len)
{
    for (int i = 0; i < rec->n_fields; i++)
        if (rec->field[i].name_len == len && memcmp(rec->field[i].name, name, len) == 0)
            return &rec->field[i];
    return NULL;
}

// Copies one frame's codes to int32 and returns their bitwise OR: a value
// >= 8192 means some code is out of range (found by the slow path).
__attribute__((optimize("tree-vectorize"))) static unsigned widen_codes(int32_t *dst,
                                                                        const uint16_t *c)
{
    unsigned any = 0;
    for (int i = 0; i < LWM_FRAME_CODES; i++) {
        dst[i] = c[i];
        any |= c[i];
    }
    return any;
}

static int push_vision(loader_doc *doc, const loader_field *f, int loss, const loader_build_opts *b,
                       const lwm_mem *mem, lwm_error *err)
{
    LWM_CHECK(err, f->n_codes > 0 && f->n_codes % LWM_FRAME_CODES == 0, LWM_EFORMAT,
              "vision field '%.*s' holds %lld codes, not a positive multiple of 256",
              (int)f->name_len, f->name, (long long)f->n_codes);
    int64_t n = f->n_codes / LWM_FRAME_CODES;
    int64_t keep = b->max_n_frames > 0 && n > b->max_n_frames ? b->max_n_frames : n;
    LWM_TRY(push(doc, mem, b->vision_open, (size_t)b->n_open, 0, loss));
    if (lwm_grow(mem, (void **)&doc->runs, &doc->cap_runs, 2 * (doc->n_runs + 1), sizeof(int64_t)) <
        0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    doc->runs[2 * doc->n_runs] = (int64_t)doc->n;
    doc->runs[2 * doc->n_runs++ + 1] = keep;
    LWM_TRY(reserve(doc, mem, (size_t)keep * (LWM_FRAME_CODES + 1)));
    for (int64_t k = 0; k < keep; k++) {
        int64_t src = keep == n ? k : loader_frame_index(n, keep, k);
        const uint16_t *c = f->codes + src * LWM_FRAME_CODES;
        int32_t *dst = doc->tokens + doc->n;
        if (widen_codes(dst, c) >= LWM_VISION_CODES)
            for (int i = 0; i < LWM_FRAME_CODES; i++)
                LWM_CHECK(err, c[i] < LWM_VISION_CODES, LWM_EFORMAT,
                          "vision field '%.*s': code %u at frame %lld is not below 8192",
                          (int)f->name_len, f->name, c[i], (long long)src);
        dst[LWM_FRAME_CODES] = k == keep - 1 ? LWM_VISION_EOV : LWM_VISION_EOF;
        memset(doc->vision + doc->n, 1, LWM_FRAME_CODES + 1);
        memset(doc->loss + doc->n, loss, LWM_FRAME_CODES + 1);
        doc->n += LWM_FRAME_CODES + 1;
    }
    return push(doc, mem, b->vision_close, (size_t)b->n_close, 0, loss);
}

// Stored token ids come from the file, not from our tokenizer: each must be a piece of it.
static int check_stored_ids(const loader_field *f, const loader_build_opts *b, lwm_error *err)
{
    uint32_t vocab = (uint32_t)loader_spm_vocab_size(b->spm);
    for (size_t i = 0; i < f->n_tokens; i++)
        LWM_CHECK(err, (uint32_t)f->tokens[i] < vocab, LWM_EFORMAT,
                  "text field '%.*s': stored token id %d at position %zu is outside the "
                  "tokenizer's %u pieces",
                  (int)f->name_len, f->name, f->tokens[i], i, vocab);
    return 0;
}

static int push_text(loader_doc *doc, const loader_record *rec, const loader_spec_item *it,
                     const loader_build_opts *b, const lwm_mem *mem, lwm_error *err)
{
    const loader_field *f[LOADER_MAX_PARTS];
    size_t total = 0;
    for (int p = 0; p < it->n_parts; p++) {
        f[p] = find_field(rec, it->part[p], it->part_len[p]);
        LWM_CHECK(err, f[p], LWM_ENOTFOUND, "field '%.*s' named in the spec is not in the record",
                  (int)it->part_len[p], it->part[p]);
        LWM_CHECK(err, !f[p]->is_vision || it->n_parts == 1, LWM_EINVAL,
                  "vision field '%.*s' cannot be joined with '+'", (int)it->part_len[p],
                  it->part[p]);
        total += f[p]->text_len + 1;
    }
    if (f[0]->is_vision) return push_vision(doc, f[0], it->loss, b, mem, err);
    if (it->n_parts == 1 && f[0]->tokens) {
        LWM_TRY(check_stored_ids(f[0], b, err));
        return push(doc, mem, f[0]->tokens, f[0]->n_tokens, 0, it->loss);
    }
    // Join the parts with the separator, then tokenize once (as LWM does).
    size_t sep = strlen(b->separator);
    LWM_CHECK(err, total <= LWM_MAX_TEXT_BYTES, LWM_EINVAL,
              "field '%.*s': %zu bytes of text, more than the %zu one document may tokenize",
              (int)it->part_len[0], it->part[0], total, LWM_MAX_TEXT_BYTES);
    char *joined = lwm_malloc(mem, total + sep * (size_t)it->n_parts + 1);
    if (!joined) return lwm_error_set(err, -ENOMEM, "out of memory");
    size_t at = 0;
    for (int p = 0; p < it->n_parts; p++) {
        if (p) {
            memcpy(joined + at, b->separator, sep);
            at += sep;
        }
        memcpy(joined + at, f[p]->text, f[p]->text_len);
        at += f[p]->text_len;
    }
    size_t n = 0;
    int rc = loader_spm_encode(b->spm, mem, joined, at, &doc->scratch, &n, &doc->scratch_cap);
    lwm_free(mem, joined);
    if (rc < 0)
        return lwm_error_set(err, rc, "tokenizer failed on field '%.*s'", (int)it->part_len[0],
                             it->part[0]);
    return push(doc, mem, doc->scratch, n, 0, it->loss);
}

int loader_doc_build(loader_doc *doc, const loader_record *rec, const loader_build_opts *b,
                     const lwm_mem *mem, lwm_error *err)
{
    doc->n = 0;
    doc->n_runs = 0;
    lwm_error_clear(err);
    loader_spec spec;
    int rc = loader_spec_parse(&spec, rec->spec, rec->spec_len, err);
    if (rc < 0) return lwm_error_prefix(err, "sample %s", rec->id);
    // Validate the whole spec before building anything: every name must exist.
    for (int i = 0; i < spec.n_items; i++)
        for (int p = 0; p < spec.item[i].n_parts; p++)
            if (!find_field(rec, spec.item[i].part[p], spec.item[i].part_len[p]))
                return lwm_error_set(
                    err, LWM_ENOTFOUND,
                    "sample %s: field '%.*s' named in spec '%.*s' is not in the record", rec->id,
                    (int)spec.item[i].part_len[p], spec.item[i].part[p], (int)rec->spec_len,
                    rec->spec);
    int32_t bos = b->bos, eos = b->eos;
    if ((rc = push(doc, mem, &bos, 1, 0, 0)) < 0) goto fail;
    for (int i = 0; i < spec.n_items; i++) {
        const loader_spec_item *it = &spec.item[i];
        if (it->kind == ITEM_BOS)
            rc = push(doc, mem, &bos, 1, 0, it->loss);
        else if (it->kind == ITEM_EOS)
            rc = push(doc, mem, &eos, 1, 0, it->loss);
        else
            rc = push_text(doc, rec, it, b, mem, err);
        if (rc < 0) goto fail;
    }
    if ((rc = push(doc, mem, &eos, 1, 0, 1)) < 0) goto fail;
    return 0;
fail:
    if (rc == -ENOMEM && !err->msg[0]) lwm_error_set(err, rc, "out of memory");
    return lwm_error_prefix(err, "sample %s", rec->id);
}

void loader_doc_release(loader_doc *doc, const lwm_mem *mem)
{
    lwm_free(mem, doc->tokens), lwm_free(mem, doc->vision), lwm_free(mem, doc->loss);
    lwm_free(mem, doc->runs), lwm_free(mem, doc->scratch);
    memset(doc, 0, sizeof *doc);
}
