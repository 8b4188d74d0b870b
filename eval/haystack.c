// The haystack of one sample: filler sentences of exactly the token budget, needles inserted
// at the sentence boundaries nearest to their depths.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/** One piece of filler: a sentence of the haystack, or the words that complete the budget. */
typedef struct fill_unit {
    const char *s;
    size_t n;
    int64_t tokens;
} fill_unit;

typedef struct filler {
    fill_unit *u;
    size_t n, cap;
    char *words; // the last, partial unit's text
    size_t words_len, words_cap;
} filler;

static void filler_free(filler *f)
{
    lwm_free(NULL, f->u);
    lwm_free(NULL, f->words);
}

static int push_unit(filler *f, const char *s, size_t n, int64_t tokens, lwm_error *err)
{
    if (lwm_grow(NULL, (void **)&f->u, &f->cap, f->n + 1, sizeof *f->u) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    f->u[f->n++] = (fill_unit){s, n, tokens};
    return 0;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n, lwm_error *err)
{
    if (lwm_grow(NULL, (void **)buf, cap, *len + n + 2, 1) < 0)
        return lwm_error_set(err, -ENOMEM, "out of memory");
    if (*len) (*buf)[(*len)++] = ' ';
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

// Words of the sentences from i on that still fit in need tokens (one that does not is
// skipped), until exactly need tokens are taken.
static int fill_words(filler *f, const needle_hay *h, int i, int64_t need, lwm_error *err)
{
    int64_t acc = 0;
    for (long guard = 0; acc < need; i = (i + 1) % h->n_sent) {
        const char *p = h->text + h->sent[i].at, *e = p + h->sent[i].n;
        while (p < e && acc < need) {
            const char *w = p;
            while (p < e && *p != ' ') p++;
            int64_t k = needle_count_tokens(h->tok, w, (size_t)(p - w), err);
            if (k < 0) return (int)k;
            if (k > 0 && acc + k <= need) {
                LWM_TRY(append(&f->words, &f->words_len, &f->words_cap, w, (size_t)(p - w), err));
                acc += k;
            }
            if (p < e) p++;
            LWM_CHECK(err, ++guard < 1000000, LWM_EINVAL,
                      "no words of the haystack fill the last %lld tokens",
                      (long long)(need - acc));
        }
    }
    return push_unit(f, f->words, f->words_len, need, err);
}

// Whole sentences from `start` on (cyclic) while they fit, then words for the rest.
static int fill(filler *f, const needle_hay *h, int start, int64_t tokens, lwm_error *err)
{
    int64_t acc = 0;
    int i = start;
    while (acc + h->sent[i].tokens <= tokens) {
        LWM_TRY(push_unit(f, h->text + h->sent[i].at, h->sent[i].n, h->sent[i].tokens, err));
        acc += h->sent[i].tokens;
        i = (i + 1) % h->n_sent;
    }
    return acc < tokens ? fill_words(f, h, i, tokens - acc, err) : 0;
}

// Boundary (0..n units) whose token offset is nearest to depth x total.
static size_t nearest_boundary(const filler *f, double depth, int64_t total)
{
    const double target = depth * (double)total;
    size_t best = 0;
    double best_d = fabs(target), at = 0;
    for (size_t j = 1; j <= f->n; j++) {
        at += (double)f->u[j - 1].tokens;
        if (fabs(at - target) < best_d) best = j, best_d = fabs(at - target);
    }
    return best;
}

static int compose(needle_sample *s, const filler *f, const needle_hay *h, const double *depth,
                   int64_t filler_tokens, lwm_error *err)
{
    size_t at[LWM_NEEDLE_MAX_NEEDLES];
    int64_t ntok[LWM_NEEDLE_MAX_NEEDLES];
    for (int k = 0; k < s->n_needles; k++) {
        at[k] = nearest_boundary(f, depth[k], filler_tokens);
        ntok[k] = needle_count_tokens(h->tok, s->needle[k], strlen(s->needle[k]), err);
        if (ntok[k] < 0) return (int)ntok[k];
    }
    s->haystack_len = 0;
    int64_t tokens = 1; // the document's BOS
    for (size_t j = 0; j <= f->n; j++) {
        for (int k = 0; k < s->n_needles; k++) {
            if (at[k] != j) continue;
            if (k == 0) s->needle_at = tokens;
            LWM_TRY(append(&s->haystack, &s->haystack_len, &s->haystack_cap, s->needle[k],
                           strlen(s->needle[k]), err));
            tokens += ntok[k];
        }
        if (j == f->n) break;
        LWM_TRY(
            append(&s->haystack, &s->haystack_len, &s->haystack_cap, f->u[j].s, f->u[j].n, err));
        tokens += f->u[j].tokens;
    }
    return 0;
}

int needle_haystack_build(needle_sample *s, const needle_hay *h, int start, const double *depth,
                          int64_t tokens, lwm_error *err)
{
    int64_t needles = 0;
    for (int k = 0; k < s->n_needles; k++) {
        int64_t n = needle_count_tokens(h->tok, s->needle[k], strlen(s->needle[k]), err);
        if (n < 0) return (int)n;
        needles += n;
    }
    LWM_CHECK(
        err, tokens >= needles, LWM_EINVAL,
        "too short: the question, answer and needles alone take %lld tokens more than the length",
        (long long)(needles - tokens));
    filler f = {0};
    int rc = fill(&f, h, start, tokens - needles, err);
    if (rc == 0) rc = compose(s, &f, h, depth, tokens - needles, err);
    filler_free(&f);
    if (rc < 0) return rc;
    int64_t got = needle_count_tokens(h->tok, s->haystack, s->haystack_len, err);
    if (got < 0) return (int)got;
    LWM_CHECK(err, got == tokens, LWM_EINVAL,
              "the tokenizer does not split at spaces (the haystack's words make %lld tokens "
              "apart and %lld together): lengths cannot be made exact",
              (long long)tokens, (long long)got);
    return 0;
}
