"""Fuzzing official network pickles: records, tensor records, storages, numpy arrays, and code that must never run.

Inputs are pickles written here (never stored): persistent-object records
with random state, tensor records with random geometry and dtype over real
storages, numpy arrays, calls to os.system planted anywhere, a tiny real
generator, all with byte edits on top. Loading either gives a network or
raises CheckpointError; the planted command never runs.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import sys
import types
import warnings
from collections.abc import Iterator
from typing import Any
from unittest import mock

import numpy as np
import torch
from hypothesis import strategies as st

from fuzzing import JSON_VALUES, fuzz, scratch_dir
from synthbio.checkpoints import nvlabs
from synthbio.errors import CheckpointError
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator

_WORK = scratch_dir("synthbio-fuzz-ckpt-")
MARKER = _WORK / "code-ran"
CHECKPOINT = _WORK / "fuzzed.pkl"


# --- writing official-format pickles without the official code ----------------------------------------------------


def _reconstruct_persistent_obj(meta: Any) -> Any:  # stands in for the official function while pickling
    raise AssertionError("never called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


@contextlib.contextmanager
def _official_names() -> Iterator[None]:
    """`torch_utils.persistence` importable for as long as pickle checks the name (then gone again)."""
    package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    sys.modules.update({"torch_utils": package, "torch_utils.persistence": module})
    try:
        yield
    finally:
        sys.modules.pop("torch_utils.persistence", None)
        sys.modules.pop("torch_utils", None)


class Record:
    """Pickles as `_reconstruct_persistent_obj(dict(type='class', ..., state=state))`."""

    def __init__(self, class_name: Any, state: Any) -> None:
        self.meta = {"type": "class", "version": 6, "module_src": "raise SystemExit", "class_name": class_name,
                     "state": state}

    def __reduce__(self) -> tuple:
        return (_reconstruct_persistent_obj, (self.meta,))


class TensorRecord:
    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any, dtype: Any) -> None:
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())
        self.dtype = dtype

    def __reduce__(self) -> tuple:
        if self.dtype is None:
            return (torch._utils._rebuild_tensor_v2, self.args)
        return (torch._utils._rebuild_tensor_v3, (*self.args, self.dtype))


class Call:
    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


def _storage(values: list[float], dtype: torch.dtype) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.tensor(values).to(dtype).storage()


_DTYPES = [torch.float32, torch.float16, torch.float64, torch.int64, torch.uint8, torch.bool]
_SMALL = st.integers(-3, 20)
_GEOMETRY = st.lists(st.one_of(_SMALL, st.sampled_from([2**31, 2**62, 10**9, 0])), max_size=4)


@st.composite
def tensor_records(draw: st.DrawFn) -> Any:
    storage = _storage(draw(st.lists(st.floats(-4, 4), max_size=12)), draw(st.sampled_from(_DTYPES)))
    size = draw(_GEOMETRY)
    stride = draw(st.one_of(_GEOMETRY, st.just([1] * len(size))))
    offset = draw(st.one_of(_SMALL, st.sampled_from([10**9, -1, 1.5, True, "0"])))
    dtype = draw(st.one_of(st.none(), st.sampled_from([*_DTYPES, torch.complex64, torch.quint8, "float32"])))
    return TensorRecord(storage, offset, tuple(size) if draw(st.booleans()) else size, stride, dtype)


LEAVES = st.one_of(
    JSON_VALUES,
    tensor_records(),
    st.builds(lambda a: torch.tensor(a), st.lists(st.floats(-2, 2), max_size=6)),
    st.builds(lambda a: np.asarray(a, dtype=np.float32), st.lists(st.floats(-2, 2), max_size=6)),
    st.just(Call(os.system, f"touch {MARKER}")),
    st.just(Call(eval, f"open({str(MARKER)!r}, 'w')")),
)


def _records(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    names = st.sampled_from(["b4", "b8", "synthesis", "mapping", "fc0", "conv1", "torgb", "weight", "bias", "w_avg"])
    state = st.fixed_dictionaries({
        "_parameters": st.one_of(st.dictionaries(names, st.one_of(tensor_records(), children), max_size=3),
                                 children),
        "_buffers": st.dictionaries(names, st.one_of(tensor_records(), children), max_size=2),
        "_modules": st.one_of(st.dictionaries(names, children, max_size=3), children),
        "_init_kwargs": st.one_of(st.dictionaries(st.sampled_from(["z_dim", "w_dim", "c_dim", "img_resolution",
                                                                    "img_channels", "synthesis_kwargs"]),
                                                  JSON_VALUES, max_size=4), children),
    })
    return st.builds(Record, st.sampled_from(["Generator", "Discriminator", "MappingNetwork", "SynthesisNetwork",
                                              "SynthesisBlock", 7]), state)


TREES = st.recursive(LEAVES, lambda children: st.one_of(_records(children), st.lists(children, max_size=3),
                                                        st.dictionaries(st.text(max_size=4), children, max_size=3)),
                     max_leaves=10)


def _dumps(obj: Any, protocol: int) -> bytes:
    with _official_names():
        return pickle.dumps(obj, protocol=protocol)


def _tiny_network_record(module: torch.nn.Module, init_kwargs: dict[str, Any]) -> Record:
    state = {"_parameters": collections.OrderedDict((k, v.detach().clone()) for k, v in module._parameters.items()
                                                   if v is not None),
             "_buffers": collections.OrderedDict((k, v.clone()) for k, v in module._buffers.items() if v is not None),
             "_modules": collections.OrderedDict((k, _tiny_network_record(v, {})) for k, v in module._modules.items()),
             "_non_persistent_buffers_set": set(), "_init_kwargs": init_kwargs}
    state.update({k: v for k, v in vars(module).items() if not k.startswith("_") and isinstance(v, (int, float, str))})
    return Record(type(module).__name__, state)


def _tiny_generator_pickle() -> bytes:
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=4, w_dim=4, img_resolution=8, channel_base=32, channel_max=4, mapping_layers=1)
    rec = _tiny_network_record(Generator(cfg), dict(z_dim=4, w_dim=4, c_dim=0, img_resolution=8, img_channels=3,
                                                     mapping_kwargs={"num_layers": 1},
                                                     synthesis_kwargs={"channel_base": 32, "channel_max": 4}))
    return _dumps({"G_ema": rec, "G": rec, "augment_pipe": None}, 4)


TINY_G = _tiny_generator_pickle()

PICKLES = st.one_of(
    st.builds(lambda tree, key, p: _dumps({key: tree, "training_set_kwargs": {}}, p), TREES,
              st.sampled_from(["G_ema", "D", "G"]), st.sampled_from([2, 4])),
    st.builds(lambda tree, p: _dumps(tree, p), TREES, st.sampled_from([2, 4])),
    st.just(TINY_G),
    st.binary(max_size=64).map(lambda b: b"\x80\x04" + b),
)


class _Declined(Exception):
    """A config a fuzzed record asked for, valid but too large to build in a fuzz loop."""


def _small(cls: type) -> Any:
    def build(config: Any) -> Any:
        if config.parameter_count() > 200_000:
            raise _Declined
        return cls(config)

    return build


def check_pickle(data: bytes) -> None:
    CHECKPOINT.write_bytes(data)
    with mock.patch.object(nvlabs, "Generator", _small(Generator)), \
            mock.patch.object(nvlabs, "Discriminator", _small(Discriminator)):
        for load in (nvlabs.load_nvlabs_generator, nvlabs.load_nvlabs_discriminator):
            try:
                network = load(CHECKPOINT)
            except (CheckpointError, _Declined) as exc:
                assert isinstance(exc, _Declined) or str(CHECKPOINT) in str(exc)
            else:
                assert all(torch.isfinite(t).all() or t.dtype == torch.bool for t in network.state_dict().values()) \
                    or True  # any numbers are allowed; what matters is that loading did not escape
    assert not MARKER.exists(), "code from the pickle ran"


@fuzz("checkpoint records", PICKLES, examples=150, mutations=1500)
def test_fuzz_official_pickles(data: bytes) -> None:
    check_pickle(data)


def test_tiny_generator_pickle_loads() -> None:
    """The seed of the mutations is itself a loadable network (else mutating it would test little)."""
    CHECKPOINT.write_bytes(TINY_G)
    assert nvlabs.load_nvlabs_generator(CHECKPOINT).img_resolution == 8
