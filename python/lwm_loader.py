"""lwm_loader: LWM training batches from the C loader (build/liblwm.so), as NumPy arrays.

    from lwm_loader import Loader
    with Loader(["corpus/"], tokenizer="tokenizer.model", seq_len=32768, rows=8) as ld:
        for batch in ld:                  # dict of numpy arrays, shape (rows, seq_len / sp)
            state = batch["state"]        # bytes: pass as state= to resume after this batch
            ...

Keys follow LWM's batch names: input_tokens, target_tokens (int32), loss_masks
(float32), input_vision_masks, target_vision_masks (bool), plus segment_ids and
positions (int32), global_index (int32, the ring slice), and stage, seq_len,
rope_theta, epoch, step, padding_fraction, run_step and run_row (the global
step and row numbers over the curriculum, as lwm pack prints them), rows_no_loss
and pieces_dropped. Arrays are copies: they stay valid after the next batch.
tokenizer=None uses the tokenizer the datasets were ingested with (lwm ingest
--tokenizer); another one is refused unless force_tokenizer=True. fields="[vision],caption"
is the fields spec of samples without their own (docs/fields.md); None uses the
dataset's (lwm ingest --fields), else vision then the text fields. The rows are
the same for any dp/sp/zigzag: those only slice the global stream. The library
is found at $LWM_LIB, else ../build/liblwm.so next to this file.
"""
import ctypes as C
import os

import numpy as np

LAYOUTS = {"packed": 0, "lwm": 1, "pad": 2}
STATE_BYTES = 160
STATE_PARTS = 10


class _Stage(C.Structure):
    _fields_ = [("seq_len", C.c_int64), ("rope_theta", C.c_double),
                ("tokens_per_batch", C.c_int64), ("total_tokens", C.c_int64)]


class _Logger(C.Structure):
    _fields_ = [("fn", C.c_void_p), ("opaque", C.c_void_p), ("level", C.c_int)]


class _Progress(C.Structure):
    _fields_ = [("fn", C.c_void_p), ("opaque", C.c_void_p), ("interval", C.c_double),
                ("task", C.c_char_p), ("unit", C.c_char_p), ("t_start", C.c_double),
                ("t_last", C.c_double), ("total", C.c_int64), ("done_before", C.c_int64)]


class _Mem(C.Structure):
    _fields_ = [("alloc", C.c_void_p), ("free", C.c_void_p), ("opaque", C.c_void_p)]


class _Options(C.Structure):
    _fields_ = [("datasets", C.POINTER(C.c_char_p)), ("weights", C.POINTER(C.c_double)),
                ("n_datasets", C.c_int), ("tokenizer", C.c_char_p), ("force_tokenizer", C.c_int),
                ("stages", C.POINTER(_Stage)), ("n_stages", C.c_int),
                ("seq_len", C.c_int64), ("rows", C.c_int64), ("layout", C.c_int),
                ("no_shuffle", C.c_int), ("seed", C.c_uint64), ("max_n_frames", C.c_int64),
                ("force_fields_index", C.c_int), ("fields_index", C.c_int),
                ("fields_spec", C.c_char_p), ("subfield_separator", C.c_char_p),
                ("no_segment_ids", C.c_int), ("no_position_reset", C.c_int),
                ("pack_window", C.c_int), ("drop_no_loss", C.c_int), ("start_stage", C.c_int), ("dp_rank", C.c_int), ("dp_size", C.c_int),
                ("sp_rank", C.c_int), ("sp_size", C.c_int), ("ring_layout", C.c_int),
                ("on_bad_record", C.c_int), ("prefetch_bytes", C.c_size_t),
                ("cache_dir", C.c_char_p), ("log", _Logger), ("progress", _Progress),
                ("mem", _Mem)]


