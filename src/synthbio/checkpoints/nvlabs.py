"""Official StyleGAN2-ADA / StyleGAN3 network pickles, read without their code.

An official `network-snapshot-*.pkl` is `pickle.dump(dict(G=..., D=..., G_ema=...,
augment_pipe=..., training_set_kwargs=...))` of modules decorated with
`torch_utils.persistence.persistent_class`. Each such module pickles as a call
`torch_utils.persistence._reconstruct_persistent_obj(meta)` where
`meta = dict(type='class', version, module_src, class_name, state)`; plain
`pickle.load` would import and run `module_src`. Here a restricted unpickler
maps that call to `PersistentRecord` (class name + state, `module_src` dropped
unread), rebuilds tensors through `torch.load(weights_only=True)`, and refuses
every other global. The records' `_parameters` / `_buffers` / `_modules` then
give a state dict that synthbio's modules accept key for key.
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
from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator

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


# --------------------------------------------------------------------------
# Records -> synthbio configs and modules.


def _attr(record: PersistentRecord | None, name: str, default: Any = None) -> Any:
    return default if record is None else record.state.get(name, default)


def _first_layer(record: PersistentRecord, names: tuple[str, ...]) -> PersistentRecord | None:
    for name in names:
        sub = record.child(name)
        if sub is not None:
            return sub
    return None


def _check_generator_record(rec: PersistentRecord, path: Path, which: str) -> PersistentRecord:
    if rec.class_name != "Generator":
        raise CheckpointError(f"{path}: '{which}' is a {rec.class_name!r}, not a Generator")
    synthesis = rec.child("synthesis")
    mapping = rec.child("mapping")
    if synthesis is None or mapping is None:
        raise CheckpointError(f"{path}: '{which}' has no mapping/synthesis networks")
    children = synthesis.children()
    alias_free = any(isinstance(c, PersistentRecord) and c.class_name == "SynthesisInput" for c in children.values())
    if alias_free:
        raise CheckpointError(f"{path}: '{which}' is a StyleGAN3 (alias-free) generator, not a StyleGAN2 one; "
                              "load it with synthbio.checkpoints.load_generator")
    if not all(name.startswith("b") and name[1:].isdigit() for name in children):
        raise CheckpointError(f"{path}: '{which}' has synthesis layers {sorted(children)} of no architecture "
                              "synthbio knows (StyleGAN2, StyleGAN3, EG3D)")
    return synthesis


def generator_config_from_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> GeneratorConfig:
    """Official Generator record -> GeneratorConfig.

    Values come from `init_kwargs` (stylegan2-ada nests synthesis options under
    `synthesis_kwargs`, stylegan3's networks_stylegan2 passes them flat), and
    from layer attributes where the two repositories' defaults differ
    (`conv_clamp`, fp16 blocks) so a missing kwarg cannot pick the wrong default.
    """
    synthesis = _check_generator_record(rec, path, which)
    mapping = rec.child("mapping")
    assert mapping is not None
    kw = rec.init_kwargs
    syn_kw = {**kw, **dict(kw.get("synthesis_kwargs") or {}), **synthesis.init_kwargs}
    map_kw = {**dict(kw.get("mapping_kwargs") or {}), **mapping.init_kwargs}
    blocks = [b for b in synthesis.children().values() if isinstance(b, PersistentRecord)]
    first_block = blocks[0]
    layer = _first_layer(first_block, ("conv1", "conv0"))
    architecture = _attr(first_block, "architecture", "skip")
    if architecture != "skip":
        raise CheckpointError(f"{path}: generator architecture {architecture!r} is not supported (only 'skip')")
    activation = _attr(mapping.child("fc0"), "activation", "lrelu")
    if activation != "lrelu" or _attr(layer, "activation", "lrelu") != "lrelu":
        raise CheckpointError(f"{path}: activation {activation!r} is not supported (only 'lrelu')")

    z_dim = int(kw.get("z_dim", _attr(rec, "z_dim")))
    c_dim = int(kw.get("c_dim", _attr(rec, "c_dim", 0)))
    w_dim = int(kw.get("w_dim", _attr(rec, "w_dim")))
    params = record_state_dict(mapping)
    embed_features = int(params["embed.weight"].shape[0]) if c_dim > 0 and "embed.weight" in params else None
    num_layers = int(_attr(mapping, "num_layers", map_kw.get("num_layers", 8)))
    layer_features = int(params["fc0.weight"].shape[0]) if num_layers > 1 else None
    num_fp16 = syn_kw.get("num_fp16_res")
    if num_fp16 is None:
        num_fp16 = sum(bool(_attr(b, "use_fp16", False)) for b in blocks)
    conv_clamp = _attr(layer, "conv_clamp", syn_kw.get("conv_clamp"))
    try:
        return GeneratorConfig(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
            img_resolution=int(kw.get("img_resolution", _attr(rec, "img_resolution"))),
            branches=(("img", int(kw.get("img_channels", _attr(rec, "img_channels")))),),
            channel_base=int(syn_kw.get("channel_base", 32768)),
            channel_max=int(syn_kw.get("channel_max", 512)),
            num_fp16_res=int(num_fp16),
            conv_clamp=None if conv_clamp is None else float(conv_clamp),
            architecture="skip",
            mapping_layers=num_layers,
            mapping_lr_multiplier=float(map_kw.get("lr_multiplier", 0.01)),
            mapping_embed_features=None if embed_features in (None, w_dim) else embed_features,
            mapping_layer_features=None if layer_features in (None, w_dim) else layer_features,
            w_avg_beta=float(_attr(mapping, "w_avg_beta", 0.995)),
            resample_filter=tuple(syn_kw.get("resample_filter", (1, 3, 3, 1))),
            use_noise=bool(_attr(layer, "use_noise", True)),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the generator configuration of '{which}': {exc}") from None


def discriminator_config_from_record(rec: PersistentRecord, *, path: Path) -> DiscriminatorConfig:
    """Official Discriminator record -> DiscriminatorConfig (see generator_config_from_record)."""
    if rec.class_name != "Discriminator":
        raise CheckpointError(f"{path}: 'D' is a {rec.class_name!r}, not a Discriminator")
    kw = rec.init_kwargs
    epilogue = rec.child("b4")
    if epilogue is None:
        raise CheckpointError(f"{path}: 'D' has no b4 epilogue")
    blocks = [b for n, b in rec.children().items() if n != "b4" and n.startswith("b") and b is not None]
    mbstd = epilogue.child("mbstd")
    mapping = rec.child("mapping")
    c_dim = int(kw.get("c_dim", _attr(rec, "c_dim", 0)))
    num_fp16 = kw.get("num_fp16_res")
    if num_fp16 is None:
        num_fp16 = sum(bool(_attr(b, "use_fp16", False)) for b in blocks)
    conv_layer = epilogue.child("conv")
    conv_clamp = _attr(conv_layer, "conv_clamp", kw.get("conv_clamp"))
    map_kw = {**dict(kw.get("mapping_kwargs") or {}), **(mapping.init_kwargs if mapping else {})}
    channel_base, channel_max = int(kw.get("channel_base", 32768)), int(kw.get("channel_max", 512))
    cmap_dim = _attr(epilogue, "cmap_dim") if c_dim > 0 else None
    if cmap_dim is not None and int(cmap_dim) == min(channel_base // 4, channel_max):
        cmap_dim = None  # the default: channels at 4x4
    try:
        return DiscriminatorConfig(
            c_dim=c_dim,
            img_resolution=int(kw.get("img_resolution", _attr(rec, "img_resolution"))),
            img_channels=int(kw.get("img_channels", _attr(rec, "img_channels"))),
            architecture=str(_attr(epilogue, "architecture", kw.get("architecture", "resnet"))),
            channel_base=channel_base,
            channel_max=channel_max,
            num_fp16_res=int(num_fp16),
            conv_clamp=None if conv_clamp is None else float(conv_clamp),
            cmap_dim=None if cmap_dim is None else int(cmap_dim),
            mbstd_group_size=_attr(mbstd, "group_size", None),
            mbstd_num_channels=int(_attr(mbstd, "num_channels", 0)),
            mapping_layers=int(_attr(mapping, "num_layers", map_kw.get("num_layers", 8))),
            mapping_lr_multiplier=float(map_kw.get("lr_multiplier", 0.01)),
            resample_filter=tuple(kw.get("block_kwargs", {}).get("resample_filter", (1, 3, 3, 1))),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the discriminator configuration: {exc}") from None


def load_state_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], *, path: Path, what: str) -> None:
    """load_state_dict(strict=True), with a CheckpointError naming the keys that differ."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
        parts = [f"missing {show(missing)}" if missing else "", f"unexpected {show(unexpected)}" if unexpected else "",
                 "shape mismatch " + show([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shapes])
                 if shapes else ""]
        raise CheckpointError(f"{path}: {what} does not fit the architecture: " + "; ".join(p for p in parts if p))
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def check_record_tree(rec: PersistentRecord, *, path: Path, which: str, prefix: str = "") -> None:
    """CheckpointError unless a module record and its children are shaped as nn.Module pickles are.

    `_parameters` / `_buffers` map names to tensors (or None), `_modules` to
    records (or None), `_init_kwargs` is a dict; a network has at least one
    sub-network. Architecture-specific parts are checked when the config is read.
    """
    state = rec.state
    where = f"'{which}'" + (f" module '{prefix[:-1]}'" if prefix else "")
    for key in ("_parameters", "_buffers", "_modules"):
        part = state.get(key)
        if part is not None and not isinstance(part, dict):
            raise CheckpointError(f"{path}: {where} has a {key} of type {type(part).__name__}, not a dict")
        for name, value in (part or {}).items():
            if not isinstance(name, str):
                raise CheckpointError(f"{path}: {where} has a {key} entry named by a {type(name).__name__}")
            if value is None:
                continue
            if key == "_modules":
                if not isinstance(value, PersistentRecord):
                    raise CheckpointError(f"{path}: {where} child '{name}' is a {type(value).__name__}, "
                                          "not a network record")
                check_record_tree(value, path=path, which=which, prefix=f"{prefix}{name}.")
            elif not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{path}: {where} {key[1:-1]} '{name}' is a {type(value).__name__}, "
                                      "not a tensor")
    if not isinstance(state.get("_init_kwargs", {}), dict):
        raise CheckpointError(f"{path}: {where} has _init_kwargs of type {type(state['_init_kwargs']).__name__}")
    if not isinstance(state.get("_non_persistent_buffers_set", set()), (set, frozenset, list, tuple)):
        raise CheckpointError(f"{path}: {where} has a malformed _non_persistent_buffers_set")
    if not prefix and rec.class_name in ("Generator", "Discriminator"):
        subs = [c for c in (state.get("_modules") or {}).values() if isinstance(c, PersistentRecord)]
        synthesis = rec.child("synthesis")
        if not subs or (synthesis is not None and not synthesis.children()):
            raise CheckpointError(f"{path}: {where} has no {'synthesis ' if synthesis is not None else ''}"
                                  "blocks (an empty or damaged network)")


