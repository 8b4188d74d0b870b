// What a resume state must agree with: the hashes of the stream's inputs,
// part by part (so a mismatch names the changed option), and bounds of every
// cursor field against the plan. A state file is hostile input even after its
// checksum: a negative row would index before the plan's arrays, a negative
// epoch or window would walk the permutation forever, a huge one overflow.
//
// Nothing about ranks is hashed or stored: the global stream does not depend
// on how many ranks read it (dp size, ring size or ring layout), so a state
// from P ranks resumes on Q.
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const part_names[LWM_LOADER_STATE_PARTS] = {
    "datasets (records, their token lengths or the mixing weights)",
    "tokenizer",
    "layout",
    "shuffle",
    "max_n_frames",
    "fields_index/fields_spec/subfield_separator",
    "packing options (pack_window, segment ids, position reset, drop_no_loss)",
    "stages[].seq_len (or the number of stages)",
    "stages[].tokens_per_batch",
    "stages[].total_tokens",
};

const char *lwm_loader_state_part_name(int i)
{
    return i >= 0 && i < LWM_LOADER_STATE_PARTS ? part_names[i] : NULL;
}

static uint64_t hash_ints(const int64_t *v, int n)
{
    return lwm_hash64(v, (size_t)n * sizeof *v);
}

static uint64_t hash_data(const lwm_loader *ld)
{
    const loader_lengths *len = &ld->len;
    int64_t v[2 + 2 * LOADER_MAX_DATASETS];
    int k = 0;
    v[k++] = ld->n_src, v[k++] = ld->order.cycle;
    for (int d = 0; d < ld->n_src; d++) v[k++] = ld->src[d].count, v[k++] = ld->order.count[d];
    uint64_t h[4] = {hash_ints(v, k), lwm_hash64(len->n_tokens, (size_t)len->n_docs * 4),
                     lwm_hash64(len->run_off, (size_t)(len->n_docs + 1) * 4),
                     lwm_hash64(len->runs, len->n_runs * 2 * 4)};
    return lwm_hash64(h, sizeof h);
}

static uint64_t hash_text(const char *a, const char *b, const char *c)
{
    uint64_t h[3] = {lwm_hash64(a ? a : "", a ? strlen(a) + 1 : 0),
                     lwm_hash64(b ? b : "", b ? strlen(b) + 1 : 0),
                     lwm_hash64(c ? c : "", c ? strlen(c) + 1 : 0)};
    return lwm_hash64(h, sizeof h);
}

void loader_state_parts(const lwm_loader *ld, uint64_t part[LWM_LOADER_STATE_PARTS], uint64_t *all)
{
    const lwm_loader_options *o = &ld->opt;
    int64_t v[3 + 2 * 64];
    part[0] = hash_data(ld);
    part[1] = lwm_hash64(ld->tokenizer_hash, strlen(ld->tokenizer_hash));
    v[0] = o->layout, part[2] = hash_ints(v, 1);
    v[0] = !o->no_shuffle, part[3] = hash_ints(v, 1);
    v[0] = o->max_n_frames > 0 ? o->max_n_frames : 0, part[4] = hash_ints(v, 1);
    char index[32];
    snprintf(index, sizeof index, "%d", o->force_fields_index ? o->fields_index : -1);
    part[5] = hash_text(index, ld->default_spec, ld->separator);
    v[0] = ld->window_docs, v[1] = !o->no_segment_ids, v[2] = !o->no_position_reset;
    v[3] = o->drop_no_loss != 0;
    part[6] = hash_ints(v, 4);
    for (int f = 0; f < 3; f++) {
        int k = 0;
        v[k++] = ld->n_stages;
        for (int s = 0; s < ld->n_stages; s++) {
            const lwm_loader_stage *st = &ld->stages[s];
            v[k++] = f == 0   ? st->seq_len
                     : f == 1 ? st->tokens_per_batch
                              : (st->total_tokens > 0 ? st->total_tokens : 0);
            if (k == (int)(sizeof v / sizeof v[0])) { // many stages: fold
                v[0] = (int64_t)hash_ints(v, k);
                k = 1;
            }
        }
        part[7 + f] = hash_ints(v, k);
    }
    *all = lwm_hash64(part, LWM_LOADER_STATE_PARTS * sizeof part[0]);
}

int64_t lwm_loader_stage_steps(const lwm_loader_stage *s)
{
    if (s->total_tokens <= 0) return INT64_MAX / s->tokens_per_batch;
    return (s->total_tokens + s->tokens_per_batch - 1) / s->tokens_per_batch;
}

