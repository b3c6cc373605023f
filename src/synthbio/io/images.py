"""Image tensors -> uint8 arrays -> PNG files, and sample grids.

Conversion follows the official StyleGAN2-ADA tools: a float image in [-1, 1]
maps to `(x * 127.5 + 128).clamp(0, 255)` truncated to uint8, so our PNGs equal
theirs for the same generator output.

Channel counts: 1 -> grayscale PNG ('L'), 3 -> RGB PNG; any other count is
written as one grayscale PNG per channel (`<stem>_c<i>.png`), since PNG has no
general multi-channel layout and 2- or 4-channel outputs are not alpha.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from synthbio.errors import InputError
from synthbio.utils.hashing import atomic_write_bytes, sha256_bytes


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] float in [-1, 1] -> [N, H, W, C] uint8 (official rounding)."""
    if images.ndim != 4:
        raise InputError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
    x = (images.detach().float().permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255)
    return x.to(torch.uint8).cpu().numpy()


def png_planes(image_uint8: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Split one [H, W, C] uint8 image into PNG-ready planes.

    Returns (suffix, array) pairs: [('', HxW or HxWx3)] for 1 or 3 channels,
    otherwise [('_c0', HxW), ('_c1', HxW), ...], one grayscale plane per channel.
    """
    if image_uint8.ndim != 3 or image_uint8.dtype != np.uint8:
        raise InputError(f"expected an [H, W, C] uint8 image, got {image_uint8.dtype} {image_uint8.shape}")
    c = image_uint8.shape[2]
    if c == 1:
        return [("", image_uint8[:, :, 0])]
    if c == 3:
        return [("", image_uint8)]
    return [(f"_c{i}", image_uint8[:, :, i]) for i in range(c)]


def encode_png(array_uint8: np.ndarray, *, dpi: int | None = None) -> bytes:
    """PNG bytes of an [H, W] (grayscale) or [H, W, 3] (RGB) uint8 array.

    PIL's PNG encoder is deterministic for fixed input and settings, so equal
    pixels give equal bytes (and equal sha256 in manifests). dpi: the
    resolution recorded in the pHYs chunk (fingerprints carry theirs).
    """
    a = np.ascontiguousarray(array_uint8)
    if a.ndim == 2:
        img = PIL.Image.fromarray(a, "L")
    elif a.ndim == 3 and a.shape[2] == 3:
        img = PIL.Image.fromarray(a, "RGB")
    else:
        raise InputError(f"PNG plane must be [H, W] or [H, W, 3], got {a.shape}")
    buf = io.BytesIO()
    if dpi is None:
        img.save(buf, format="PNG", compress_level=6)
    else:
        img.save(buf, format="PNG", compress_level=6, dpi=(dpi, dpi))
    return buf.getvalue()


def write_png(path: str | os.PathLike[str], array_uint8: np.ndarray) -> str:
    """Write a PNG atomically; return the sha256 of the bytes written."""
    data = encode_png(array_uint8)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode a PNG to uint8 [H, W] or [H, W, 3]; InputError naming the file if it is unreadable."""
    try:
        with PIL.Image.open(path) as img:
            img.load()
            if img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            return np.asarray(img).copy()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read image {os.fspath(path)!r}: {exc}") from None


def _as_hwc(a: np.ndarray) -> np.ndarray:
    return a[:, :, None] if a.ndim == 2 else a


def make_grid(images_uint8: Sequence[np.ndarray], *, cols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile equal-size [H, W] or [H, W, C] uint8 images row-major into one image.

    cols: images per row (None = ceil(sqrt(N)), a near-square grid). Empty cells
    are black. Returns [rows*H, cols*W] (grayscale) or [rows*H, cols*W, C].
    """
    if len(images_uint8) == 0:
        raise InputError("cannot make a grid of zero images")
    tiles = [_as_hwc(np.asarray(a)) for a in images_uint8]
    h, w, c = tiles[0].shape
    if any(t.shape != (h, w, c) for t in tiles):
        raise InputError("grid images must all have the same shape")
    n = len(tiles)
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    grid = np.zeros([rows * (h + pad) - pad, cols * (w + pad) - pad, c], dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, k = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = t
    return grid[:, :, 0] if c == 1 else grid


def save_grid(path: str | Path, images_uint8: Sequence[np.ndarray], *, cols: int | None = None) -> list[Path]:
    """Write a grid PNG (one per channel when the channel count is not 1 or 3).

    Returns the paths written: `path` itself, or `<stem>_c<i>.png` per channel.
    """
    path = Path(path)
    grid = _as_hwc(make_grid(images_uint8, cols=cols))
    written = []
    for suffix, plane in png_planes(grid):
        out = path.with_name(f"{path.stem}{suffix}{path.suffix}")
        write_png(out, plane)
        written.append(out)
    return written
