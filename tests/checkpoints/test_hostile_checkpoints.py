"""Forged official pickles, crafted here (never committed): each is refused with one CheckpointError, nothing runs.

A tensor record is `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`;
torch's `set_` grows a storage that is too small for the view, with uninitialised
memory, so the loader must check every record against its storage before.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from synthbio.checkpoints.nvlabs import load_nvlabs_generator, read_network_pickle
from synthbio.errors import CheckpointError
from synthbio.nn.generator import Generator

from ckpt_helpers import perturb, tiny_g_config


def typed_storage(values: list[float], dtype: torch.dtype = torch.float32) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is what official pickles hold
        return torch.tensor(values, dtype=dtype).storage()


class TensorRecord:
    """Pickles as an official tensor record with any storage, offset, size, stride (and v3 dtype)."""

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any, *, dtype: Any = None,
                 requires_grad: Any = False) -> None:
        self.args = (storage, offset, size, stride, requires_grad, collections.OrderedDict())
        self.dtype = dtype

    def __reduce__(self) -> tuple:
        if self.dtype is not None:
            return (torch._utils._rebuild_tensor_v3, (*self.args, self.dtype))
        return (torch._utils._rebuild_tensor_v2, self.args)


def _swap(name: str, replacement: Any):  # type: ignore[no-untyped-def]
    return lambda key, tensor: replacement if key == name else tensor


W_DIM = tiny_g_config().w_dim


@pytest.mark.parametrize("record, message", [
    (TensorRecord(typed_storage([1.0, 2.0]), 0, (W_DIM,), (1,)), "needs 8 float32 elements, its storage holds 2"),
    (TensorRecord(typed_storage([1.0] * 4), 10**9, (W_DIM,), (1,)), "offset 1000000000"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (W_DIM,), (2,)), "needs 15"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (2**62,), (1,)), "needs 4611686018427387904"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (W_DIM,), (-1,)), "negative"),
    (TensorRecord(typed_storage([1.0] * 8), -4, (W_DIM,), (1,)), "negative"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (W_DIM, 1), (1,)), "do not match"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (8.0,), (1,)), "not made of integers"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (True,) * 8, (1,) * 8), "not made of integers"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (1,) * 40, (1,) * 40), "do not match"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (W_DIM,), (1,), dtype=torch.float64), "needs 8 float64 elements, its "
     "storage holds 4"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (W_DIM,), (1,), dtype=torch.complex64), "unsupported dtype"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (W_DIM,), (1,), dtype=torch.quint8), "unsupported dtype"),
    (TensorRecord(typed_storage([1.0] * 8), 0, (W_DIM,), (1,), dtype="float32"), "unsupported dtype"),
    (TensorRecord(b"not a storage", 0, (W_DIM,), (1,)), "storage has type bytes"),
])
def test_forged_tensor_records_are_refused(official_pickle, record: TensorRecord, message: str) -> None:
    G = perturb(Generator(tiny_g_config()), 1)
    path = official_pickle(G, override=_swap("mapping.w_avg", record))
    with pytest.raises(CheckpointError, match=message) as info:
        load_nvlabs_generator(path)
    assert str(path) in str(info.value)


def test_records_that_fit_their_storage_still_load(official_pickle) -> None:
    G = perturb(Generator(tiny_g_config()), 1)
    values = [float(i) for i in range(2 * W_DIM)]
    exact = TensorRecord(typed_storage(values), W_DIM, (W_DIM,), (1,))  # the second half of a shared storage
    strided = TensorRecord(typed_storage(values), 1, (W_DIM,), (2,))  # every other element
    for record, expected in ((exact, values[W_DIM:]), (strided, values[1::2])):
        loaded = load_nvlabs_generator(official_pickle(G, override=_swap("mapping.w_avg", record)))
        assert loaded.mapping.w_avg.tolist() == expected


def test_convert_of_an_oversized_record_exits_2_and_writes_nothing(official_pickle, run_cli, tmp_path: Path) -> None:
    G = perturb(Generator(tiny_g_config()), 1)
    path = official_pickle(G, override=_swap("synthesis.b16.torgb.weight",
                                             TensorRecord(typed_storage([0.5] * 4), 0, (3, 16, 1, 1), (16, 1, 1, 1))))
    out = tmp_path / "native"
    code, stdout, err = run_cli("convert", str(path), str(out))
    assert code == 2, err
    assert "needs 48 float32 elements, its storage holds 4" in err and "Traceback" not in err
    assert not (out / "model.safetensors").exists()


def test_generator_without_synthesis_blocks(official_pickle) -> None:
    G = perturb(Generator(tiny_g_config()), 1)
    G.synthesis._modules.clear()  # an official record whose synthesis has no b4 ... blocks
    with pytest.raises(CheckpointError, match="has no synthesis blocks"):
        load_nvlabs_generator(official_pickle(G))


def test_record_with_a_non_tensor_parameter(official_pickle) -> None:
    G = perturb(Generator(tiny_g_config()), 1)
    with pytest.raises(CheckpointError, match="parameter 'weight' is a str, not a tensor"):
        load_nvlabs_generator(official_pickle(G, override=_swap("mapping.fc0.weight", "weights")))


def test_generator_without_its_first_mapping_layer(official_pickle) -> None:
    G = perturb(Generator(tiny_g_config()), 1)
    del G.mapping._modules["fc0"]
    with pytest.raises(CheckpointError, match="lacks a part of a StyleGAN2 generator"):
        load_nvlabs_generator(official_pickle(G))


def _legacy_torch_payload(main: bytes) -> bytes:
    """What `torch.save(..., _use_new_zipfile_serialization=False)` writes before `main`."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps(sys_info, protocol=2) + main)


