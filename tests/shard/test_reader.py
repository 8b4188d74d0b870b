"""The Python reader (python/lwm_shard.py) against datasets written by the C
writer (tests/shard/test_fixture_tool). Expected values come from the
fixture's formulas, re-derived here, not from the C reader."""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.environ.get("LWM_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("LWM_BUILD", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(ROOT, "python"))
import lwm_shard  # noqa: E402

TOOL = os.path.join(BUILD, "tests", "shard", "test_fixture_tool")
TMP = os.environ.get("LWM_TMP") or tempfile.mkdtemp()
failed = 0


def check(name, cond, why=""):
    global failed
    print(f"ok shard/reader_py/{name}" if cond else f"not ok shard/reader_py/{name}: {why}")
    failed += 0 if cond else 1


def fx_frames(n):
    return 0 if n % 5 == 0 else n % 7 + 1


def fx_codes(n):
    f = fx_frames(n)
    frame = np.arange(f).reshape(-1, 1)
    pos = np.arange(256).reshape(1, -1)
    return ((n * 977 + frame * 131 + pos * 7) % 8192).astype(np.uint16)


def sample_ok(s, n):
    f = fx_frames(n)
    want_tokens = np.arange(16, dtype=np.int32) + n * 100 if n % 2 else None
    toks = s["texts"]["caption"]["tokens"]
    return (s["id"] == "sample-%06d" % n and s["index"] == n and s["frames"] == f
            and s["codes"].shape == (f, 256) and np.array_equal(s["codes"], fx_codes(n))
            and np.array_equal(s["timestamps"], 0.5 * np.arange(f) + n)
            and s["texts"]["caption"]["text"] == f"caption of sample {n}: ünïcode ✓"
            and s["texts"]["question"]["text"] == "what is shown?"
            and (toks is None if want_tokens is None else np.array_equal(toks, want_tokens))
            and s["modality"] == ("text" if f == 0 else "image" if f == 1 else "video")
            and s["source"] == f"videos/clip{n}.mp4" and s["manifest_line"] == n + 1
            and s["fields"] == '"[vision],caption"' and s["duration"] == 10.0 + n)


def write(name, n, shard_bytes, *extra):
    d = os.path.join(TMP, name)
    subprocess.run(["rm", "-rf", d], check=True)
    subprocess.run([TOOL, "--write", d, str(n), str(shard_bytes), *extra], check=True)
    return d


# Sealed shards (closed writer), several of them.
d = write("py_sealed", 60, 20000)
with lwm_shard.Dataset(d) as ds:
    check("count", len(ds) == 60, len(ds))
    bad = [n for n in range(60) if not sample_ok(ds[n], n)]
    check("every_record_matches_the_fixture", not bad, f"records {bad[:5]}")
    check("find_by_id", ds.find("sample-000037")["index"] == 37)
    check("identity", ds.info["vqgan_preset"] == "tiny" and ds.info["vqgan_untrained"] is True,
          ds.info)
    fails = ds.failures()
    check("failures", [f[0] for f in fails] == ["broken.mp4", "empty.mp4"] and fails[0][1] == 61,
          fails)
    check("several_shards", len(ds.shards) > 2, len(ds.shards))
    check("checksums_verified", lwm_shard.xxhash is not None, "python3-xxhash missing")

# A live / crashed writer's open shard is read too.
d = write("py_open", 30, 1 << 30, "--open")
with lwm_shard.Dataset(d) as ds:
    check("open_shard_is_read", len(ds) == 30 and sample_ok(ds[29], 29), len(ds))

# A flipped byte in a value is caught by the checksum (or zstd), naming the record.
d = write("py_flip", 10, 1 << 30)
with lwm_shard.Dataset(d) as ds:
    value = ds.shards[0].value(3)
path = os.path.join(d, "shard-00000.mdb")
data = bytearray(open(path, "rb").read())
at = data.find(value[:64])
data[at + 100] ^= 0x20  # inside part 0 (parts are not contiguous in the file)
open(path, "wb").write(bytes(data))
with lwm_shard.Dataset(d) as ds:
    try:
        ds[3]
        check("flipped_byte_detected", False, "record 3 read without error")
    except lwm_shard.DatasetError as e:
        check("flipped_byte_detected", "record 3" in str(e), str(e))
    check("neighbour_still_reads", sample_ok(ds[4], 4))

# Unpacking agrees with a bit-by-bit reference.
rng = np.random.default_rng(1)
codes = rng.integers(0, 8192, size=1001)
bits = np.zeros(13 * 1001 + 24, dtype=np.uint8)
for i, c in enumerate(codes):
    bits[13 * i:13 * i + 13] = (c >> np.arange(13)) & 1
packed = np.packbits(bits, bitorder="little").tobytes()
check("unpack13_matches_reference", np.array_equal(lwm_shard.unpack13(packed, 1001), codes))

sys.exit(1 if failed else 0)
