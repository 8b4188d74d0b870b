// Rows of the three layouts, generated from the state cursor alone.
//
// Every function here advances ld->st by exactly one global row and, when
// asked, writes that row into ld->row. Rows of other data-parallel ranks are
// advanced over without building their documents (lengths suffice), which is
// what keeps every rank's view of the stream identical.
#include <string.h>

#include "internal.h"

int loader_build_doc(lwm_loader *ld, int64_t doc)
{
    if (ld->doc_id == doc) return 0;
    int d = 0;
    while (d + 1 < ld->n_src && doc >= ld->order.offset[d + 1]) d++;
    loader_record rec;
    ld->doc_id = -1;
    int rc = ld->src[d].read(ld->src[d].impl, doc - ld->order.offset[d], &rec, &ld->err);
    if (rc >= 0) rc = loader_doc_build(&ld->doc, &rec, &ld->build, &ld->mem, &ld->err);
    if (rc < 0) return lwm_error_prefix(&ld->err, "%s", ld->src[d].path);
    if ((int64_t)ld->doc.n != (int64_t)ld->len.n_tokens[doc])
        return lwm_error_set(
            &ld->err, LWM_EFORMAT,
            "%s: sample %s: %zu tokens, but the length cache says %u (stale cache?)",
            ld->src[d].path, rec.id, ld->doc.n, ld->len.n_tokens[doc]);
    ld->doc_id = doc;
    return 0;
}

// A record that fails to read now (checksum, format) although its length was
// known: with on_bad_record = SKIP its positions become padding (loss 0) and
// it is counted, so the plan (and every other row) stays what it was.
// Returns 1 when built, 0 when skipped, < 0 on error.
static int build_or_skip(lwm_loader *ld, int64_t doc)
{
    int rc = loader_build_doc(ld, doc);
    if (rc >= 0) return 1;
    int data_error = rc == LWM_ECHECKSUM || rc == LWM_EFORMAT || rc == LWM_EVERSION;
    if (ld->opt.on_bad_record != LWM_LOADER_SKIP || !data_error) return rc;
    lwm_log(&ld->opt.log, LWM_LOG_WARN, "skipped: %s", ld->err.msg);
    ld->info.skipped++;
    return 0;
}

static void pad_positions(lwm_loader *ld, int64_t from, int64_t to)
{
    loader_row *r = &ld->row;
    for (int64_t i = from; i < to; i++) {
        r->input[i] = r->target[i] = LWM_PAD_ID;
        r->loss[i] = 0;
        r->input_vision[i] = r->target_vision[i] = 0;
        r->segment[i] = 0;
        r->position[i] = ld->opt.no_position_reset ? (int32_t)i : 0;
    }
    r->padding += to - from;
}

// Writes tokens [a, b] of the built document as positions at..at+b-a-1.
// The hot loop of packing: separate simple loops that the compiler vectorizes.
__attribute__((optimize("tree-vectorize"))) static void copy_piece(lwm_loader *ld, int64_t at,
                                                                   int64_t a, int64_t b,
                                                                   int32_t segment)
{
    const loader_doc *d = &ld->doc;
    loader_row *r = &ld->row;
    int64_t n = b - a;
    memcpy(r->input + at, d->tokens + a, (size_t)n * sizeof *r->input);
    memcpy(r->target + at, d->tokens + a + 1, (size_t)n * sizeof *r->target);
    memcpy(r->input_vision + at, d->vision + a, (size_t)n);
    memcpy(r->target_vision + at, d->vision + a + 1, (size_t)n);
    float *loss = r->loss + at;
    const uint8_t *src = d->loss + a + 1;
    for (int64_t i = 0; i < n; i++) loss[i] = (float)src[i];
    int32_t *seg = r->segment + at, *pos = r->position + at;
    for (int64_t i = 0; i < n; i++) seg[i] = segment;
    int32_t first = ld->opt.no_position_reset ? (int32_t)at : 0;
    for (int64_t i = 0; i < n; i++) pos[i] = first + (int32_t)i;
}

static int64_t stage_seq_len(const lwm_loader *ld)
{
    return ld->stages[ld->st.stage].seq_len;
}

// ---- Packed layout -------------------------------------------------------

static int packed_row(lwm_loader *ld, int materialize)
{
    lwm_loader_state *st = &ld->st;
    int64_t L = stage_seq_len(ld);
    for (;;) {
        if (ld->plan.epoch != st->epoch || ld->plan.window != st->window) {
            LWM_TRY(loader_plan_window(&ld->plan, &ld->order, &ld->len, st->epoch, st->window,
                                       ld->window_docs, L, ld->opt.drop_no_loss, &ld->mem,
                                       &ld->err));
            ld->dropped += ld->plan.dropped;
        }
        if (st->row < (int64_t)ld->plan.n_rows) break;
        st->row = 0;
        if (++st->window * ld->window_docs >= ld->order.epoch_slots) {
            LWM_CHECK(&ld->err, ld->epoch_rows > 0, LWM_EINVAL,
                      "no usable document in the datasets (all skipped?)");
            st->window = 0;
            st->epoch++;
            ld->epoch_rows = 0;
        }
    }
    int64_t row = st->row++;
    ld->epoch_rows++;
    if (!materialize) return 0;
    loader_row *r = &ld->row;
    r->padding = r->documents = r->split = 0;
    int64_t at = 0;
    int32_t segment = 0;
    for (int64_t p = ld->plan.row_first[row]; p < ld->plan.row_first[row + 1]; p++) {
        const loader_piece *piece = &ld->plan.pieces[p];
        int built = build_or_skip(ld, piece->doc);
        if (built < 0) return built;
        segment = ld->opt.no_segment_ids ? 1 : segment + 1;
        if (built) copy_piece(ld, at, piece->a, piece->b, segment);
        int64_t used = built ? piece->b - piece->a : 0;
        pad_positions(ld, at + used, at + piece->slots);
        at += piece->slots;
        r->documents++;
        r->split += piece->split;
    }
    pad_positions(ld, at, L);
    return 0;
}

