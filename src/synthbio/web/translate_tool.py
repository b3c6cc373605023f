"""The translation page of `synthbio serve`: one image through a translator found under the served folders.

A translator is a folder `synthbio translate train` wrote (`snapshot-*/`,
`latest/`, or a run folder, whose `latest/` is used) under a served folder;
the page lists them (`translators`) and names the one to use by its served
ref, so nothing outside the served folders is ever loaded. The input is an
uploaded PNG/JPEG (checked by `safety.image_kind`) or a picked image under a
served folder; it is converted to the source domain's channels and
translated with `--styles N` fixed style codes (seed style_seed + k), as
`synthbio translate apply` does, so the page shows what the command writes.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch

from synthbio.errors import InputError
from synthbio.io.images import encode_png, to_uint8
from synthbio.translation.apply import parse_direction, style_bank, translate
from synthbio.translation.checkpoint import (
    CONFIG_FILE,
    TRANSLATOR_FORMAT,
    WEIGHTS_FILE,
    Translator,
    load_translator,
    resolve_translator_dir,
)
from synthbio.translation.data import image_to_uint8, uint8_to_float
from synthbio.utils.devices import resolve_device
from synthbio.web.safety import Roots, UploadError

MAX_SIDE = 1024  # px: a larger image is refused (CPU time and memory of one request)
MAX_STYLES = 8
_CACHED = 2  # translators kept loaded


def _is_translator(folder: Path) -> bool:
    try:
        head = (folder / CONFIG_FILE).read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return TRANSLATOR_FORMAT in head and (folder / WEIGHTS_FILE).is_file()


def find_translators(roots: Roots, *, max_depth: int = 4) -> list[dict[str, Any]]:
    """Translator folders under the served roots, breadth first: [{'ref', 'domains', 'channels'}].

    A training run is listed once, by its `latest/` snapshot; its numbered
    snapshots are not searched (a long run holds many).
    """
    found: list[dict[str, Any]] = []
    for root in roots.paths.values():
        queue = [(root, 0)]
        while queue:
            folder, depth = queue.pop(0)
            if _is_translator(folder):
                _describe_into(found, roots, folder)
                continue
            if _is_translator(folder / "latest"):
                _describe_into(found, roots, folder / "latest")
                continue
            if depth >= max_depth:
                continue
            try:
                subdirs = sorted(p for p in folder.iterdir()
                                 if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
                                 and not p.name.isdigit())[:400]  # numbered identity folders hold images
            except OSError:
                continue
            queue += [(p, depth + 1) for p in subdirs]
    return found


def _describe_into(found: list[dict[str, Any]], roots: Roots, folder: Path) -> None:
    ref = roots.ref_of(folder)
    if ref is None:
        return
    try:
        meta = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        cfg = meta["config"]
        found.append({"ref": ref, "domains": dict(meta.get("domains") or {"a": "a", "b": "b"}),
                      "channels": {"a": int(cfg["channels_a"]), "b": int(cfg["channels_b"])}})
    except (OSError, ValueError, KeyError, TypeError):
        return


class TranslatorCache:
    """The last few translators loaded, keyed by folder and weights file time (a new snapshot reloads)."""

    def __init__(self, *, device: str = "cpu", size: int = _CACHED) -> None:
        self.device = device
        self.size = size
        self._items: OrderedDict[tuple[str, int], Translator] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, folder: Path) -> Translator:
        directory = resolve_translator_dir(folder)
        key = (os.fspath(directory), (directory / WEIGHTS_FILE).stat().st_mtime_ns)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        translator = load_translator(directory, device=resolve_device(self.device))  # 'auto' is no torch device
        with self._lock:
            self._items[key] = translator
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return translator


def decode_image(data: bytes, *, channels: int, what: str = "the upload") -> np.ndarray:
    """PNG/JPEG bytes -> [H, W, channels] uint8; UploadError 413 past MAX_SIDE px a side."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as img:
            if max(img.size) > MAX_SIDE:
                raise UploadError(f"{what} is {img.size[0]}x{img.size[1]} px; this page translates images of up "
                                  f"to {MAX_SIDE} px a side (use `synthbio translate apply` for larger ones)",
                                  status=413)
            img.load()
            return image_to_uint8(img, channels)
    except UploadError:
        raise
    except (OSError, SyntaxError, ValueError, PIL.Image.DecompressionBombError) as exc:
        raise UploadError(f"{what} cannot be decoded: {exc}", status=400) from None


def _data_url(planes: np.ndarray) -> str:
    a = planes[:, :, 0] if planes.shape[2] == 1 else planes
    return "data:image/png;base64," + base64.b64encode(encode_png(a)).decode()


def translate_image(translator: Translator, pixels: np.ndarray, *, direction: str, styles: int,
                    style_seed: int) -> dict[str, Any]:
    """One image [H, W, C] uint8 -> the source and `styles` translations as PNG data URLs, with timing."""
    src, dst = parse_direction(direction)
    if not 1 <= styles <= MAX_STYLES:
        raise InputError(f"styles must be in 1..{MAX_STYLES}, got {styles}")
    if style_seed < 0:
        raise InputError(f"style_seed must be >= 0, got {style_seed}")
    x = uint8_to_float(torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None])  # PIL's arrays are read-only
    start = time.perf_counter()
    y = translate(translator, x, style_bank(translator.config.style_dim, styles, seed=style_seed),
                  direction=direction)[0]
    ms = (time.perf_counter() - start) * 1000
    return {"direction": direction, "domains": {"source": translator.domains.get(src, src),
                                                "target": translator.domains.get(dst, dst)},
            "width": int(pixels.shape[1]), "height": int(pixels.shape[0]), "ms": round(ms, 1),
            "style_seeds": [style_seed + k for k in range(styles)], "source": _data_url(pixels),
            "outputs": [_data_url(a) for a in to_uint8(y)]}
