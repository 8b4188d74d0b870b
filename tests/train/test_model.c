// The whole model's loss and every parameter gradient against the PyTorch float64 reference
// (tests/train/ref_model.py, written from the spec) on the same exported weights and batch:
// two rows mixing text and vision tokens, packed documents (segment ids), fractional and zero
// loss weights, large global positions (RoPE rounding), FFN/head chunks and attention tiles
// smaller than the row.
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"
#include "train/model.h"

enum { ROWS = 2, C = 64 };

static const char CONFIG[] =
    "{\"model\": {\"dim\": 32, \"layers\": 2, \"heads\": 4, \"ffn_dim\": 48,"
    " \"text_vocab\": 50, \"vision_vocab\": 40, \"norm_eps\": 1e-6},"
    " \"train\": {\"attn_tile\": 16, \"chunk\": 24},"
    " \"stages\": [{\"seq_len\": 64, \"rope_theta\": 50000000, \"tokens_per_batch\": 128,"
    " \"total_tokens\": 128}]}";

typedef struct batch_store {
    int32_t in[ROWS * C], tgt[ROWS * C], seg[ROWS * C], pos[ROWS * C];
    float mask[ROWS * C];
    uint8_t vin[ROWS * C], vtgt[ROWS * C];
} batch_store;

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

// A row of C+1 tokens with vision spans, shifted into inputs and targets (lwm-format.md §4).
static void make_batch(batch_store *b, uint64_t seed)
{
    for (int r = 0; r < ROWS; r++) {
        int32_t tok[C + 1], seg[C + 1];
        uint8_t vis[C + 1];
        float w[C + 1];
        for (int i = 0; i <= C; i++) {
            vis[i] = (i / 9) % 3 == 1;
            tok[i] = (int32_t)(next(&seed) % (vis[i] ? 40 : 50));
            seg[i] = i < 20 + 10 * r ? 0 : 1;
            uint64_t u = next(&seed) % 5;
            w[i] = u == 0 ? 0.0f : u == 1 ? 0.5f : 1.0f;
        }
        for (int i = 0; i < C; i++) {
            int o = r * C + i;
            b->in[o] = tok[i], b->tgt[o] = tok[i + 1], b->vin[o] = vis[i], b->vtgt[o] = vis[i + 1];
            b->mask[o] = w[i + 1], b->seg[o] = seg[i];
            b->pos[o] = r == 0 ? i : 700000 + i;
        }
    }
}

static int write_all(const char *path, const void *parts[], const size_t sizes[], int n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    for (int i = 0; i < n; i++) fwrite(parts[i], 1, sizes[i], f);
    return fclose(f);
}

static double *read_doubles(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    double *d = malloc(n * sizeof(double));
    size_t got = fread(d, sizeof(double), n, f);
    fclose(f);
    if (got != n) {
        free(d);
        return NULL;
    }
    return d;
}

TEST(loss_and_gradients_match_pytorch)
{
    char dir[1024], path[1200], cmd[4000];
    snprintf(dir, sizeof dir, "%s/model_ref", test_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    const void *cp[] = {CONFIG};
    size_t cs[] = {sizeof CONFIG - 1};
    REQUIRE(write_all(path, cp, cs, 1) == 0, "cannot write %.300s", path);
    lwm_error err = {0};
    train_config cfg;
    REQUIRE(train_config_parse(&cfg, path, &err) == 0, "config: %s", err.msg);
    train_ring ring;
    train_ring_reset(&ring); // one process, no communicators
    train_model *m = NULL;
    REQUIRE(model_create(&m, &cfg, &ring, C, 2, NULL, &err) == 0, "model: %s", err.msg);
    model_init_params(m, 7);
    uint64_t s = 99;
    for (int i = 0; i < m->lay.ntensors; i++) // norms away from 1 so their gradients matter
        if (m->lay.t[i].rank == 1)
            for (size_t j = 0; j < m->lay.t[i].size; j++)
                m->params[m->lay.t[i].offset + j] = 0.8f + 0.4f * (float)(next(&s) % 1000) / 1000;
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    REQUIRE(safetensors_write(path, &m->lay, m->params, NULL, &err) == 0, "export: %s", err.msg);
    static batch_store b;
    make_batch(&b, 5);
    int32_t dims[2] = {ROWS, C};
    double theta = cfg.stages[0].rope_theta;
    const void *parts[] = {dims, b.in, b.tgt, b.seg, b.pos, b.mask, b.vin, b.vtgt, &theta};
    size_t sizes[] = {8,
                      sizeof b.in,
                      sizeof b.tgt,
                      sizeof b.seg,
                      sizeof b.pos,
                      sizeof b.mask,
                      sizeof b.vin,
                      sizeof b.vtgt,
                      8};
    snprintf(path, sizeof path, "%s/batch.bin", dir);
    REQUIRE(write_all(path, parts, sizes, 9) == 0, "cannot write %.300s", path);

    train_batch bt = {ROWS, C, b.in, b.tgt, b.seg, b.pos, b.mask, b.vin, b.vtgt, 0};
    memset(m->grads, 0, m->lay.total * sizeof(float));
    double text = 0, vision = 0;
    for (int r = 0; r < ROWS; r++) {
        row_loss rl;
        REQUIRE(model_row_step(m, &rl, &bt, r, theta, 1.0 / ROWS, &err) == 0, "step: %s", err.msg);
        text += rl.text, vision += rl.vision;
    }
    double loss = 0.5 * (text + vision);

    const char *root = getenv("LWM_ROOT");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/train/ref_model.py %s", root ? root : ".",
             dir);
    REQUIRE(system(cmd) == 0, "reference failed: %.300s", cmd);
    snprintf(path, sizeof path, "%s/ref.json", dir);
    struct cJSON *ref = NULL;
    REQUIRE(lwm_json_load_file(path, &ref, &err) == 0, "%s", err.msg);
    double rl = cJSON_GetObjectItem(ref, "loss")->valuedouble;
    double rt = cJSON_GetObjectItem(ref, "text_loss")->valuedouble;
    double rv = cJSON_GetObjectItem(ref, "vision_loss")->valuedouble;
    cJSON_Delete(ref);
    printf("# loss %.8f ref %.8f (text %.6f/%.6f vision %.6f/%.6f)\n", loss, rl, text, rt, vision,
           rv);
    CHECK(fabs(loss - rl) <= 1e-5 * fabs(rl), "loss %.8f vs reference %.8f", loss, rl);
    CHECK(fabs(text - rt) <= 1e-5 * fabs(rt) && fabs(vision - rv) <= 1e-5 * fabs(rv),
          "text/vision %.8f/%.8f vs %.8f/%.8f", text, vision, rt, rv);
    snprintf(path, sizeof path, "%s/ref_grads.bin", dir);
    double *g = read_doubles(path, m->lay.total);
    REQUIRE(g, "cannot read %.300s", path);
    double worst = 0;
    for (int i = 0; i < m->lay.ntensors; i++) {
        const train_tensor *t = &m->lay.t[i];
        double e = max_rel_err(m->grads + t->offset, g + t->offset, t->size);
        worst = fmax(worst, e);
        CHECK(e < 1e-4, "gradient of %s: max rel err %.3g", t->name, e);
    }
    printf("# %d gradient tensors, worst max rel err %.3g\n", m->lay.ntensors, worst);
    free(g);
    model_free(m);
}

TEST_MAIN("train/model", T(loss_and_gradients_match_pytorch))
