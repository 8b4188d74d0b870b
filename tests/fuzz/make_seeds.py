"""Writes the seed corpora of tests/fuzz/<harness>/ (run once; the files are committed).

usage: make_seeds.py ROOT [FIXTURE_DATASET]
Seeds are small valid inputs plus the hostile cases of issue 15 (offsets near 2^64, fractional
shapes, overlaps, negative checkpoint counters, NaN parameters, NUL ids, repeated keys, ...).
FIXTURE_DATASET, a dataset written by tests/shard/test_fixture_tool --open, supplies real
record values and a manifest.
"""
import glob
import json
import os
import struct
import sys

import xxhash


def put(root, harness, name, data):
    d = os.path.join(root, "tests", "fuzz", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(header, data_bytes):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(range(256)) * (data_bytes // 256) + bytes(data_bytes % 256)


def seeds_safetensors(root):
    ok = {"__metadata__": {"format": "lwm-train"},
          "w": {"dtype": "F32", "shape": [4, 8], "data_offsets": [0, 128]},
          "b": {"dtype": "F32", "shape": [8], "data_offsets": [128, 160]}}
    put(root, "safetensors", "valid", safetensors(ok, 160))
    cases = {
        "offsets_wrap": ("w", "data_offsets", [2**64 - 2048 - 128, 2**64 - 2048]),
        "offset_fraction": ("b", "data_offsets", [128.5, 160.5]),
        "offset_negative": ("b", "data_offsets", [-32, 0]),
        "shape_fraction": ("b", "shape", [7.5]),
        "shape_wraps": ("b", "shape", [2**32, 2**32]),
        "overlap": ("b", "data_offsets", [96, 128]),
        "past_end": ("b", "data_offsets", [1600, 1632]),
    }
    for name, (t, key, value) in cases.items():
        h = json.loads(json.dumps(ok))
        h[t][key] = value
        put(root, "safetensors", name, safetensors(h, 160))
    put(root, "safetensors", "header_len_max", b"\xff" * 8 + b"{}")
    dup = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    put(root, "safetensors", "name_twice", struct.pack("<Q", len(dup)) + dup + bytes(8))


def checkpoint(step=10, stage_step=4, p=None, m=None, v=None):
    # train/internal.h ckpt_state: i32 shape[6], stage, nan_skips; i64 step, stage_step, tokens;
    # u64 source_state_size. The fuzz harness's model: shape {4,1,1,4,2,2}, 12 floats a slab.
    src = b"S" * 16
    st = struct.pack("<6iiiqqqQ", 4, 1, 1, 4, 2, 2, 0, 0, step, stage_step, 640, len(src))
    slabs = b"".join(struct.pack("<12f", *x) for x in (p or [0.5] * 12, m or [0.0] * 12, v or [1e-6] * 12))
    body = st + src + slabs
    return b"LWMTRNST" + struct.pack("<I", 1) + body + xxhash.xxh3_128_hexdigest(body).encode()


def seeds_checkpoint(root):
    put(root, "checkpoint", "valid", checkpoint())
    put(root, "checkpoint", "step_negative", checkpoint(step=-5, stage_step=0))
    put(root, "checkpoint", "param_nan", checkpoint(p=[float("nan")] + [0.0] * 11))
    put(root, "checkpoint", "adam_v_negative", checkpoint(v=[-0.5] * 12))
    bad = bytearray(checkpoint())
    bad[12 + 56:12 + 64] = struct.pack("<Q", 2**64 - 1)  # source_state_size
    put(root, "checkpoint", "source_size_max", bytes(bad))


def loader_state(stage=0, seed=42, epoch=0, window=0, row=0, step=0, tokens=0, config_hash=7):
    b = b"LWMLDST\0" + struct.pack("<Ii", 1, stage) + struct.pack("<Q", seed)
    b += struct.pack("<qqqqqQ", epoch, window, row, step, tokens, config_hash)
    return b + struct.pack("<Q", xxhash.xxh3_64_intdigest(b))


def seeds_loader_state(root):
    put(root, "loader_state", "valid", loader_state(row=3, step=3, tokens=1536))
    put(root, "loader_state", "row_negative", loader_state(row=-1))
    put(root, "loader_state", "window_negative", loader_state(window=-1, epoch=-1))
    put(root, "loader_state", "stage_past_end", loader_state(stage=99))
    put(root, "loader_state", "huge", loader_state(row=2**62, step=2**62, tokens=2**63 - 1))


def seeds_text(root):
    codes = list(range(256))
    lines = {
        "video": {"id": "a", "video": "media/a.mp4", "caption": "a test pattern"},
        "spec_list": {"id": "b", "image": "c.jpg", "caption": "x", "fields": ["[vision],caption", "caption"]},
        "codes": {"id": "v", "vision": codes, "caption": "pre", "fields": "[caption],vision"},
        "text": {"id": 12, "text": "text only"},
    }
    for name, obj in lines.items():
        put(root, "ingest_line", name, json.dumps(obj))
    put(root, "ingest_line", "nul_id", '{"id": "a\\u0000x", "text": "t"}')
    put(root, "ingest_line", "two_vision", '{"id": "t", "vision": [%s], "vision": [%s]}' % (
        ",".join(map(str, codes)), ",".join(map(str, codes))))
    put(root, "ingest_line", "escapes", '{"id": "evil\\n\\u001b[31m", "text": "x\\u001b[2J"}')
    jsonl = "\n".join(json.dumps(o) for o in [
        {"id": "d0", "fields": "[caption],vision", "caption": "a dog runs", "vision": codes * 2},
        {"id": "d1", "fields": ["caption+text", "<s>[caption]</s>"], "caption": "the cat", "text": "runs"},
        {"id": "d2", "fields": "[vision]", "vision": codes * 5}]) + "\n"
    put(root, "jsonl", "valid", jsonl)
    put(root, "jsonl", "two_vision", '{"id": "t", "fields": "[vision]", "vision": [%s], "vision": [%s]}\n' % (
        ",".join(map(str, codes)), ",".join(map(str, codes))))
    put(root, "jsonl", "nul_id", '{"id": "a\\u0000x", "fields": "caption", "caption": "t"}\n')
    put(root, "jsonl", "bad_codes", '{"id": "c", "fields": "[vision]", "vision": [%s, 8192]}\n' % ",".join(["1"] * 255))


def seeds_configs(root):
    for path in glob.glob(os.path.join(root, "configs", "*.json")):
        name = os.path.basename(path)
        with open(path, "rb") as f:
            data = f.read()
        put(root, "curriculum" if name.startswith("curriculum") else "train_config", name, data)
    with open(os.path.join(root, "configs", "tiny.json")) as f:
        tiny = json.load(f)
    for name, (sec, key, value) in {"text_vocab_wraps": ("model", "text_vocab", 4294967295),
                                    "attn_tile_2_40": ("train", "attn_tile", 2**40),
                                    "dim_string": ("model", "dim", "128"),
                                    "beta1_2": ("optimizer", "beta1", 2)}.items():
        c = json.loads(json.dumps(tiny))
        c.setdefault(sec, {})[key] = value
        put(root, "train_config", name, json.dumps(c))
    put(root, "curriculum", "negative", json.dumps({"stages": [{"seq_len": -4, "rope_theta": 1e4,
        "tokens_per_batch": 8, "total_tokens": 8}]}))


def seeds_shard(root, dataset):
    import lmdb
    with open(os.path.join(dataset, "manifest.json"), "rb") as f:
        manifest = f.read()
    put(root, "shard_manifest", "fixture", manifest)
    m = json.loads(manifest)
    if m.get("shards"):
        m["shards"][0]["records"] = -1
    m["format_version"] = 99
    put(root, "shard_manifest", "hostile", json.dumps(m))
    path = sorted(glob.glob(os.path.join(dataset, "shard-*.mdb")))[-1]
    env = lmdb.open(path, subdir=False, max_dbs=4, readonly=True, lock=False)
    with env.begin() as t:
        recs = env.open_db(b"records", txn=t, create=False)
        kept = 0
        for key, value in t.cursor(db=recs):
            if key[8] == 0 and kept < 6:
                put(root, "shard_record", "record%d" % kept, value)
                kept += 1
    env.close()
    put(root, "shard_record", "empty", b"")


def main():
    root = sys.argv[1]
    seeds_safetensors(root)
    seeds_checkpoint(root)
    seeds_loader_state(root)
    seeds_text(root)
    seeds_configs(root)
    if len(sys.argv) > 2:
        seeds_shard(root, sys.argv[2])


if __name__ == "__main__":
    main()
