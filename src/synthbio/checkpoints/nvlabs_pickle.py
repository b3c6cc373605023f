"""Official NVlabs network pickles (StyleGAN2-ADA, StyleGAN3, EG3D), read without their code.

An official `network-snapshot-*.pkl` is `pickle.dump(dict(G=..., D=..., G_ema=...,
augment_pipe=..., training_set_kwargs=...))` of modules decorated with
`torch_utils.persistence.persistent_class`. Each such module pickles as a call
`torch_utils.persistence._reconstruct_persistent_obj(meta)` where
`meta = dict(type='class', version, module_src, class_name, state)`; plain
`pickle.load` would import and run `module_src`. Here a restricted unpickler
maps that call to `PersistentRecord` (class name + state, `module_src` dropped
unread), rebuilds tensors through `torch.load(weights_only=True)` with their
geometry checked against their storage, and refuses every other global. The
records' `_parameters` / `_buffers` / `_modules` then give a state dict that
synthbio's modules accept key for key (`record_state_dict`). What the records
mean for each network family: `nvlabs` (StyleGAN2), `nvlabs_stylegan3`, `nvlabs_eg3d`.
"""

from __future__ import annotations

import collections
import io
import math
import pickle
import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from synthbio.errors import CheckpointError, library_message

#: Entries of an official snapshot that hold networks.
NETWORK_KEYS = ("G", "D", "G_ema")

# Version of `torch_utils.persistence` that wrote every public pickle so far.
_PERSISTENCE_VERSION = 6


@dataclass(frozen=True, eq=False)
class PersistentRecord:
    """What `_reconstruct_persistent_obj(meta)` described: a class name and the
    object's `__dict__` (for an `nn.Module`: `_parameters`, `_buffers`,
    `_modules`, `_init_kwargs`, plain attributes). Never executable.

    Plain (not persistent) modules that a pickle names by module path, such as
    EG3D's decoder and renderer, become records too, with `module` set to
    that path and version 0.
    """

    class_name: str
    state: dict[str, Any]
    version: int
    module: str = ""

    def __setstate__(self, state: Any) -> None:
        # A BUILD opcode aimed at a record is not something the official writer emits.
        raise pickle.UnpicklingError("BUILD on a persistent-object record")

    @property
    def init_kwargs(self) -> dict[str, Any]:
        kwargs = self.state.get("_init_kwargs")
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    def child(self, name: str) -> PersistentRecord | None:
        sub = self.children().get(name)
        return sub if isinstance(sub, PersistentRecord) else None

    def children(self) -> dict[str, Any]:
        modules = self.state.get("_modules")
        return dict(modules) if isinstance(modules, dict) else {}


# --------------------------------------------------------------------------
# Allowed globals. Each is a small function of ours that validates its input.


def _reconstruct_record(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("persistent-object meta is not a dict of type 'class'")
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise pickle.UnpicklingError("persistent-object meta lacks class_name or state")
    # meta['module_src'] is deliberately never looked at.
    return PersistentRecord(class_name=class_name, state=dict(state), version=int(meta.get("version", -1)))


def _load_storage_bytes(data: Any) -> Any:
    """Tensor storages inside a plain pickle are nested legacy `torch.save`
    payloads; read them with torch's weights-only unpickler.

    torch's own message is not passed on: it advises loading the file with
    `weights_only=False`, which would run whatever code the file holds.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("storage payload is not bytes")
    try:
        storage = torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a damaged or hostile payload
        raise pickle.UnpicklingError(f"a tensor storage is damaged or holds more than data "
                                     f"({library_message(exc)})") from None
    _check_storage(storage)
    return storage


def _check_storage(storage: Any) -> None:
    if not isinstance(storage, torch.TypedStorage) or storage._untyped_storage.device.type != "cpu":
        raise pickle.UnpicklingError(f"tensor storage has type {type(storage).__name__}")


def _check_no_hooks(hooks: Any) -> None:
    if hooks:  # hooks would be callables; the official writer stores none
        raise pickle.UnpicklingError("tensor carries backward hooks")


# Element types a network's weights and buffers use; quantized, complex and other exotic
# dtypes have rebuild paths of their own and no place in a StyleGAN pickle.
_TENSOR_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8,
                            torch.int16, torch.int32, torch.int64, torch.bool})
_MAX_TENSOR_DIMS = 8  # StyleGAN tensors have at most 4


def _checked_geometry(storage: Any, offset: Any, size: Any, stride: Any, dtype: Any
                      ) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(offset, size, stride) of a tensor record, checked against its storage.

    torch's `set_` grows a storage that is too small for the view, with
    uninitialised memory, so a record claiming more elements than its storage
    holds (or an offset of 10^9 into 16 bytes) must be refused here, before it.
    """
    _check_storage(storage)
    if dtype not in _TENSOR_DTYPES:
        raise pickle.UnpicklingError(f"tensor of unsupported dtype {dtype!r}")

    def is_int(v: Any) -> bool:
        return type(v) is int  # not bool, not float, not a subclass with surprises

    if not (isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))
            and all(map(is_int, size)) and all(map(is_int, stride)) and is_int(offset)):
        raise pickle.UnpicklingError("tensor offset, size or stride is not made of integers")
    if len(size) != len(stride) or len(size) > _MAX_TENSOR_DIMS:
        raise pickle.UnpicklingError(f"tensor size {tuple(size)} and stride {tuple(stride)} do not match")
    if offset < 0 or any(v < 0 for v in size) or any(v < 0 for v in stride):
        raise pickle.UnpicklingError(f"tensor has a negative offset, size or stride ({offset}, {tuple(size)}, "
                                     f"{tuple(stride)})")
    capacity = storage._untyped_storage.nbytes() // dtype.itemsize  # elements of `dtype` in the storage
    numel = math.prod(size)
    needed = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride)) if numel else offset
    if needed > capacity:
        raise pickle.UnpicklingError(
            f"tensor record of shape {tuple(size)} at offset {offset} needs {needed} {str(dtype)[6:]} elements, "
            f"its storage holds {capacity} (a damaged or forged file)")
    return offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *rest: Any) -> torch.Tensor:
    """torch._utils._rebuild_tensor(_v2): a strided view of a storage."""
    offset, size, stride = _checked_geometry(storage, offset, size, stride, getattr(storage, "dtype", None))
    if len(rest) >= 2:
        _check_no_hooks(rest[1])
    tensor = torch._utils._rebuild_tensor(storage, offset, size, stride)
    if rest and rest[0]:
        tensor.requires_grad_(bool(rest[0]))
    return tensor


