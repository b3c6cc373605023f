"""Depth maps on disk: float32 .npy as is, 16-bit PNG with near/far in the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
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
