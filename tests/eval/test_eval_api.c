// eval/ through its public API, without MPI (one process, MPI_COMM_NULL), so that the sanitizer
// build checks it for leaks (lwm eval under mpirun carries Open MPI's own): a random-init model
// evaluated on a small grid; the evaluation's greedy answers equal a plain token-by-token greedy
// decode (lwm_train_model_argmax with junk after the prompt, one token at a time); bad inputs
// fail with a message naming them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "harness.h"
#include "loader/loader.h"
#include "train/train.h"

static char dir[512], tok[600], tok2[600], config[600], config32[600], weights[600], needles[600];

static int train_tokenizer(const char *name, int vocab)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd %s && { cat /usr/share/common-licenses/GPL-3; for c in Lisbon Oslo Lima Kyoto "
             "Porto Graz Split Suva Cebu Izmir; do echo \"The special magic $c number is: "
             "0123456789. What is the special magic $c number?\"; done; } > %s.txt && "
             "spm_train --input=%s.txt --model_prefix=%s --vocab_size=%d --split_digits=true "
             "--character_coverage=1.0 --hard_vocab_limit=false --minloglevel=2 >/dev/null 2>&1",
             dir, name, name, name, vocab);
    return system(cmd);
}

static int write_config(const char *path, int dim)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(
        f,
        "{\"model\": {\"dim\": %d, \"layers\": 2, \"heads\": 2, \"ffn_dim\": 64, "
        "\"text_vocab\": 200, \"vision_vocab\": 16}, \"train\": {\"attn_tile\": 32, \"chunk\": 32},"
        "\"stages\": [{\"seq_len\": 128, \"rope_theta\": 10000, \"tokens_per_batch\": 128, "
        "\"total_tokens\": 128}], \"data\": {\"kind\": \"needle\", \"tokenizer\": \"%s\"}}\n",
        dim, tok);
    return fclose(f);
}

// Tokenizers, configs, seeded random weights (lwm_train_create's export_init) and needles.
static int setup(void)
{
    snprintf(dir, sizeof dir, "%s/eval_api", test_tmpdir());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0 || train_tokenizer("tok", 200) != 0 || train_tokenizer("tok2", 150) != 0)
        return -1;
    snprintf(tok, sizeof tok, "%s/tok.model", dir);
    snprintf(tok2, sizeof tok2, "%s/tok2.model", dir);
    snprintf(config, sizeof config, "%s/c.json", dir);
    snprintf(config32, sizeof config32, "%s/c32.json", dir);
    snprintf(weights, sizeof weights, "%s/init.safetensors", dir);
    snprintf(needles, sizeof needles, "%s/needles.jsonl", dir);
    if (write_config(config, 64) != 0 || write_config(config32, 32) != 0) return -1;
    char run[600];
    snprintf(run, sizeof run, "%s/run", dir);
    lwm_train_options to = {
        .config_path = config, .data_dir = dir, .out_dir = run, .export_init = weights};
    lwm_train *t = NULL;
    lwm_error err = {0};
    int rc = lwm_train_create(&t, &to, MPI_COMM_NULL, &err);
    lwm_train_free(t);
    if (rc < 0) return fprintf(stderr, "export_init: %s\n", err.msg), -1;
    const int64_t lengths[] = {64, 128};
    const double depths[] = {0, 0.5, 1};
    lwm_needle_options no = {.tokenizer = tok,
                             .lengths = lengths,
                             .n_lengths = 2,
                             .depths = depths,
                             .n_depths = 3,
                             .seed = 7};
    if (lwm_needle_make(&no, needles, &err) < 0)
        return fprintf(stderr, "needles: %s\n", err.msg), -1;
    return 0;
}

static lwm_eval_needle_options options(void)
{
    return (lwm_eval_needle_options){.config_path = config,
                                     .weights_path = weights,
                                     .data_path = needles,
                                     .work_dir = dir,
                                     .stage = -1};
}

TEST(evaluates_grid)
{
    lwm_eval_needle_options o = options();
    lwm_eval_needle_result *r = NULL;
    lwm_error err = {0};
    int rc = lwm_eval_needle(&o, MPI_COMM_NULL, &r, &err);
    CHECK(rc == 0, "eval: %s", err.msg);
    if (rc != 0) return;
    CHECK(r->n_samples == 6 && r->n_lengths == 2 && r->n_depths == 3, "%d samples, %d x %d cells",
          r->n_samples, r->n_lengths, r->n_depths);
    int correct = 0;
    for (int c = 0; c < 6; c++) {
        CHECK(r->total[c] == 1, "cell %d holds %d samples", c, r->total[c]);
        correct += r->correct[c];
    }
    CHECK(correct <= 1, "a random model answered %d of 6", correct);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    CHECK(lwm_eval_needle_heatmap(r, &rgb, &w, &h, &err) == 0 && w == 40 + 2 * 64 &&
              h == 3 * 30 + 22,
          "heatmap %dx%d", w, h);
    lwm_free(NULL, rgb);
    lwm_eval_needle_free(r);
}

