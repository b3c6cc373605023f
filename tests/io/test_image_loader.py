"""One image loader for every command: decompression bombs, 16-bit grayscale, hostile files."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.errors import InputError
from synthbio.io.images import MAX_IMAGE_PIXELS, read_image, read_image_header


def png_header_only(path: Path, width: int, height: int, *, bit_depth: int = 8, color_type: int = 0) -> Path:
    """A PNG whose header declares width x height with one tiny (invalid) IDAT: a bomb costs nothing to make."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def gray16(path: Path, values: np.ndarray) -> Path:
    PIL.Image.fromarray(values.astype(np.uint16)).save(path)  # a 16-bit grayscale PNG ('I;16')
    return path


def _gradient16() -> np.ndarray:
    return (np.arange(64 * 64, dtype=np.float64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520


def test_16_bit_gray_is_scaled_not_clipped(tmp_path: Path) -> None:
    a16 = _gradient16()
    path = gray16(tmp_path / "g16.png", a16)
    assert PIL.Image.open(path).mode.startswith("I")
    expected = np.clip(np.rint(a16 / 257.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(read_image(path, mode="L"), expected)
    rgb = read_image(path, mode="RGB")
    assert rgb.shape == (64, 64, 3) and np.array_equal(rgb[:, :, 1], expected)
    assert read_image(path).shape == (64, 64)  # gray stays gray by default


def test_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    path = png_header_only(tmp_path / "bomb.png", 15000, 15000)  # 225 megapixels declared in ~100 bytes
    with pytest.raises(InputError, match="bomb.png") as info:
        read_image(path)
    assert "225000000 pixels" in str(info.value)
    with pytest.raises(InputError, match="bomb.png"):
        read_image_header(path)
    big = png_header_only(tmp_path / "big.png", 9000, 9000)  # under PIL's own error, over synthbio's limit
    assert 9000 * 9000 > MAX_IMAGE_PIXELS
    with pytest.raises(InputError, match="big.png"):
        read_image(big)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n", b"not an image", b"GIF89a" + b"\x00" * 20,
                                     b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"])
def test_garbage_is_an_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match="x.png"):
        read_image(path)


def test_truncated_png_and_folder(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="t.png"):
        read_image(path)
    with pytest.raises(InputError, match="no such"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "d.png").mkdir()
    with pytest.raises(InputError, match="d.png"):
        read_image(tmp_path / "d.png")


# --- every command's loader goes through it -------------------------------------------------------


def _project(path: Path) -> torch.Tensor:
    from synthbio.pipelines.projection.project import load_target

    return load_target(path, resolution=64, channels=1)[0]


def _invert(path: Path) -> torch.Tensor:
    from synthbio.inversion.invert import load_image

    return load_image(path, resolution=64, channels=1)


def _privacy(path: Path) -> torch.Tensor:
    from synthbio.identity.privacy import load_image

    return load_image(path, mode="L")


def _faces(path: Path) -> torch.Tensor:
    from synthbio.faces.detection import read_rgb

    return torch.from_numpy(read_rgb(path)[:, :, :1].copy()).permute(2, 0, 1).float() / 127.5 - 1


def _classifier(path: Path) -> torch.Tensor:
    from synthbio.pipelines.attributes.classifier import load_face

    return load_face(path, resolution=64, channels=1)


def _impression(path: Path) -> torch.Tensor:
    from synthbio.inversion.encoder_data import load_impression_target

    return load_impression_target(path, resolution=64)


def _serve_thumbnail(path: Path) -> torch.Tensor:
    import io

    from synthbio.web.thumbs import make_thumbnail

    with PIL.Image.open(io.BytesIO(make_thumbnail(path, 96))) as img:  # 64 px images are not enlarged
        return torch.from_numpy(np.array(img.convert("L"))).float()[None] / 127.5 - 1


LOADERS: dict[str, Callable[[Path], torch.Tensor]] = {
    "project": _project, "invert": _invert, "privacy": _privacy, "faces": _faces, "classifier": _classifier,
    "impression": _impression, "serve thumbnail": _serve_thumbnail,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_every_loader_scales_16_bit_gray_like_8_bit(tmp_path: Path, name: str) -> None:
    a16 = _gradient16()
    p16 = gray16(tmp_path / "g16.png", a16)
    p8 = tmp_path / "g8.png"
    PIL.Image.fromarray(np.clip(np.rint(a16 / 257.0), 0, 255).astype(np.uint8)).save(p8)
    load = LOADERS[name]
    torch.testing.assert_close(load(p16), load(p8), rtol=0, atol=0)
    assert float(load(p16).mean()) < 0.5  # not clipped to white


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_every_loader_refuses_bombs_naming_the_file(tmp_path: Path, name: str) -> None:
    path = png_header_only(tmp_path / "bomb.png", 15000, 15000)
    with pytest.raises(InputError, match="bomb.png"):
        LOADERS[name](path)


def test_commands_refuse_a_bomb_in_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """project, faces embed and invert let PIL's DecompressionBombError escape as a traceback."""
    from synthbio.checkpoints.encoders import save_encoder
    from synthbio.checkpoints.native import save_generator
    from synthbio.nn.config import GeneratorConfig
    from synthbio.nn.encoders import Encoder, EncoderConfig
    from synthbio.pipelines.images.demo import build_demo_generator

    G = build_demo_generator(GeneratorConfig(img_resolution=16, z_dim=8, w_dim=8, channel_base=128, channel_max=8,
                                             mapping_layers=2))
    save_generator(G, tmp_path / "G")
    enc = Encoder(EncoderConfig(in_channels=3, resolution=16, num_ws=G.num_ws, w_dim=8, channels=(4, 4, 4, 4),
                                blocks=(1, 1, 1, 1), head_channels=4), w_avg=G.mapping.w_avg)
    save_encoder(enc, tmp_path / "enc", task="invert", generator=str(tmp_path / "G"))
    bomb = png_header_only(tmp_path / "bomb.png", 15000, 15000)
    for args in (["project", "-m", str(tmp_path / "G"), str(bomb), "-o", str(tmp_path / "p"), "--loss", "l2"],
                 ["faces", "embed", str(bomb), "--aligned", "-m", "pixel-random", "-o", str(tmp_path / "e.npy")],
                 ["invert", "-e", str(tmp_path / "enc"), str(bomb), "-o", str(tmp_path / "i")]):
        code, _, err = run_cli(*args)
        assert code == 2 and "bomb.png" in err and "225000000 pixels" in err and "Traceback" not in err, (args, err)
