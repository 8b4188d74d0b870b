#!/usr/bin/python3
"""Converts LWM's released VQGAN checkpoint (a pickle of the Flax parameter
tree, spec §7.6) into a safetensors file with LWM's names ('/'-joined paths,
HWIO kernels, float32), which `lwm vqgan import` then checks and completes.

    import_pickle.py SRC.pkl OUT.safetensors

Needs only python3 and numpy (Debian). The leaves may be NumPy arrays or JAX
arrays (the spec leaves this open): JAX arrays and flax FrozenDicts are
rebuilt from their pickled state without importing jax or flax.
"""
import collections
import json
import os
import pickle
import re
import struct
import sys

import numpy as np


def _rebuild_jax_array(*args):
    # jax Array.__reduce__ → (_reconstruct_array, (fun, args, arr_state, aval_state)):
    # arr_state is the NumPy array holding the values.
    for a in args:
        if isinstance(a, np.ndarray):
            return a
    raise pickle.UnpicklingError("JAX array without a NumPy payload")


class _FrozenDict(dict):
    """Stands in for flax.core.FrozenDict (pickled as its internal dict)."""

    def __setstate__(self, state):
        self.update(state.get("_dict", state) if isinstance(state, dict) else state)


class _Budget:
    """Bytes of array data the pickle may create: no more than the file holds,
    so a few bytes of pickle cannot ask for gigabytes."""

    def __init__(self, limit):
        self.left = limit

    def take(self, nbytes, what):
        if nbytes > self.left:
            raise pickle.UnpicklingError(f"{what} declares {nbytes} bytes, more than the pickle holds")
        self.left -= nbytes


def _plain_dtype(dtype, what):
    # Numbers only: object, structured and sub-array dtypes would let the pickle
    # build arbitrary objects or sizes.
    if not (isinstance(dtype, np.dtype) and dtype.kind in "fiub" and dtype.names is None and
            dtype.subdtype is None and dtype == np.dtype(dtype.str)):
        raise pickle.UnpicklingError(f"{what}: unsupported dtype {dtype!r}")
    return dtype


def _shape_bytes(shape, dtype, what):
    if not (isinstance(shape, tuple) and len(shape) <= 8 and
            all(isinstance(n, int) and 0 <= n < 2**40 for n in shape)):
        raise pickle.UnpicklingError(f"{what}: bad shape {shape!r}")
    count = 1
    for n in shape:
        count *= n
    return count * dtype.itemsize


class _NdarrayType:
    """What the pickle gets for numpy.ndarray: a token for _reconstruct, not
    a constructor the pickle could call with a shape of its choosing."""


class _CheckedArray(np.ndarray):
    """The array numpy's _reconstruct makes, filled by BUILD only with a byte
    string of exactly the size its shape and dtype declare."""

    budget = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) in (4, 5)):
            raise pickle.UnpicklingError("ndarray state is not a (version, shape, dtype, order, data) tuple")
        shape, dtype, data = state[-4], state[-3], state[-1]
        nbytes = _shape_bytes(shape, _plain_dtype(dtype, "ndarray"), "ndarray")
        if not isinstance(data, (bytes, bytearray)) or len(data) != nbytes:
            raise pickle.UnpicklingError(f"ndarray of shape {shape} needs {nbytes} bytes of data")
        self.budget.take(nbytes, f"ndarray of shape {shape}")
        super().__setstate__(state)