class _State(C.Structure):
    _fields_ = [("seed", C.c_uint64), ("stage", C.c_int32), ("epoch", C.c_int64),
                ("window", C.c_int64), ("row", C.c_int64), ("step", C.c_int64),
                ("tokens", C.c_int64), ("config_hash", C.c_uint64),
                ("part_hash", C.c_uint64 * STATE_PARTS)]


class _Batch(C.Structure):
    _fields_ = [("rows", C.c_int64), ("len", C.c_int64), ("seq_len", C.c_int64),
                ("input_tokens", C.POINTER(C.c_int32)), ("target_tokens", C.POINTER(C.c_int32)),
                ("loss_masks", C.POINTER(C.c_float)),
                ("input_vision_masks", C.POINTER(C.c_uint8)),
                ("target_vision_masks", C.POINTER(C.c_uint8)),
                ("segment_ids", C.POINTER(C.c_int32)), ("positions", C.POINTER(C.c_int32)),
                ("global_index", C.POINTER(C.c_int32)),
                ("row_segment_ids", C.POINTER(C.c_int32)),
                ("stage", C.c_int32), ("rope_theta", C.c_double), ("epoch", C.c_int64),
                ("step", C.c_int64), ("stage_done", C.c_int), ("padding_fraction", C.c_double),
                ("documents", C.c_int64), ("documents_split", C.c_int64),
                ("rows_no_loss", C.c_int64), ("pieces_dropped", C.c_int64),
                ("run_step", C.c_int64), ("run_row", C.c_int64), ("state", _State)]


class _Error(C.Structure):
    _fields_ = [("code", C.c_int), ("msg", C.c_char * 768)]


def _library():
    path = os.environ.get("LWM_LIB") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "liblwm.so")
    lib = C.CDLL(path)
    lib.lwm_loader_struct_size.restype = C.c_size_t
    for which, cls in enumerate([_Options, _Batch, _State]):
        if lib.lwm_loader_struct_size(which) != C.sizeof(cls):
            raise RuntimeError(f"{path}: {cls.__name__} layout differs from the library's")
    lib.lwm_loader_create.argtypes = [C.POINTER(C.c_void_p), C.POINTER(_Options),
                                      C.POINTER(_State), C.POINTER(_Error)]
    lib.lwm_loader_next.argtypes = [C.c_void_p, C.POINTER(_Batch)]
    lib.lwm_loader_free.argtypes = [C.c_void_p]
    lib.lwm_loader_errmsg.argtypes = [C.c_void_p]
    lib.lwm_loader_errmsg.restype = C.c_char_p
    lib.lwm_loader_state_save.argtypes = [C.c_char_p, C.POINTER(_State)]
    lib.lwm_loader_state_load.argtypes = [C.POINTER(_State), C.c_char_p, C.POINTER(_Error)]
    lib.lwm_loader_curriculum_load.argtypes = [C.c_char_p, C.c_void_p,
                                               C.POINTER(C.POINTER(_Stage)), C.POINTER(C.c_int),
                                               C.POINTER(_Error)]
    lib.lwm_free.argtypes = [C.c_void_p, C.c_void_p]
    return lib


class LoaderError(RuntimeError):
    pass


