// The loader context: create (datasets, tokenizer, lengths, curriculum),
// next (global rows → this rank's batch), free.
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"

// ---- Tokenizer and datasets ----------------------------------------------

static int encode_delimiter(lwm_loader *ld, const char *text, int32_t *out, int *n)
{
    int32_t *ids = NULL;
    size_t len = 0, cap = 0;
    int rc = loader_spm_encode(ld->spm, &ld->mem, text, strlen(text), &ids, &len, &cap);
    if (rc >= 0 && (len == 0 || len > 32)) rc = LWM_EINVAL;
    if (rc >= 0) memcpy(out, ids, len * sizeof *ids), *n = (int)len;
    lwm_free(&ld->mem, ids);
    LWM_CHECK(&ld->err, rc >= 0, rc, "tokenizer cannot encode '%s'", text);
    return 0;
}

static int open_tokenizer(lwm_loader *ld, const char *path)
{
    LWM_CHECK(&ld->err, path, LWM_EINVAL,
              "a tokenizer is needed to tokenize text (give a SentencePiece .model)");
    LWM_TRY(loader_spm_open(&ld->spm, ld->tokenizer_hash, path, &ld->err));
    loader_build_opts *b = &ld->build;
    b->spm = ld->spm;
    b->bos = loader_spm_bos_id(ld->spm) >= 0 ? loader_spm_bos_id(ld->spm) : LWM_TEXT_BOS;
    b->eos = loader_spm_eos_id(ld->spm) >= 0 ? loader_spm_eos_id(ld->spm) : LWM_TEXT_EOS;
    // <vision> and </vision> are plain text to the tokenizer (lwm-format.md §1.3).
    LWM_TRY(encode_delimiter(ld, "<vision>", b->vision_open, &b->n_open));
    LWM_TRY(encode_delimiter(ld, "</vision>", b->vision_close, &b->n_close));
    return 0;
}

// A directory is a store (shard/); a file is LWM's JSONL.
static int open_datasets(lwm_loader *ld)
{
    for (int d = 0; d < ld->opt.n_datasets; d++) {
        const char *path = ld->dataset_path[d];
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            LWM_TRY(loader_source_shard_open(&ld->src[d], path, &ld->build, ld->tokenizer_hash,
                                             &ld->mem, &ld->err));
        else
            LWM_TRY(loader_source_jsonl_open(&ld->src[d], path, &ld->build, &ld->mem, &ld->err));
        ld->n_src++;
    }
    return 0;
}

// ---- Curriculum and buffers ---------------------------------------------

static int check_stages(lwm_loader *ld)
{
    const lwm_loader_options *o = &ld->opt;
    int P = o->sp_size, D = o->dp_size;
    for (int s = 0; s < ld->n_stages; s++) {
        const lwm_loader_stage *st = &ld->stages[s];
        LWM_CHECK(&ld->err, st->seq_len >= 2 && st->seq_len <= INT32_MAX, LWM_EINVAL,
                  "stage %d: seq_len %lld out of range", s, (long long)st->seq_len);
        LWM_CHECK(&ld->err, st->tokens_per_batch > 0 && st->tokens_per_batch % st->seq_len == 0,
                  LWM_EINVAL, "stage %d: tokens_per_batch %lld is not a multiple of seq_len %lld",
                  s, (long long)st->tokens_per_batch, (long long)st->seq_len);
        LWM_CHECK(&ld->err, st->total_tokens <= INT64_MAX - st->tokens_per_batch, LWM_EINVAL,
                  "stage %d: total_tokens %lld out of range", s, (long long)st->total_tokens);
        int64_t rows = st->tokens_per_batch / st->seq_len;
        LWM_CHECK(&ld->err, rows % D == 0, LWM_EINVAL,
                  "stage %d: %lld rows per batch do not split over %d data-parallel ranks", s,
                  (long long)rows, D);
        int64_t unit = o->ring_layout == LWM_RING_ZIGZAG ? 2 * P : P;
        LWM_CHECK(&ld->err, st->seq_len % unit == 0, LWM_EINVAL,
                  "stage %d: seq_len %lld is not a multiple of %lld (%s layout over %d ranks)", s,
                  (long long)st->seq_len, (long long)unit,
                  o->ring_layout == LWM_RING_ZIGZAG ? "zigzag" : "contiguous", P);
        if (st->seq_len + 1 > ld->row_cap) ld->row_cap = st->seq_len + 1;
        if (rows / D * (st->seq_len / P) > ld->batch_cap)
            ld->batch_cap = rows / D * (st->seq_len / P);
    }
    return 0;
}

