"""Read an lwm dataset (the store written by `lwm ingest`) from Python.

A dataset is a directory with ``manifest.json`` and LMDB shard files
(``shard-NNNNN.mdb`` sealed, ``shard-NNNNN.open.mdb`` being appended). Every
sample is one record with a dense index (0..len-1) and an id::

    import lwm_shard
    with lwm_shard.Dataset("corpus/") as ds:
        print(len(ds), ds.info["vqgan_preset"])
        s = ds[0]                       # or ds.find("clip-17")
        s["codes"]                      # numpy uint16 [frames, 256]
        s["timestamps"]                 # numpy float64 [frames]
        s["texts"]["caption"]["text"]   # str; ["tokens"] is int32 array or None

Needs python3-lmdb, python3-zstandard and python3-numpy (Debian packages);
python3-xxhash, when installed, checks each record's checksum.

Like the C reader, this sees the dataset as it was when opened, opens sealed
shards without LMDB locks (they never change) and must be opened after
fork(), never before. The on-disk layout is documented in shard/internal.h.
"""
import json
import os
import struct

import lmdb
import numpy as np
import zstandard

try:
    import xxhash
except ImportError:  # checksums are then not verified
    xxhash = None

SCHEMA_VERSION = 1
RECORD_VERSION = 2  # 2: the source file's size and XXH3-128
_RECORD_MAGIC = b"LWMr"
_META_MAGIC = b"LWMS"
_MODALITIES = ("text", "image", "video")
_PACKED_FRAME = 416  # 256 codes x 13 bits / 8


class DatasetError(Exception):
    """A dataset, shard or record that cannot be read; the message names it."""


def unpack13(packed, n):
    """Unpacks n 13-bit codes (little-endian bit order) into a uint16 array."""
    buf = np.frombuffer(bytes(packed) + b"\0\0\0", dtype=np.uint8).astype(np.uint32)
    bit = np.arange(n, dtype=np.int64) * 13
    byte = bit >> 3
    word = buf[byte] | (buf[byte + 1] << 8) | (buf[byte + 2] << 16)
    return ((word >> (bit & 7).astype(np.uint32)) & 0x1FFF).astype(np.uint16)


class _Shard:
    def __init__(self, path, sealed):
        self.name = os.path.basename(path)
        try:
            self.env = lmdb.open(path, subdir=False, readonly=True, lock=not sealed,
                                 max_dbs=4, max_readers=1024)
        except lmdb.Error as e:
            raise DatasetError(f"{path}: {e}") from None
        self.records = self.env.open_db(b"records", create=False)
        self.ids = self.env.open_db(b"ids", create=False)
        self.failed = self.env.open_db(b"failed", create=False)
        meta_db = self.env.open_db(b"meta", create=False)
        with self.env.begin() as txn:
            meta = txn.get(b"shard", db=meta_db)
        if meta is None:  # an open shard created but never committed
            self.first_index, self.count = None, 0
            return
        if meta[:4] != _META_MAGIC or len(meta) < 104:
            raise DatasetError(f"{path}: shard meta record is damaged")
        (version,) = struct.unpack_from("<I", meta, 4)
        if version > 1:
            raise DatasetError(f"{path}: shard written by a newer schema ({version})")
        self.dataset_id = meta[16:48].decode()
        self.first_index, self.count = struct.unpack_from("<qq", meta, 48)

    def value(self, index):
        """The stored bytes of record index: its parts concatenated."""
        parts = []
        with self.env.begin(db=self.records) as txn:
            for part in range(256):
                v = txn.get(struct.pack(">QB", index, part))
                if v is None:
                    break
                parts.append(v)
        return b"".join(parts)


def _string(raw, off):
    (n,) = struct.unpack_from("<I", raw, off)
    return raw[off + 4:off + 4 + n].decode("utf-8"), off + 4 + n + 1


def _align(off, a):
    return (off + a - 1) // a * a


