import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.errors import InputError
from synthbio.io.images import encode_png, make_grid, png_planes, read_png, save_grid, to_uint8, write_png
from synthbio.utils.hashing import sha256_file


def test_to_uint8_official_rounding():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]).reshape(1, 1, 1, 7)
    # (x * 127.5 + 128).clamp(0, 255) then truncation to uint8, as the official tools do.
    assert to_uint8(x)[0, 0, :, 0].tolist() == [0, 0, 64, 128, 191, 255, 255]
    y = to_uint8(torch.zeros(2, 3, 4, 5))
    assert y.shape == (2, 4, 5, 3) and y.dtype == np.uint8
    with pytest.raises(InputError):
        to_uint8(torch.zeros(3, 4, 5))


def test_planes_by_channel_count():
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, (4, 5, 1), dtype=np.uint8)
    three = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    two = rng.integers(0, 256, (4, 5, 2), dtype=np.uint8)
    assert [(s, a.shape) for s, a in png_planes(one)] == [("", (4, 5))]
    assert [(s, a.shape) for s, a in png_planes(three)] == [("", (4, 5, 3))]
    planes = png_planes(two)
    assert [s for s, _ in planes] == ["_c0", "_c1"]
    np.testing.assert_array_equal(planes[1][1], two[:, :, 1])


def test_png_round_trip_and_modes(tmp_path):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    for name, a, mode in [("g.png", gray, "L"), ("c.png", rgb, "RGB")]:
        digest = write_png(tmp_path / name, a)
        assert digest == sha256_file(tmp_path / name)
        with PIL.Image.open(tmp_path / name) as im:
            assert im.mode == mode
        np.testing.assert_array_equal(read_png(tmp_path / name), a)
    assert encode_png(rgb) == encode_png(rgb.copy())  # deterministic bytes


def test_read_png_names_a_corrupt_file(tmp_path):
    p = tmp_path / "bad.png"
    p.write_bytes(encode_png(np.zeros((4, 4), np.uint8))[:20])
    with pytest.raises(InputError, match="bad.png"):
        read_png(p)


def test_grid_layout(tmp_path):
    tiles = [np.full((2, 3, 3), i * 10, np.uint8) for i in range(5)]
    g = make_grid(tiles, cols=2)
    assert g.shape == (6, 6, 3)
    assert (g[0:2, 3:6] == 10).all() and (g[4:6, 0:3] == 40).all()
    assert (g[4:6, 3:6] == 0).all()  # empty cell is black
    assert make_grid([np.zeros((2, 2), np.uint8)] * 4).shape == (4, 4)  # square by default
    paths = save_grid(tmp_path / "grid.png", [np.zeros((2, 2, 2), np.uint8)] * 2, cols=2)
    assert [p.name for p in paths] == ["grid_c0.png", "grid_c1.png"]
    with pytest.raises(InputError):
        make_grid([])
    with pytest.raises(InputError):
        make_grid([np.zeros((2, 2), np.uint8), np.zeros((3, 3), np.uint8)])
