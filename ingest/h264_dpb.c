// The short-term references of an H.264 decoded picture buffer, the reference
// lists a slice builds from them (§8.2.4) and their marking (§8.2.5), for
// frames only (h264_syntax.c refuses field pictures and long-term references).
#include <stdlib.h>
#include <string.h>

#include "h264.h"

static int pic_num(const h264_ref *p, const h264_cur *cur)
{
    return p->frame_num > cur->frame_num ? p->frame_num - (1 << cur->log2_max_frame_num)
                                         : p->frame_num;
}

typedef struct keyed {
    long long key;
    int k;
} keyed;

static int compare_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

// Initial order (§8.2.4.2.1, §8.2.4.2.3): P by descending PicNum; B by picture
// order, list 0 the past nearest first then the future, list 1 the reverse.
// Returns the length, or -1 if two B keys tie (a stand-in's invented order
// count meeting another's: which comes first would then be the decoder's guess).
static int initial_list(const h264_dpb *d, const h264_cur *cur, int type, int which, int *list)
{
    keyed keys[H264_MAX_DPB + 1];
    for (int k = 0; k < d->n; k++) {
        keys[k].k = k;
        if (type == H264_P) {
            keys[k].key = -(long long)pic_num(&d->pic[k], cur);
            continue;
        }
        long long diff = (long long)d->pic[k].poc - cur->poc, dist = diff < 0 ? -diff : diff;
        if (diff == 0) return -1;
        int near_side = which == 0 ? diff < 0 : diff > 0;
        keys[k].key = near_side ? dist : (1LL << 40) + dist;
    }
    qsort(keys, (size_t)d->n, sizeof keys[0], compare_keyed);
    for (int k = 0; k < d->n; k++) {
        if (k > 0 && type == H264_B && keys[k].key == keys[k - 1].key) return -1;
        list[k] = keys[k].k;
    }
    return d->n;
}

// §8.2.4.3.1 on a list of dpb indices with room for active + 1 entries.
static int modify_list(const h264_dpb *d, const h264_list_params *lp, const h264_cur *cur,
                       int which, int *list)
{
    int max = 1 << cur->log2_max_frame_num, pred = cur->frame_num, at = 0,
        active = lp->active[which];
    for (int m = 0; m < lp->n_mods[which]; m++) {
        const h264_list_mod *mod = &lp->mods[which][m];
        int no_wrap = mod->idc == 0 ? pred - (mod->value + 1) : pred + (mod->value + 1);
        if (no_wrap < 0) no_wrap += max;
        if (no_wrap >= max) no_wrap -= max;
        pred = no_wrap;
        int want = no_wrap > cur->frame_num ? no_wrap - max : no_wrap, k = 0;
        while (k < d->n && pic_num(&d->pic[k], cur) != want) k++;
        if (k == d->n || at >= active) return -1;
        for (int c = active; c > at; c--) list[c] = list[c - 1];
        list[at++] = k;
        int n = at;
        for (int c = at; c <= active; c++)
            if (list[c] != k) list[n++] = list[c];
    }
    return 0;
}

int h264_dpb_list(const h264_dpb *d, const h264_list_params *lp, const h264_cur *cur, int which,
                  int32_t *out)
{
    int list[H264_MAX_REFS + 2], list0[H264_MAX_DPB + 1], active = lp->active[which];
    for (int i = 0; i < H264_MAX_REFS + 2; i++) list[i] = -1;
    int n = initial_list(d, cur, lp->type, which, list);
    if (n < 0) return -1;
    if (which == 1 && n > 1 && initial_list(d, cur, lp->type, 0, list0) == n &&
        memcmp(list, list0, (size_t)n * sizeof *list) ==
            0) { // list 1 equal to list 0: swap its first two
        list[0] = list0[1];
        list[1] = list0[0];
    }
    for (int i = active; i < n; i++) list[i] = -1;
    if (modify_list(d, lp, cur, which, list) < 0) return -1;
    for (int i = 0; i < active; i++) out[i] = list[i] < 0 ? H264_NO_REF : d->pic[list[i]].packet;
    return 0;
}

static void drop(h264_dpb *d, int k)
{
    memmove(&d->pic[k], &d->pic[k + 1], (size_t)(d->n - k - 1) * sizeof d->pic[0]);
    d->n--;
}

int h264_dpb_unmark(h264_dpb *d, const h264_cur *cur, int want)
{
    for (int k = 0; k < d->n; k++)
        if (pic_num(&d->pic[k], cur) == want) {
            drop(d, k);
            return 0;
        }
    return -1;
}

void h264_dpb_slide(h264_dpb *d, int max_refs)
{
    while (d->n > 0 && d->n >= (max_refs > 0 ? max_refs : 1)) drop(d, 0);
}

void h264_dpb_store(h264_dpb *d, h264_ref pic, int max_refs)
{
    for (int k = 0; k < d->n; k++)
        if (d->pic[k].frame_num == pic.frame_num) drop(d, k--);
    if (d->n > H264_MAX_DPB)
        drop(d, 0); // room for one more (max_refs <= 16 keeps this from happening)
    d->pic[d->n++] = pic;
    while (d->n > (max_refs > 0 ? max_refs : 1)) drop(d, 0);
}
