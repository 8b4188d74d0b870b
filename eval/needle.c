// lwm_needle_make: needle-in-a-haystack samples of exact token lengths (eval.h).
//
// Token counts add up over space-separated pieces with a SentencePiece model that splits at
// whitespace (LLaMA's does, as spm_train's default), so the haystack is assembled from
// sentences and words whose counts are known, and the finished text is encoded once more to
// check that the sum held.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char *const CITIES[] = {
    "Lisbon", "Nairobi", "Oslo",     "Lima",    "Hanoi",      "Quito",   "Dakar",  "Perth",
    "Tromso", "Cusco",   "Accra",    "Tbilisi", "Valparaiso", "Bergen",  "Kyoto",  "Porto",
    "Zagreb", "Tallinn", "Mombasa",  "Hobart",  "Bilbao",     "Cordoba", "Gdansk", "Tangier",
    "Aarhus", "Kandy",   "Windhoek", "Ushuaia", "Nantes",     "Leipzig", "Izmir",  "Recife",
    "Suva",   "Bologna", "Split",    "Graz",    "Harbin",     "Cebu",    "Asmara", "Galway"};
enum { N_CITIES = sizeof CITIES / sizeof CITIES[0] };

int64_t needle_count_tokens(const lwm_loader_tokenizer *tok, const char *s, size_t n,
                            lwm_error *err)
{
    char small[256], *copy = n < sizeof small ? small : lwm_malloc(NULL, n + 1);
    LWM_CHECK(err, copy, -ENOMEM, "out of memory");
    memcpy(copy, s, n);
    copy[n] = '\0';
    int32_t dummy[1];
    int64_t k = lwm_loader_tokenizer_encode(tok, copy, dummy, 0);
    if (copy != small) lwm_free(NULL, copy);
    if (k < 0) return lwm_error_set(err, (int)k, "the tokenizer failed on %.40s", s);
    return k;
}

// ---------------------------------------------------------------- the haystack text

void needle_hay_free(needle_hay *h)
{
    lwm_free(NULL, h->text);
    lwm_free(NULL, h->sent);
    memset(h, 0, sizeof *h);
}

// Whitespace runs become one space (token counts then add up over words), and sentences end
// at '.', '?' or '!' followed by a space.
static void normalize(char *t, size_t *len)
{
    size_t o = 0;
    int space = 1;
    for (size_t i = 0; i < *len; i++) {
        unsigned char ch = (unsigned char)t[i];
        int ws = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
        if (ws) {
            if (!space) t[o++] = ' ';
            space = 1;
        } else if (ch != 0) {
            t[o++] = (char)ch;
            space = 0;
        }
    }
    while (o > 0 && t[o - 1] == ' ') o--;
    t[o] = '\0';
    *len = o;
}

static int split_sentences(needle_hay *h, lwm_error *err)
{
    size_t cap = 64, start = 0;
    h->sent = lwm_malloc(NULL, cap * sizeof *h->sent);
    LWM_CHECK(err, h->sent, -ENOMEM, "out of memory");
    for (size_t i = 0; i < h->len; i++) {
        char ch = h->text[i];
        int end =
            i + 1 == h->len || ((ch == '.' || ch == '?' || ch == '!') && h->text[i + 1] == ' ');
        if (!end) continue;
        if (lwm_grow(NULL, (void **)&h->sent, &cap, (size_t)h->n_sent + 1, sizeof *h->sent) < 0)
            return lwm_error_set(err, -ENOMEM, "out of memory");
        needle_span *s = &h->sent[h->n_sent++];
        s->at = start, s->n = i + 1 - start;
        LWM_TRY(s->tokens = (int)needle_count_tokens(h->tok, h->text + s->at, s->n, err));
        start = i + 2; // past the space
        i++;
    }
    return 0;
}

int needle_hay_open(needle_hay *h, const char *path, const lwm_loader_tokenizer *tok,
                    lwm_error *err)
{
    memset(h, 0, sizeof *h);
    h->tok = tok;
    LWM_TRY(lwm_read_file_max(NULL, path, LWM_MAX_TEXT_BYTES, &h->text, &h->len, err));
    normalize(h->text, &h->len);
    LWM_CHECK(err, h->len > 0, LWM_EINVAL, "haystack %s has no text", path);
    int rc = split_sentences(h, err);
    if (rc < 0) {
        needle_hay_free(h);
        return lwm_error_prefix(err, "haystack %s", path);
    }
    return 0;
}

// ---------------------------------------------------------------- one sample

