"""The annotation folder that `masks export` writes and `masks train` / `masks evaluate` read.

    ANN/config.json              the export's settings and the run it came from
                                 (generator path and sha256, truncation, noise mode)
    ANN/classes.json             the classes: name and colour, index = position
    ANN/README.txt               how to annotate
    ANN/manifest.jsonl           one line per sample: seed, files, blank annotation sha256
    ANN/seed0042.png             the sample (one branch); several branches:
    ANN/seed0042_rgb.png           one image per branch (channels other than 1 or 3:
    ANN/seed0042_nir.png           one grey PNG per channel, `_c0`, `_c1`, ...)
    ANN/seed0042_ws.npy          its latents ws [num_ws, w_dim] float32: features are recomputed
                                 exactly from these
    ANN/seed0042_annotation.png  the file a person paints: a palette PNG in the class
                                 colours, all class 0 until painted

An annotation may also be `seed0042_annotation.npy`, and may live in another
folder (`--annotations DIR`). A PNG still byte-identical to the blank one is
"not annotated yet" and skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.errors import InputError, library_message
from synthbio.io.arrays import read_npy
from synthbio.io.manifest import MANIFEST_NAME, read_manifest
from synthbio.segmentation.annotations import read_annotation
from synthbio.segmentation.classes import CLASSES_NAME, MaskClass, read_classes
from synthbio.segmentation.training import AnnotatedSample
from synthbio.utils.hashing import sha256_file
from synthbio.utils.jsonio import read_json_file

EXPORT_COMMAND = "masks export"
CONFIG_NAME = "config.json"
README_NAME = "README.txt"
# Settings that change an exported sample: a folder holds one value of each.
RUN_KEYS = ("model_sha256", "truncation_psi", "truncation_cutoff", "class_idx", "noise_mode")


def stem(seed: int) -> str:
    return f"seed{seed:04d}"


def image_relpath(seed: int, branch: str, suffix: str, *, multi_branch: bool) -> str:
    return f"{stem(seed)}_{branch}{suffix}.png" if multi_branch else f"{stem(seed)}{suffix}.png"


def ws_relpath(seed: int) -> str:
    return f"{stem(seed)}_ws.npy"


def annotation_relpath(seed: int, suffix: str = ".png") -> str:
    return f"{stem(seed)}_annotation{suffix}"


def painted_annotation(folder: Path, seed: int, blank_sha256: str | None) -> Path | None:
    """The annotation file of `seed` in `folder` if it has been painted (.npy, or a PNG that is not the blank)."""
    npy = folder / annotation_relpath(seed, ".npy")
    if npy.is_file():
        return npy
    png = folder / annotation_relpath(seed)
    if png.is_file() and (blank_sha256 is None or sha256_file(png) != blank_sha256):
        return png
    return None


@dataclass(frozen=True)
class AnnotationFolder:
    """An export folder read back: its config.json, classes and manifest records by seed."""

    root: Path
    config: dict[str, Any]
    classes: tuple[MaskClass, ...]
    records: dict[int, dict[str, Any]]

    @property
    def run(self) -> dict[str, Any]:
        return dict(self.config["run"])

    @property
    def resolution(self) -> int:
        return int(self.config["generator"]["img_resolution"])

    def ws(self, seed: int) -> torch.Tensor:
        """The exported ws [num_ws, w_dim] of a sample (InputError naming the file when unusable)."""
        path = self.root / self.records[seed]["files"]["ws"]["path"]
        arr = read_npy(path, what="latents")
        if arr.ndim != 2 or not np.isfinite(arr).all():
            raise InputError(f"latents {os.fspath(path)} must be a finite [num_ws, w_dim] array, got {arr.shape}")
        return torch.from_numpy(arr.astype(np.float32))

    def annotated(self, *, annotation_dir: Path | None = None, classes: tuple[MaskClass, ...] | None = None,
                  tolerance: int = 0) -> tuple[list[AnnotatedSample], list[int]]:
        """(annotated samples in seed order, seeds not annotated yet); every painted file is checked."""
        folder = annotation_dir or self.root
        classes = classes or self.classes
        samples, missing = [], []
        for seed in sorted(self.records):
            rec = self.records[seed]
            path = painted_annotation(folder, seed, rec.get("annotation", {}).get("blank_sha256"))
            if path is None:
                missing.append(seed)
                continue
            labels = read_annotation(path, classes, height=self.resolution, width=self.resolution,
                                     tolerance=tolerance)
            samples.append(AnnotatedSample(name=path.name, seed=seed, ws=self.ws(seed), labels=labels))
        return samples, missing


def read_export_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG_NAME
    try:
        data = read_json_file(path)
    except FileNotFoundError:
        raise InputError(f"{os.fspath(root)} has no {CONFIG_NAME}: not a folder made by `synthbio masks export`"
                         ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{os.fspath(path)} is unreadable: {library_message(exc)}") from None
    if not isinstance(data, dict) or data.get("command") != EXPORT_COMMAND or not isinstance(data.get("run"), dict):
        raise InputError(f"{os.fspath(root)} is not a folder made by `synthbio masks export`")
    return data


def read_annotation_folder(root: str | os.PathLike[str], *, classes: str | None = None) -> AnnotationFolder:
    """Read an export folder (InputError naming it when it is none); `classes` overrides its classes.json."""
    root = Path(root)
    config = read_export_config(root)
    found = read_classes(classes if classes is not None else root / CLASSES_NAME)
    records: dict[int, dict[str, Any]] = {}
    for rec in read_manifest(root / MANIFEST_NAME).records:
        if isinstance(rec.get("seed"), int) and isinstance(rec.get("files"), dict) and "ws" in rec["files"]:
            records[rec["seed"]] = rec
    if not records:
        raise InputError(f"{os.fspath(root)} lists no exported samples (manifest.jsonl is empty)")
    return AnnotationFolder(root=root, config=config, classes=found, records=records)