// Large buffers ask for transparent huge pages: first-touching a 1M-token
// batch in 4 KiB pages costs thousands of page faults (most of the time to
// the first batch on a virtual machine). Advice only; failure is harmless.
void loader_advise_huge(void *p, size_t n)
{
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), b = ((uintptr_t)p + n) & ~(huge - 1);
    if (p && b > a) madvise((void *)a, b - a, MADV_HUGEPAGE);
}

int loader_batch_alloc(const lwm_loader *ld, lwm_loader_batch *bt)
{
    const lwm_mem *m = &ld->mem;
    size_t n = (size_t)ld->row_cap, b = (size_t)ld->batch_cap, rows = (size_t)ld->rows_cap;
    bt->input_tokens = lwm_malloc(m, b * 4), bt->target_tokens = lwm_malloc(m, b * 4);
    bt->loss_masks = lwm_malloc(m, b * 4), bt->input_vision_masks = lwm_malloc(m, b);
    bt->target_vision_masks = lwm_malloc(m, b), bt->segment_ids = lwm_malloc(m, b * 4);
    bt->positions = lwm_malloc(m, b * 4), bt->global_index = lwm_malloc(m, n * 4);
    bt->row_segment_ids = lwm_malloc(m, rows * 4);
    int ok = bt->input_tokens && bt->target_tokens && bt->loss_masks && bt->input_vision_masks &&
             bt->target_vision_masks && bt->segment_ids && bt->positions && bt->global_index &&
             bt->row_segment_ids;
    if (!ok) return -ENOMEM;
    void *big[] = {bt->input_tokens, bt->target_tokens, bt->loss_masks,
                   bt->segment_ids,  bt->positions,     bt->row_segment_ids};
    for (int i = 0; i < 6; i++) loader_advise_huge(big[i], (i == 5 ? rows : b) * 4);
    loader_advise_huge(bt->input_vision_masks, b), loader_advise_huge(bt->target_vision_masks, b);
    return 0;
}

size_t loader_batch_bytes(const lwm_loader *ld)
{
    return (size_t)ld->batch_cap * 22 + (size_t)ld->row_cap * 4 + (size_t)ld->rows_cap * 4;
}

void loader_batch_release(const lwm_loader *ld, lwm_loader_batch *b)
{
    const lwm_mem *m = &ld->mem;
    lwm_free(m, b->input_tokens), lwm_free(m, b->target_tokens), lwm_free(m, b->loss_masks);
    lwm_free(m, b->input_vision_masks), lwm_free(m, b->target_vision_masks);
    lwm_free(m, b->segment_ids), lwm_free(m, b->positions), lwm_free(m, b->global_index);
    lwm_free(m, b->row_segment_ids);
}

