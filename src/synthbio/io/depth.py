"""Depth maps on disk, in metric values: float32 `.npy`, or 16-bit PNG with its near/far recorded.

A 16-bit PNG stores v = round((depth - near) / (far - near) * 65535) and
carries `near`, `far` and `units` as PNG text chunks, so `read_depth` returns
depths again (to (far - near) / 65535); depths outside [near, far] are
clipped. `.npy` keeps the float32 values as they are.
"""

from __future__ import annotations

import io
import os

import numpy as np
import PIL.Image
import PIL.PngImagePlugin

from synthbio.errors import InputError
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
    """Depth values [H, W] float32 from a `.npy` or a 16-bit PNG written by `write_depth`."""
    path = os.fspath(path)
    try:
        if path.endswith(".npy"):
            return _check(np.load(path, allow_pickle=False))
        with PIL.Image.open(path) as img:
            img.load()
            near, far = float(img.text["near"]), float(img.text["far"])  # type: ignore[attr-defined]
            q = np.asarray(img, dtype=np.float64)
    except (OSError, ValueError, KeyError, SyntaxError) as exc:
        raise InputError(f"cannot read depth map {path!r}: {exc}") from None
    return (near + q / _LEVELS * (far - near)).astype(np.float32)