def _rebuild_tensor_v3(storage: Any, offset: int, size: tuple, stride: tuple, requires_grad: bool,
                       hooks: Any, dtype: torch.dtype, metadata: Any = None) -> torch.Tensor:
    offset, size, stride = _checked_geometry(storage, offset, size, stride, dtype)
    _check_no_hooks(hooks)
    return torch._utils._rebuild_tensor_v3(storage, offset, size, stride, bool(requires_grad),
                                           collections.OrderedDict(), dtype)


def _rebuild_parameter(data: Any, requires_grad: bool, hooks: Any, state: Any = None) -> torch.nn.Parameter:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter data is not a tensor")
    _check_no_hooks(hooks)
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8"):
        raise pickle.UnpicklingError("unexpected _codecs.encode arguments")
    return text.encode(encoding)


def _np_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(spec, str):
        raise pickle.UnpicklingError("numpy dtype spec is not a string")
    dtype = np.dtype(spec)
    if dtype.hasobject:
        raise pickle.UnpicklingError("numpy object dtype")
    return dtype


def _np_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:  # checked after BUILD too
        raise pickle.UnpicklingError("numpy scalar of object or unknown dtype")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar payload has the wrong size")
    return np.frombuffer(data, dtype=dtype, count=1)[0].copy()


class _PendingArray:
    """Stands in for `numpy.core.multiarray._reconstruct(ndarray, ...)` until BUILD
    supplies (version, shape, dtype, fortran, raw bytes); swapped for the array after loading."""

    array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("unexpected numpy array state")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("numpy array of object dtype")
        shape = tuple(int(s) for s in shape)
        arr = np.frombuffer(bytes(raw), dtype=dtype, count=int(np.prod(shape))).copy()
        self.array = arr.reshape(shape, order="F" if fortran else "C")


def _np_reconstruct(subtype: Any, shape: Any, typecode: Any) -> _PendingArray:
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("numpy array subclass")
    return _PendingArray()


def _torch_attribute(name: str) -> Any:
    value = getattr(torch, name, None)
    return value if isinstance(value, (torch.dtype, torch.device)) or value is torch.Size else None


class _PlainModule:
    """Stands in for a plain `nn.Module` class a pickle names by module path (NEWOBJ + BUILD):
    keeps the state dict the BUILD opcode hands over, runs nothing."""

    module_path = ""
    class_name = ""

    def __new__(cls, *args: Any) -> _PlainModule:
        if args:
            raise pickle.UnpicklingError(f"{cls.module_path}.{cls.class_name} created with arguments")
        obj = super().__new__(cls)
        obj.state = None
        return obj

    def __init__(self, *args: Any) -> None:  # a REDUCE call would land here: not how modules are pickled
        raise pickle.UnpicklingError(f"{self.module_path}.{self.class_name} called like a function")

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or self.state is not None:
            raise pickle.UnpicklingError(f"unexpected state for {self.module_path}.{self.class_name}")
        self.state = dict(state)