#define BAD_FIELD(ld, cond, field, value, fmt, ...)                                                \
    LWM_CHECK(&(ld)->err, cond, LWM_EINVAL, "resume state: %s %lld out of range (" fmt ")", field, \
              (long long)(value), __VA_ARGS__)

// The cursor of the current layout: window/slot and row/offset within the plan.
static int check_cursor(lwm_loader *ld, const lwm_loader_state *s, int64_t seq_len)
{
    const loader_order *o = &ld->order;
    if (ld->opt.layout == LWM_LAYOUT_PACKED) {
        int64_t windows = (o->epoch_slots + ld->window_docs - 1) / ld->window_docs;
        BAD_FIELD(ld, s->window >= 0 && s->window < windows, "window", s->window,
                  "0..%lld packing windows", (long long)windows - 1);
        LWM_TRY(loader_plan_window(&ld->plan, o, &ld->len, s->epoch, s->window, ld->window_docs,
                                   seq_len, ld->opt.drop_no_loss, &ld->mem, &ld->err));
        BAD_FIELD(ld, s->row >= 0 && s->row <= (int64_t)ld->plan.n_rows, "row", s->row,
                  "window %lld has %zu rows", (long long)s->window, ld->plan.n_rows);
        return 0;
    }
    BAD_FIELD(ld, s->window >= 0 && s->window < o->epoch_slots, "window", s->window,
              "the document cursor of %lld documents", (long long)o->epoch_slots);
    if (ld->opt.layout == LWM_LAYOUT_PAD) {
        BAD_FIELD(ld, s->row == 0, "row", s->row, "%s", "always 0 in the pad layout");
        return 0;
    }
    int64_t n = ld->len.n_tokens[loader_order_doc(o, s->epoch, s->window)];
    BAD_FIELD(ld, s->row >= 0 && (s->row == 0 || s->row < n), "row", s->row,
              "token offset in a document of %lld tokens", (long long)n);
    return 0;
}

// Every field of a state against the plan: nothing it holds is trusted.
static int check_bounds(lwm_loader *ld, const lwm_loader_state *s)
{
    BAD_FIELD(ld, s->stage >= 0 && s->stage < ld->n_stages, "stage", s->stage,
              "the curriculum has %d stages", ld->n_stages);
    const lwm_loader_stage *st = &ld->stages[s->stage];
    int64_t steps = lwm_loader_stage_steps(st);
    BAD_FIELD(ld, s->step >= 0 && s->step <= steps, "step", s->step, "stage %d has %lld steps",
              s->stage, (long long)steps);
    BAD_FIELD(ld, s->tokens == s->step * st->tokens_per_batch, "tokens", s->tokens,
              "step %lld x %lld tokens per batch", (long long)s->step,
              (long long)st->tokens_per_batch);
    // An epoch holds at least one position of the stream, and epoch · slots must not overflow.
    int64_t slots = ld->order.epoch_slots, most = (INT64_MAX - slots) / slots / 2;
    if (s->tokens < most - st->seq_len - 1) most = s->tokens + st->seq_len + 1;
    BAD_FIELD(ld, s->epoch >= 0 && s->epoch <= most, "epoch", s->epoch, "0..%lld after %lld steps",
              (long long)most, (long long)s->step);
    return check_cursor(ld, s, st->seq_len);
}

int loader_resume(lwm_loader *ld, const lwm_loader_state *state)
{
    uint64_t part[LWM_LOADER_STATE_PARTS], hash;
    loader_state_parts(ld, part, &hash);
    if (!state) {
        LWM_CHECK(&ld->err, ld->opt.start_stage >= 0 && ld->opt.start_stage < ld->n_stages,
                  LWM_EINVAL, "start stage %d: the curriculum has %d stages", ld->opt.start_stage,
                  ld->n_stages);
        ld->st = (lwm_loader_state){
            .seed = ld->opt.seed, .stage = ld->opt.start_stage, .config_hash = hash};
        memcpy(ld->st.part_hash, part, sizeof part);
        return 0;
    }
    LWM_CHECK(&ld->err, state->seed == ld->opt.seed, LWM_EINVAL,
              "resume state has seed %llu, the loader was given %llu (seed alters the stream)",
              (unsigned long long)state->seed, (unsigned long long)ld->opt.seed);
    for (int i = 0; i < LWM_LOADER_STATE_PARTS; i++)
        LWM_CHECK(&ld->err, state->part_hash[i] == part[i], LWM_EINVAL,
                  "resume state: %s differs from the state's (the change alters the stream)",
                  part_names[i]);
    LWM_CHECK(&ld->err, state->config_hash == hash, LWM_EINVAL,
              "resume state: its configuration hash does not match its parts (corrupted)");
    LWM_TRY(check_bounds(ld, state));
    ld->st = *state;
    return 0;
}
