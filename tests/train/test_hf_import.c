// Pretrained weights in the Hugging Face LLaMA layout against an independent PyTorch LLaMA
// (tests/train/hf_llama_ref.py, rotate-half RoPE, written from the published architecture):
// the trainer's model given the weights through train_import (one file, a sharded index, tied
// embeddings) computes the same logits, and so does the reference on what lwm_train_export
// writes back. Broken checkpoints fail naming the tensor (missing, wrong shape, NaN) or the
// config field (grouped-query attention).
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"
#include "train/model.h"

enum { NTOK = 40 };

// Matches hf_llama_ref.py's CONFIG (dim 32, 4 heads, ffn 48, vocab 50, eps 1e-5, theta 5e5).
static const char CONFIG[] =
    "{\"model\": {\"dim\": 32, \"layers\": 2, \"heads\": 4, \"ffn_dim\": 48,"
    " \"text_vocab\": 50, \"vision_vocab\": 24, \"norm_eps\": 1e-5},"
    " \"train\": {\"attn_tile\": 16, \"chunk\": 16},"
    " \"stages\": [{\"seq_len\": 40, \"rope_theta\": 500000, \"tokens_per_batch\": 40,"
    " \"total_tokens\": 40}]}";

static const char *dir_for(const char *name)
{
    static char dir[8][1024];
    static int k;
    char *d = dir[k++ % 8];
    snprintf(d, 1024, "%s/hf_%s", test_tmpdir(), name);
    mkdir(d, 0755);
    return d;
}

static int run(const char *fmt, const char *a, const char *b, const char *c)
{
    char cmd[4096], args[3000];
    snprintf(args, sizeof args, fmt, a, b, c);
    const char *root = getenv("LWM_ROOT");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/train/hf_llama_ref.py %s",
             root ? root : ".", args);
    return system(cmd);
}

static train_model *new_model(train_config *cfg, lwm_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/hf_config.json", test_tmpdir());
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fputs(CONFIG, f);
    fclose(f);
    if (train_config_parse(cfg, path, err) < 0) return NULL;
    train_ring ring;
    train_ring_reset(&ring); // one process, no communicators
    train_model *m = NULL;
    if (model_create(&m, cfg, &ring, NTOK, 1, NULL, err) < 0) return NULL;
    model_init_params(m, 3);
    return m;
}

// The trainer's logits [NTOK, Vt] for tokens at positions 0..NTOK-1: one row through the model,
// then the final norm and the text head over its last hidden states.
static int lwm_logits(train_model *m, const int32_t *tok, float *out, lwm_error *err)
{
    static int32_t tgt[NTOK], seg[NTOK], pos[NTOK];
    static float mask[NTOK];
    static uint8_t vis[NTOK];
    for (int i = 0; i < NTOK; i++) tgt[i] = tok[(i + 1) % NTOK], pos[i] = i, mask[i] = 1;
    train_batch bt = {1, NTOK, tok, tgt, seg, pos, mask, vis, vis, 0};
    row_loss rl;
    LWM_TRY(model_row_step(m, &rl, &bt, 0, m->cfg.stages[0].rope_theta, 1.0, err));
    const int d = m->cfg.model.dim;
    static float xn[NTOK * 64], rstd[NTOK];
    rmsnorm_forward(xn, rstd, m->x_final, m->params + m->ofs.ln_f, NTOK, d, m->cfg.model.norm_eps);
    mm(out, xn, m->params + m->ofs.lm_head, NTOK, d, m->cfg.model.text_vocab, 0);
    return 0;
}

static double read_err(const float *got, const char *path)
{
    static double ref[NTOK * 50];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(ref, sizeof(double), NTOK * 50, f) : 0;
    if (f) fclose(f);
    return n == NTOK * 50 ? max_rel_err(got, ref, n) : 1e9;
}

// The model in dir (made by the reference with make_opts) through train_import, its logits
// into got, and the same weights exported back into out_dir as HF by lwm_train_export.
static int import_and_export(float *got, const char *dir, const char *make_opts,
                             const char *out_dir, const int32_t *tok, lwm_error *err)
{
    if (run("make %s %s%s", dir, make_opts, "") != 0)
        return lwm_error_set(err, LWM_EINTERNAL, "reference could not make %s", dir);
    train_config cfg;
    train_model *m = new_model(&cfg, err);
    if (!m) return LWM_EINTERNAL;
    int rc = train_import(dir, &cfg.model, &m->lay, m->params, NULL, err);
    if (rc == 0) rc = lwm_logits(m, tok, got, err);
    char weights[1200];
    snprintf(weights, sizeof weights, "%.1000s/run_weights.safetensors", dir);
    train_weights_info info;
    train_weights_info_fill(&info, &cfg, 0, 0, "");
    if (rc == 0) rc = safetensors_write(weights, &m->lay, m->params, &info, err);
    if (rc == 0) rc = lwm_train_export(weights, "hf", out_dir, NULL, err);
    model_free(m);
    return rc;
}