// A 7-digit number found nowhere in the haystack nor among the sample's other numbers.
static long draw_number(const needle_hay *h, uint64_t *rng, const long *taken, int n)
{
    for (;;) {
        long v = 1000000 + (long)(lwm_splitmix64(rng) % 9000000);
        char s[16];
        snprintf(s, sizeof s, "%ld", v);
        int clash = strstr(h->text, s) != NULL;
        for (int i = 0; i < n; i++) clash |= taken[i] == v;
        if (!clash) return v;
    }
}

// Cities, numbers and the texts of the needles, question and answer of one sample.
static int make_needles(needle_sample *s, const needle_hay *h, uint64_t *rng, int needles,
                        int ask_all, lwm_error *err)
{
    int pick[LWM_NEEDLE_MAX_NEEDLES];
    long num[LWM_NEEDLE_MAX_NEEDLES];
    for (int i = 0; i < needles; i++) {
        int c, dup;
        do {
            c = (int)(lwm_splitmix64(rng) % N_CITIES);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= pick[j] == c;
        } while (dup);
        pick[i] = c;
        num[i] = draw_number(h, rng, num, i);
        snprintf(s->needle[i], sizeof s->needle[i], "The special magic %s number is: %ld.",
                 CITIES[c], num[i]);
    }
    s->n_needles = needles;
    if (!ask_all || needles == 1) {
        snprintf(s->question, sizeof s->question, "What is the special magic %s number?",
                 CITIES[pick[0]]);
        snprintf(s->answer, sizeof s->answer, "%ld", num[0]);
        return 0;
    }
    size_t q =
        (size_t)snprintf(s->question, sizeof s->question, "What are the special magic numbers for");
    size_t a = 0;
    for (int i = 0; i < needles; i++) {
        const char *sep = i == 0 ? " " : i + 1 == needles ? " and " : ", ";
        q +=
            (size_t)snprintf(s->question + q, sizeof s->question - q, "%s%s", sep, CITIES[pick[i]]);
        a += (size_t)snprintf(s->answer + a, sizeof s->answer - a, "%s%ld", i ? ", " : "", num[i]);
    }
    LWM_CHECK(err, q + 1 < sizeof s->question, LWM_EINVAL, "question too long");
    snprintf(s->question + q, sizeof s->question - q, "?");
    return 0;
}

// ---------------------------------------------------------------- the file

typedef struct needle_out {
    char *buf;
    size_t len, cap;
} needle_out;

static int write_line(needle_out *o, const needle_sample *s, const lwm_needle_options *opt,
                      const char *tok_hash, int64_t length, double depth, int k, lwm_error *err)
{
    char id[96];
    snprintf(id, sizeof id, "needle-%lld-%g-%d", (long long)length, depth, k);
    cJSON *j = cJSON_CreateObject();
    LWM_CHECK(err, j, -ENOMEM, "out of memory");
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "fields", "[haystack],[question],answer");
    cJSON_AddStringToObject(j, "haystack", s->haystack);
    cJSON_AddStringToObject(j, "question", s->question);
    cJSON_AddStringToObject(j, "answer", s->answer);
    cJSON_AddNumberToObject(j, "length", (double)length);
    cJSON_AddNumberToObject(j, "depth", depth);
    cJSON_AddNumberToObject(j, "needles", s->n_needles);
    cJSON_AddNumberToObject(j, "needle_at", (double)s->needle_at);
    cJSON_AddStringToObject(j, "tokenizer", opt->tokenizer);
    cJSON_AddStringToObject(j, "tokenizer_xxh3", tok_hash);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    LWM_CHECK(err, text, -ENOMEM, "out of memory");
    size_t n = strlen(text);
    int rc = lwm_grow(NULL, (void **)&o->buf, &o->cap, o->len + n + 2, 1);
    if (rc == 0) {
        memcpy(o->buf + o->len, text, n);
        o->len += n;
        o->buf[o->len++] = '\n';
    }
    cJSON_free(text);
    return rc < 0 ? lwm_error_set(err, rc, "out of memory") : 0;
}

