"""An independent Hugging Face LLaMA (LlamaForCausalLM) in PyTorch float64, written from the
published architecture (Touvron et al. 2023; the transformers LLaMA model card): RMSNorm,
rotate-half RoPE with inv_freq = theta^(-2k/hd) over the two halves of each head, causal
softmax attention, SwiGLU MLP (down(silu(gate x) * up x)), torch Linear weights [out, in].
It knows nothing of the trainer's layout.

usage:
  hf_llama_ref.py make DIR [--seed S] [--shards N] [--kv-heads K] [--drop NAME]
                           [--nan NAME] [--shape NAME] [--tied] [--vocab V] [--dtype F32|BF16|F16]
      writes a random model: DIR/config.json, DIR/model.safetensors (or N shards and
      DIR/model.safetensors.index.json); --drop leaves a tensor out, --nan puts a NaN in one,
      --shape stores one with a wrong shape, --tied drops lm_head (tie_word_embeddings),
      --dtype stores every tensor as BF16 or F16 (the reference computes on the stored values).
  hf_llama_ref.py logits TOKENS DIR OUT [DIR OUT ...]
      TOKENS: int32 token ids; each OUT: float64 logits [T, vocab] at positions 0..T-1 of the
      model in DIR.
"""
import json
import math
import os
import struct
import sys

import numpy as np

CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
          "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
          "num_key_value_heads": 4, "vocab_size": 50, "rms_norm_eps": 1e-5,
          "rope_theta": 500000.0, "hidden_act": "silu", "tie_word_embeddings": False}


def encode(a, dtype):
    """float32 array -> little-endian bytes of F32, F16 or BF16 (round to nearest even)."""
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    if dtype == "BF16":
        bits = a.astype("<f4").view("<u4").astype(np.uint64)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
    return a.astype("<f4").tobytes()


def decode(raw, dtype, shape):
    if dtype == "F16":
        return np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(shape)
    if dtype == "BF16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view("<f4").reshape(shape)
    return np.frombuffer(raw, dtype="<f4").reshape(shape)


def save_safetensors(path, tensors, dtype="F32"):
    header, off, blobs = {}, 0, []
    for name, a in tensors.items():
        b = encode(a, dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    hdr.pop("__metadata__", None)
    return {k: decode(raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], e["dtype"],
                      e["shape"]) for k, e in hdr.items()}


def make(d, opts):
    cfg = dict(CONFIG)
    cfg["num_key_value_heads"] = int(opts.get("--kv-heads", cfg["num_attention_heads"]))
    cfg["tie_word_embeddings"] = "--tied" in opts
    cfg["vocab_size"] = int(opts.get("--vocab", cfg["vocab_size"]))
    D, F, V, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    kvd = D // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    rng = np.random.default_rng(int(opts.get("--seed", 1)))
    t = {"model.embed_tokens.weight": rng.normal(0, 1, (V, D))}
    for i in range(L):
        p = "model.layers.%d." % i
        t[p + "input_layernorm.weight"] = 1 + 0.2 * rng.normal(0, 1, D)
        for n, shape in [("q", (D, D)), ("k", (kvd, D)), ("v", (kvd, D)), ("o", (D, D))]:
            t[p + "self_attn.%s_proj.weight" % n] = rng.normal(0, 0.3, shape)
        t[p + "post_attention_layernorm.weight"] = 1 + 0.2 * rng.normal(0, 1, D)
        t[p + "mlp.gate_proj.weight"] = rng.normal(0, 0.3, (F, D))
        t[p + "mlp.up_proj.weight"] = rng.normal(0, 0.3, (F, D))
        t[p + "mlp.down_proj.weight"] = rng.normal(0, 0.3, (D, F))
    t["model.norm.weight"] = 1 + 0.2 * rng.normal(0, 1, D)
    if not cfg["tie_word_embeddings"]:
        t["lm_head.weight"] = rng.normal(0, 0.3, (V, D))
    t = {k: v.astype(np.float32) for k, v in t.items()}
    if "--drop" in opts:
        del t[opts["--drop"]]
    if "--nan" in opts:
        t[opts["--nan"]].flat[3] = np.nan
    if "--shape" in opts:
        a = t[opts["--shape"]]
        t[opts["--shape"]] = a[:, :-1].copy() if a.ndim == 2 else a[:-1].copy()
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(d + "/config.json", "w"), indent=1)
    shards, dtype = int(opts.get("--shards", 1)), opts.get("--dtype", "F32")
    if shards == 1:
        save_safetensors(d + "/model.safetensors", t, dtype)
        return
    names, weight_map = list(t), {}
    for s in range(shards):
        file = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
        part = {k: t[k] for k in names[s::shards]}
        save_safetensors(d + "/" + file, part, dtype)
        weight_map.update({k: file for k in part})
    json.dump({"metadata": {}, "weight_map": weight_map}, open(d + "/model.safetensors.index.json", "w"))


def rms_norm(x, w, eps):
    import torch
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    import torch
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def forward(cfg, w, ids):
    import torch
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd, T, eps = D // H, len(ids), cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((T, T), -math.inf, dtype=torch.float64).triu(1)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q, k, v = (h @ w[p + "self_attn.%s_proj.weight" % n].T for n in "qkv")
        q, k, v = (a.view(T, H, hd).transpose(0, 1) for a in (q, k, v))
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
        x = x + (att @ v).transpose(0, 1).reshape(T, D) @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (g * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return rms_norm(x, w["model.norm.weight"], eps) @ head.T


def logits(d, tokens, out):
    import torch  # only here: making a model needs numpy alone, and is much faster to start
    cfg = json.load(open(d + "/config.json"))
    try:
        idx = json.load(open(d + "/model.safetensors.index.json"))["weight_map"]
        w = {}
        for f in sorted(set(idx.values())):
            w.update(load_safetensors(d + "/" + f))
    except FileNotFoundError:
        w = load_safetensors(d + "/model.safetensors")
    w = {k: torch.tensor(v.astype(np.float64)) for k, v in w.items()}
    ids = torch.tensor(np.fromfile(tokens, dtype="<i4").astype(np.int64))
    forward(cfg, w, ids).numpy().astype("<f8").tofile(out)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        a, opts = sys.argv[3:], {}
        for i, k in enumerate(a):
            if k.startswith("--"):
                opts[k] = a[i + 1] if i + 1 < len(a) and not a[i + 1].startswith("--") else True
        make(sys.argv[2], opts)
    else:
        for i in range(3, len(sys.argv), 2):
            logits(sys.argv[i], sys.argv[2], sys.argv[i + 1])
