"""Writes the pickles of issue 15 item 1 into DIR: each calls one global the
converter must refuse, with arguments that, if it were called, would create
MARKER (or read a file into the weights, or take all memory).

    hostile_pickles.py DIR MARKER LIBMARK.so

Prints one line per pickle: "FILE<TAB>module.name" (the name the refusal must
mention). Also writes honest pickles of every protocol (honest_*.pkl).
"""
import pickle
import struct
import sys

import numpy as np


def unicode(s):
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b if len(b) < 256 else b"X" + struct.pack("<I", len(b)) + b


def call(module, name, args):
    """A protocol-4 pickle: module.name(*args). The arguments are pickled by
    pickle itself (protocol 2, no framing), so honest NumPy arrays can be passed."""
    arg_ops = pickle.dumps(tuple(args), protocol=2)[2:-1]
    # Call, discard the result (POP), return {"params": {"x": 1.0}}.
    return (b"\x80\x04" + unicode(module) + unicode(name) + b"\x93" + arg_ops + b"R0" +
            b"}" + unicode("params") + b"}" + unicode("x") + b"G" + struct.pack(">d", 1.0) + b"ss.")


def main(out, marker, libmark):
    second = f"{out}/second.pkl"
    with open(second, "wb") as f:
        f.write(call("builtins", "exec", [f"open({marker!r}, 'w').close()"]))
    arr = np.arange(4, dtype=np.float32)
    cases = {
        "exec": ("builtins", "exec", [f"open({marker!r}, 'w').close()"]),
        "eval": ("builtins", "eval", [f"open({marker!r}, 'w')"]),
        "os_system": ("os", "system", [f"touch {marker}"]),
        "numpy_testing_os": ("numpy.testing._private.utils", "os.system", [f"touch {marker}"]),
        "numpy_dotted_os": ("numpy", "testing._private.utils.os.system", [f"touch {marker}"]),
        "exec_command": ("numpy.distutils.exec_command", "exec_command", [f"touch {marker}"]),
        "numpy_save": ("numpy", "save", [marker, arr]),
        "ndarray_tofile": ("numpy", "ndarray.tofile", [arr, marker]),
        "numpy_load": ("numpy", "load", [second, None, True]),
        "load_library": ("numpy.ctypeslib", "load_library", [libmark, "/"]),
        "numpy_fromfile": ("numpy", "fromfile", ["/etc/passwd", "u1"]),
        "collections_sys": ("collections", "_sys.modules", []),
        "numpy_ones": ("numpy", "ones", [(60000, 60000)]),
        "getattr": ("builtins", "getattr", [1, "real"]),
        "subprocess": ("subprocess", "check_call", [["touch", marker]]),
    }
    for key, (module, name, args) in cases.items():
        path = f"{out}/{key}.pkl"
        with open(path, "wb") as f:
            f.write(call(module, name, args))
        print(f"{path}\t{module}.{name}")
    # Allowed globals with hostile arguments: an ndarray whose state declares
    # 60000x60000 floats backed by 16 bytes, and a dtype that is an object.
    big = pickle.dumps({"params": {"x": arr}}, protocol=2)
    big = big.replace(b"K\x04\x85", b"J" + struct.pack("<i", 60000) + b"J" + struct.pack("<i", 60000) + b"\x86")
    with open(f"{out}/huge_state.pkl", "wb") as f:
        f.write(big)
    print(f"{out}/huge_state.pkl\tshape (60000, 60000)")
    obj = pickle.dumps({"params": {"x": np.array([1.0], dtype=object)}}, protocol=4)
    with open(f"{out}/object_dtype.pkl", "wb") as f:
        f.write(obj)
    print(f"{out}/object_dtype.pkl\tdtype 'O8'")
    tree = {"params": {"a": {"kernel": np.ones((2, 3), np.float32)}, "b": np.float64(2.5)}}
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        with open(f"{out}/honest_{proto}.pkl", "wb") as f:
            pickle.dump(tree, f, protocol=proto)


if __name__ == "__main__":
    main(*sys.argv[1:])
