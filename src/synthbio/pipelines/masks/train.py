"""`synthbio masks train`: a pixel classifier from the painted annotations of an export folder.

Writes CLF/ (the classifier folder, `synthbio.segmentation.pixel_classifier`):

    CLF/model.safetensors, CLF/config.json   the ensemble, its classes, the generator it
                                             reads (path and sha256) and the sampling settings
    CLF/classes.json
    CLF/report.json                          training figures, validation scores, peak RAM
    CLF/annotations.png                      the annotations used, over their images

Validation (optional): `holdout` N keeps the last N annotated samples out of
training and scores the classifier on them (the saved classifier is that
one); `folds` K runs K-fold cross-validation over the annotated samples
(every sample scored by an ensemble trained without it), then trains the saved
classifier on all of them.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.checkpoints import load_generator, model_hash
from synthbio.errors import InputError, OutputDirError
from synthbio.io.images import make_grid, read_png, write_png
from synthbio.pipelines.common.report_html import json_safe
from synthbio.pipelines.masks.layout import AnnotationFolder, image_relpath, read_annotation_folder
from synthbio.segmentation.classes import CLASSES_NAME, overlay, write_classes
from synthbio.segmentation.pixel_classifier import CONFIG_FILE, save_pixel_classifier
from synthbio.segmentation.training import (
    FitConfig,
    Scores,
    cross_validate,
    fit_pixel_classifier,
    predict_samples,
    score_masks,
)
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json

REPORT_NAME = "report.json"
OVERVIEW_NAME = "annotations.png"


@dataclass(frozen=True)
class MasksTrainConfig:
    """Everything `synthbio masks train` needs; saved in CLF/config.json.

    annotations: a folder made by `masks export`. annotation_dir: where the
    painted files are (None = that folder). classes: a classes.json to use
    instead of the folder's. model: the generator, when it has moved since the
    export (its weights must hash as recorded). tolerance: colour annotations
    may be this many levels per channel off a class colour.
    """

    annotations: str
    outdir: str
    fit: FitConfig = FitConfig()
    annotation_dir: str | None = None
    classes: str | None = None
    model: str | None = None
    holdout: int = 0
    folds: int = 0
    tolerance: int = 0
    device: str = "auto"
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", os.fspath(self.annotations))
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        if self.holdout < 0 or self.folds < 0:
            raise InputError("--holdout and --folds must be >= 0")
        if self.holdout and self.folds:
            raise InputError("give --holdout or --folds, not both")
        if self.folds == 1:
            raise InputError("--folds needs at least 2 folds (0 = no cross-validation)")
        if not 0 <= self.tolerance <= 255:
            raise InputError(f"--colour-tolerance must be in 0-255, got {self.tolerance}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fit"] = self.fit.to_dict()
        return d


@dataclass(frozen=True)
class MasksTrainResult:
    classifier: Path
    annotated: list[int]  # seeds trained on
    not_annotated: list[int]  # exported seeds without a painted annotation
    validation: dict[str, Any] | None  # holdout / cross-validation scores (per-class IoU, mIoU)
    report: dict[str, Any]


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _scores_dict(scores: Scores, names: list[str], seeds: list[int]) -> dict[str, Any]:
    d = scores.to_dict(names)
    d["seeds"] = seeds
    return d


def _overview(folder: AnnotationFolder, samples: list[Any], path: Path) -> None:
    multi = len(folder.config["generator"]["branches"]) > 1
    branch = folder.config["generator"]["branches"][0][0]
    tiles = []
    for s in samples[:32]:
        rel = folder.records[s.seed]["files"].get(branch, {}).get("path") or image_relpath(
            s.seed, branch, "", multi_branch=multi)
        tiles.append(overlay(read_png(folder.root / rel), s.labels, folder.classes, alpha=0.5))
    if tiles:
        write_png(path, make_grid(tiles, pad=2))


def train_masks(config: MasksTrainConfig, *, log: Callable[[str], None] | None = None) -> MasksTrainResult:
    """Read the annotated samples, train (and validate) the ensemble, write the classifier folder."""
    t0 = time.monotonic()
    out = Path(config.outdir)
    if (out / CONFIG_FILE).exists() and not config.overwrite:
        raise OutputDirError(f"{os.fspath(out)} already holds a classifier: "
                             "choose another --outdir or pass --overwrite")
    folder = read_annotation_folder(config.annotations, classes=config.classes)
    ann_dir = Path(config.annotation_dir) if config.annotation_dir else None
    samples, missing = folder.annotated(annotation_dir=ann_dir, tolerance=config.tolerance)
    if not samples:
        where = os.fspath(ann_dir or folder.root)
        raise InputError(f"no painted annotations in {where}: paint seedNNNN_annotation.png files "
                         f"(see {os.fspath(folder.root / 'README.txt')})")
    if config.holdout and config.holdout >= len(samples):
        raise InputError(f"--holdout {config.holdout} leaves nothing to train on ({len(samples)} annotated samples)")
    if config.folds and config.folds > len(samples):
        raise InputError(f"--folds {config.folds} exceeds the {len(samples)} annotated samples")
    run = folder.run
    device = resolve_device(config.device)
    model_path = config.model or run["model"]
    G = load_generator(model_path, device=device).eval().requires_grad_(False)
    sha = model_hash(G)
    if sha != run["model_sha256"]:
        raise InputError(f"the generator {model_path!r} is not the one {config.annotations} was exported from "
                         f"(weights sha256 {sha[:12]}... vs {run['model_sha256'][:12]}...)")
    fit = dataclasses.replace(config.fit, noise_mode=run["noise_mode"])
    names = [c.name for c in folder.classes]
    k = len(folder.classes)
    validation: dict[str, Any] | None = None
    train_on = samples
    if config.folds:
        if log:
            log(f"{config.folds}-fold cross-validation over {len(samples)} annotated samples")
        cv = cross_validate(G, samples, num_classes=k, config=fit, folds=config.folds, log=log)
        validation = {"method": f"{config.folds}-fold cross-validation",
                      **_scores_dict(cv, names, [s.seed for s in samples])}
    elif config.holdout:
        train_on, held = samples[:-config.holdout], samples[-config.holdout:]
    if log:
        log(f"training on {len(train_on)} annotated samples ({', '.join(str(s.seed) for s in train_on)})")
    model, fit_report = fit_pixel_classifier(G, train_on, num_classes=k, config=fit, log=log)
    if config.holdout:
        scores = score_masks(predict_samples(G, model, held, noise_mode=fit.noise_mode), [s.labels for s in held], k)
        validation = {"method": f"{config.holdout} held-out annotations",
                      **_scores_dict(scores, names, [s.seed for s in held])}
    report = json_safe({
        "annotated": [s.seed for s in train_on], "not_annotated": missing, "fit": fit_report.to_dict(),
        "validation": validation, "peak_rss_mib": round(peak_rss_mib(), 1),
        "seconds": round(time.monotonic() - t0, 1), "device": str(device),
    })
    save_pixel_classifier(model, out, extra={
        "classes": [c.to_dict() for c in folder.classes],
        "generator": {"model": run["model"], "model_sha256": sha, "img_resolution": int(G.img_resolution),
                      "branches": [list(b) for b in G.config.branches]},
        "run": {key: run[key] for key in ("truncation_psi", "truncation_cutoff", "class_idx", "noise_mode")},
        "train": config.to_dict(), "report": report, "synthbio_version": synthbio.__version__,
    })
    write_classes(out / CLASSES_NAME, folder.classes)
    atomic_write_json(out / REPORT_NAME, report)
    _overview(folder, train_on, out / OVERVIEW_NAME)
    return MasksTrainResult(classifier=out, annotated=[s.seed for s in train_on], not_annotated=missing,
                            validation=validation, report=report)


def describe(config: MasksTrainConfig) -> dict[str, Any]:
    """The resolved plan, for --dry-run: config and what the annotation folder holds (no training)."""
    folder = read_annotation_folder(config.annotations, classes=config.classes)
    samples, missing = folder.annotated(
        annotation_dir=Path(config.annotation_dir) if config.annotation_dir else None, tolerance=config.tolerance)
    return {"command": "masks train", "config": config.to_dict(), "run": folder.run,
            "classes": [c.name for c in folder.classes], "annotated": [s.seed for s in samples],
            "not_annotated": missing, "resolved_device": str(resolve_device(config.device))}


def class_pixel_counts(labels: np.ndarray, num_classes: int) -> list[int]:
    """Annotated pixels per class (255 = not annotated, left out)."""
    flat = labels.reshape(-1)
    return np.bincount(flat[flat != 255], minlength=num_classes)[:num_classes].tolist()
