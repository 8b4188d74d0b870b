"""PyTorch float64 reference of LWM's vision-language LLaMA loss and gradients, written from
../shared/spec/lwm-format.md (§1.2 two embeddings/heads, §4 positions, §5 loss, §8 model and
RoPE), independent of the C code. Ordinary (non-blockwise) attention.

usage: ref_model.py DIR   (DIR holds config.json, weights.safetensors, batch.bin written by
test_model.c); writes DIR/ref.json (losses) and DIR/ref_grads.bin (float64 gradients in the
safetensors file's tensor order).
"""
import json
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + n])
    hdr.pop("__metadata__", None)
    out = {}
    for name, e in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = e["data_offsets"]
        arr = np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(e["shape"])
        out[name] = torch.tensor(arr.astype(np.float64), requires_grad=True)
    return out


def read_batch(path):
    raw = open(path, "rb").read()
    rows, c = struct.unpack("<ii", raw[:8])
    off = 8
    n = rows * c

    def take(dtype):
        nonlocal off
        size = np.dtype(dtype).itemsize * n
        a = np.frombuffer(raw[off:off + size], dtype=dtype).reshape(rows, c)
        off += size
        return a

    b = {}
    for key, dt in [("input_tokens", "<i4"), ("target_tokens", "<i4"), ("segment_ids", "<i4"),
                    ("positions", "<i4"), ("loss_masks", "<f4"), ("input_vision_masks", "u1"),
                    ("target_vision_masks", "u1")]:
        b[key] = take(dt)
    theta = struct.unpack("<d", raw[off:off + 8])[0]
    return b, theta


def rmsnorm(x, g, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * g


def rope(x, pos, theta):
    # x [T, H, hd]; interleaved pairs (2k, 2k+1); f_k kept in fp32, pos*f_k formed in
    # float64 and rounded to fp32 before sin/cos (lwm-format.md §8.2).
    T, H, hd = x.shape
    k = np.arange(hd // 2, dtype=np.float64)
    f = (theta ** (-2.0 * k / hd)).astype(np.float32)
    ang = (pos.astype(np.float64)[:, None] * f.astype(np.float64)[None, :]).astype(np.float32)
    cos = torch.tensor(np.cos(ang.astype(np.float64)))[:, None, :]
    sin = torch.tensor(np.sin(ang.astype(np.float64)))[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    return out.reshape(T, H, hd)


def forward_row(W, m, tok, vis_in, pos, seg, theta):
    d, H, L, eps = m["dim"], m["heads"], m["layers"], m.get("norm_eps", 1e-6)
    hd = d // H
    tok_t = torch.tensor(tok.astype(np.int64))
    vis = torch.tensor(vis_in.astype(bool))[:, None]
    wte = W["transformer.wte.embedding"][tok_t.clamp(max=m["text_vocab"] - 1)]
    vte = W["transformer.vte.embedding"][tok_t.clamp(max=m["vision_vocab"] - 1)]
    x = torch.where(vis, vte, wte)
    T = x.shape[0]
    p = torch.tensor(pos.astype(np.int64))
    s = torch.tensor(seg.astype(np.int64))
    mask = (p[None, :] <= p[:, None]) & (s[None, :] == s[:, None])
    for i in range(L):
        pre = "transformer.h.%d." % i
        h = rmsnorm(x, W[pre + "attention_norm.kernel"], eps)
        q = rope((h @ W[pre + "attention.wq.kernel"]).reshape(T, H, hd), pos, theta)
        k = rope((h @ W[pre + "attention.wk.kernel"]).reshape(T, H, hd), pos, theta)
        v = (h @ W[pre + "attention.wv.kernel"]).reshape(T, H, hd)
        sc = torch.einsum("ihe,jhe->hij", q, k) / np.sqrt(hd)
        sc = sc.masked_fill(~mask[None], float("-inf"))
        o = torch.einsum("hij,jhe->ihe", torch.softmax(sc, dim=-1), v).reshape(T, d)
        x = x + o @ W[pre + "attention.wo.kernel"]
        h = rmsnorm(x, W[pre + "ffn_norm.kernel"], eps)
        a = h @ W[pre + "feed_forward.w1.kernel"]
        b = h @ W[pre + "feed_forward.w3.kernel"]
        x = x + (torch.nn.functional.silu(a) * b) @ W[pre + "feed_forward.w2.kernel"]
    xf = rmsnorm(x, W["transformer.ln_f.kernel"], eps)
    return xf @ W["lm_head.kernel"], xf @ W["vision_head.kernel"]


def lwm_loss(W, m, batch, theta):
    """lwm-format.md §5: per-row means over weighted tokens, averaged over rows, 0.5 (v + t)."""
    rows = batch["input_tokens"].shape[0]
    text_loss = 0
    vision_loss = 0
    for r in range(rows):
        lt, lv = forward_row(W, m, batch["input_tokens"][r], batch["input_vision_masks"][r],
                             batch["positions"][r], batch["segment_ids"][r], theta)
        mask = torch.tensor(batch["loss_masks"][r].astype(np.float64))
        tv = torch.tensor(batch["target_vision_masks"][r].astype(np.float64))
        tgt = torch.tensor(batch["target_tokens"][r].astype(np.int64))
        w_v, w_t = mask * tv, mask * (1 - tv)
        tgt_v = torch.where(tv > 0, tgt, torch.zeros_like(tgt))
        tgt_t = torch.where(tv > 0, torch.zeros_like(tgt), tgt)
        nll_v = -torch.log_softmax(lv, -1).gather(1, tgt_v[:, None])[:, 0]
        nll_t = -torch.log_softmax(lt, -1).gather(1, tgt_t[:, None])[:, 0]
        vision_loss = vision_loss + (w_v * nll_v).sum() / torch.clamp(w_v.sum(), min=1e-10)
        text_loss = text_loss + (w_t * nll_t).sum() / torch.clamp(w_t.sum(), min=1e-10)
    text_loss = text_loss / rows
    vision_loss = vision_loss / rows
    return 0.5 * (vision_loss + text_loss), text_loss, vision_loss


def main():
    d = sys.argv[1]
    cfg = json.load(open(d + "/config.json"))
    W = read_safetensors(d + "/weights.safetensors")
    batch, theta = read_batch(d + "/batch.bin")
    loss, tl, vl = lwm_loss(W, cfg["model"], batch, theta)
    loss.backward()
    json.dump({"loss": loss.item(), "text_loss": float(tl), "vision_loss": float(vl)},
              open(d + "/ref.json", "w"))
    with open(d + "/ref_grads.bin", "wb") as f:
        for name, t in W.items():
            f.write(t.grad.detach().numpy().astype("<f8").tobytes())


if __name__ == "__main__":
    main()
