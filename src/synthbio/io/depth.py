"""Depth maps on disk, in metric values: float32 `.npy`, or 16-bit PNG with its near/far recorded.

A 16-bit PNG stores v = round((depth - near) / (far - near) * 65535) and
carries `near`, `far` and `units` as PNG text chunks, so `read_depth` returns
depths again (to (far - near) / 65535); depths outside [near, far] are
clipped. `.npy` keeps the float32 values as they are.
"""

from __future__ import annotations

import io
import math
import os
import warnings

import numpy as np
import PIL.Image
import PIL.PngImagePlugin

from synthbio.errors import InputError
from synthbio.io.arrays import read_npy
from synthbio.io.images import DECODER_ERRORS, read_image_header
from synthbio.utils.hashing import atomic_write_bytes, sha256_bytes

DEPTH_FORMATS = ("npy", "png16")
_LEVELS = 65535


def _check(depth: np.ndarray) -> np.ndarray:
    d = np.asarray(depth, dtype=np.float32)
    if d.ndim != 2:
        raise InputError(f"a depth map must be [H, W], got shape {d.shape}")
    if not np.isfinite(d).all():
        raise InputError("depth map holds NaN or inf values")
    return d


def encode_depth(depth: np.ndarray, fmt: str, *, near: float, far: float, units: str = "") -> bytes:
    """Bytes of a depth map [H, W] as `.npy` (float32) or 16-bit PNG quantised between near and far."""
    d = _check(depth)
    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, d, allow_pickle=False)
        return buf.getvalue()
    if fmt != "png16":
        raise InputError(f"depth format must be one of {', '.join(DEPTH_FORMATS)}, got {fmt!r}")
    if not far > near:
        raise InputError(f"depth range needs far > near, got near={near}, far={far}")
    q = np.rint((np.clip(d, near, far) - near) / (far - near) * _LEVELS).astype(np.uint16)
    info = PIL.PngImagePlugin.PngInfo()
    info.add_text("near", repr(float(near)))
    info.add_text("far", repr(float(far)))
    info.add_text("units", units)
    buf = io.BytesIO()
    PIL.Image.fromarray(q).save(buf, format="PNG", pnginfo=info, compress_level=6)  # uint16 -> mode I;16
    return buf.getvalue()


def write_depth(path: str | os.PathLike[str], depth: np.ndarray, fmt: str, *, near: float, far: float,
                units: str = "") -> str:
    """Write a depth map atomically (format by `fmt`); return the sha256 of the bytes written."""
    data = encode_depth(depth, fmt, near=near, far=far, units=units)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def read_depth(path: str | os.PathLike[str]) -> np.ndarray:
    """Depth values [H, W] float32 from a `.npy` or a 16-bit PNG written by `write_depth`.

    Anything else (a damaged or forged file, a PNG without its near/far, non-finite values) is an
    InputError naming the file; PNGs over the image loader's size limit are refused from their header.
    """
    name = os.fspath(path)
    if name.endswith(".npy"):
        d = read_npy(name, what="depth map")  # no pickles; a forged shape is refused before allocating
        if d.dtype.kind not in "fiub":
            raise InputError(f"depth map {name!r} holds {d.dtype} values, not numbers")
        return _checked(d, name)
    read_image_header(name)  # missing files, folders, unknown formats and bombs, from the header
    try:
        with warnings.catch_warnings(), PIL.Image.open(name) as img:
            warnings.simplefilter("ignore")
            img.load()
            text = getattr(img, "text", {})
            near, far = float(text["near"]), float(text["far"])
            q = np.asarray(img, dtype=np.float64)
    except KeyError:
        raise InputError(f"depth map {name!r} does not record its near/far range (not written by synthbio)") from None
    except DECODER_ERRORS as exc:
        raise InputError(f"cannot read depth map {name!r}: {exc}") from None
    if q.ndim != 2 or not (math.isfinite(near) and math.isfinite(far) and far > near):
        raise InputError(f"depth map {name!r} is no 16-bit depth PNG (shape {q.shape}, near={near}, far={far})")
    return _checked(near + q / _LEVELS * (far - near), name)


def _checked(depth: np.ndarray, name: str) -> np.ndarray:
    try:
        return _check(depth)
    except InputError as exc:
        raise InputError(f"depth map {name!r}: {exc}") from None
