#!/usr/bin/python3
"""Converts LWM's released VQGAN checkpoint (a pickle of the Flax parameter
tree, spec §7.6) into a safetensors file with LWM's names ('/'-joined paths,
HWIO kernels, float32), which `lwm vqgan import` then checks and completes.

    import_pickle.py SRC.pkl OUT.safetensors

Needs only python3 and numpy (Debian). The leaves may be NumPy arrays or JAX
arrays (the spec leaves this open): JAX arrays and flax FrozenDicts are
rebuilt from their pickled state without importing jax or flax.
"""
import json
import pickle
import struct
import sys

import numpy as np


class _FrozenDict(dict):
    """Stands in for flax.core.FrozenDict (pickled as its internal dict)."""

    def __setstate__(self, state):
        self.update(state.get("_dict", state) if isinstance(state, dict) else state)


def _rebuild_jax_array(*args):
    # jax Array.__reduce__ → (_reconstruct_array, (fun, args, arr_state, aval_state)):
    # arr_state is the NumPy array holding the values.
    for a in args:
        if isinstance(a, np.ndarray):
            return a
    raise pickle.UnpicklingError("JAX array without a NumPy payload")


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("flax") and name == "FrozenDict":
            return _FrozenDict
        if module.startswith(("jax", "jaxlib")):
            if "reconstruct" in name or name in ("ArrayImpl", "DeviceArray", "_device_put"):
                return _rebuild_jax_array
            raise pickle.UnpicklingError(f"unsupported JAX object {module}.{name}")
        if module.split(".")[0] not in ("numpy", "builtins", "collections", "copy_reg", "copyreg",
                                        "_codecs"):
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the pickle")
        return super().find_class(module, name)


def flatten(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from flatten(value, path)
        else:
            yield path, np.asarray(value, dtype=np.float32)


def main(src, out):
    with open(src, "rb") as f:
        tree = _Unpickler(f).load()
    if not isinstance(tree, dict):
        sys.exit(f"{src}: the pickle holds a {type(tree).__name__}, not a parameter tree")
    if "params" in tree and isinstance(tree["params"], dict):
        tree = tree["params"]
    tensors = dict(flatten(tree))
    header, off = {"__metadata__": {"source": src.rsplit("/", 1)[-1]}}, 0
    for name, a in tensors.items():
        if not np.all(np.isfinite(a)):
            sys.exit(f"{src}: tensor {name} contains NaN or Inf")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in tensors.values():
            f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: import_pickle.py SRC.pkl OUT.safetensors")
    try:
        main(sys.argv[1], sys.argv[2])
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        sys.exit(f"{sys.argv[1]}: cannot read the pickle: {e}")
