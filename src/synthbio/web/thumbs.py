"""Thumbnails, made once and kept in the cache folder (never inside a dataset).

A thumbnail's cache name is a hash of the image's real path, size, mtime and
the thumbnail size, so a changed image gets a new thumbnail and two datasets
never share one by accident. JPEG for photographs and prints alike: a 160 px
fingerprint thumbnail is ~6 KB.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import PIL.Image

from synthbio.errors import InputError
from synthbio.io.images import read_image
from synthbio.utils.hashing import atomic_write_bytes

THUMB_SIZES = (96, 160, 256)
_MAX_PIXELS = 64_000_000  # refuse decompression bombs (a served folder may hold any PNG)


def thumb_cache_path(cache_dir: Path, image: Path, size: int) -> Path:
    st = image.stat()
    key = hashlib.sha256(f"{image}|{st.st_size}|{st.st_mtime_ns}|{size}".encode()).hexdigest()
    return cache_dir / "thumbs" / key[:2] / f"{key[2:34]}.jpg"


def make_thumbnail(image: Path, size: int) -> bytes:
    """JPEG bytes of `image` scaled to fit a size x size box (aspect kept, never enlarged)."""
    try:
        with PIL.Image.open(image) as img:
            if img.width * img.height > _MAX_PIXELS:
                raise InputError(f"{image.name}: {img.width}x{img.height} is too large to preview")
            if img.mode.startswith("I;16") or img.mode == "I":  # PIL's convert would clip 16-bit gray to white
                img = PIL.Image.fromarray(read_image(image, mode="L"), "L")  # scaled as every command reads it
            else:
                img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale
                img = img.convert("L" if img.mode in ("L", "1") else "RGB")
            img.thumbnail((size, size), PIL.Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=85)
            return buf.getvalue()
    except (OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError) as exc:
        raise InputError(f"cannot read image {image.name}: {exc}") from None


def thumbnail(cache_dir: Path, image: Path, size: int) -> bytes:
    """The cached thumbnail of `image` (made and stored on first use)."""
    if size not in THUMB_SIZES:
        raise InputError(f"thumbnail size must be one of {', '.join(map(str, THUMB_SIZES))}, got {size}")
    path = thumb_cache_path(cache_dir, image, size)
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = make_thumbnail(image, size)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError:
        pass  # an unwritable cache only costs the work again
    return data


# Label colours of mask overlays (label 0 = background, transparent); repeats past 12 labels.
_PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                     [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
                     [0, 128, 128]], dtype=np.uint8)


def colorize_mask(path: Path) -> bytes:
    """RGBA PNG of a label mask (`<stem>_mask.png`): one colour per label, background transparent."""
    try:
        with PIL.Image.open(path) as img:
            if img.width * img.height > _MAX_PIXELS:
                raise InputError(f"{path.name}: {img.width}x{img.height} is too large to preview")
            labels = np.asarray(img.convert("L") if img.mode not in ("L", "P") else img)
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"cannot read mask {path.name}: {exc}") from None
    rgba = np.zeros((*labels.shape, 4), np.uint8)
    rgba[..., :3] = _PALETTE[np.where(labels == 0, 0, (labels.astype(np.int64) - 1) % (len(_PALETTE) - 1) + 1)]
    rgba[..., 3] = np.where(labels == 0, 0, 255)
    buf = io.BytesIO()
    PIL.Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    return buf.getvalue()
