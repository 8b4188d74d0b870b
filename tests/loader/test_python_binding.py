"""The ctypes binding (python/lwm_loader.py) yields the same rows as `lwm pack --json`,
resumes from a batch's state, and reports bad input as exceptions."""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("LWM_ROOT", os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, HERE)
# A sanitizer build cannot be loaded into Python (ASan must come first): use the plain one.
_build = os.environ.get("LWM_BUILD", os.path.join(ROOT, "build"))
if os.environ.get("SAN") == "1":
    _build = os.path.join(ROOT, "build")
os.environ.setdefault("LWM_LIB", os.path.join(_build, "liblwm.so"))
import lwm_loader  # noqa: E402
import lwm_reference as ref  # noqa: E402

LWM = os.environ.get("LWM", os.path.join(ROOT, "build", "lwm"))
TMP = os.environ.get("LWM_TMP", "/tmp")
SUITE = "loader/python_binding"


def report(name, ok, reason=""):
    print(f"ok {SUITE}/{name}" if ok else f"not ok {SUITE}/{name}: {reason}", flush=True)


def main():
    if not os.path.exists(os.environ["LWM_LIB"]):
        print(f"ok {SUITE}/all # skip: {os.environ['LWM_LIB']} not built")
        return
    tok = ref.train_tiny_spm(TMP)
    rng = np.random.default_rng(0)
    data = os.path.join(TMP, "py.jsonl")
    ref.write_jsonl(data, [{"fields": "[caption],vision", "caption": "a dog runs",
                            "vision": rng.integers(0, 8192, 256 * (1 + i % 4)).tolist()}
                           for i in range(20)])
    rows = [json.loads(line) for line in subprocess.run(
        [LWM, "pack", data, "--tokenizer", tok, "--seq-len", "1024", "--count", "6", "--json",
         "--seed", "3"], capture_output=True, text=True, check=True).stdout.splitlines()]
    with lwm_loader.Loader([data], tok, seq_len=1024, rows=2, seed=3) as ld:
        batches = [ld.next() for _ in range(3)]
    got = np.concatenate([b["input_tokens"] for b in batches])
    want = np.array([r["input_tokens"] for r in rows], dtype=np.int32)
    report("rows_match_cli", got.shape == (6, 1024) and np.array_equal(got, want),
           f"shape {got.shape}")
    b = batches[0]
    ok = (b["loss_masks"].dtype == np.float32 and b["input_vision_masks"].dtype == np.bool_
          and b["segment_ids"].dtype == np.int32 and b["positions"].shape == (2, 1024))
    report("numpy_types_and_shapes", ok, str({k: v.dtype for k, v in b.items() if hasattr(v, "dtype")}))

    with lwm_loader.Loader([data], tok, seq_len=1024, rows=2, seed=3, prefetch_bytes=1 << 20) as ld:
        first = [ld.next() for _ in range(5)]
    with lwm_loader.Loader([data], tok, seq_len=1024, rows=2, seed=3, state=first[1]["state"]) as ld:
        resumed = [ld.next() for _ in range(3)]
    ok = all(np.array_equal(a["input_tokens"], r["input_tokens"]) for a, r in zip(first[2:], resumed))
    report("resume_from_batch_state", ok, "resumed batches differ")

    try:
        lwm_loader.Loader([os.path.join(TMP, "missing.jsonl")], tok, seq_len=64)
        report("bad_input_raises", False, "no exception")
    except lwm_loader.LoaderError as e:
        report("bad_input_raises", "missing.jsonl" in str(e), str(e))


if __name__ == "__main__":
    main()