class _Call:
    def __init__(self, func: Any, args: tuple) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


def test_code_inside_a_storage_payload_is_refused_without_unsafe_advice(official_pickle, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = _legacy_torch_payload(pickle.dumps(_Call(os.system, (f"touch {marker}",)), protocol=2))
    storage = _Call(torch.storage._load_from_bytes, (payload,))
    G = perturb(Generator(tiny_g_config()), 1)
    path = official_pickle(G, override=_swap("mapping.w_avg", TensorRecord(storage, 0, (W_DIM,), (1,))))
    with pytest.raises(CheckpointError) as info:
        load_nvlabs_generator(path)
    text = str(info.value)
    assert "system" in text and str(path) in text
    for advice in ("weights_only", "trust", "safe_globals", "arbitrary code"):
        assert advice not in text
    assert not marker.exists()


@pytest.mark.parametrize("declared", [8, 10**9, 2**40])
def test_storage_payload_declaring_more_than_it_holds(official_pickle, declared: int) -> None:
    honest = typed_storage([1.0] * 4)
    _, (payload,) = honest.__reduce__()
    forged = payload.replace(b"cpuq\x03K\x04N", b"cpuq\x03\x8a\x08" + struct.pack("<q", declared) + b"N")
    assert forged != payload
    storage = _Call(torch.storage._load_from_bytes, (forged,))
    G = perturb(Generator(tiny_g_config()), 1)
    path = official_pickle(G, override=_swap("mapping.w_avg", TensorRecord(storage, 0, (4,), (1,))))
    with pytest.raises(CheckpointError, match="storage is damaged"):
        load_nvlabs_generator(path)


def test_deeply_nested_pickle_is_refused(tmp_path: Path) -> None:
    depth = 100_000
    path = tmp_path / "deep.pkl"
    path.write_bytes(b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b".")  # lists in lists, 100,000 deep
    with pytest.raises(CheckpointError, match="nested more than"):
        read_network_pickle(path)


def test_forged_memo_index_is_refused_before_the_unpickler_grows_its_memo(tmp_path: Path) -> None:
    """CPython's C unpickler grows its memo array to any index a PUT names, zero-filled: index 1.5e9 in a
    250-byte file took 24 GB. (10^8 here: a regression costs 1.6 GB, not the machine.)"""
    path = tmp_path / "memo.pkl"
    path.write_bytes(b"\x80\x02}r" + struct.pack("<I", 100_000_000) + b".")
    with pytest.raises(CheckpointError, match="memo index 100000000 beyond a pickle of 9 bytes"):
        read_network_pickle(path)