def _pick(data: dict[str, Any], which: str, path: Path) -> PersistentRecord:
    rec = data.get(which)
    if not isinstance(rec, PersistentRecord):
        held = ", ".join(k for k, v in data.items() if isinstance(v, PersistentRecord)) or "no networks"
        raise CheckpointError(f"{path}: network pickle has no '{which}' (it holds: {held})")
    check_record_tree(rec, path=path, which=which)
    return rec


# What reading a config out of a record raises when an expected part is missing or of the wrong kind.
RECORD_ERRORS = (KeyError, IndexError, AttributeError, TypeError, ValueError, ZeroDivisionError, OverflowError)


def generator_record(path: str | Path, *, which: str = "G_ema") -> PersistentRecord:
    """The record of generator `which` ('G_ema' or 'G') of an official network pickle."""
    if which not in ("G", "G_ema"):
        raise CheckpointError(f"{path}: which must be 'G' or 'G_ema' for a generator, got {which!r}")
    path = Path(path)
    return _pick(read_network_pickle(path), which, path)


def generator_kind(rec: PersistentRecord) -> str:
    """'stylegan2', 'stylegan3' or 'eg3d': which official network family a generator record is."""
    if rec.class_name == "TriPlaneGenerator":
        return "eg3d"
    synthesis = rec.child("synthesis")
    if synthesis is not None and any(isinstance(c, PersistentRecord) and c.class_name == "SynthesisInput"
                                     for c in synthesis.children().values()):
        return "stylegan3"
    return "stylegan2"


