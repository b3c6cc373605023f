"""Annotation files: a person's masks, read and checked, and the blank ones handed out.

Accepted, for a sample of H x W pixels and K classes (`classes.json`):

- index PNG, grayscale (mode L, or 1 for two classes): pixel value = class
  index 0..K-1; 255 = not annotated (left out of training and scoring);
- palette PNG (mode P; what `masks export` writes and GIMP keeps in indexed
  mode): read through its palette colours, so a reordered palette still maps right;
- colour PNG (RGB, or RGBA where alpha 0 = not annotated): every colour must
  be a class colour (`tolerance` allows antialiased or re-encoded edges: the
  nearest class colour within that many levels per channel);
- `.npy`: an integer array [H, W] of class indices (255 = not annotated).

Anything else, another size, or a value / colour that is no class is refused
with an InputError naming the file and the values found.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image

from synthbio.errors import InputError
from synthbio.io.arrays import read_npy
from synthbio.io.images import DECODER_ERRORS, encode_png, read_image_header
from synthbio.segmentation.classes import IGNORE_INDEX, MaskClass, palette
from synthbio.utils.hashing import atomic_write_bytes, sha256_bytes

ANNOTATION_SUFFIXES = (".png", ".npy")
_SHOWN = 6  # values / colours listed in an error


def _hex(c: Sequence[int]) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in c)


def _describe_values(values: np.ndarray, counts: np.ndarray) -> str:
    order = np.argsort(-counts)[:_SHOWN]
    text = ", ".join(f"{int(values[i])} ({int(counts[i])} px)" for i in order)
    return text + (f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")


def _check_indices(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
    values, counts = np.unique(labels, return_counts=True)
    bad = ((values >= num_classes) & (values != IGNORE_INDEX)) | (values < 0)
    if bad.any():
        raise InputError(
            f"annotation {where} holds pixel values {_describe_values(values[bad], counts[bad])} that are no class: "
            f"the {num_classes} classes are 0-{num_classes - 1} ({IGNORE_INDEX} = not annotated); "
            f"values found: {', '.join(str(int(v)) for v in values[:20])}"
        )
    return labels.astype(np.uint8)


def labels_from_colours(rgb: np.ndarray, classes: Sequence[MaskClass], *, where: str,
                        tolerance: int = 0, transparent: np.ndarray | None = None) -> np.ndarray:
    """Colour image [H, W, 3] -> class indices [H, W] uint8 through the class colours.

    transparent: [H, W] bool, pixels that are not annotated. A colour further
    than `tolerance` (per channel) from every class colour is an InputError
    listing the colours found and the class colours.
    """
    pal = palette(classes).astype(np.int32)  # [K, 3]
    flat = rgb.reshape(-1, 3).astype(np.int32)
    colours, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    dist = np.abs(colours[:, None, :] - pal[None, :, :]).max(axis=2)  # [U, K] Chebyshev distance
    nearest = dist.argmin(axis=1)
    ok = dist[np.arange(len(colours)), nearest] <= tolerance
    labels = nearest[inverse.reshape(-1)].astype(np.uint8).reshape(rgb.shape[:2])
    if transparent is not None:
        labels[transparent] = IGNORE_INDEX
        used = np.zeros(len(colours), dtype=bool)
        used[np.unique(inverse.reshape(-1)[~transparent.reshape(-1)])] = True
        ok |= ~used
    if not ok.all():
        bad = np.nonzero(~ok)[0]
        order = bad[np.argsort(-counts[bad])][:_SHOWN]
        found = ", ".join(f"{_hex(colours[i])} ({int(counts[i])} px)" for i in order)
        more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        known = ", ".join(f"{c.name} {_hex(c.color)}" for c in classes)
        hint = "" if tolerance else " (antialiased edges? paint with a hard pencil, or allow a colour tolerance)"
        raise InputError(f"annotation {where} holds colours that are no class: {found}{more}; "
                         f"the classes are {known}{hint}")
    return labels


def _read_png(path: Path, classes: Sequence[MaskClass], tolerance: int, *, height: int, width: int) -> np.ndarray:
    where = os.fspath(path)
    # The header first: a 27 KB PNG may declare 225 megapixels, and a size that is not the sample's is refused
    # before anything is decoded.
    (w, h), _ = read_image_header(path)
    if (w, h) != (width, height):
        raise InputError(f"annotation {where} is {w}x{h} pixels, its sample is {width}x{height}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's warnings about damaged metadata are not the user's to read
            with PIL.Image.open(path) as img:
                img.load()
                mode = img.mode
                if mode == "P":
                    has_alpha = "transparency" in img.info
                    img = img.convert("RGBA" if has_alpha else "RGB")
                    mode = img.mode
                arr = np.asarray(img)
    except DECODER_ERRORS as exc:
        raise InputError(f"cannot read annotation {where!r}: {exc}") from None
    if mode == "1":
        return _check_indices(arr.astype(np.int64), len(classes), where)
    if mode in ("L", "I", "I;16", "I;16B", "I;16L"):
        return _check_indices(arr.astype(np.int64), len(classes), where)
    if mode == "LA":
        labels = arr[:, :, 0].astype(np.int64)
        labels[arr[:, :, 1] == 0] = IGNORE_INDEX
        _alpha_is_binary(arr[:, :, 1], where)
        return _check_indices(labels, len(classes), where)
    if mode == "RGB":
        return labels_from_colours(arr, classes, where=where, tolerance=tolerance)
    if mode == "RGBA":
        _alpha_is_binary(arr[:, :, 3], where)
        return labels_from_colours(arr[:, :, :3], classes, where=where, tolerance=tolerance,
                                   transparent=arr[:, :, 3] == 0)
    raise InputError(f"annotation {where} has PNG mode {mode}: use an index (grayscale), palette or RGB PNG")


def _alpha_is_binary(alpha: np.ndarray, where: str) -> None:
    partial = (alpha > 0) & (alpha < 255)
    if partial.any():
        raise InputError(f"annotation {where} has {int(partial.sum())} half-transparent pixels: "
                         "alpha must be 0 (not annotated) or 255")


def _read_npy(path: Path, num_classes: int) -> np.ndarray:
    where = os.fspath(path)
    arr = read_npy(path, what="annotation")  # no pickles; a forged shape is refused before allocating
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise InputError(f"annotation {where} is an array of shape {arr.shape}: expected [H, W] class indices")
    if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
        raise InputError(f"annotation {where} holds {arr.dtype} values: expected integer class indices")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise InputError(f"annotation {where} holds pixel values up to {int(arr.max())}: no class is that large")
    return _check_indices(arr.astype(np.int64), num_classes, where)


def read_annotation(path: str | os.PathLike[str], classes: Sequence[MaskClass], *, height: int, width: int,
                    tolerance: int = 0) -> np.ndarray:
    """Class indices [height, width] uint8 (255 = not annotated) from an annotation file (see module)."""
    path = Path(path)
    where = os.fspath(path)
    if path.is_dir():
        raise InputError(f"annotation {where!r} is a folder, not a .png or .npy file")
    if not path.is_file():
        raise InputError(f"annotation {where!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        labels = _read_npy(path, len(classes))
    elif suffix == ".png":
        labels = _read_png(path, classes, tolerance, height=height, width=width)
    else:
        raise InputError(f"annotation {where} is neither .png nor .npy")
    if labels.shape != (height, width):
        raise InputError(f"annotation {where} is {labels.shape[1]}x{labels.shape[0]} pixels, "
                         f"its sample is {width}x{height}")
    return labels


def encode_annotation_png(labels: np.ndarray, classes: Sequence[MaskClass]) -> bytes:
    """Palette PNG bytes of class indices [H, W]: an index PNG that shows in class colours.

    Not-annotated pixels (255) become a grey palette entry after the classes.
    """
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    img = PIL.Image.fromarray(labels, "P")
    pal = palette(classes).reshape(-1).tolist()
    if (labels == IGNORE_INDEX).any():
        pal = pal + [128, 128, 128] * (IGNORE_INDEX + 1 - len(classes))
    img.putpalette(pal)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def write_annotation_png(path: str | os.PathLike[str], labels: np.ndarray, classes: Sequence[MaskClass]) -> str:
    """Write class indices as a palette PNG (atomic); return its sha256."""
    data = encode_annotation_png(labels, classes)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def write_index_png(path: str | os.PathLike[str], labels: np.ndarray) -> str:
    """Class indices [H, W] as a grayscale PNG (value = class index; atomic); return its sha256."""
    data = encode_png(np.ascontiguousarray(labels, dtype=np.uint8))
    atomic_write_bytes(path, data)
    return sha256_bytes(data)
