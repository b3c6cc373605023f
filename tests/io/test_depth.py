"""Depth maps on disk: float32 .npy as is, 16-bit PNG with near/far in the file."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.PngImagePlugin
import pytest

from synthbio.errors import InputError
from synthbio.io.depth import encode_depth, read_depth, write_depth


def test_round_trips(tmp_path: Path) -> None:
    depth = np.linspace(2.0, 3.5, 48, dtype=np.float32).reshape(6, 8)
    write_depth(tmp_path / "d.npy", depth, "npy", near=2.25, far=3.3)
    assert np.array_equal(read_depth(tmp_path / "d.npy"), depth)
    sha = write_depth(tmp_path / "d.png", depth, "png16", near=2.25, far=3.3, units="scene units")
    back = read_depth(tmp_path / "d.png")
    inside = (depth >= 2.25) & (depth <= 3.3)
    assert np.abs(back - depth)[inside].max() <= (3.3 - 2.25) / 65535 / 2 + 1e-6
    assert back.min() == pytest.approx(2.25) and back.max() == pytest.approx(3.3)  # outside: clipped
    with PIL.Image.open(tmp_path / "d.png") as img:
        assert img.mode == "I;16" and img.text["units"] == "scene units"
    assert len(sha) == 64 and encode_depth(depth, "png16", near=2.25, far=3.3, units="scene units") == \
        (tmp_path / "d.png").read_bytes()


def test_bad_depth_input_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="format"):
        encode_depth(np.zeros((2, 2)), "exr", near=0, far=1)
    with pytest.raises(InputError, match="far > near"):
        encode_depth(np.zeros((2, 2)), "png16", near=1, far=1)
    with pytest.raises(InputError, match="NaN"):
        encode_depth(np.full((2, 2), np.nan), "npy", near=0, far=1)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="bad.png"):
        read_depth(tmp_path / "bad.png")


def _forged_npy(path: Path) -> None:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"
    header += " " * (118 - len(header)) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64)


def _bomb_png(path: Path) -> None:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 15000, 15000, 16, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def _png_with_range(path: Path, array: np.ndarray, near: str, far: str, fmt: str = "PNG") -> None:
    info = PIL.PngImagePlugin.PngInfo()
    info.add_text("near", near)
    info.add_text("far", far)
    PIL.Image.fromarray(array).save(path, format=fmt, **({"pnginfo": info} if fmt == "PNG" else {}))


@pytest.mark.parametrize("name, make, message", [
    ("empty.npy", lambda p: p.write_bytes(b""), "cannot read depth map"),
    ("forged.npy", _forged_npy, "header declares"),
    ("object.npy", lambda p: np.save(p, np.array([None], dtype=object), allow_pickle=True), "Python objects"),
    ("text.npy", lambda p: np.save(p, np.array([["a"]])), "not numbers"),
    ("complex.npy", lambda p: np.save(p, np.ones((2, 2), np.complex64)), "not numbers"),
    ("bomb.png", _bomb_png, "refused before decoding"),
    ("plain.png", lambda p: PIL.Image.fromarray(np.zeros((4, 4), np.uint16)).save(p), "near/far"),
    ("nan.png", lambda p: _png_with_range(p, np.zeros((4, 4), np.uint16), "nan", "inf"), "no 16-bit depth PNG"),
    ("rgb.png", lambda p: _png_with_range(p, np.zeros((4, 4, 3), np.uint8), "0", "1"), "no 16-bit depth PNG"),
    ("jpeg.png", lambda p: _png_with_range(p, np.zeros((4, 4), np.uint8), "0", "1", "JPEG"), "near/far"),
])
def test_hostile_depth_files_name_the_file(tmp_path: Path, name: str, make: Callable[[Path], None],
                                           message: str) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError, match=message) as info:
        read_depth(path)
    assert str(path) in str(info.value) and "allow_pickle" not in str(info.value)
