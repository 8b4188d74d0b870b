// lwm_eval_needle: greedy retrieval accuracy of a model on lwm_needle_make's samples (eval.h).
// Each sample is laid out by the loader itself (pad layout, file order), so the prompt is
// exactly what training on the file would see; the model runs over the ring of comm.
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

// ---------------------------------------------------------------- the needles file

static int read_line(eval_sample *s, const cJSON *j, const char *what, lwm_error *err)
{
    const char *id = NULL, *answer = NULL, *hash = NULL;
    int64_t length = 0;
    LWM_CHECK(err, cJSON_IsObject(j), LWM_EFORMAT, "%s: not a JSON object", what);
    LWM_TRY(lwm_json_get_string(j, "id", 1, &id, what, err));
    LWM_TRY(lwm_json_get_string(j, "answer", 1, &answer, what, err));
    LWM_TRY(lwm_json_get_string(j, "tokenizer_xxh3", 1, &hash, what, err));
    LWM_TRY(lwm_json_get_int(j, "length", 1, &length, what, err));
    LWM_TRY(lwm_json_get_double(j, "depth", 1, &s->r.depth, what, err));
    LWM_CHECK(err, length >= 2 && length <= ((int64_t)1 << 30), LWM_EINVAL,
              "%s: \"length\" %lld outside [2, 2^30]", what, (long long)length);
    LWM_CHECK(err, s->r.depth >= 0 && s->r.depth <= 1, LWM_EINVAL,
              "%s: \"depth\" %g outside [0, 1]", what, s->r.depth);
    LWM_CHECK(err, strlen(answer) < sizeof s->r.answer && strlen(hash) == 32, LWM_EFORMAT,
              "%s: \"answer\" too long or \"tokenizer_xxh3\" not 32 hex digits", what);
    snprintf(s->r.id, sizeof s->r.id, "%s", id);
    snprintf(s->r.answer, sizeof s->r.answer, "%s", answer);
    memcpy(s->tok_hash, hash, 33);
    s->r.length = length;
    return 0;
}

int eval_read_samples(eval_run *e, const char *path, lwm_error *err)
{
    char *data = NULL;
    size_t size = 0, cap = 0;
    LWM_TRY(lwm_read_file(NULL, path, &data, &size, err));
    int rc = 0, line = 0;
    for (char *p = data, *nl; rc == 0 && p < data + size; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(data + size - p));
        if (!nl) nl = data + size;
        *nl = '\0';
        line++;
        if (strspn(p, " \t\r") == (size_t)(nl - p)) continue;
        char what[4200];
        snprintf(what, sizeof what, "%s line %d", path, line);
        if (lwm_grow(NULL, (void **)&e->s, &cap, (size_t)e->n + 1, sizeof *e->s) < 0) {
            rc = lwm_error_set(err, -ENOMEM, "out of memory");
            break;
        }
        eval_sample *s = memset(&e->s[e->n], 0, sizeof *e->s);
        s->line = line;
        cJSON *j = cJSON_Parse(p);
        rc = j ? read_line(s, j, what, err) : lwm_error_set(err, LWM_EFORMAT, "%s: not JSON", what);
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "tokenizer");
        if (rc == 0 && e->n == 0 && cJSON_IsString(tok))
            snprintf(e->file_tokenizer, sizeof e->file_tokenizer, "%s", tok->valuestring);
        cJSON_Delete(j);
        e->n++;
    }
    lwm_free(NULL, data);
    if (rc == 0 && e->n == 0) rc = lwm_error_set(err, LWM_EINVAL, "%s: no samples", path);
    return rc;
}

// The tokenizer (given, else the config's data.tokenizer, else the one the file records)
// must be the one every line was made with.
static int check_tokenizer(eval_run *e, const lwm_eval_needle_options *o, lwm_error *err)
{
    lwm_loader_run_config rc;
    LWM_TRY(lwm_loader_run_config_load(o->config_path, NULL, &rc, err));
    lwm_free(NULL, rc.stages);
    const char *path = o->tokenizer      ? o->tokenizer
                       : rc.tokenizer[0] ? rc.tokenizer
                                         : e->file_tokenizer;
    LWM_CHECK(err, path[0], LWM_EINVAL, "%s records no tokenizer: give one", o->data_path);
    snprintf(e->tokenizer, sizeof e->tokenizer, "%s", path);
    char hash[33];
    LWM_TRY(lwm_file_hash(path, hash, NULL, err));
    for (int i = 0; i < e->n; i++)
        LWM_CHECK(err, strcmp(hash, e->s[i].tok_hash) == 0, LWM_EINVAL,
                  "%s line %d was made with another tokenizer (XXH3-128 %s) than %s (%s)",
                  o->data_path, e->s[i].line, e->s[i].tok_hash, path, hash);
    return 0;
}

// Lengths must fit the config (or max_len) and split over the ring.
static int check_lengths(eval_run *e, const lwm_eval_needle_options *o, lwm_error *err)
{
    lwm_train_model_info in;
    lwm_train_model_info_get(e->model, &in);
    LWM_CHECK(err, o->stage >= -1 && o->stage < in.n_stages, LWM_EINVAL,
              "stage %d: the config has stages 0..%d", o->stage, in.n_stages - 1);
    int st = o->stage >= 0 ? o->stage : in.n_stages - 1;
    e->theta = in.rope_theta[st];
    int64_t limit = 0;
    for (int i = 0; i < in.n_stages; i++) limit = in.seq_len[i] > limit ? in.seq_len[i] : limit;
    if (o->max_len > 0) limit = o->max_len;
    for (int i = 0; i < e->n; i++) {
        int64_t L = e->s[i].r.length;
        LWM_CHECK(err, L <= limit, LWM_EINVAL,
                  "%s line %d: length %lld is longer than the config allows (%lld%s)", o->data_path,
                  e->s[i].line, (long long)L, (long long)limit,
                  o->max_len > 0 ? ", --max-len"
                                 : ": its longest stage; --max-len evaluates beyond");
        LWM_CHECK(err, L % (2 * in.ring) == 0, LWM_EINVAL,
                  "%s line %d: length %lld does not divide by 2 x %d ranks (zigzag ring layout)",
                  o->data_path, e->s[i].line, (long long)L, in.ring);
        e->max_len = L > e->max_len ? L : e->max_len;
    }
    e->ranks = in.ring;
    return 0;
}