def load_nvlabs_generator(path: str | Path, *, which: str = "G_ema") -> Generator:
    """Official StyleGAN2-ADA / StyleGAN3-StyleGAN2 pickle -> synthbio Generator (CPU, eval mode).

    which: 'G_ema' (the network to sample from) or 'G' (the raw training weights).
    StyleGAN3 and EG3D pickles: `synthbio.checkpoints.load_generator`.
    """
    path = Path(path)
    return load_stylegan2_record(generator_record(path, which=which), path=path, which=which)


def load_stylegan2_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> Generator:
    """A StyleGAN2 Generator record -> synthbio Generator with its exact state (CPU, eval mode)."""
    try:
        config = generator_config_from_record(rec, path=path, which=which)
    except RECORD_ERRORS as exc:
        raise CheckpointError(f"{path}: '{which}' lacks a part of a StyleGAN2 generator ({library_message(exc)})"
                              ) from None
    G = Generator(config)
    load_state_strict(G, record_state_dict(rec), path=path, what=f"'{which}'")
    return G.eval()


def load_nvlabs_discriminator(path: str | Path) -> Discriminator:
    """Official network pickle -> synthbio Discriminator from its 'D' entry."""
    path = Path(path)
    rec = _pick(read_network_pickle(path), "D", path)
    try:
        config = discriminator_config_from_record(rec, path=path)
    except RECORD_ERRORS as exc:
        raise CheckpointError(f"{path}: 'D' lacks a part of a StyleGAN2 discriminator ({library_message(exc)})"
                              ) from None
    D = Discriminator(config)
    load_state_strict(D, record_state_dict(rec), path=path, what="'D'")
    return D.eval()