// A plain greedy decode of the sample in loader row b: one forward per answer token, the row
// after the prompt filled with token 0 except what was decoded.
static void plain_greedy(lwm_train_model *m, lwm_loader *ld, const lwm_loader_batch *b, char *out,
                         size_t cap)
{
    int64_t L = 0, first = -1, na = -1;
    for (int64_t p = 0; p < b->len; p++) {
        L += b->segment_ids[p] != 0;
        if (b->loss_masks[p] > 0) na++, first = first < 0 ? p : first;
    }
    int32_t *row = calloc((size_t)L, sizeof *row), ids[64];
    memcpy(row, b->input_tokens, sizeof(int32_t) * (size_t)(first + 1));
    lwm_error err = {0};
    for (int64_t k = 0; k < na && k < 64; k++) {
        int64_t at = first + k;
        if (lwm_train_model_argmax(m, row, L, 10000, &at, 1, &ids[k], &err) < 0) break;
        if (at + 1 < L) row[at + 1] = ids[k];
    }
    lwm_loader_detokenize(ld, ids, (size_t)na, out, cap);
    size_t s = strspn(out, " ");
    memmove(out, out + s, strlen(out + s) + 1);
    free(row);
}

TEST(greedy_equals_token_by_token)
{
    lwm_eval_needle_options o = options();
    lwm_eval_needle_result *r = NULL;
    lwm_train_model *m = NULL;
    lwm_loader *ld = NULL;
    lwm_error err = {0};
    const char *ds[] = {needles};
    lwm_loader_options lo = {.datasets = ds,
                             .n_datasets = 1,
                             .tokenizer = tok,
                             .seq_len = 128,
                             .rows = 1,
                             .layout = LWM_LAYOUT_PAD,
                             .no_shuffle = 1,
                             .cache_dir = dir};
    int rc = lwm_eval_needle(&o, MPI_COMM_NULL, &r, &err);
    if (rc == 0) rc = lwm_train_model_open(&m, config, weights, MPI_COMM_NULL, NULL, &err);
    if (rc == 0) rc = lwm_loader_create(&ld, &lo, NULL, &err);
    CHECK(rc == 0, "setup: %s", err.msg);
    for (int i = 0; rc == 0 && i < r->n_samples; i++) {
        lwm_loader_batch b;
        CHECK(lwm_loader_next(ld, &b) == 0, "loader: %s", lwm_loader_errmsg(ld));
        char plain[256];
        plain_greedy(m, ld, &b, plain, sizeof plain);
        CHECK(strcmp(plain, r->samples[i].output) == 0, "sample %s: eval '%s', plain greedy '%s'",
              r->samples[i].id, r->samples[i].output, plain);
    }
    lwm_loader_free(ld);
    lwm_train_model_free(m);
    lwm_eval_needle_free(r);
}

static void expect_error(lwm_eval_needle_options o, const char *needle)
{
    lwm_eval_needle_result *r = NULL;
    lwm_error err = {0};
    int rc = lwm_eval_needle(&o, MPI_COMM_NULL, &r, &err);
    CHECK(rc < 0 && r == NULL && strstr(err.msg, needle), "rc %d, message '%s', expected '%s'", rc,
          err.msg, needle);
}

TEST(bad_inputs_named)
{
    lwm_eval_needle_options o = options();
    o.config_path = config32;
    expect_error(o, "tensor transformer.wte.embedding has dimension 1 = 64, model needs 32");
    o = options();
    o.tokenizer = tok2;
    expect_error(o, "needles.jsonl line 1 was made with another tokenizer");
    o = options();
    o.max_len = 64;
    expect_error(o, "line 4: length 128 is longer than the config allows (64");
    o = options();
    o.stage = 3;
    expect_error(o, "stage 3: the config has stages 0..0");
    o = options();
    o.data_path = "/nonexistent/needles.jsonl";
    expect_error(o, "/nonexistent/needles.jsonl");
}

int main(int argc, char **argv)
{
    if (setup() != 0) {
        printf("not ok eval/api/setup: fixtures could not be made\n");
        return 1;
    }
    static const test_case cases[] = {T(evaluates_grid), T(greedy_equals_token_by_token),
                                      T(bad_inputs_named)};
    return run_tests_("eval/api", cases, sizeof cases / sizeof cases[0], argc, argv);
}