// One file, a sharded index, tied embeddings, BF16 and F16 tensors: lwm's logits against the
// reference's on the same files and on the exported (F32) ones (one PyTorch start for all).
TEST(same_logits_as_pytorch_llama)
{
    enum { N = 5 };
    static const char *const names[N] = {"single", "sharded", "tied", "bf16", "f16"};
    static const char *const opts[N] = {"", "--shards 3", "--tied", "--dtype BF16 --shards 2",
                                        "--dtype F16"};
    static float got[N][NTOK * 50];
    char dirs[N][400], outs[N][500], refs[2 * N][600], tokens[500], args[12000] = "";
    int32_t tok[NTOK];
    for (int i = 0; i < NTOK; i++) tok[i] = (i * 7 + 3) % 50;
    for (int k = 0; k < N; k++) {
        lwm_error err = {0};
        snprintf(dirs[k], sizeof dirs[k], "%.380s", dir_for(names[k]));
        snprintf(outs[k], sizeof outs[k], "%.380s_exported", dirs[k]);
        REQUIRE(import_and_export(got[k], dirs[k], opts[k], outs[k], tok, &err) == 0, "%s: %s",
                names[k], err.msg);
        snprintf(refs[2 * k], sizeof refs[0], "%.400s/ref.bin", dirs[k]);
        snprintf(refs[2 * k + 1], sizeof refs[0], "%.480s/ref.bin", outs[k]);
        size_t n = strlen(args);
        snprintf(args + n, sizeof args - n, " %.400s %.600s %.500s %.600s", dirs[k], refs[2 * k],
                 outs[k], refs[2 * k + 1]);
    }
    snprintf(tokens, sizeof tokens, "%.400s/tokens.bin", dirs[0]);
    FILE *f = fopen(tokens, "wb");
    REQUIRE(f, "cannot write %s", tokens);
    fwrite(tok, sizeof *tok, NTOK, f);
    fclose(f);
    REQUIRE(run("logits %s%s%s", tokens, args, "") == 0, "the reference failed");
    for (int k = 0; k < N; k++) {
        double e0 = read_err(got[k], refs[2 * k]), e1 = read_err(got[k], refs[2 * k + 1]);
        printf("# %s: logits max rel err %.3g against the PyTorch LLaMA, %.3g on the export\n",
               names[k], e0, e1);
        CHECK(e0 < 2e-5, "%s: logits differ from the reference: max rel err %.3g", names[k], e0);
        CHECK(e1 < 2e-5, "%s exported: logits differ from lwm's: max rel err %.3g", names[k], e1);
    }
}

static void check_refused(const char *name, const char *make_opts, const char *want)
{
    const char *dir = dir_for(name);
    REQUIRE(run("make %s %s%s", dir, make_opts, "") == 0, "reference could not make %s", dir);
    lwm_error err = {0};
    train_config cfg;
    train_model *m = new_model(&cfg, &err);
    REQUIRE(m, "model: %s", err.msg);
    int rc = train_import(dir, &cfg.model, &m->lay, m->params, NULL, &err);
    CHECK(rc < 0, "%s: accepted", name);
    CHECK(strstr(err.msg, want), "%s: message '%s' lacks '%s'", name, err.msg, want);
    model_free(m);
}

TEST(missing_tensor_named)
{
    check_refused("missing", "--shards 2 --drop model.layers.1.mlp.up_proj.weight",
                  "model.layers.1.mlp.up_proj.weight");
}
TEST(wrong_shape_named)
{
    check_refused("shape", "--shape model.layers.0.self_attn.k_proj.weight",
                  "tensor model.layers.0.self_attn.k_proj.weight has shape [32, 31]");
}
TEST(nan_named)
{
    check_refused("nan", "--nan model.layers.1.self_attn.o_proj.weight",
                  "tensor model.layers.1.self_attn.o_proj.weight: element 3 is nan");
}
TEST(grouped_query_attention_refused)
{
    check_refused("gqa", "--kv-heads 2", "grouped-query attention is not supported");
}

// IEEE 754 binary16 and bfloat16 values from their definitions (not from our code).
TEST(half_precision_values)
{
    static const uint16_t f16[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001,
                                   0x03ff, 0x0400, 0x7c00, 0xfc00, 0x3555};
    static const float f16_want[] = {0.0f,           -0.0f,           1.0f,     -2.0f,    65504.0f,
                                     0x1p-24f,       1023 * 0x1p-24f, 0x1p-14f, INFINITY, -INFINITY,
                                     0.333251953125f};
    static const uint16_t bf16[] = {0x3f80, 0xc040, 0x7f7f, 0x0001, 0x7f80};
    static const float bf16_want[] = {1.0f, -3.0f, 0x1.fep127f, 0x1p-133f, INFINITY};
    float out[16];
    lwm_st_to_float(out, f16, 11, LWM_ST_F16);
    for (int i = 0; i < 11; i++)
        CHECK(memcmp(&out[i], &f16_want[i], 4) == 0, "F16 %#06x: %a, want %a", f16[i], out[i],
              f16_want[i]);
    lwm_st_to_float(out, bf16, 5, LWM_ST_BF16);
    for (int i = 0; i < 5; i++)
        CHECK(out[i] == bf16_want[i], "BF16 %#06x: %a, want %a", bf16[i], out[i], bf16_want[i]);
    const uint16_t nan16 = 0x7e00;
    lwm_st_to_float(out, &nan16, 1, LWM_ST_F16);
    CHECK(isnan(out[0]), "F16 0x7e00 is not NaN");
}

TEST_MAIN("train/hf_import", T(same_logits_as_pytorch_llama), T(half_precision_values),
          T(missing_tensor_named), T(wrong_shape_named), T(nan_named),
          T(grouped_query_attention_refused))