static int alloc_buffers(lwm_loader *ld)
{
    const lwm_mem *m = &ld->mem;
    size_t n = (size_t)ld->row_cap;
    for (int s = 0; s < ld->n_stages; s++) {
        int64_t r = ld->stages[s].tokens_per_batch / ld->stages[s].seq_len / ld->opt.dp_size;
        if (r * ld->stages[s].seq_len > ld->rows_cap) ld->rows_cap = r * ld->stages[s].seq_len;
    }
    loader_row *r = &ld->row_own;
    r->input = lwm_malloc(m, n * 4), r->target = lwm_malloc(m, n * 4);
    r->segment = lwm_malloc(m, n * 4), r->position = lwm_malloc(m, n * 4);
    r->loss = lwm_malloc(m, n * 4), r->input_vision = lwm_malloc(m, n);
    r->target_vision = lwm_malloc(m, n);
    ld->stream_tokens = lwm_malloc(m, n * 4), ld->stream_vision = lwm_malloc(m, n);
    ld->stream_loss = lwm_malloc(m, n);
    int ok = r->input && r->target && r->segment && r->position && r->loss && r->input_vision &&
             r->target_vision && ld->stream_tokens && ld->stream_vision && ld->stream_loss;
    if (ok && !ld->opt.prefetch_bytes) ok = loader_batch_alloc(ld, &ld->batch) == 0;
    LWM_CHECK(&ld->err, ok, -ENOMEM, "out of memory for row buffers (%zu positions)", n);
    ld->row = ld->row_own;
    return 0;
}

// One document buffer sized for the longest document: no regrowth (and no
// copying of a growing 1M-token video) while streaming.
static int reserve_doc(lwm_loader *ld)
{
    uint32_t longest = 0;
    for (int64_t i = 0; i < ld->len.n_docs; i++)
        if (ld->len.n_tokens[i] > longest) longest = ld->len.n_tokens[i];
    LWM_CHECK(&ld->err, loader_doc_reserve(&ld->doc, &ld->mem, longest) == 0, -ENOMEM,
              "out of memory for a document of %u tokens", longest);
    loader_advise_huge(ld->doc.tokens, (size_t)longest * 4);
    return 0;
}

// ---- Create / free -------------------------------------------------------

static int copy_options(lwm_loader *ld, const lwm_loader_options *opt)
{
    ld->opt = *opt;
    lwm_loader_options *o = &ld->opt;
    LWM_CHECK(&ld->err, o->n_datasets >= 1 && o->n_datasets <= LOADER_MAX_DATASETS && o->datasets,
              LWM_EINVAL, "between 1 and %d datasets, got %d", LOADER_MAX_DATASETS, o->n_datasets);
    LWM_CHECK(&ld->err, o->layout >= LWM_LAYOUT_PACKED && o->layout <= LWM_LAYOUT_PAD, LWM_EINVAL,
              "unknown layout %d", (int)o->layout);
    if (o->dp_size <= 0) o->dp_size = 1;
    if (o->sp_size <= 0) o->sp_size = 1;
    LWM_CHECK(&ld->err, o->dp_rank >= 0 && o->dp_rank < o->dp_size, LWM_EINVAL,
              "data-parallel rank %d outside 0..%d", o->dp_rank, o->dp_size - 1);
    LWM_CHECK(&ld->err, o->sp_rank >= 0 && o->sp_rank < o->sp_size, LWM_EINVAL,
              "sequence-parallel rank %d outside 0..%d", o->sp_rank, o->sp_size - 1);
    for (int d = 0; d < o->n_datasets; d++) {
        ld->dataset_path[d] = lwm_strdup(&ld->mem, o->datasets[d]);
        LWM_CHECK(&ld->err, ld->dataset_path[d], -ENOMEM, "out of memory");
        ld->weights[d] = o->weights ? o->weights[d] : 1.0;
    }
    ld->default_spec = o->fields_spec ? lwm_strdup(&ld->mem, o->fields_spec) : NULL;
    ld->separator = lwm_strdup(&ld->mem, o->subfield_separator ? o->subfield_separator : " ");
    LWM_CHECK(&ld->err, ld->separator && (ld->default_spec || !o->fields_spec), -ENOMEM,
              "out of memory");
    o->datasets = NULL, o->weights = NULL, o->fields_spec = NULL, o->subfield_separator = NULL;
    ld->cache_dir = o->cache_dir ? lwm_strdup(&ld->mem, o->cache_dir) : NULL;
    LWM_CHECK(&ld->err, ld->cache_dir || !o->cache_dir, -ENOMEM, "out of memory");
    o->tokenizer = NULL, o->stages = NULL, o->cache_dir = NULL;
    ld->build = (loader_build_opts){.force_fields_index = o->force_fields_index,
                                    .fields_index = o->fields_index,
                                    .default_spec = ld->default_spec,
                                    .separator = ld->separator,
                                    .max_n_frames = o->max_n_frames};
    ld->window_docs = o->pack_window > 0 ? o->pack_window : 4096;
    return 0;
}