// ---------------------------------------------------------------- one sample

// The loader's row of sample i: its inputs, and where the answer is (targets with a loss,
// but the closing EOS).
static int layout_sample(eval_run *e, eval_sample *s, const char *path, lwm_error *err)
{
    lwm_loader_batch b;
    int rc = lwm_loader_next(e->loader, &b);
    LWM_CHECK(err, rc == 0, rc < 0 ? rc : LWM_EINTERNAL, "%s line %d: %s", path, s->line,
              lwm_loader_errmsg(e->loader));
    int64_t used = 0, na = 0, first = -1;
    for (int64_t p = 0; p < b.len; p++) {
        used += b.segment_ids[p] != 0;
        if (b.loss_masks[p] > 0) {
            if (first < 0) first = p;
            na++;
        }
    }
    LWM_CHECK(err, used == s->r.length, LWM_EINVAL,
              "%s line %d: the sample is %lld positions with tokenizer %s, the line says length "
              "%lld (made with another tokenizer?)",
              path, s->line, (long long)used, e->tokenizer, (long long)s->r.length);
    na--; // the EOS
    LWM_CHECK(err, na >= 1 && na <= EVAL_MAX_ANSWER && first + na == used - 1, LWM_EFORMAT,
              "%s line %d: the loss does not fall on an answer at the end of the sample", path,
              s->line);
    memcpy(e->row, b.input_tokens, sizeof(int32_t) * (size_t)used);
    e->first = first, e->na = (int)na;
    for (int k = 0; k < na; k++) e->gold[k] = b.target_tokens[first + k];
    return 0;
}

// Exact greedy decoding of the answer (eval.h): one forward per token that differs from the
// expected continuation, plus one.
static int decode(eval_run *e, int64_t len, int32_t *got, lwm_error *err)
{
    int64_t at[EVAL_MAX_ANSWER];
    int32_t out[EVAL_MAX_ANSWER];
    memcpy(got, e->gold, sizeof(int32_t) * (size_t)e->na);
    for (int k = 0; k < e->na; k++) at[k] = e->first + k;
    for (int from = 0; from < e->na;) {
        LWM_TRY(lwm_train_model_argmax(e->model, e->row, len, e->theta, at, e->na, out, err));
        int k = from;
        while (k < e->na && out[k] == got[k]) k++;
        if (k < e->na) {
            got[k] = out[k];
            if (e->first + k + 1 < len) e->row[e->first + k + 1] = out[k];
        }
        from = k + 1;
    }
    return 0;
}

static void answer_text(eval_run *e, const int32_t *ids, char *out, size_t cap)
{
    if (lwm_loader_detokenize(e->loader, ids, (size_t)e->na, out, cap) == 0) return;
    size_t n = 0; // an id the tokenizer does not have: its number in <>
    out[0] = '\0';
    for (int k = 0; k < e->na && n + 16 < cap; k++) {
        char piece[64];
        if (lwm_loader_detokenize(e->loader, ids + k, 1, piece, sizeof piece) != 0)
            snprintf(piece, sizeof piece, "<%d>", ids[k]);
        n += (size_t)snprintf(out + n, cap - n, "%s", piece);
    }
}

static void trim(char *s)
{
    size_t a = strspn(s, " "), n = strlen(s);
    while (n > a && s[n - 1] == ' ') n--;
    memmove(s, s + a, n - a);
    s[n - a] = '\0';
}

int eval_one(eval_run *e, eval_sample *s, const char *path, lwm_error *err)
{
    LWM_TRY(layout_sample(e, s, path, err));
    int32_t got[EVAL_MAX_ANSWER];
    LWM_TRY(decode(e, s->r.length, got, err));
    answer_text(e, got, s->r.output, sizeof s->r.output);
    trim(s->r.output);
    s->r.correct = strcmp(s->r.output, s->r.answer) == 0;
    return 0;
}

int eval_prepare(eval_run *e, const lwm_eval_needle_options *o, MPI_Comm comm, lwm_error *err)
{
    LWM_TRY(eval_read_samples(e, o->data_path, err));
    LWM_TRY(check_tokenizer(e, o, err));
    LWM_TRY(lwm_train_model_open(&e->model, o->config_path, o->weights_path, comm, NULL, err));
    LWM_TRY(check_lengths(e, o, err));
    e->row = lwm_malloc(NULL, sizeof(int32_t) * (size_t)e->max_len);
    LWM_CHECK(err, e->row, -ENOMEM, "out of memory");
    const char *datasets[] = {o->data_path};
    lwm_loader_options lo = {.datasets = datasets,
                             .n_datasets = 1,
                             .tokenizer = e->tokenizer,
                             .force_tokenizer = 1,
                             .seq_len = e->max_len,
                             .rows = 1,
                             .layout = LWM_LAYOUT_PAD,
                             .no_shuffle = 1,
                             .cache_dir = o->work_dir};
    return lwm_loader_create(&e->loader, &lo, NULL, err);
}