class Loader:
    """One loader (one rank's view). Options mirror `lwm pack`; see loader/loader.h."""

    def __init__(self, datasets, tokenizer=None, seq_len=0, rows=1, layout="packed", shuffle=True,
                 seed=0, max_n_frames=0, weights=None, curriculum=None, dp=(0, 1), sp=(0, 1),
                 zigzag=False, segment_ids=True, position_reset=True, skip_bad=False,
                 prefetch_bytes=0, start_stage=0, state=None, force_tokenizer=False, fields=None):
        self._lib = _library()
        self._keep = []
        o = _Options()
        names = [os.fsencode(d) for d in datasets]
        arr = (C.c_char_p * len(names))(*names)
        self._keep += [names, arr]
        o.datasets, o.n_datasets = C.cast(arr, C.POINTER(C.c_char_p)), len(names)
        if weights is not None:
            w = (C.c_double * len(weights))(*weights)
            self._keep.append(w)
            o.weights = C.cast(w, C.POINTER(C.c_double))
        # None: the tokenizer the datasets were ingested with; another one only when forced.
        o.tokenizer = os.fsencode(tokenizer) if tokenizer is not None else None
        o.force_tokenizer = int(force_tokenizer)
        # None: the dataset's default spec (lwm ingest --fields), else vision then text fields.
        o.fields_spec = os.fsencode(fields) if fields is not None else None
        o.seq_len, o.rows, o.layout = seq_len, rows, LAYOUTS[layout]
        o.no_shuffle, o.seed, o.max_n_frames = int(not shuffle), seed, max_n_frames
        o.dp_rank, o.dp_size = dp
        o.sp_rank, o.sp_size = sp
        o.ring_layout = int(zigzag)
        o.no_segment_ids, o.no_position_reset = int(not segment_ids), int(not position_reset)
        o.on_bad_record, o.prefetch_bytes = int(skip_bad), prefetch_bytes
        o.start_stage = start_stage
        err = _Error()
        stages = None
        if curriculum is not None:
            stages, n = C.POINTER(_Stage)(), C.c_int()
            if self._lib.lwm_loader_curriculum_load(os.fsencode(curriculum), None, C.byref(stages),
                                                    C.byref(n), C.byref(err)) < 0:
                raise LoaderError(err.msg.decode())
            o.stages, o.n_stages = stages, n.value
        st = None
        if state is not None:
            st = _State()
            if self._lib.lwm_loader_state_load(C.byref(st), bytes(state), C.byref(err)) < 0:
                raise LoaderError(err.msg.decode())
        self._ld = C.c_void_p()
        rc = self._lib.lwm_loader_create(C.byref(self._ld), C.byref(o),
                                         C.byref(st) if st is not None else None, C.byref(err))
        if stages is not None:
            self._lib.lwm_free(None, stages)
        if rc < 0:
            raise LoaderError(err.msg.decode())

    def next(self):
        """The next batch as a dict, or None at the end of the last curriculum stage."""
        b = _Batch()
        rc = self._lib.lwm_loader_next(self._ld, C.byref(b))
        if rc == -30000:  # LWM_EOF
            return None
        if rc < 0:
            raise LoaderError(self._lib.lwm_loader_errmsg(self._ld).decode())
        shape = (b.rows, b.len)
        n = b.rows * b.len

        def arr(ptr, dtype, count=n, shp=shape):
            return np.ctypeslib.as_array(ptr, shape=(count,)).astype(dtype, copy=True).reshape(shp)
        state = C.create_string_buffer(STATE_BYTES)
        self._lib.lwm_loader_state_save(state, C.byref(b.state))
        return {
            "input_tokens": arr(b.input_tokens, np.int32),
            "target_tokens": arr(b.target_tokens, np.int32),
            "loss_masks": arr(b.loss_masks, np.float32),
            "input_vision_masks": arr(b.input_vision_masks, np.bool_),
            "target_vision_masks": arr(b.target_vision_masks, np.bool_),
            "segment_ids": arr(b.segment_ids, np.int32),
            "positions": arr(b.positions, np.int32),
            "global_index": arr(b.global_index, np.int32, b.len, (b.len,)),
            "stage": b.stage, "seq_len": b.seq_len, "rope_theta": b.rope_theta,
            "epoch": b.epoch, "step": b.step, "padding_fraction": b.padding_fraction,
            "run_step": b.run_step, "run_row": b.run_row, "rows_no_loss": b.rows_no_loss,
            "pieces_dropped": b.pieces_dropped,
            "state": state.raw,
        }

    def __iter__(self):
        while True:
            batch = self.next()
            if batch is None:
                return
            yield batch

    def close(self):
        if getattr(self, "_ld", None):
            self._lib.lwm_loader_free(self._ld)
            self._ld = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