static int copy_stages(lwm_loader *ld, const lwm_loader_options *opt)
{
    lwm_loader_stage one = {opt->seq_len, 0, opt->seq_len * (opt->rows > 0 ? opt->rows : 1), 0};
    const lwm_loader_stage *from = opt->stages ? opt->stages : &one;
    ld->n_stages = opt->stages ? opt->n_stages : 1;
    LWM_CHECK(&ld->err, ld->n_stages >= 1, LWM_EINVAL, "no curriculum stage");
    ld->stages = lwm_calloc(&ld->mem, (size_t)ld->n_stages, sizeof *ld->stages);
    LWM_CHECK(&ld->err, ld->stages, -ENOMEM, "out of memory");
    memcpy(ld->stages, from, (size_t)ld->n_stages * sizeof *from);
    return check_stages(ld);
}

static int create(lwm_loader *ld, const lwm_loader_options *opt, const lwm_loader_state *state)
{
    double t0 = lwm_now();
    LWM_TRY(copy_options(ld, opt));
    LWM_TRY(copy_stages(ld, opt));
    char tokenizer[4096];
    LWM_TRY(lwm_loader_tokenizer_resolve((const char *const *)ld->dataset_path, ld->opt.n_datasets,
                                         opt->tokenizer, opt->force_tokenizer, tokenizer,
                                         sizeof tokenizer, &ld->err));
    LWM_TRY(open_tokenizer(ld, tokenizer));
    LWM_TRY(open_datasets(ld));
    LWM_TRY(loader_lengths_compute(ld));
    int64_t sizes[LOADER_MAX_DATASETS];
    for (int d = 0; d < ld->n_src; d++) sizes[d] = ld->src[d].count;
    LWM_TRY(loader_order_init(&ld->order, sizes, ld->weights, ld->n_src, &ld->mem, &ld->err));
    ld->order.seed = ld->opt.seed;
    ld->order.shuffle = !ld->opt.no_shuffle;
    LWM_TRY(alloc_buffers(ld));
    LWM_TRY(reserve_doc(ld));
    LWM_TRY(loader_resume(ld, state));
    ld->plan.epoch = ld->plan.window = -1;
    ld->consumed = ld->st;
    if (ld->opt.prefetch_bytes) LWM_TRY(loader_prefetch_start(ld));
    ld->info.n_stages = ld->n_stages;
    ld->info.startup_seconds = lwm_now() - t0;
    return 0;
}

int lwm_loader_create(lwm_loader **out, const lwm_loader_options *opt,
                      const lwm_loader_state *state, lwm_error *err)
{
    *out = NULL;
    lwm_loader *ld = lwm_calloc(&opt->mem, 1, sizeof *ld);
    if (!ld) return lwm_error_set(err, -ENOMEM, "out of memory");
    ld->mem = opt->mem;
    ld->doc_id = -1;
    int rc = create(ld, opt, state);
    if (rc < 0) {
        if (err) *err = ld->err;
        if (err && !err->msg[0]) lwm_error_set(err, rc, "%s", lwm_strerror(rc));
        lwm_loader_free(ld);
        return rc;
    }
    *out = ld;
    return 0;
}