// ---- LWM's no_pad stream -------------------------------------------------

static void cursor_next_doc(const lwm_loader *ld, loader_stream_cursor *c)
{
    c->offset = 0;
    if (++c->slot == ld->order.epoch_slots) c->slot = 0, c->epoch++;
}

// Takes n tokens from the stream at c (into the stream buffers at `at` when out).
static int stream_take(lwm_loader *ld, loader_stream_cursor *c, int64_t n, int64_t at, int out)
{
    int64_t empty_docs = 0;
    while (n > 0) {
        int64_t doc = loader_order_doc(&ld->order, c->epoch, c->slot);
        int64_t len = ld->len.n_tokens[doc];
        if (c->offset >= len) {
            LWM_CHECK(&ld->err, ++empty_docs <= ld->order.epoch_slots, LWM_EINVAL,
                      "no usable document in the datasets (all skipped?)");
            cursor_next_doc(ld, c);
            continue;
        }
        int64_t take = len - c->offset < n ? len - c->offset : n;
        int built = out ? build_or_skip(ld, doc) : 0;
        if (built < 0) return built;
        if (built) {
            memcpy(ld->stream_tokens + at, ld->doc.tokens + c->offset,
                   (size_t)take * sizeof(int32_t));
            memcpy(ld->stream_vision + at, ld->doc.vision + c->offset, (size_t)take);
            memcpy(ld->stream_loss + at, ld->doc.loss + c->offset, (size_t)take);
        } else if (out) { // skipped: pad id, no loss, in the stream's place
            for (int64_t i = 0; i < take; i++) ld->stream_tokens[at + i] = LWM_PAD_ID;
            memset(ld->stream_vision + at, 0, (size_t)take);
            memset(ld->stream_loss + at, 0, (size_t)take);
        }
        at += take, n -= take, c->offset += take;
        if (c->offset == len) cursor_next_doc(ld, c);
    }
    return 0;
}

static int lwm_stream_row(lwm_loader *ld, int materialize)
{
    lwm_loader_state *st = &ld->st;
    int64_t L = stage_seq_len(ld);
    loader_stream_cursor c = {st->epoch, st->window, st->row};
    LWM_TRY(stream_take(ld, &c, L, 0, materialize));
    st->epoch = c.epoch, st->window = c.slot, st->row = c.offset;
    if (!materialize) return 0;
    // The row's last target is the next row's first input (LWM drops chunk, keeps one).
    LWM_TRY(stream_take(ld, &c, 1, L, 1));
    loader_row *r = &ld->row;
    r->padding = r->split = 0;
    r->documents = 0;
    for (int64_t i = 0; i < L; i++) {
        r->input[i] = ld->stream_tokens[i];
        r->target[i] = ld->stream_tokens[i + 1];
        r->loss[i] = ld->stream_loss[i + 1];
        r->input_vision[i] = ld->stream_vision[i];
        r->target_vision[i] = ld->stream_vision[i + 1];
        r->segment[i] = 0; // LWM: no segment ids (all zeros)
        r->position[i] = (int32_t)i;
        r->documents += ld->stream_tokens[i] == ld->build.bos && !ld->stream_vision[i] && i > 0;
    }
    return 0;
}

// ---- Pad layout: one document per row, shifted once ---------------------

static int pad_row(lwm_loader *ld, int materialize)
{
    lwm_loader_state *st = &ld->st;
    int64_t L = stage_seq_len(ld), doc, len, tried = 0;
    for (;;) {
        doc = loader_order_doc(&ld->order, st->epoch, st->window);
        len = ld->len.n_tokens[doc];
        loader_stream_cursor c = {st->epoch, st->window, 0};
        cursor_next_doc(ld, &c);
        st->epoch = c.epoch, st->window = c.slot, st->row = 0;
        if (len >= 2) break;
        LWM_CHECK(&ld->err, ++tried <= ld->order.epoch_slots, LWM_EINVAL,
                  "no usable document in the datasets (all skipped?)");
    }
    if (!materialize) return 0;
    loader_row *r = &ld->row;
    int built = build_or_skip(ld, doc);
    if (built <= 0) {
        r->padding = r->documents = r->split = 0;
        if (built == 0) pad_positions(ld, 0, L);
        return built;
    }
    r->padding = 0;
    r->documents = 1;
    int64_t keep = len < L + 1 ? len : L + 1; // cut to L + 1 tokens, then shift once
    r->split = keep < len;
    copy_piece(ld, 0, 0, keep - 1, 1);
    pad_positions(ld, keep - 1, L);
    return 0;
}

int loader_next_row(lwm_loader *ld, int materialize)
{
    switch (ld->opt.layout) {
    case LWM_LAYOUT_LWM: return lwm_stream_row(ld, materialize);
    case LWM_LAYOUT_PAD: return pad_row(ld, materialize);
    default: return packed_row(ld, materialize);
    }
}
