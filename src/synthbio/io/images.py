"""Image tensors -> uint8 arrays -> PNG files, sample grids, and the one loader of user images.

Conversion follows the official StyleGAN2-ADA tools: a float image in [-1, 1]
maps to `(x * 127.5 + 128).clamp(0, 255)` truncated to uint8, so our PNGs equal
theirs for the same generator output.

Channel counts: 1 -> grayscale PNG ('L'), 3 -> RGB PNG; any other count is
written as one grayscale PNG per channel (`<stem>_c<i>.png`), since PNG has no
general multi-channel layout and 2- or 4-channel outputs are not alpha.

Reading: `read_image` is the loader every command uses for images a user
gives (training data, projection targets, faces, inversion inputs). It reads
PNG, JPEG, BMP, TIFF, WebP and PGM/PPM only (no format that runs a helper
program), refuses images over `MAX_IMAGE_PIXELS` from their header before
decoding, scales 16-bit grayscale to 8 bits (65535 -> 255) instead of
clipping it, and turns every decoder failure into an `InputError` naming the
file.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

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


#: Largest image a user may give (pixels, from the header): 8192 x 8192, far above any
#: training or face image, far below what would exhaust memory (PIL's own refusal is 179 MP).
MAX_IMAGE_PIXELS = 8192 * 8192

#: Decoders `read_image` uses; the rest of PIL's plugins (EPS runs Ghostscript) stay unused.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "PPM")

#: What PIL's decoders raise on damaged or hostile files besides OSError.
DECODER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, TypeError, IndexError, KeyError,
                  ZeroDivisionError, MemoryError, OverflowError, RuntimeError, AttributeError,
                  PIL.Image.DecompressionBombError)

ImageSource = str | os.PathLike[str]


def _open(path: ImageSource, data: bytes | None) -> PIL.Image.Image:
    """PIL image with only its header read; InputError for missing files, folders and unknown formats."""
    name = os.fspath(path)
    if data is None:
        if not os.path.exists(name):
            raise InputError(f"image {name!r}: no such file")
        if os.path.isdir(name):
            raise InputError(f"image {name!r} is a folder, not an image file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's warnings about damaged metadata are not the user's to read
        warnings.simplefilter("error", PIL.Image.DecompressionBombWarning)
        try:
            img = PIL.Image.open(io.BytesIO(data) if data is not None else name, formats=IMAGE_FORMATS)
        except PIL.Image.UnidentifiedImageError:
            raise InputError(f"cannot read image {name!r}: not a {', '.join(IMAGE_FORMATS)} file") from None
        except (PIL.Image.DecompressionBombWarning, PIL.Image.DecompressionBombError) as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))  # PIL names the size it refused
            raise InputError(_too_large(name, found.group(1) if found else "too many")) from None
    w, h = img.size
    if w * h > MAX_IMAGE_PIXELS or w < 1 or h < 1:
        img.close()
        raise InputError(_too_large(name, f"{w}x{h} = {w * h}"))
    return img


def _too_large(name: str, pixels: str) -> str:
    return (f"image {name!r} declares {pixels} pixels; images up to {MAX_IMAGE_PIXELS} "
            f"({math.isqrt(MAX_IMAGE_PIXELS)}^2) are read, larger ones are refused before decoding")


def read_image_header(path: ImageSource, *, data: bytes | None = None) -> tuple[tuple[int, int], str]:
    """((width, height), PIL mode) of an image file (or of its bytes `data`) without decoding its pixels."""
    try:
        with _open(path, data) as img:
            return img.size, img.mode
    except InputError:
        raise
    except DECODER_ERRORS as exc:
        raise InputError(f"cannot read image {os.fspath(path)!r}: {exc}") from None


def _is_gray(mode: str) -> bool:
    return mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;16")


def _to_uint8(img: PIL.Image.Image, mode: Literal["L", "RGB"]) -> np.ndarray:
    """Decoded PIL image -> uint8 [H, W] ('L') or [H, W, 3] ('RGB'); 16-bit gray scaled by 255 / 65535."""
    if img.mode.startswith("I;16") or img.mode == "I":
        a = np.asarray(img).astype(np.float64)
        img = PIL.Image.fromarray(np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8), "L")
    if img.mode != mode:
        img = img.convert(mode)
    return np.array(img, dtype=np.uint8)


def read_image(path: ImageSource, *, mode: Literal["L", "RGB"] | None = None, data: bytes | None = None
               ) -> np.ndarray:
    """Decode a user's image file to uint8 [H, W] (mode 'L') or [H, W, 3] (mode 'RGB').

    mode None keeps grayscale images gray and makes everything else RGB.
    data: the file's bytes when they come from elsewhere (a zip archive);
    `path` then only names it in errors. Refuses, with an InputError naming
    the file: missing files, folders, formats outside IMAGE_FORMATS, images
    over MAX_IMAGE_PIXELS (from the header, before decoding), truncated or
    corrupt data.
    """
    if mode not in (None, "L", "RGB"):
        raise InputError(f"image mode must be 'L' or 'RGB', got {mode!r}")
    try:
        with _open(path, data) as img, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            return _to_uint8(img, mode or ("L" if _is_gray(img.mode) else "RGB"))
    except InputError:
        raise
    except DECODER_ERRORS as exc:
        raise InputError(f"cannot read image {os.fspath(path)!r}: {exc}") from None


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image (a PNG written by synthbio) to uint8 [H, W] or [H, W, 3]; see `read_image`."""
    return read_image(path)


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