class _Unpickler(pickle.Unpickler):
    """Resolves only the (module, name) pairs a NumPy/Flax/JAX parameter tree
    needs, each to a checked stand-in; everything else, and every dotted name
    (which pickle would resolve attribute by attribute), is refused."""

    def __init__(self, f, size):
        super().__init__(f)
        budget = _Budget(size)
        checked = type("_Checked", (_CheckedArray,), {"budget": budget})

        def reconstruct(subtype, shape, code):
            if subtype is not _NdarrayType or shape != (0,) or code != b"b":
                raise pickle.UnpicklingError("numpy _reconstruct with unexpected arguments")
            return np.ndarray.__new__(checked, (0,), np.float32)

        def frombuffer(buf, dtype, shape, order):
            nbytes = _shape_bytes(shape, _plain_dtype(dtype, "ndarray"), "ndarray")
            if not isinstance(buf, (bytes, bytearray)) or len(buf) != nbytes or order not in "CF":
                raise pickle.UnpicklingError(f"ndarray of shape {shape} needs {nbytes} bytes of data")
            budget.take(nbytes, f"ndarray of shape {shape}")
            return np.frombuffer(buf, dtype).reshape(shape, order=order).copy(order=order)

        def scalar(dtype, data):
            dtype = _plain_dtype(dtype, "numpy scalar")
            if not isinstance(data, bytes) or len(data) != dtype.itemsize:
                raise pickle.UnpicklingError("numpy scalar of the wrong size")
            return np.frombuffer(data, dtype)[0]

        def dtype(spec, align=False, copy=False):
            if not isinstance(spec, str) or not re.fullmatch(r"[fiub][1248]", spec):
                raise pickle.UnpicklingError(f"unsupported dtype {spec!r}")
            return np.dtype(spec)

        def encode(text, encoding):
            if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
                raise pickle.UnpicklingError("_codecs.encode other than text to latin-1 bytes")
            return text.encode("latin1")

        def reconstructor(cls, base, state):
            if cls is not _FrozenDict or base is not object or state is not None:
                raise pickle.UnpicklingError("copyreg._reconstructor of something other than FrozenDict")
            return _FrozenDict()

        self.allowed = {("numpy", "ndarray"): _NdarrayType, ("numpy", "dtype"): dtype,
                        ("_codecs", "encode"): encode, ("collections", "OrderedDict"): collections.OrderedDict,
                        ("flax.core.frozen_dict", "FrozenDict"): _FrozenDict,
                        ("copy_reg", "_reconstructor"): reconstructor,
                        ("copyreg", "_reconstructor"): reconstructor, ("builtins", "object"): object,
                        ("__builtin__", "object"): object}
        for core in ("numpy.core", "numpy._core"): # NumPy 1.x and 2.x module names
            self.allowed[(core + ".multiarray", "_reconstruct")] = reconstruct
            self.allowed[(core + ".multiarray", "scalar")] = scalar
            self.allowed[(core + ".numeric", "_frombuffer")] = frombuffer
        for jax in (("jax._src.array", "_reconstruct_array"), ("jaxlib.xla_extension", "ArrayImpl"),
                    ("jaxlib.xla_extension", "DeviceArray"), ("jax.interpreters.xla", "_device_put"),
                    ("jax._src.device_array", "reconstruct_device_array")):
            self.allowed[jax] = _rebuild_jax_array

    def find_class(self, module, name):
        found = self.allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the pickle")
        return found


def flatten(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict):
            yield from flatten(value, path)
        elif isinstance(value, (np.ndarray, np.number, int, float)) and not isinstance(value, bool):
            yield path, value
        else:
            raise pickle.UnpicklingError(f"leaf {path} is a {type(value).__name__}, not an array")


def as_float32(leaves, limit):
    """The leaves as float32 arrays. Shared references could make a small pickle
    write a huge file: the output may not exceed 4 bytes per input byte (uint8
    arrays widened to float32, the largest honest growth)."""
    out, total = {}, 0
    for path, value in leaves:
        a = np.asarray(value, dtype=np.float32)
        total += a.nbytes
        if total > limit:
            raise pickle.UnpicklingError(f"tensor {path}: the tensors add up to more than {limit} bytes")
        out[path] = a
    return out


def main(src, out):
    with open(src, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        tree = _Unpickler(f, size).load()
    if not isinstance(tree, dict):
        sys.exit(f"{src}: the pickle holds a {type(tree).__name__}, not a parameter tree")
    if "params" in tree and isinstance(tree["params"], dict):
        tree = tree["params"]
    tensors = as_float32(flatten(tree), 4 * size + 4096)
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
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, RecursionError,
            MemoryError) as e:
        sys.exit(f"{sys.argv[1]}: cannot read the pickle: {e}")
