"""Writes hostile variants of a valid safetensors file (issue 15 item 2).

usage: craft_safetensors.py VALID OUTDIR  -> OUTDIR/<case>.safetensors, one per case; prints
the case names. Every header keeps the valid file's data section unless the case changes it.
"""
import json
import os
import struct
import sys


def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def dump(path, header, data, raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    text = text.encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def first(h, pred):
    return next(k for k, v in h.items() if k != "__metadata__" and pred(v))


def nbytes(v):
    return v["data_offsets"][1] - v["data_offsets"][0]


def cases(h, data):
    def variant(fn):
        g = json.loads(json.dumps(h))
        fn(g)
        return g

    # Offsets near 2^64 whose sum with data_start wraps to a small number: the old code read
    # bytes before the mapping (a tensor of a multiple of 2048 bytes, exact as doubles there).
    big = first(h, lambda v: nbytes(v) % 2048 == 0 and nbytes(v) > 0)
    span = nbytes(h[big])

    def wrap(g):
        g[big]["data_offsets"] = [2**64 - 2048 - span, 2**64 - 2048]
    yield "offsets_wrap", variant(wrap)

    bias = first(h, lambda v: len(v["shape"]) == 1)
    b0, b1 = h[bias]["data_offsets"]
    n = h[bias]["shape"][0]
    yield "offset_fraction", variant(lambda g: g[bias].update(data_offsets=[b0 + 0.5, b1 + 0.5]))
    yield "offset_negative", variant(lambda g: g[bias].update(data_offsets=[-4, b1 - b0 - 4]))
    yield "shape_fraction", variant(lambda g: g[bias].update(shape=[n + 0.5]))
    yield "shape_negative", variant(lambda g: g[bias].update(shape=[-n]))
    yield "shape_product_wraps", variant(
        lambda g: g.update(evil={"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}))
    yield "span_disagrees", variant(lambda g: g[bias].update(data_offsets=[b0, b1 - 4]))
    # Two tensors of one size on the same bytes: a reader would take one for the other.
    other = first(h, lambda v: v is not h[bias] and v["shape"] == h[bias]["shape"])
    yield "overlap", variant(lambda g: g[other].update(data_offsets=[b0, b1]))
    yield "past_end", variant(
        lambda g: g[bias].update(data_offsets=[len(data) + b0, len(data) + b1]))
    yield "metadata_not_object", variant(lambda g: g.update(__metadata__=[1]))
    yield "entry_not_object", variant(lambda g: g.update({bias: 5}))


def main():
    valid, outdir = sys.argv[1], sys.argv[2]
    h, data = load(valid)
    os.makedirs(outdir, exist_ok=True)
    for name, g in cases(h, data):
        dump(os.path.join(outdir, name + ".safetensors"), g, data)
        print(name)
    # Header length 2^64 - 1: 8 + length wraps in a naive bound.
    with open(os.path.join(outdir, "header_len_max.safetensors"), "wb") as f:
        f.write(b"\xff" * 8 + b"{}")
    print("header_len_max")


if __name__ == "__main__":
    main()
