"""PyTorch CPU reference for the trainer benchmark: the same model as the C trainer (LWM's
vision-language LLaMA, interleaved RoPE, SwiGLU, two vocabularies and heads, LWM's loss)
with ordinary attention (the full seq x seq score matrix), one training step (forward,
backward, AdamW) at seq_len tokens. Prints one JSON line: tokens/s and peak RSS.

usage: ref_torch.py CONFIG SEQ_LEN [THREADS]
"""
import json
import resource
import sys
import time

import torch


def rmsnorm(x, g, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * g


def rope(x, pos, theta):
    T, H, hd = x.shape
    f = (theta ** (-2.0 * torch.arange(hd // 2, dtype=torch.float64) / hd)).float()
    ang = (pos.double()[:, None] * f.double()[None, :]).float()
    cos, sin = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(T, H, hd)


def main():
    cfg = json.load(open(sys.argv[1]))
    T = int(sys.argv[2])
    torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    m = cfg["model"]
    d, L, H, F = m["dim"], m["layers"], m["heads"], m["ffn_dim"]
    Vt, Vv, hd = m.get("text_vocab", 32000), m.get("vision_vocab", 8448), d // H
    g = torch.Generator().manual_seed(0)

    def p(*shape, one=False):
        t = torch.ones(shape) if one else torch.randn(shape, generator=g) * 0.02
        return t.requires_grad_()

    W = {"wte": p(Vt, d), "vte": p(Vv, d), "ln_f": p(d, one=True), "lm": p(d, Vt), "vh": p(d, Vv)}
    for i in range(L):
        for n in ("wq", "wk", "wv", "wo"):
            W[f"{i}.{n}"] = p(d, d)
        W[f"{i}.an"], W[f"{i}.fn"] = p(d, one=True), p(d, one=True)
        W[f"{i}.w1"], W[f"{i}.w3"], W[f"{i}.w2"] = p(d, F), p(d, F), p(F, d)
    opt = torch.optim.AdamW(W.values(), lr=1e-4)
    vis = (torch.arange(T) // 300) % 2 == 1
    tok = torch.randint(0, Vv, (T + 1,), generator=g)
    inp, tgt = tok[:-1], tok[1:]
    vin, vt = vis, torch.cat([vis[1:], vis[:1]])
    pos = torch.arange(T)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    theta = cfg["stages"][0].get("rope_theta", 10000.0)

    t0 = time.time()
    x = torch.where(vin[:, None], W["vte"][inp], W["wte"][inp])
    for i in range(L):
        h = rmsnorm(x, W[f"{i}.an"], 1e-6)
        q = rope((h @ W[f"{i}.wq"]).reshape(T, H, hd), pos, theta)
        k = rope((h @ W[f"{i}.wk"]).reshape(T, H, hd), pos, theta)
        v = (h @ W[f"{i}.wv"]).reshape(T, H, hd)
        s = torch.einsum("ihe,jhe->hij", q, k) / hd ** 0.5
        s = s.masked_fill(~mask[None], float("-inf"))
        o = torch.einsum("hij,jhe->ihe", torch.softmax(s, -1), v).reshape(T, d)
        x = x + o @ W[f"{i}.wo"]
        h = rmsnorm(x, W[f"{i}.fn"], 1e-6)
        x = x + (torch.nn.functional.silu(h @ W[f"{i}.w1"]) * (h @ W[f"{i}.w3"])) @ W[f"{i}.w2"]
    xf = rmsnorm(x, W["ln_f"], 1e-6)
    # LWM computes both heads at every position (lwm-format.md §1.2)
    lt, lv = xf @ W["lm"], xf @ W["vh"]
    nll_t = torch.nn.functional.cross_entropy(lt, tgt.clamp(max=Vt - 1), reduction="none")
    nll_v = torch.nn.functional.cross_entropy(lv, tgt, reduction="none")
    wv, wt = vt.float(), 1 - vt.float()
    loss = 0.5 * ((wv * nll_v).sum() / wv.sum() + (wt * nll_t).sum() / wt.sum())
    loss.backward()
    opt.step()
    dt = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seq_len": T, "seconds": dt, "tokens_per_s": T / dt, "peak_memory": peak,
                      "loss": loss.item()}))


if __name__ == "__main__":
    main()