void lwm_loader_free(lwm_loader *ld)
{
    if (!ld) return;
    loader_prefetch_stop(ld);
    lwm_mem mem = ld->mem;
    for (int d = 0; d < ld->n_src; d++) ld->src[d].close(ld->src[d].impl);
    loader_spm_free(ld->spm);
    loader_plan_release(&ld->plan, &mem);
    loader_order_release(&ld->order, &mem);
    loader_doc_release(&ld->doc, &mem);
    lwm_free(&mem, ld->len.n_tokens), lwm_free(&mem, ld->len.run_off), lwm_free(&mem, ld->len.runs);
    lwm_free(&mem, ld->len.loss_off), lwm_free(&mem, ld->len.loss_runs);
    loader_row *r = &ld->row_own;
    lwm_free(&mem, r->input), lwm_free(&mem, r->target), lwm_free(&mem, r->segment);
    lwm_free(&mem, r->position), lwm_free(&mem, r->loss), lwm_free(&mem, r->input_vision);
    lwm_free(&mem, r->target_vision);
    lwm_free(&mem, ld->stream_tokens), lwm_free(&mem, ld->stream_vision);
    lwm_free(&mem, ld->stream_loss);
    loader_batch_release(ld, &ld->batch);
    for (int d = 0; d < LOADER_MAX_DATASETS; d++) lwm_free(&mem, ld->dataset_path[d]);
    lwm_free(&mem, ld->default_spec), lwm_free(&mem, ld->separator), lwm_free(&mem, ld->stages);
    lwm_free(&mem, ld->cache_dir);
    lwm_free(&mem, ld);
}

// ---- Next ----------------------------------------------------------------

// Which whole-row index each of this rank's local positions holds.
static void ring_index(int32_t *out, int64_t L, int P, int r, int zigzag)
{
    int64_t c = L / P, h = c / 2;
    for (int64_t i = 0; i < c; i++) {
        if (!zigzag)
            out[i] = (int32_t)(r * c + i);
        else
            out[i] = (int32_t)(i < h ? r * h + i : (2 * P - 1 - r) * h + (i - h));
    }
}

// Copies positions [from, from + n) of the whole row to local positions at.
static void copy_range(lwm_loader_batch *b, const loader_row *r, int64_t at, int64_t from,
                       int64_t n)
{
    size_t w = (size_t)n * 4;
    memcpy(b->input_tokens + at, r->input + from, w);
    memcpy(b->target_tokens + at, r->target + from, w);
    memcpy(b->loss_masks + at, r->loss + from, w);
    memcpy(b->input_vision_masks + at, r->input_vision + from, (size_t)n);
    memcpy(b->target_vision_masks + at, r->target_vision + from, (size_t)n);
    memcpy(b->segment_ids + at, r->segment + from, w);
    memcpy(b->positions + at, r->position + from, w);
}

// This rank's positions of the whole row: one range (contiguous) or two (zigzag).
static void slice_row(lwm_loader *ld, lwm_loader_batch *b, int64_t k)
{
    const loader_row *r = &ld->row;
    int64_t base = k * b->len;
    if (r->input != b->input_tokens + base) { // else the row was built in place
        int64_t half = ld->opt.ring_layout == LWM_RING_ZIGZAG ? b->len / 2 : b->len;
        for (int64_t i = 0; i < b->len; i += half)
            copy_range(b, r, base + i, b->global_index[i], half);
    }
    memcpy(b->row_segment_ids + k * b->seq_len, r->segment, (size_t)b->seq_len * sizeof(int32_t));
    int64_t i = 0;
    while (i < b->seq_len && r->loss[i] == 0) i++;
    b->rows_no_loss += i == b->seq_len;
    b->documents += r->documents;
    b->documents_split += r->split;
    b->padding_fraction += (double)r->padding;
}

// Without sequence parallelism a row is built straight into the batch.
static void point_row(lwm_loader *ld, lwm_loader_batch *b, int64_t k)
{
    loader_row *r = &ld->row;
    if (ld->opt.sp_size != 1) {
        *r = ld->row_own;
        return;
    }
    int64_t at = k * b->len;
    r->input = b->input_tokens + at, r->target = b->target_tokens + at;
    r->loss = b->loss_masks + at, r->input_vision = b->input_vision_masks + at;
    r->target_vision = b->target_vision_masks + at, r->segment = b->segment_ids + at;
    r->position = b->positions + at;
}

