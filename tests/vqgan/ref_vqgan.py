#!/usr/bin/python3
"""An independent PyTorch reference of LWM's VQGAN, written from
../shared/spec/lwm-format.md §7 (not from our C code), plus the tiny
safetensors reader/writer the tests need (numpy only).

Used by tests/vqgan/test_reference.c and bench/vqgan:
  ref_vqgan.py layers OUT                 random layer cases + float64 outputs
  ref_vqgan.py model W FRAMES C_OUT OUT [torch|numpy]   float64 encoder/decoder
  ref_vqgan.py torch-bench W FRAMES.rgb N THREADS   float32 NCHW encoder timing (JSON)
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

GROUPS, EPS = 32, 1e-6


# ------------------------------------------------------------------ safetensors

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        b, en = e["data_offsets"]
        arr = np.frombuffer(data, dtype="<f4", count=(en - b) // 4, offset=8 + hlen + b)
        out[name] = arr.reshape(e["shape"])
    return out, meta


def write_safetensors(path, tensors, meta=None):
    header, off, blobs = {}, 0, []
    if meta:
        header["__metadata__"] = {k: str(v) for k, v in meta.items()}
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------------ layers (NHWC in, NHWC out)

def conv(x, kernel, bias, mode="same"):
    """kernel HWIO. mode: same (3x3 pad 1 or 1x1), down (pad bottom/right 1, stride 2,
    VALID), up (nearest x2, then same)."""
    t = x.permute(0, 3, 1, 2)
    w = kernel.permute(3, 2, 0, 1)  # HWIO -> OIHW
    k = w.shape[-1]
    stride, pad = 1, k // 2
    if mode == "up":
        t = F.interpolate(t, scale_factor=2, mode="nearest")
    if mode == "down":
        t = F.pad(t, (0, 1, 0, 1))
        stride, pad = 2, 0
    return F.conv2d(t, w, bias, stride=stride, padding=pad).permute(0, 2, 3, 1)


def group_norm(x, scale, bias, silu):
    t = F.group_norm(x.permute(0, 3, 1, 2), GROUPS, scale, bias, eps=EPS)
    if silu:
        t = F.silu(t)
    return t.permute(0, 2, 3, 1)


def conv_np(x, kernel, bias, mode="same"):
    """The same conv in numpy float64: one GEMM per kernel tap, accumulated
    (torch's float64 conv2d runs at ~1 GFLOP/s here, too slow for the full
    preset; this path is checked against F.conv2d by the layer cases)."""
    k = kernel.shape[0]
    if mode == "up":
        x = x.repeat(2, axis=1).repeat(2, axis=2)
    B, H, W, C = x.shape
    if k == 1:
        return (x.reshape(-1, C) @ kernel[0, 0] + bias).reshape(B, H, W, -1)
    if mode == "down":
        xp, s, Ho, Wo = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0))), 2, H // 2, W // 2
    else:
        xp, s, Ho, Wo = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), 1, H, W
    y = np.empty((B * Ho * Wo, kernel.shape[3]))
    y[:] = bias
    for dy in range(3):
        for dx in range(3):
            tap = np.ascontiguousarray(xp[:, dy:dy + s * Ho:s, dx:dx + s * Wo:s, :]).reshape(-1, C)
            y += tap @ kernel[dy, dx]
    return y.reshape(B, Ho, Wo, -1)


def group_norm_np(x, scale, bias, silu):
    B, H, W, C = x.shape
    g = x.reshape(B, H * W, GROUPS, C // GROUPS)
    mean = g.mean(axis=(1, 3), keepdims=True)
    var = ((g - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    y = ((g - mean) / np.sqrt(var + EPS)).reshape(B, H, W, C) * scale + bias
    return y / (1 + np.exp(-y)) if silu else y


class Model:
    """The VQGAN from a dict of LWM-named parameters and a config dict."""

    def __init__(self, params, cfg, dtype=torch.float64):
        self.p = {k: torch.from_numpy(np.array(v)).to(dtype) for k, v in params.items()}
        self.cfg = cfg
        self.dtype = dtype

    def clip(self, x):
        return x.clamp(-1, 1)

    def conv(self, x, path, mode="same"):
        return conv(x, self.p[path + "/kernel"], self.p[path + "/bias"], mode)

    def norm(self, x, path, silu=True):
        return group_norm(x, self.p[path + "/scale"], self.p[path + "/bias"], silu)

    def resnet(self, x, path):
        h = self.conv(self.norm(x, path + "/GroupNorm_0"), path + "/Conv_0")
        h = self.conv(self.norm(h, path + "/GroupNorm_1"), path + "/Conv_1")
        if path + "/Conv_2/kernel" in self.p:
            x = self.conv(x, path + "/Conv_2")
        return x + h

    def encode_latent(self, frames):
        c = self.cfg
        L = len(c["channel_mult"])
        h = self.conv(frames, "encoder/Conv_0")
        for i in range(L):
            for j in range(c["num_res_blocks"]):
                h = self.resnet(h, f"encoder/DownsamplingBlock_{i}/ResnetBlock_{j}")
            if i != L - 1:
                h = self.conv(h, f"encoder/DownsamplingBlock_{i}/Downsample_0/Conv_0", "down")
        for j in range(2):
            h = self.resnet(h, f"encoder/MidBlock_0/ResnetBlock_{j}")
        h = self.conv(self.norm(h, "encoder/GroupNorm_0"), "encoder/Conv_1")
        return self.conv(h, "quant_conv")

    def decode(self, zq):
        c = self.cfg
        L = len(c["channel_mult"])
        h = self.conv(self.conv(zq, "post_quant_conv"), "decoder/Conv_0")
        for j in range(2):
            h = self.resnet(h, f"decoder/MidBlock_0/ResnetBlock_{j}")
        for i in range(L):  # UpsamplingBlock_0 is the lowest resolution
            for j in range(c["num_res_blocks"] + 1):
                h = self.resnet(h, f"decoder/UpsamplingBlock_{i}/ResnetBlock_{j}")
            if i != L - 1:
                h = self.conv(h, f"decoder/UpsamplingBlock_{i}/Upsample_0/Conv_0", "up")
        h = self.conv(self.norm(h, "decoder/GroupNorm_0"), "decoder/Conv_1")
        return self.clip(h)


class Model64(Model):
    """The same wiring on numpy float64 (for the full preset)."""

    def __init__(self, params, cfg):
        self.p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
        self.cfg = cfg

    def clip(self, x):
        return np.clip(x, -1, 1)

    def conv(self, x, path, mode="same"):
        return conv_np(x, self.p[path + "/kernel"], self.p[path + "/bias"], mode)

    def norm(self, x, path, silu=True):
        return group_norm_np(x, self.p[path + "/scale"], self.p[path + "/bias"], silu)


class ModelNCHW(Model):
    """The same wiring the way a PyTorch user runs it: float32, NCHW end to end
    (oneDNN convolutions). For the benchmark's PyTorch side."""

    def __init__(self, params, cfg):
        super().__init__(params, cfg, dtype=torch.float32)
        for k in list(self.p):
            if k.endswith("/kernel"):
                self.p[k] = self.p[k].permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW

    def conv(self, x, path, mode="same"):
        w, b = self.p[path + "/kernel"], self.p[path + "/bias"]
        if mode == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if mode == "down":
            return F.conv2d(F.pad(x, (0, 1, 0, 1)), w, b, stride=2)
        return F.conv2d(x, w, b, padding=w.shape[-1] // 2)

    def norm(self, x, path, silu=True):
        y = F.group_norm(x, GROUPS, self.p[path + "/scale"], self.p[path + "/bias"], eps=EPS)
        return F.silu(y) if silu else y


def quantize64(z, codebook):
    """argmin_k ||z - e_k||^2 in float64, ties to the lowest k. z [N, D]."""
    z = np.asarray(z, dtype=np.float64)
    e = np.asarray(codebook, dtype=np.float64)
    d = (z * z).sum(1, keepdims=True) + (e * e).sum(1)[None, :] - 2 * z @ e.T
    return np.argmin(d, axis=1), d


# ------------------------------------------------------------------ commands

def layer_cases(out_path):
    """Random inputs and weights for each layer type and their float64 outputs."""
    rng = np.random.default_rng(1234)
    tensors, cases = {}, []

    def add(name, op, x, shapes, **kw):
        tensors[f"{name}/x"] = x
        for k, s in shapes.items():
            tensors[f"{name}/{k}"] = s
        cases.append(dict(name=name, op=op, **kw))

    def rnd(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def t64(a):
        return torch.from_numpy(a.astype(np.float64))

    for name, k, mode, cin, cout, H, W in [
        ("conv3x3", 3, "same", 32, 64, 9, 7), ("conv1x1", 1, "same", 64, 32, 5, 6),
        ("downsample", 3, "down", 32, 32, 10, 8), ("upsample", 3, "up", 64, 64, 4, 5),
        ("conv3x3_in3", 3, "same", 3, 32, 12, 12), ("conv3x3_wide", 3, "same", 160, 128, 9, 10),
    ]:
        x, w, b = rnd(2, H, W, cin), rnd(k, k, cin, cout, scale=(k * k * cin) ** -0.5), rnd(cout, scale=0.1)
        y = conv(t64(x), t64(w), t64(b), mode).numpy()
        y_np = conv_np(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), mode)
        assert np.abs(y_np - y).max() <= 1e-9 * np.abs(y).max(), f"numpy conv differs on {name}"
        add(name, "conv", x, {"kernel": w, "bias": b, "ref": y}, k=k, mode=mode, cin=cin,
            cout=cout, B=2, H=H, W=W)
    for name, silu, C in [("group_norm", 0, 64), ("group_norm_silu", 1, 96)]:
        x = rnd(2, 6, 5, C, scale=2.0) + 0.5
        s, b = 1 + rnd(C, scale=0.1), rnd(C, scale=0.1)
        y = group_norm(t64(x), t64(s), t64(b), bool(silu)).numpy()
        y_np = group_norm_np(x.astype(np.float64), s.astype(np.float64), b.astype(np.float64), silu)
        assert np.abs(y_np - y).max() <= 1e-9 * np.abs(y).max(), f"numpy norm differs on {name}"
        add(name, "group_norm", x, {"scale": s, "bias": b, "ref": y}, silu=silu, C=C, B=2, H=6, W=5)
    for name, cin, cout in [("resnet_block", 64, 64), ("resnet_block_shortcut", 32, 64)]:
        params = {}
        for leaf, c in [("GroupNorm_0", cin), ("GroupNorm_1", cout)]:
            params[f"{leaf}/scale"], params[f"{leaf}/bias"] = 1 + rnd(c, scale=0.1), rnd(c, scale=0.1)
        convs = [("Conv_0", 3, cin, cout), ("Conv_1", 3, cout, cout)]
        if cin != cout:
            convs.append(("Conv_2", 1, cin, cout))
        for leaf, k, ci, co in convs:
            params[f"{leaf}/kernel"] = rnd(k, k, ci, co, scale=(k * k * ci) ** -0.5)
            params[f"{leaf}/bias"] = rnd(co, scale=0.1)
        x = rnd(2, 8, 8, cin)
        m = Model({"r/" + k: v for k, v in params.items()}, {})
        y = m.resnet(t64(x), "r").numpy()
        params["ref"] = y
        add(name, "resnet", x, params, cin=cin, cout=cout, B=2, H=8, W=8)
    # Quantizer: random latents plus exact and near ties.
    K, D = 512, 16
    e = rnd(K, D, scale=0.3)
    e[7] = e[3]  # an exact duplicate: ties must go to 3
    z = rnd(300, D, scale=0.3)
    z[0] = e[3]
    z[1] = e[100] + 1e-7 * rng.standard_normal(D).astype(np.float32)
    z[2] = (e[10] + e[20]) / 2  # equidistant up to rounding
    codes, _ = quantize64(z, e)
    add("quantize", "quantize", z, {"codebook": e, "ref": codes.astype(np.float32)}, K=K, D=D, N=300)
    write_safetensors(out_path, tensors, {"cases": json.dumps(cases)})


def model_ref(weights, frames_path, c_out_path, out_path, backend="torch"):
    params, meta = read_safetensors(weights)
    cfg = json.loads(meta["config"])
    frames = read_safetensors(frames_path)[0]["frames"]
    c_out = read_safetensors(c_out_path)[0]
    if backend == "quantize-only":  # only the exactness of the C quantizer (sanitizer runs)
        D = c_out["z"].shape[-1]
        codes_of_c_z, _ = quantize64(c_out["z"].reshape(-1, D), params["quantize/embeddings"])
        write_safetensors(out_path, {"codes_of_c_z": codes_of_c_z.astype(np.float32)})
        return
    # PyTorch float64 convs run at ~1 GFLOP/s here: numpy (same wiring, its conv
    # checked against PyTorch by the layer cases) for the 256x256 presets.
    big = backend == "numpy"
    m = Model64(params, cfg) if big else Model(params, cfg)
    wrap = (lambda a: a) if big else torch.from_numpy
    unwrap = (lambda a: a) if big else (lambda a: a.numpy())
    with torch.no_grad():
        z = unwrap(m.encode_latent(wrap(frames.astype(np.float64))))
        B, h, w, D = z.shape
        codes, _ = quantize64(z.reshape(-1, D), params["quantize/embeddings"])
        # Exactness of the C quantizer on the C latents themselves.
        codes_of_c_z, _ = quantize64(c_out["z"].reshape(-1, D), params["quantize/embeddings"])
        c_codes = c_out["codes"].reshape(-1).astype(np.int64)
        zq = params["quantize/embeddings"][c_codes].reshape(B, h, w, D)
        pixels = unwrap(m.decode(wrap(zq.astype(np.float64))))
    write_safetensors(out_path, {"z": z, "codes": codes.astype(np.float32),
                                 "codes_of_c_z": codes_of_c_z.astype(np.float32),
                                 "pixels": pixels})


def diffusers_name(lwm):
    """LWM (Flax) parameter name -> aMUSEd/diffusers VQModel name (spec §7.6)."""
    segs, out = lwm.split("/"), []
    for i, seg in enumerate(segs):
        parent = segs[i - 1] if i else ""
        if parent.startswith("ResnetBlock_"):
            seg = {"GroupNorm_0": "norm1", "GroupNorm_1": "norm2", "Conv_0": "conv1",
                   "Conv_1": "conv2", "Conv_2": "conv_shortcut"}.get(seg, seg)
        elif parent in ("Downsample_0", "Upsample_0") and seg == "Conv_0":
            seg = "conv"
        elif parent in ("encoder", "decoder"):
            seg = {"Conv_0": "conv_in", "Conv_1": "conv_out", "GroupNorm_0": "conv_norm_out",
                   "MidBlock_0": "mid_block"}.get(seg, seg)
        for prefix, new in (("DownsamplingBlock_", "down_blocks."), ("UpsamplingBlock_", "up_blocks."),
                            ("ResnetBlock_", "resnets.")):
            if seg.startswith(prefix):
                seg = new + seg[len(prefix):]
        out.append({"Downsample_0": "downsamplers.0", "Upsample_0": "upsamplers.0", "kernel": "weight",
                    "scale": "weight", "embeddings": "embedding.weight"}.get(seg, seg))
    return ".".join(out)


def import_fixtures(like, pkl_path, diffusers_path, lwm_path):
    """Fresh random tensors with the names and shapes of `like` (a weights
    file), written three ways: LWM's pickle (nested dicts under 'params', HWIO),
    a diffusers-layout safetensors (OIHW) and our own layout (the expectation)."""
    import pickle
    params, meta = read_safetensors(like)
    rng = np.random.default_rng(99)
    fresh = {}
    for name, a in params.items():
        scale = 1 / np.sqrt(np.prod(a.shape[:-1])) if name.endswith("kernel") else 0.1
        fresh[name] = (rng.uniform(-1, 1, a.shape) * scale).astype(np.float32)
        if name.endswith("scale"):
            fresh[name] += 1
        if name.endswith("embeddings"):
            fresh[name] = (rng.uniform(-1, 1, a.shape) * 0.35).astype(np.float32)
    tree = {}
    for name, a in fresh.items():
        node = tree
        *dirs, leaf = name.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = a
    with open(pkl_path, "wb") as f:
        pickle.dump({"params": tree}, f)
    diff = {}
    for name, a in fresh.items():
        diff[diffusers_name(name)] = a.transpose(3, 2, 0, 1) if a.ndim == 4 else a
    write_safetensors(diffusers_path, diff)
    write_safetensors(lwm_path, fresh, {"config": meta["config"]})


def torch_bench(weights, frames_path, n, threads):
    """Encodes n frames (raw 256x256 RGB24 file, cycled) one at a time; prints JSON."""
    import time
    torch.set_num_threads(int(threads))
    params, meta = read_safetensors(weights)
    cfg = json.loads(meta["config"])
    raw = np.fromfile(frames_path, dtype=np.uint8).reshape(-1, 256, 256, 3)
    frames = torch.from_numpy(raw.astype(np.float32) / 127.5 - 1).permute(0, 3, 1, 2).contiguous()
    m = ModelNCHW(params, cfg)
    e = m.p["quantize/embeddings"]
    e_norm = (e * e).sum(1)
    with torch.no_grad():
        m.encode_latent(frames[:1])  # warm up (oneDNN primitive creation)
        t0 = time.perf_counter()
        for i in range(int(n)):
            z = m.encode_latent(frames[i % len(frames)][None])
            zz = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
            torch.argmin(e_norm[None, :] - 2 * zz @ e.T, dim=1)
        dt = time.perf_counter() - t0
    print(json.dumps({"frames": int(n), "seconds": dt, "frames_per_s": int(n) / dt,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


def codes64(weights, frames_path, n, out_path):
    """float64 codes (numpy) of the first n raw 256x256 RGB24 frames, as raw uint16."""
    params, meta = read_safetensors(weights)
    m = Model64(params, json.loads(meta["config"]))
    raw = np.fromfile(frames_path, dtype=np.uint8).reshape(-1, 256, 256, 3)[: int(n)]
    out = []
    for f in raw:
        z = m.encode_latent((f.astype(np.float64) / 127.5 - 1)[None])
        out.append(quantize64(z.reshape(-1, z.shape[-1]), params["quantize/embeddings"])[0])
    np.concatenate(out).astype(np.uint16).tofile(out_path)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "layers":
        layer_cases(sys.argv[2])
    elif cmd == "model":
        model_ref(*sys.argv[2:7])
    elif cmd == "import-fixtures":
        import_fixtures(*sys.argv[2:6])
    elif cmd == "torch-bench":
        torch_bench(*sys.argv[2:6])
    elif cmd == "codes64":
        codes64(*sys.argv[2:6])
    else:
        sys.exit(f"unknown command {cmd}")
