"""Training pairs for encoders: (encoder input, target image[, known ws]) batches.

Sources:

- `FolderPairs`: a folder of images (`synthbio.training.data.ImageDataset`,
  Lanczos-resized to the generator's resolution); input = target = the image.
- `MinutiaePairs`: a fingerprint dataset written by `synthbio fingerprints
  generate` (`DIR/<finger>/<impression>.png` beside `<impression>.json`).
  Input = `render_minutiae_maps(template, size=R)` (float32 >= 0, 3 channels);
  target = the impression centre-padded to a square with white (the frame the
  minutiae maps use: see synthbio.fingerprints.minutiae_map), Lanczos-resized
  to R, grayscale in [-1, 1] (repeated when the generator has 3 channels).

Both are map-style datasets whose items are ({"input", "target"}, empty label),
so `synthbio.training.data.infinite_loader` draws them in an order that is a
pure function of (seed, position): exact resume needs only the position.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.io.derived import is_derived
from synthbio.io.images import read_image

_EMPTY = torch.zeros(0)


def _gray_to(img: Tensor, channels: int) -> Tensor:
    """[1, R, R] -> [channels, R, R] (grayscale repeated for RGB generators)."""
    return img if channels == 1 else img.expand(channels, -1, -1).clone()


class FolderPairs(torch.utils.data.Dataset):
    """Images of a folder at the generator's resolution; items ({"input": x, "target": x}, [])."""

    def __init__(self, path: str | os.PathLike[str], *, resolution: int, channels: int) -> None:
        from synthbio.training.data import DatasetConfig, ImageDataset

        if not Path(path).exists():
            raise InputError(f"--data {os.fspath(path)!r}: no such folder or archive")
        self.images = ImageDataset(DatasetConfig(path=os.fspath(path), resolution=resolution, resize_mode="resize",
                                                 channels=channels))

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx: int) -> tuple[dict[str, Tensor], Tensor]:
        from synthbio.training.data import SINGLE_BRANCH, to_float

        x = to_float(self.images[idx][0][SINGLE_BRANCH])  # [C, R, R] in [-1, 1]
        return {"input": x, "target": x}, _EMPTY


def list_fingerprint_dataset(root: str | os.PathLike[str]) -> dict[str, list[tuple[Path, Path]]]:
    """{finger folder name: [(png, json), ...]} of DIR/<finger>/<impression>.png + .json, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"--data {str(root)!r}: no such folder (a `synthbio fingerprints generate` output)")
    fingers: dict[str, list[tuple[Path, Path]]] = {}
    for finger in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and not is_derived(p)):
        pairs = [(png, png.with_suffix(".json")) for png in sorted(finger.glob("*.png"))
                 if png.with_suffix(".json").is_file()]
        if pairs:
            fingers[finger.name] = pairs
    if not fingers:
        raise InputError(f"--data {str(root)!r}: no <finger>/<impression>.png with a .json template beside it")
    return fingers


def split_fingers(fingers: list[str], holdout: int) -> tuple[list[str], list[str]]:
    """(training fingers, held-out fingers): the last `holdout` fingers in sorted order are kept out."""
    if not 0 <= holdout < len(fingers):
        raise InputError(f"--holdout-fingers {holdout}: must be in 0..{len(fingers) - 1} "
                         f"(the dataset has {len(fingers)} fingers)")
    cut = len(fingers) - holdout
    return fingers[:cut], fingers[cut:]


def load_impression_target(path: str | os.PathLike[str], *, resolution: int) -> Tensor:
    """Impression PNG -> [1, R, R] float32 in [-1, 1]: white-padded to a centred square, Lanczos to R."""
    gray = PIL.Image.fromarray(read_image(path, mode="L"))
    w, h = gray.size
    side = max(w, h)
    square = PIL.Image.new("L", (side, side), 255)
    square.paste(gray, ((side - w) // 2, (side - h) // 2))
    if side != resolution:
        square = square.resize((resolution, resolution), PIL.Image.LANCZOS)
    a = np.asarray(square, dtype=np.float32)
    return torch.from_numpy(a / 127.5 - 1.0)[None]


class MinutiaePairs(torch.utils.data.Dataset):
    """Impressions of some fingers; items ({"input": maps [3,R,R], "target": [C,R,R]}, [])."""

    def __init__(self, pairs: list[tuple[Path, Path]], *, resolution: int, channels: int) -> None:
        if not pairs:
            raise InputError("no impressions to train on (every finger is held out?)")
        self.pairs, self.resolution, self.channels = pairs, resolution, channels

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, idx: int) -> tuple[dict[str, Tensor], Tensor]:
        from synthbio.fingerprints.minutiae import read_template
        from synthbio.fingerprints.minutiae_map import render_minutiae_maps

        png, tpl = self.pairs[idx]
        maps = render_minutiae_maps([read_template(tpl)], size=self.resolution)[0]  # [3, R, R], >= 0
        target = load_impression_target(png, resolution=self.resolution)
        return {"input": maps, "target": _gray_to(target, self.channels)}, _EMPTY


def minutiae_pairs(root: str | os.PathLike[str], *, holdout: int, resolution: int, channels: int
                   ) -> tuple[MinutiaePairs, dict[str, list[str]]]:
    """Training pairs of a fingerprint dataset and the split {"train": [...], "holdout": [...]} of fingers."""
    fingers = list_fingerprint_dataset(root)
    train, held = split_fingers(list(fingers), holdout)
    pairs = [p for f in train for p in fingers[f]]
    return MinutiaePairs(pairs, resolution=resolution, channels=channels), {"train": train, "holdout": held}
