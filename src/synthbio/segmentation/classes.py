"""Mask classes: names and colours (`classes.json`), default class sets, colour previews.

`classes.json` is a list, in class-index order, of {"name": str, "color":
[r, g, b]} (or "#rrggbb"). Index 0 is what an untouched blank annotation
holds, so it should be the background. Colours must differ: colour
annotations (GIMP / Krita exports) are read back through them.
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthbio.errors import InputError, library_message
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.jsonio import read_json_file

CLASSES_NAME = "classes.json"
MAX_CLASSES = 255  # index 255 of an index mask means "not annotated"
IGNORE_INDEX = 255
MAX_CLASSES_BYTES = 1 << 20  # 255 classes with long names fit in a few kilobytes

# Distinct colours for classes given by name only: black background, then saturated hues.
_BASE_COLOURS = (
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128),
    (128, 128, 128), (255, 255, 255),
)


@dataclass(frozen=True)
class MaskClass:
    """One class: its name and its colour (r, g, b) in previews and colour annotations."""

    name: str
    color: tuple[int, int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "color": list(self.color)}


def _check(classes: Sequence[MaskClass], where: str) -> tuple[MaskClass, ...]:
    out = tuple(classes)
    if len(out) < 2:
        raise InputError(f"{where}: masks need at least 2 classes, got {len(out)}")
    if len(out) > MAX_CLASSES:
        raise InputError(f"{where}: at most {MAX_CLASSES} classes, got {len(out)}")
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup or any(not n.strip() for n in names):
        raise InputError(f"{where}: class names must be non-empty and unique (repeated: {', '.join(map(repr, dup))})")
    colours = [c.color for c in out]
    same = [c.name for c in out if colours.count(c.color) > 1]
    if same:
        raise InputError(f"{where}: classes {', '.join(same)} share a colour; every class needs its own")
    return out


def default_colour(index: int) -> tuple[int, int, int]:
    """Colour of class `index` when none is given (a fixed list, then golden-ratio hues)."""
    if index < len(_BASE_COLOURS):
        return _BASE_COLOURS[index]
    h = (index * 0.618033988749895) % 1.0
    v = 0.95 - 0.3 * ((index // 7) % 3) / 2
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, v)
    return round(r * 255), round(g * 255), round(b * 255)


def classes_from_names(names: Sequence[str], *, where: str = "class list") -> tuple[MaskClass, ...]:
    """Classes named in order, with default colours (a colour already taken moves on to the next free one)."""
    out: list[MaskClass] = []
    taken: set[tuple[int, int, int]] = set()
    k = 0
    for name in names:
        while default_colour(k) in taken:
            k += 1
        out.append(MaskClass(str(name).strip(), default_colour(k)))
        taken.add(default_colour(k))
        k += 1
    return _check(out, where)


# Fingerprints: the print area against the background, and the regions around singular points
# (within ~40 px at 500 dpi of a core or delta), whose ridges curve most.
FINGERPRINT_CLASSES = (
    MaskClass("background", (0, 0, 0)),
    MaskClass("fingerprint", (200, 200, 200)),
    MaskClass("core", (230, 25, 75)),
    MaskClass("delta", (0, 130, 200)),
)
# The procedural eyes of the masks test bed (synthbio.segmentation.testbed).
EYE_CLASSES = (
    MaskClass("skin", (0, 0, 0)),
    MaskClass("sclera", (255, 255, 255)),
    MaskClass("iris", (60, 180, 75)),
    MaskClass("pupil", (0, 0, 200)),
)
DEFAULT_CLASS_SETS = {"fingerprint": FINGERPRINT_CLASSES, "eye": EYE_CLASSES}


def _parse_colour(value: Any, where: str) -> tuple[int, int, int]:
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) == 6:
            try:
                return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
            except ValueError:
                pass
    elif isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        return int(value[0]), int(value[1]), int(value[2])
    raise InputError(f"{where}: colour {value!r} is not [r, g, b] (0-255) or '#rrggbb'")


def classes_from_json(data: Any, *, where: str) -> tuple[MaskClass, ...]:
    """Classes from parsed `classes.json` content (a list of {"name", "color"}; colour optional)."""
    if isinstance(data, dict) and "classes" in data:
        data = data["classes"]
    if not isinstance(data, list):
        raise InputError(f"{where}: expected a list of {{\"name\": ..., \"color\": [r, g, b]}}")
    out = []
    for i, item in enumerate(data):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InputError(f"{where}: class {i} has no name")
        colour = _parse_colour(item["color"], f"{where}, class {item['name']!r}") if "color" in item \
            else default_colour(i)
        out.append(MaskClass(item["name"], colour))
    return _check(out, where)


def read_classes(path: str | os.PathLike[str]) -> tuple[MaskClass, ...]:
    """Classes from a classes.json file (InputError naming it when unreadable or invalid)."""
    where = os.fspath(path)
    try:
        data = read_json_file(path, max_bytes=MAX_CLASSES_BYTES)
    except FileNotFoundError:
        raise InputError(f"class file {where!r} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"class file {where!r} is a folder, not a classes.json file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read class file {where!r}: {library_message(exc)}") from None
    return classes_from_json(data, where=where)


def resolve_classes(spec: str) -> tuple[MaskClass, ...]:
    """A class list from a command line: a classes.json path, a default set name, or 'a,b,c' names."""
    if spec in DEFAULT_CLASS_SETS:
        return DEFAULT_CLASS_SETS[spec]
    if spec.endswith(".json") or os.path.sep in spec or os.path.isfile(spec):
        return read_classes(spec)
    names = [s for s in spec.split(",")]
    if len(names) < 2:
        raise InputError(f"classes {spec!r}: give a classes.json file, one of {', '.join(DEFAULT_CLASS_SETS)}, "
                         "or at least two names separated by commas")
    return classes_from_names(names, where=f"classes {spec!r}")


def write_classes(path: str | os.PathLike[str], classes: Sequence[MaskClass]) -> None:
    atomic_write_json(path, [c.to_dict() for c in classes])


def palette(classes: Sequence[MaskClass]) -> np.ndarray:
    """[K, 3] uint8 class colours."""
    return np.asarray([c.color for c in classes], dtype=np.uint8).reshape(-1, 3)


def colour_mask(labels: np.ndarray, classes: Sequence[MaskClass]) -> np.ndarray:
    """Index mask [H, W] -> colour preview [H, W, 3] uint8 (not-annotated pixels grey)."""
    lut = np.full([256, 3], 128, dtype=np.uint8)
    lut[: len(classes)] = palette(classes)
    return lut[np.asarray(labels).astype(np.int64).clip(0, 255)]


def overlay(image_uint8: np.ndarray, labels: np.ndarray, classes: Sequence[MaskClass], *,
            alpha: float = 0.5) -> np.ndarray:
    """An image [H, W] or [H, W, C] uint8 with its mask blended over it: [H, W, 3] uint8."""
    img = np.asarray(image_uint8)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] != 3:
        img = np.repeat(img[:, :, :1], 3, axis=2)
    blend = (1 - alpha) * img.astype(np.float32) + alpha * colour_mask(labels, classes).astype(np.float32)
    return blend.round().clip(0, 255).astype(np.uint8)