// Sample k of cell (length, depth): a pure function of (seed, length, depth, k).
static int make_sample(needle_sample *s, const needle_hay *h, const lwm_needle_options *o,
                       int64_t length, double depth, int k, lwm_error *err)
{
    uint64_t dbits;
    memcpy(&dbits, &depth, sizeof dbits);
    uint64_t rng = o->seed ^ ((uint64_t)length * 0x9E3779B97F4A7C15ull);
    rng = lwm_splitmix64(&rng) ^ dbits;
    rng = lwm_splitmix64(&rng) ^ (uint64_t)k;
    int needles = o->needles > 0 ? o->needles : 1;
    LWM_TRY(make_needles(s, h, &rng, needles, o->ask_all, err));
    double depths[LWM_NEEDLE_MAX_NEEDLES] = {depth};
    for (int i = 1; i < needles; i++)
        depths[i] = (double)(lwm_splitmix64(&rng) >> 11) / 9007199254740992.0;
    int64_t q = needle_count_tokens(h->tok, s->question, strlen(s->question), err);
    int64_t a = q < 0 ? q : needle_count_tokens(h->tok, s->answer, strlen(s->answer), err);
    if (a < 0) return (int)a;
    // length positions = length + 1 document tokens: BOS, haystack, question, answer, EOS.
    int64_t hay = length + 1 - 2 - q - a;
    int start = (int)(lwm_splitmix64(&rng) % (uint64_t)h->n_sent);
    return needle_haystack_build(s, h, start, depths, hay, err);
}

static int check_options(const lwm_needle_options *o, lwm_error *err)
{
    LWM_CHECK(err, o->tokenizer, LWM_EINVAL, "a tokenizer is required");
    LWM_CHECK(err, o->n_lengths > 0 && o->n_depths > 0, LWM_EINVAL, "no lengths or no depths");
    for (int i = 0; i < o->n_lengths; i++)
        LWM_CHECK(err, o->lengths[i] >= 16 && o->lengths[i] <= ((int64_t)1 << 24), LWM_EINVAL,
                  "length %lld outside [16, 2^24]", (long long)o->lengths[i]);
    for (int i = 0; i < o->n_depths; i++)
        LWM_CHECK(err, o->depths[i] >= 0 && o->depths[i] <= 1, LWM_EINVAL,
                  "depth %g outside [0, 1]", o->depths[i]);
    LWM_CHECK(err, o->needles >= 0 && o->needles <= LWM_NEEDLE_MAX_NEEDLES, LWM_EINVAL,
              "needles %d outside [1, %d]", o->needles, LWM_NEEDLE_MAX_NEEDLES);
    LWM_CHECK(err, o->per_cell >= 0 && o->per_cell <= 100000, LWM_EINVAL,
              "per-cell %d outside [1, 100000]", o->per_cell);
    return 0;
}

static int make_all(needle_out *out, const needle_hay *h, const lwm_needle_options *o,
                    const char *tok_hash, lwm_error *err)
{
    const int K = o->per_cell > 0 ? o->per_cell : 1;
    const int64_t total = (int64_t)o->n_lengths * o->n_depths * K;
    if (o->progress) lwm_progress_start(o->progress, "needle", "samples", total);
    needle_sample s = {0};
    int rc = 0;
    int64_t done = 0;
    for (int li = 0; rc == 0 && li < o->n_lengths; li++)
        for (int di = 0; rc == 0 && di < o->n_depths; di++)
            for (int k = 0; rc == 0 && k < K; k++) {
                rc = make_sample(&s, h, o, o->lengths[li], o->depths[di], k, err);
                if (rc < 0) {
                    lwm_error_prefix(err, "length %lld depth %g", (long long)o->lengths[li],
                                     o->depths[di]);
                    break;
                }
                rc = write_line(out, &s, o, tok_hash, o->lengths[li], o->depths[di], k, err);
                if (o->progress) lwm_progress_update(o->progress, ++done, NULL);
            }
    lwm_free(NULL, s.haystack);
    if (rc == 0 && o->progress) lwm_progress_finish(o->progress, done, NULL);
    return rc;
}

int lwm_needle_make(const lwm_needle_options *o, const char *out_path, lwm_error *err)
{
    LWM_TRY(check_options(o, err));
    lwm_loader_tokenizer *tok = NULL;
    LWM_TRY(lwm_loader_tokenizer_open(&tok, o->tokenizer, err));
    needle_hay h;
    const char *hay_path = o->haystack ? o->haystack : LWM_NEEDLE_DEFAULT_HAYSTACK;
    int rc = needle_hay_open(&h, hay_path, tok, err);
    if (rc < 0) {
        lwm_loader_tokenizer_free(tok);
        return rc;
    }
    // Lines record the tokenizer's absolute path: lwm eval finds it from anywhere.
    char abs[4096];
    lwm_needle_options opt = *o;
    if (realpath(o->tokenizer, abs)) opt.tokenizer = abs;
    needle_out out = {0};
    rc = make_all(&out, &h, &opt, lwm_loader_tokenizer_hash(tok), err);
    if (rc == 0) rc = lwm_write_file_atomic(out_path, out.buf, out.len, err);
    lwm_free(NULL, out.buf);
    needle_hay_free(&h);
    lwm_loader_tokenizer_free(tok);
    return rc;
}
