// Best-fit-decreasing packing of one window of documents into rows.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int add_piece(loader_plan *plan, const lwm_mem *mem, loader_piece piece)
{
    if (plan->n_pieces == plan->cap_pieces)
        LWM_TRY(lwm_grow(mem, (void **)&plan->pieces, &plan->cap_pieces, plan->n_pieces + 1,
                         sizeof *plan->pieces));
    plan->pieces[plan->n_pieces++] = piece;
    return 0;
}

// Cuts every document of the window into pieces of at most seq_len positions.
static int cut_window(loader_plan *plan, const loader_order *order, const loader_lengths *len,
                      int64_t epoch, int64_t first, int64_t last, int64_t seq_len, int drop_no_loss,
                      const lwm_mem *mem, lwm_error *err)
{
    for (int64_t slot = first; slot < last; slot++) {
        int64_t doc = loader_order_doc(order, epoch, slot);
        int64_t n = len->n_tokens[doc];
        if (n < 2) continue; // bad record, skipped
        int split = n - 1 > seq_len;
        for (int64_t a = 0; a < n - 1;) {
            int64_t b = loader_piece_end(len, doc, a, seq_len);
            LWM_CHECK(err, b > a, LWM_EINVAL,
                      "document %lld: a frame does not fit in a row of %lld positions",
                      (long long)doc, (long long)seq_len);
            loader_piece piece = {doc, a, b, b - a, -1, split};
            if (drop_no_loss && !loader_piece_has_loss(len, doc, a, b))
                plan->dropped++;
            else if (add_piece(plan, mem, piece) < 0)
                return lwm_error_set(err, -ENOMEM, "out of memory");
            a = b;
        }
    }
    return 0;
}

static int by_size_desc(const void *x, const void *y)
{
    const loader_piece *p = x, *q = y;
    if (p->slots != q->slots) return p->slots > q->slots ? -1 : 1;
    return p->row < q->row ? -1 : p->row > q->row; // row holds the window order here
}

static int by_row(const void *x, const void *y)
{
    const loader_piece *p = x, *q = y;
    if (p->row != q->row) return p->row < q->row ? -1 : 1;
    if (p->slots != q->slots) return p->slots > q->slots ? -1 : 1;
    if (p->doc != q->doc) return p->doc < q->doc ? -1 : 1;
    return p->a < q->a ? -1 : p->a > q->a;
}

// Best fit: the row with the least free space that still holds the piece.
static int place(loader_plan *plan, const lwm_mem *mem, int64_t seq_len)
{
    plan->n_rows = 0;
    for (size_t i = 0; i < plan->n_pieces; i++) {
        loader_piece *p = &plan->pieces[i];
        int64_t best = -1;
        for (size_t r = 0; r < plan->n_rows; r++)
            if (plan->remaining[r] >= p->slots &&
                (best < 0 || plan->remaining[r] < plan->remaining[best]))
                best = (int64_t)r;
        if (best < 0) {
            if (plan->n_rows == plan->cap_remaining)
                LWM_TRY(lwm_grow(mem, (void **)&plan->remaining, &plan->cap_remaining,
                                 plan->n_rows + 1, sizeof *plan->remaining));
            best = (int64_t)plan->n_rows++;
            plan->remaining[best] = seq_len;
        }
        plan->remaining[best] -= p->slots;
        p->row = (int32_t)best;
    }
    return 0;
}

int loader_plan_window(loader_plan *plan, const loader_order *order, const loader_lengths *len,
                       int64_t epoch, int64_t window, int64_t window_docs, int64_t seq_len,
                       int drop_no_loss, const lwm_mem *mem, lwm_error *err)
{
    plan->n_pieces = 0;
    plan->dropped = 0;
    plan->n_rows = 0;
    plan->epoch = plan->window = -1;
    int64_t first = window * window_docs;
    int64_t last =
        first + window_docs < order->epoch_slots ? first + window_docs : order->epoch_slots;
    LWM_TRY(cut_window(plan, order, len, epoch, first, last, seq_len, drop_no_loss, mem, err));
    for (size_t i = 0; i < plan->n_pieces; i++) plan->pieces[i].row = (int32_t)i;
    qsort(plan->pieces, plan->n_pieces, sizeof *plan->pieces, by_size_desc);
    if (place(plan, mem, seq_len) < 0) return lwm_error_set(err, -ENOMEM, "out of memory");
    // Shuffle whole rows so batch composition does not follow piece size.
    loader_perm perm;
    loader_perm_init(&perm, (int64_t)plan->n_rows, order->seed,
                     ((uint64_t)order->stage << 40) ^ (uint64_t)epoch,
                     (uint64_t)window ^ (1ull << 63), !order->shuffle);
    for (size_t i = 0; i < plan->n_pieces; i++)
        plan->pieces[i].row = (int32_t)loader_perm_apply(&perm, plan->pieces[i].row);
    qsort(plan->pieces, plan->n_pieces, sizeof *plan->pieces, by_row);
    if (lwm_grow(mem, (void **)&plan->row_first, &plan->cap_rows, plan->n_rows + 1,
                 sizeof *plan->row_first) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    size_t p = 0;
    for (size_t r = 0; r <= plan->n_rows; r++) {
        while (p < plan->n_pieces && plan->pieces[p].row < (int32_t)r) p++;
        plan->row_first[r] = (int64_t)p;
    }
    plan->epoch = epoch;
    plan->window = window;
    return 0;
}

void loader_plan_release(loader_plan *plan, const lwm_mem *mem)
{
    lwm_free(mem, plan->pieces);
    lwm_free(mem, plan->row_first);
    lwm_free(mem, plan->remaining);
    memset(plan, 0, sizeof *plan);
}
