"""`synthbio directions covariates`: pose / illumination / expression directions from projected samples.

Reads one or more sample collections written by `synthbio project-database`
(each sample carries its database attributes), fits each covariate's SVM
direction in W (`synthbio.editing.covariates`), and writes

    OUT/<name>.direction.safetensors  unit direction (method 'covariate'), class means and scale as metadata
    OUT/report.json                   per covariate: samples per class, held-out accuracy, class means, scale,
                                      cosines between the directions
    OUT/config.json                   CovariatesConfig

Covariates come from `MULTIPIE_COVARIATES` by name ('pose', 'illumination',
'smile', ...), or are given as NAME:ATTRIBUTE:NEG1,NEG2:POS1,POS2:NEUTRAL1 (values
read as numbers when they are numbers). With several collections, every
sample of every collection is used (e.g. the projections of P_center_lit
for pose and of U for illumination); each covariate uses the samples that
carry its attribute.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.editing.covariates import (MULTIPIE_COVARIATES, NEUTRALISE_MODES, Covariate, fit_covariates,
                                         save_covariate_direction)
from synthbio.errors import InputError
from synthbio.io.databases.index import coerce_value


def parse_covariate(spec: str) -> Covariate:
    """A preset name, or NAME:ATTRIBUTE:NEGATIVE:POSITIVE:NEUTRAL with comma-separated values."""
    if ":" not in spec:
        if spec not in MULTIPIE_COVARIATES:
            raise InputError(f"unknown covariate {spec!r}: presets are {', '.join(MULTIPIE_COVARIATES)}, or give "
                             "NAME:ATTRIBUTE:NEG,...:POS,...:NEUTRAL,...")
        return MULTIPIE_COVARIATES[spec]
    parts = spec.split(":")
    if len(parts) != 5 or not all(p.strip() for p in parts):
        raise InputError(f"covariate {spec!r} is not NAME:ATTRIBUTE:NEG,...:POS,...:NEUTRAL,... "
                         "(e.g. smile:expression:neutral:smile:neutral)")
    name, attribute, neg, pos, neu = (p.strip() for p in parts)
    values = [tuple(coerce_value(v.strip()) for v in group.split(",") if v.strip()) for group in (neg, pos, neu)]
    return Covariate(name, attribute, *values)


@dataclass(frozen=True)
class CovariatesConfig:
    """`synthbio directions covariates`, saved as OUT/config.json."""

    collections: tuple[str, ...]
    outdir: str
    covariates: tuple[str, ...] = ("pose", "illumination", "smile")
    neutralise: str = "none"
    svm_c: float = 1.0
    val_fraction: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "collections", tuple(os.fspath(c) for c in self.collections))
        if not self.collections:
            raise InputError("give at least one sample collection (samples.h5 of project-database)")
        if not self.covariates:
            raise InputError("give at least one covariate")
        if self.neutralise not in NEUTRALISE_MODES:
            raise InputError(f"--neutralise must be one of {', '.join(NEUTRALISE_MODES)}, got {self.neutralise!r}")
        for spec in self.covariates:
            parse_covariate(spec)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["collections"], d["covariates"] = list(self.collections), list(self.covariates)
        return d


def _read(paths: tuple[str, ...]) -> tuple[np.ndarray, list[dict[str, Any]], str]:
    """W rows [N, w_dim] and the attributes of every sample of the collections; the generator they share."""
    from synthbio.io.samples import read_samples

    rows, attrs, generators = [], [], set()
    for p in paths:
        file_attrs, samples = read_samples(p)
        generators.add(str(file_attrs.get("generator_sha256", file_attrs.get("generator", ""))))
        for s in samples:
            w = s.w if s.w is not None else (s.w_plus.mean(0) if s.w_plus is not None else None)
            if w is None:
                raise InputError(f"{p}: sample {s.identity}/{s.label} has no w or w_plus latent")
            rows.append(np.asarray(w, dtype=np.float64))
            attrs.append(dict(s.attrs))
    if len(generators) > 1:
        raise InputError(f"the collections come from different generators ({', '.join(sorted(generators))}); "
                         "directions must be fitted in one generator's W")
    if len({r.shape for r in rows}) != 1:
        raise InputError("the collections hold latents of different widths")
    return np.stack(rows), attrs, generators.pop() if generators else ""


def fit_covariate_directions(config: CovariatesConfig) -> dict[str, Any]:
    """Fit and write the directions; returns the report (also OUT/report.json)."""
    from synthbio.utils.hashing import atomic_write_json

    covs = [parse_covariate(s) for s in config.covariates]
    names = [c.name for c in covs]
    if len(set(names)) != len(names):
        raise InputError(f"covariate names repeat: {', '.join(names)}")
    x, attrs, generator = _read(config.collections)
    fitted = fit_covariates(x, attrs, covs, neutralise_mode=config.neutralise, C=config.svm_c,
                            val_fraction=config.val_fraction, seed=config.seed)
    out = Path(config.outdir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"samples": len(x), "generator": generator, "covariates": {}}
    for f in fitted:
        path = save_covariate_direction(out / f.covariate.name, f, generator=generator,
                                        extra={"neutralise": config.neutralise})
        report["covariates"][f.covariate.name] = {
            "file": path.name, "attribute": f.covariate.attribute, "samples": dict(f.counts),
            "val_accuracy": f.svm.val_accuracy, "train_accuracy": f.svm.train_accuracy,
            "negative_mean": f.negative_mean, "neutral_mean": f.neutral_mean, "positive_mean": f.positive_mean,
            "scale": f.scale}
    vecs = np.stack([f.direction.double().numpy() for f in fitted])
    report["cosines"] = {f"{a.covariate.name}/{b.covariate.name}": float(vecs[i] @ vecs[j])
                         for i, a in enumerate(fitted) for j, b in enumerate(fitted) if i < j}
    atomic_write_json(out / "config.json", config.to_dict())
    atomic_write_json(out / "report.json", report)
    return report