#: Plain module classes that official EG3D pickles name by module path (its decoder, renderer, ray
#: marcher and ray sampler are not persistent classes), and the torch containers inside its decoder.
PLAIN_MODULES = (
    ("training.triplane", "OSGDecoder"),
    ("training.volumetric_rendering.renderer", "ImportanceRenderer"),
    ("training.volumetric_rendering.ray_marcher", "MipRayMarcher2"),
    ("training.volumetric_rendering.ray_sampler", "RaySampler"),
    ("torch.nn.modules.container", "Sequential"),
    ("torch.nn.modules.activation", "Softplus"),
)
_PLAIN_CLASSES = {key: type(key[1], (_PlainModule,), {"module_path": key[0], "class_name": key[1]})
                  for key in PLAIN_MODULES}


_ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    **_PLAIN_CLASSES,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_record,
    ("dnnlib.util", "EasyDict"): dict,
    ("dnnlib", "EasyDict"): dict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("numpy", "dtype"): _np_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None and module == "torch":
            found = _torch_attribute(name)
        if found is None:
            raise _RefusedGlobal(f"{module}.{name}")
        return found


class _RefusedGlobal(pickle.UnpicklingError):
    pass


# Containers nested deeper than this are not a network: official snapshots nest about 15 deep.
_MAX_DEPTH = 200


def _finish(obj: Any, memo: dict[int, Any] | None = None, depth: int = 0) -> Any:
    """Swap `_PendingArray` and `_PlainModule` stand-ins for arrays and records, in place."""
    memo = {} if memo is None else memo
    if id(obj) in memo:
        return memo[id(obj)]
    if depth > _MAX_DEPTH:
        raise pickle.UnpicklingError(f"objects nested more than {_MAX_DEPTH} deep")
    memo[id(obj)] = obj
    if isinstance(obj, _PendingArray):
        if obj.array is None:
            raise pickle.UnpicklingError("numpy array without data")
        memo[id(obj)] = obj.array
        return obj.array
    if isinstance(obj, _PlainModule):
        if not isinstance(obj.state, dict):
            raise pickle.UnpicklingError(f"{obj.module_path}.{obj.class_name} without a state dict")
        rec = PersistentRecord(class_name=obj.class_name, state=obj.state, version=0, module=obj.module_path)
        memo[id(obj)] = rec
        _finish(rec.state, memo, depth + 1)
        return rec
    if isinstance(obj, PersistentRecord):
        _finish(obj.state, memo, depth + 1)
    elif isinstance(obj, dict):
        for k, v in list(obj.items()):
            obj[k] = _finish(v, memo, depth + 1)
    elif isinstance(obj, list):
        obj[:] = [_finish(v, memo, depth + 1) for v in obj]
    elif isinstance(obj, tuple):
        out = tuple(_finish(v, memo, depth + 1) for v in obj)
        memo[id(obj)] = out
        return out
    return obj


_MEMO_OPCODES = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


def _check_opcodes(data: bytes) -> None:
    """Walk the opcodes before the C unpickler runs them: it grows its memo array to whatever index
    a PUT names, zero-filled, so a 250-byte file naming index 1.5e9 takes 24 GB of memory. Every
    memo entry costs at least one byte of the file, so an index past the file's length is forged;
    lengths past the end of the data and unknown opcodes are refused here as well."""
    limit = len(data)
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in _MEMO_OPCODES and (not isinstance(arg, int) or not 0 <= arg <= limit):
            raise pickle.UnpicklingError(f"memo index {arg} beyond a pickle of {limit} bytes")


def read_network_pickle(path: str | Path) -> dict[str, Any]:
    """Read an official network pickle into plain data, executing nothing from it.

    Returns the top-level dict with `PersistentRecord` values for `G`, `D`,
    `G_ema`, `augment_pipe` (those present). Raises `CheckpointError` naming the
    file for a truncated or non-pickle file and naming `module.name` for any
    global outside the allowlist.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        _check_opcodes(raw)
        data = _finish(_RestrictedUnpickler(io.BytesIO(raw)).load())
    except _RefusedGlobal as exc:
        raise CheckpointError(
            f"{path}: refusing to load global '{exc}' from the pickle; a StyleGAN network pickle holds only "
            "tensors, dicts and persistent-object records (the file is damaged, of another kind, or malicious)"
        ) from None
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, RuntimeError, MemoryError, OverflowError, UnicodeDecodeError, SystemError) as exc:
        raise CheckpointError(f"{path}: not a readable network pickle (truncated or corrupt?): "
                              f"{library_message(exc)}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of networks, found {type(data).__name__}")
    return data


def record_state_dict(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a module record like `nn.Module.state_dict()`: parameters, then
    persistent buffers, then children, depth first."""
    out: dict[str, torch.Tensor] = {}
    state = record.state
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value.detach()
    non_persistent = set(state.get("_non_persistent_buffers_set") or ())
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in non_persistent:
            out[prefix + name] = value.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise CheckpointError(f"module '{prefix}{name}' is a {type(child).__name__}, not a network record")
        out.update(record_state_dict(child, prefix=f"{prefix}{name}."))
    return out


