"""What `translate evaluate` and its report read from a `translate apply` folder: source/output pairs, images."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from synthbio.errors import InputError
from synthbio.io.images import read_png
from synthbio.io.manifest import MANIFEST_NAME, read_manifest
from synthbio.translation.data import uint8_to_float


@dataclass
class Pairs:
    """The translation run on disk: sources, outputs and labels, in manifest order."""

    source_root: Path
    translations: Path
    direction: str
    sources: list[str]
    labels: list[str]
    outputs: list[list[str]]  # per source, one path per style


def read_translation_run(folder: str | os.PathLike[str]) -> Pairs:
    """The manifest and config of a `translate apply` folder (InputError when it is not one)."""
    root = Path(folder)
    config_path = root / "config.json"
    if not root.is_dir() or not config_path.is_file() or not (root / MANIFEST_NAME).is_file():
        raise InputError(f"{os.fspath(folder)!r} is not a folder written by `synthbio translate apply` "
                         f"(it needs config.json and {MANIFEST_NAME})")
    meta = json.loads(config_path.read_text(encoding="utf-8"))
    settings = meta.get("translate", {})
    records = read_manifest(root / MANIFEST_NAME).records
    if not records:
        raise InputError(f"{root / MANIFEST_NAME}: no translated images listed")
    source_root = Path(meta.get("input_resolved") or settings["input"])  # absolute: evaluate may run elsewhere
    if source_root.is_file():
        source_root = source_root.parent
    if not source_root.is_dir():
        raise InputError(f"the sources of {os.fspath(folder)!r} ({source_root}) are gone")
    return Pairs(source_root=source_root, translations=root, direction=settings.get("direction", "a2b"),
                 sources=[r["source"] for r in records], labels=[r.get("label", "") for r in records],
                 outputs=[[o["path"] for o in r["outputs"]] for r in records])


def load_image(path: Path) -> torch.Tensor:
    """[1, C, H, W] in [-1, 1] (C = 1 or 3, as stored)."""
    a = read_png(path)
    a = a[:, :, None] if a.ndim == 2 else a
    return uint8_to_float(torch.from_numpy(a.transpose(2, 0, 1).copy())[None])
