"""Shared pieces of the masks job tests (imported as `masks_job_helpers`)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "segmentation"))  # masks_helpers

from masks_helpers import planted_labels, tiny_generator  # noqa: E402,F401

from synthbio.segmentation.annotations import write_index_png  # noqa: E402
from synthbio.segmentation.classes import classes_from_names  # noqa: E402
from synthbio.segmentation.training import FitConfig  # noqa: E402

CLASSES = classes_from_names(["background", "part", "edge"])
# Small and quick: the tests check the jobs, not the classifier's quality (tests/segmentation does).
FAST_FIT = FitConfig(members=3, hidden=(16, 8), pixels_per_image=256, batch_size=64, max_epochs=3, patience=2)


def paint_planted(folder: Path, G) -> list[int]:
    """Fill every exported sample's annotation with the planted labels of its ws (a perfect annotator)."""
    seeds = []
    for ws_file in sorted(folder.glob("seed*_ws.npy")):
        ws = torch.from_numpy(np.load(ws_file))[None]
        labels = planted_labels(G, ws)[0]
        write_index_png(folder / ws_file.name.replace("_ws.npy", "_annotation.png"), labels)
        seeds.append(int(ws_file.name[4:8]))
    return seeds


def random_classifier(G, path: Path, *, model: str, classes=CLASSES, members: int = 3, seed: int = 0) -> Path:
    """A classifier folder for G with random weights, as `masks train` would save it (for jobs that need
    a classifier but not a good one)."""
    from synthbio.checkpoints import model_hash
    from synthbio.segmentation.features import describe_layers, feature_modules
    from synthbio.segmentation.pixel_classifier import PixelClassifierConfig, PixelEnsemble, save_pixel_classifier

    layers = describe_layers(G, list(feature_modules(G)))
    cfg = PixelClassifierConfig(layers=tuple(layers), height=G.img_resolution, width=G.img_resolution,
                                num_classes=len(classes), members=members, hidden=(16, 8))
    clf = PixelEnsemble(cfg)
    clf.reset_parameters(torch.Generator().manual_seed(seed))
    save_pixel_classifier(clf.eval(), path, extra={
        "classes": [c.to_dict() for c in classes],
        "generator": {"model": model, "model_sha256": model_hash(G), "img_resolution": G.img_resolution,
                      "branches": [list(b) for b in G.config.branches]},
        "run": {"truncation_psi": 0.7, "truncation_cutoff": None, "class_idx": None, "noise_mode": "const"},
    })
    return path