def decode_record(value, where="record"):
    """Decodes one stored value into a sample dict (see the module docstring)."""
    if len(value) < 24 or value[:4] != _RECORD_MAGIC:
        raise DatasetError(f"{where}: not a record (bad magic)")
    version, flags, raw_n, stored_n, checksum = struct.unpack_from("<HHIIQ", value, 4)
    if version > RECORD_VERSION:
        raise DatasetError(f"{where}: record layout version {version} is newer than "
                           f"this reader ({RECORD_VERSION})")
    payload = value[24:]
    if len(payload) != stored_n or stored_n < 8:
        raise DatasetError(f"{where}: payload is {len(payload)} bytes, header says {stored_n}")
    head_n, head_z = struct.unpack_from("<II", payload, 0)
    head, codes = payload[8:8 + head_z], payload[8 + head_z:]
    try:  # the head (text, metadata) is zstd when flags bit 0; the codes when bit 1
        dz = zstandard.ZstdDecompressor()
        raw = ((dz.decompress(head, max_output_size=head_n) if flags & 1 else head) +
               (dz.decompress(codes, max_output_size=raw_n - head_n) if flags & 2 else codes))
    except zstandard.ZstdError as e:
        raise DatasetError(f"{where}: does not decompress: {e}") from None
    if len(raw) != raw_n or (xxhash and xxhash.xxh3_64_intdigest(raw) != checksum):
        raise DatasetError(f"{where}: checksum mismatch")
    modality, n_texts, frames, line, duration, fps, width, height = struct.unpack_from(
        "<BxxxIqqddii", raw, 0)
    (source_bytes,) = struct.unpack_from("<q", raw, 48) if version >= 2 else (0,)
    off = 56
    strings = []
    for _ in range(6 if version >= 2 else 5):  # layout 2 adds the source's XXH3-128
        s, off = _string(raw, off)
        strings.append(s)
    texts = {}
    for _ in range(n_texts):
        name, off = _string(raw, off)
        text, off = _string(raw, off)
        (nt,) = struct.unpack_from("<I", raw, off)
        off = _align(off + 4, 4)
        tokens = np.frombuffer(raw, dtype="<i4", count=nt, offset=off).copy() if nt else None
        off += 4 * nt
        texts[name] = {"text": text, "tokens": tokens}
    off = _align(off, 8)
    timestamps = np.frombuffer(raw, dtype="<f8", count=frames, offset=off).copy()
    off += 8 * frames
    if len(raw) - off != frames * _PACKED_FRAME:
        raise DatasetError(f"{where}: frame data has the wrong size for {frames} frames")
    codes = unpack13(raw[off:], frames * 256).reshape(frames, 256)
    return {"id": strings[0], "modality": _MODALITIES[modality], "source": strings[1],
            "manifest_line": line, "source_bytes": source_bytes,
            "source_xxh3": strings[5] if version >= 2 else "", "fields": strings[2], "vision_name": strings[3],
            "codec": strings[4], "duration": duration, "fps": fps, "width": width,
            "height": height, "texts": texts, "frames": frames, "timestamps": timestamps,
            "codes": codes}


def _has_id(shard, key):
    with shard.env.begin(db=shard.ids) as txn:
        return txn.get(key) is not None


class Dataset:
    """A snapshot of a dataset directory: len(), [index], find(id), failures()."""

    def __init__(self, path):
        self.path = path
        mpath = os.path.join(path, "manifest.json")
        try:
            with open(mpath, encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            raise DatasetError(f"{path}: not a dataset (no manifest.json)") from None
        if manifest.get("magic") != "lwm-dataset":
            raise DatasetError(f"{mpath}: not an lwm dataset manifest")
        if manifest.get("schema", 0) > SCHEMA_VERSION:
            raise DatasetError(f"{mpath}: dataset schema version {manifest['schema']} is newer "
                               f"than this reader ({SCHEMA_VERSION})")
        self.info = manifest.get("info", {})
        self.shards = []
        for entry in manifest["shards"]:
            p = os.path.join(path, entry["file"])
            if not os.path.exists(p):
                raise DatasetError(f"{p}: shard file is missing")
            if os.path.getsize(p) != entry["bytes"]:
                raise DatasetError(f"{p}: shard file size differs from the manifest")
            shard = _Shard(p, sealed=True)
            # A merged dataset's shard keeps its part's own keys (key_base).
            shard.key_base = entry.get("key_base", entry["first_index"])
            shard.first_index = entry["first_index"]
            self.shards.append(shard)
        open_path = os.path.join(path, "shard-%05d.open.mdb" % len(self.shards))
        if os.path.exists(open_path):
            shard = _Shard(open_path, sealed=False)
            if shard.first_index is not None:
                shard.key_base = shard.first_index
                self.shards.append(shard)
        self._first = [s.first_index for s in self.shards]
        self._count = sum(s.count for s in self.shards)

    def __len__(self):
        return self._count

    def __getitem__(self, index):
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(f"record {index} out of range (the dataset has {self._count})")
        shard = self.shards[int(np.searchsorted(self._first, index, side="right")) - 1]
        where = f"{self.path}: record {index} ({shard.name})"
        value = shard.value(index - shard.first_index + shard.key_base)
        if not value:
            raise DatasetError(f"{where}: missing")
        sample = decode_record(value, where)
        sample["index"] = index
        return sample

    def find(self, sample_id):
        """The sample with this id; KeyError if none."""
        key = sample_id.encode("utf-8")
        for shard in self.shards:
            with shard.env.begin(db=shard.ids) as txn:
                v = txn.get(key)
            if v is not None:
                return self[struct.unpack(">Q", v)[0] - shard.key_base + shard.first_index]
        raise KeyError(sample_id)

    def failures(self):
        """Failed samples as (id, manifest_line, reason), ordered by manifest line."""
        out = []
        for shard in self.shards:
            with shard.env.begin(db=shard.failed) as txn:
                for k, v in txn.cursor():
                    out.append((k.decode(), struct.unpack_from("<q", v)[0],
                                v[8:].rstrip(b"\0").decode()))
        stored = set()  # a failure whose sample a retry stored later is not one
        for f in out:
            if any(_has_id(shard, f[0].encode()) for shard in self.shards):
                stored.add(f[0])
        return sorted((f for f in out if f[0] not in stored), key=lambda f: (f[1], f[0]))

    def close(self):
        for s in self.shards:
            s.env.close()
        self.shards = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
