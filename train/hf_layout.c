// The Hugging Face LLaMA layout of the trainer's tensors (README.md, "Pretrained weights"):
// names, torch Linear's [out, in] storage against the trainer's [in, out] kernels, and the
// order of q and k output rows. HF's LLaMA rotates the two halves of each head (rotate-half
// RoPE: dimension k pairs with k + hd/2); LWM rotates interleaved pairs (2k, 2k + 1). Both use
// the frequency theta^(-2k/hd) for pair k, so HF row h*hd + s*hd/2 + k holds what the trainer
// keeps in column h*hd + 2k + s, and the two models compute the same attention.
#include <stdio.h>
#include <string.h>

#include "internal.h"

void hf_tensor_of(hf_tensor *out, const train_layout *lay, int i)
{
    memset(out, 0, sizeof *out);
    const int layers = (lay->ntensors - 5) / 9, end = 2 + 9 * layers;
    static const char *const layer_names[9] = {
        "input_layernorm.weight",  "self_attn.q_proj.weight", "self_attn.k_proj.weight",
        "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
        "mlp.gate_proj.weight",    "mlp.up_proj.weight",      "mlp.down_proj.weight"};
    const char *name = NULL;
    if (i == 0)
        name = "model.embed_tokens.weight";
    else if (i == 1)
        name = "lwm.vision_embed_tokens.weight", out->optional = 1;
    else if (i == end)
        name = "model.norm.weight";
    else if (i == end + 1)
        name = "lm_head.weight", out->transpose = 1;
    else if (i == end + 2)
        name = "lwm.vision_head.weight", out->transpose = 1, out->optional = 1;
    if (name) {
        snprintf(out->name, sizeof out->name, "%s", name);
        return;
    }
    int l = (i - 2) / 9, j = (i - 2) % 9;
    snprintf(out->name, sizeof out->name, "model.layers.%d.%s", l, layer_names[j]);
    out->transpose = lay->t[i].rank == 2;
    out->rope_rows = j == 1 || j == 2;
}

// HF row r of a q/k projection -> the trainer's output column (see the top of the file).
static int64_t rope_column(int64_t r, int hd)
{
    int64_t h = r / hd, k = r % hd, half = hd / 2;
    return h * hd + 2 * (k % half) + k / half;
}

void hf_convert(float *dst, const float *src, const hf_tensor *t, int64_t rows, int64_t cols,
                int hd, int to_trainer)
{
    if (!t->transpose) {
        memcpy(dst, src, sizeof(float) * (size_t)(rows * cols));
        return;
    }
    // trainer tensor [cols, rows]: element (c, col(r)) <-> HF element (r, c)
    for (int64_t r = 0; r < rows; r++) {
        int64_t tc = t->rope_rows ? rope_column(r, hd) : r;
        if (to_trainer)
            for (int64_t c = 0; c < cols; c++) dst[c * rows + tc] = src[r * cols + c];
        else
            for (int64_t c = 0; c < cols; c++) dst[r * cols + c] = src[c * rows + tc];
    }
}