int loader_generate(lwm_loader *ld, lwm_loader_batch *b)
{
    lwm_loader_state *st = &ld->st;
    while (st->stage < ld->n_stages && st->step >= lwm_loader_stage_steps(&ld->stages[st->stage])) {
        st->stage++; // seed and hashes stay; the cursor restarts
        st->epoch = st->window = st->row = st->step = st->tokens = 0;
        ld->plan.epoch = -1;
        if (st->stage < ld->n_stages)
            lwm_log(&ld->opt.log, LWM_LOG_INFO, "curriculum: stage %d (seq_len %lld)", st->stage,
                    (long long)ld->stages[st->stage].seq_len);
    }
    if (st->stage >= ld->n_stages) return LWM_EOF;
    const lwm_loader_stage *stage = &ld->stages[st->stage];
    const lwm_loader_options *o = &ld->opt;
    int64_t rows = stage->tokens_per_batch / stage->seq_len, mine = rows / o->dp_size;
    b->seq_len = stage->seq_len;
    b->rows = mine;
    b->len = stage->seq_len / o->sp_size;
    b->stage = st->stage;
    b->rope_theta = stage->rope_theta;
    b->epoch = st->epoch;
    b->step = st->step;
    b->documents = b->documents_split = b->rows_no_loss = 0;
    b->padding_fraction = 0;
    b->run_step = st->step, b->run_row = st->step * rows + o->dp_rank * mine;
    for (int s = 0; s < st->stage; s++) { // earlier stages ran to their end (saturating)
        int64_t n = lwm_loader_stage_steps(&ld->stages[s]);
        int64_t r = n * (ld->stages[s].tokens_per_batch / ld->stages[s].seq_len);
        b->run_step = n < INT64_MAX - b->run_step ? b->run_step + n : INT64_MAX;
        b->run_row = r < INT64_MAX - b->run_row ? b->run_row + r : INT64_MAX;
    }
    ring_index(b->global_index, stage->seq_len, o->sp_size, o->sp_rank,
               o->ring_layout == LWM_RING_ZIGZAG);
    for (int64_t g = 0; g < rows; g++) {
        int own = g / mine == o->dp_rank;
        if (own) point_row(ld, b, g - o->dp_rank * mine);
        LWM_TRY(loader_next_row(ld, own));
        if (g == 0) b->epoch = st->epoch; // after the row: a window change may start an epoch
        if (own) slice_row(ld, b, g - o->dp_rank * mine);
    }
    b->padding_fraction /= (double)(mine * stage->seq_len);
    b->pieces_dropped = ld->dropped;
    ld->dropped = 0;
    st->step++;
    st->tokens += stage->tokens_per_batch;
    b->stage_done = st->step >= lwm_loader_stage_steps(stage);
    b->state = *st;
    return 0;
}

int lwm_loader_next(lwm_loader *ld, lwm_loader_batch *out)
{
    int rc = ld->prefetch ? loader_prefetch_next(ld, out) : loader_generate(ld, &ld->batch);
    if (rc < 0) return rc;
    if (!ld->prefetch) *out = ld->batch;
    ld->consumed = out->state;
    return 0;
}

lwm_loader_state lwm_loader_get_state(const lwm_loader *ld)
{
    return ld->consumed;
}

const char *lwm_loader_errmsg(const lwm_loader *ld)
{
    return ld->err.msg;
}

void lwm_loader_get_info(const lwm_loader *ld, lwm_loader_info *info)
{
    *info = ld->info;
}

int lwm_loader_detokenize(const lwm_loader *ld, const int32_t *ids, size_t n, char *out, size_t cap)
{
    return loader_spm_decode(ld->spm, ids, n, out, cap);
}

size_t lwm_loader_struct_size(int which)
{
    switch (which) {
    case 0: return sizeof(lwm_loader_options);
    case 1: return sizeof(lwm_loader_batch);
    case 2: return sizeof(lwm_loader_state);
    case 3: return sizeof(lwm_loader_info);
    default: return 0;
    }
}
