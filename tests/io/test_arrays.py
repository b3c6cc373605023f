""".npy/.npz files from users: no pickles, no forged shapes, no library advice to load unsafely."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from synthbio.errors import InputError, library_message, without_unsafe_advice
from synthbio.io.arrays import read_npy, read_npz

UNSAFE = ("allow_pickle", "weights_only", "trust", "safe_globals", "arbitrary code")


def _no_advice(text: str) -> None:
    for word in UNSAFE:
        assert word not in text, text


def test_plain_arrays_round_trip(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", ws=a, w=a[0])
    np.testing.assert_array_equal(read_npy(tmp_path / "a.npy"), a)
    got = read_npz(tmp_path / "b.npz")
    assert sorted(got) == ["w", "ws"] and np.array_equal(got["ws"], a)


def test_object_arrays_are_refused_without_numpy_advice(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "o.npz", ws=np.array([None], dtype=object))
    for path, read in ((tmp_path / "o.npy", read_npy), (tmp_path / "o.npz", read_npz)):
        with pytest.raises(InputError, match="Python objects") as info:
            read(path)
        assert str(path) in str(info.value)
        _no_advice(str(info.value))


def _forged_npy(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 16


def test_forged_shapes_are_refused_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    path.write_bytes(_forged_npy((10**6, 10**6)))
    with pytest.raises(InputError, match=r"declares \(1000000, 1000000\)"):
        read_npy(path)
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as z:
        z.writestr("ws.npy", _forged_npy((10**12,)))
    with pytest.raises(InputError, match="declares"):
        read_npz(tmp_path / "big.npz")


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY", b"PK\x03\x04garbage", b"not numpy at all" * 10])
def test_damaged_files_name_the_file(tmp_path: Path, content: bytes) -> None:
    for suffix, read in ((".npy", read_npy), (".npz", read_npz)):
        path = tmp_path / f"d{suffix}"
        path.write_bytes(content)
        with pytest.raises(InputError, match=f"d{suffix}"):
            read(path)


def test_library_message_drops_torch_advice(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, ("true",))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(Exception) as info:
        torch.load(path, weights_only=True)
    assert "weights_only" in str(info.value)  # what torch says ...
    text = library_message(info.value)
    assert "system" in text  # ... what synthbio passes on
    _no_advice(text)
    assert without_unsafe_advice("bad file. Re-run with allow_pickle=True if you trust it. Header: x") == \
        "bad file. Header: x"


def test_project_and_edit_refuse_object_arrays_in_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from synthbio.checkpoints import save_generator
    from synthbio.nn.config import GeneratorConfig
    from synthbio.pipelines.images.demo import build_demo_generator

    model = save_generator(build_demo_generator(GeneratorConfig(img_resolution=16, z_dim=8, w_dim=8, channel_base=128,
                                                                channel_max=8, mapping_layers=2)), tmp_path / "G")
    from synthbio.editing.directions import save_direction

    direction = save_direction(tmp_path / "d.direction.safetensors", torch.ones(8), method="pca")
    bad = tmp_path / "objects.npy"
    np.save(bad, np.array([object()], dtype=object), allow_pickle=True)
    for args in (["project", "-m", str(model), str(bad), "-o", str(tmp_path / "p"), "--steps", "1", "--loss", "l2"],
                 ["edit", "-m", str(model), "--latents", str(bad), "-d", str(direction), "-o", str(tmp_path / "e")]):
        code, _, err = run_cli(*args)
        assert code == 2 and "objects.npy" in err and "Python objects" in err, err
        _no_advice(err)
