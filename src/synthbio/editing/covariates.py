"""Covariate directions (pose, illumination, expression) from projected real samples and their attributes.

As Idiap's `synthetics` latent analysis does with Multi-PIE: project the
images of a protocol into W (`synthbio project-database`), label each latent
with its sample's attribute (camera yaw, flash, expression), and fit a linear
SVM between a negative and a positive class; the unit normal n is the
direction. Along n three class means are measured (projections w . n):
negative, neutral and positive (the neutral class is the "normal" condition:
frontal camera, frontal flash, neutral expression).

- Scaling: `scale` = positive mean - neutral mean, the step along n that takes
  a neutral face to the average positive one. Files keep the unit vector
  (what `edit` and DisCo read) and carry the means and the scale as
  metadata; `scaled_vector` gives n * scale.
- Neutralisation of a latent w along n: remove the component (w - (w.n) n),
  or set it to the neutral mean (w - (w.n - neutral) n). `fit_covariates`
  can neutralise each fitted direction out of the latents before fitting the
  next, so that expression is not learnt from a pose difference that
  happens to come with it, and later directions end up orthogonal to earlier
  ones.

Latents are [N, w_dim] (one w per sample; W+ projections averaged over
layers by the caller).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthbio.editing.directions import Direction, save_direction
from synthbio.editing.svm_directions import SVMDirection, train_svm_direction
from synthbio.errors import InputError

AttrValue = int | float | str
NEUTRALISE_MODES: tuple[str, ...] = ("none", "remove", "neutral")


@dataclass(frozen=True)
class Covariate:
    """A binary covariate read from one sample attribute.

    attribute: the attribute holding the condition ('yaw', 'shot', 'expression').
    negative / positive: attribute values of the two classes the SVM separates
    (positive = the direction's + side). neutral: values of the neutral class
    (may overlap negative, e.g. neutral vs smile). protocol: the database
    protocol whose samples show this covariate (a hint for jobs).
    """

    name: str
    attribute: str
    negative: tuple[AttrValue, ...]
    positive: tuple[AttrValue, ...]
    neutral: tuple[AttrValue, ...]
    protocol: str | None = None

    def __post_init__(self) -> None:
        if not self.negative or not self.positive or not self.neutral:
            raise InputError(f"covariate {self.name!r} needs negative, positive and neutral attribute values")
        if set(self.negative) & set(self.positive):
            raise InputError(f"covariate {self.name!r}: values {sorted(map(str, set(self.negative) & set(self.positive)))} "
                             "are both negative and positive")


def _expression(name: str) -> Covariate:
    return Covariate(name, "expression", ("neutral",), (name,), ("neutral",), protocol="E_lit")


#: Multi-PIE covariates on the attributes of `synthbio.io.databases.multipie`. Pose: cameras left vs right
#: of frontal within 45 degrees (P_center_lit). Illumination: flashes 1-6 vs 8-13, on either side of the
#: frontal flash 7, numbered from one profile to the other (U). Expression: neutral vs each other expression.
MULTIPIE_COVARIATES: dict[str, Covariate] = {c.name: c for c in (
    Covariate("pose", "yaw", (-45, -30, -15), (15, 30, 45), (0,), protocol="P_center_lit"),
    Covariate("illumination", "shot", (1, 2, 3, 4, 5, 6), (8, 9, 10, 11, 12, 13), (7,), protocol="U"),
    *(_expression(e) for e in ("smile", "surprise", "squint", "disgust", "scream")),
)}


@dataclass(frozen=True)
class CovariateDirection:
    """A fitted covariate: unit direction [w_dim] and the class means along it (in W units)."""

    covariate: Covariate
    direction: torch.Tensor
    negative_mean: float
    neutral_mean: float
    positive_mean: float
    svm: SVMDirection
    counts: Mapping[str, int]

    @property
    def scale(self) -> float:
        return self.positive_mean - self.neutral_mean


def _mask(values: Sequence[AttrValue], wanted: tuple[AttrValue, ...]) -> np.ndarray:
    want = set(wanted)
    return np.array([v in want for v in values], dtype=bool)


def _check_latents(latents: np.ndarray | torch.Tensor, n: int) -> np.ndarray:
    x = latents.detach().cpu().numpy() if isinstance(latents, torch.Tensor) else np.asarray(latents)
    x = x.astype(np.float64)
    if x.ndim != 2 or len(x) != n:
        raise InputError(f"latents must be [N, w_dim] with one attribute value each, got {list(x.shape)} and {n}")
    if not np.isfinite(x).all():
        raise InputError("latents contain NaN or inf values")
    return x


def fit_covariate(latents: np.ndarray | torch.Tensor, values: Sequence[AttrValue], covariate: Covariate, *,
                  C: float = 1.0, val_fraction: float = 0.3, seed: int = 0) -> CovariateDirection:
    """Fit one covariate's SVM direction on latents [N, w_dim] labelled by `values` [N] (the attribute)."""
    x = _check_latents(latents, len(values))
    neg, pos, neu = (_mask(values, v) for v in (covariate.negative, covariate.positive, covariate.neutral))
    for what, m in (("negative", neg), ("positive", pos), ("neutral", neu)):
        if m.sum() < 2:
            present = sorted({str(v) for v in values})[:20]
            raise InputError(f"covariate {covariate.name!r}: {int(m.sum())} samples with {covariate.attribute} in "
                             f"{list(getattr(covariate, what))} ({what} class); need at least 2. Values present: "
                             f"{', '.join(present)}")
    used = neg | pos
    svm = train_svm_direction(x[used], pos[used].astype(np.int64), continuous=False, positive=1,
                              val_fraction=val_fraction, C=C, seed=seed)
    n = svm.direction.double().numpy()
    proj = x @ n
    return CovariateDirection(covariate=covariate, direction=svm.direction, negative_mean=float(proj[neg].mean()),
                              neutral_mean=float(proj[neu].mean()), positive_mean=float(proj[pos].mean()), svm=svm,
                              counts={"negative": int(neg.sum()), "positive": int(pos.sum()),
                                      "neutral": int(neu.sum())})


def neutralise(latents: torch.Tensor | np.ndarray, direction: torch.Tensor, *, neutral_mean: float | None = None
               ) -> torch.Tensor:
    """Latents [..., w_dim] with their component along the unit `direction` removed (neutral_mean None) or set
    to `neutral_mean`."""
    w = torch.as_tensor(latents, dtype=torch.float64)
    n = direction.detach().to(torch.float64).flatten()
    if w.shape[-1] != n.numel():
        raise InputError(f"latents of width {w.shape[-1]} and a direction of {n.numel()} do not match")
    target = 0.0 if neutral_mean is None else float(neutral_mean)
    return w - ((w @ n) - target)[..., None] * n


def fit_covariates(latents: np.ndarray | torch.Tensor, attributes: Sequence[Mapping[str, AttrValue]],
                   covariates: Sequence[Covariate], *, neutralise_mode: str = "none", C: float = 1.0,
                   val_fraction: float = 0.3, seed: int = 0) -> list[CovariateDirection]:
    """Fit covariates in order on latents [N, w_dim] with each sample's attributes.

    neutralise_mode: 'none'; 'remove' or 'neutral' = neutralise each fitted
    direction out of the latents (component removed / set to its neutral mean)
    before the next covariate is fitted. Samples lacking a covariate's
    attribute take no part in it.
    """
    if neutralise_mode not in NEUTRALISE_MODES:
        raise InputError(f"neutralise mode must be one of {', '.join(NEUTRALISE_MODES)}, got {neutralise_mode!r}")
    x = torch.as_tensor(_check_latents(latents, len(attributes)))
    out = []
    for cov in covariates:
        has = [i for i, a in enumerate(attributes) if cov.attribute in a]
        if not has:
            raise InputError(f"no sample carries attribute {cov.attribute!r} (covariate {cov.name!r})")
        fitted = fit_covariate(x[has], [attributes[i][cov.attribute] for i in has], cov, C=C,
                               val_fraction=val_fraction, seed=seed)
        out.append(fitted)
        if neutralise_mode != "none":
            x = neutralise(x, fitted.direction,
                           neutral_mean=fitted.neutral_mean if neutralise_mode == "neutral" else None)
    return out


def save_covariate_direction(path: str | os.PathLike[str], fitted: CovariateDirection, *, generator: str = "",
                             extra: Mapping[str, str] | None = None) -> Path:
    """Write a unit direction file (method 'covariate') with the class means and scale as metadata."""
    c = fitted.covariate
    meta = {"attribute": c.attribute, "negative": ",".join(map(str, c.negative)),
            "positive": ",".join(map(str, c.positive)), "neutral": ",".join(map(str, c.neutral)),
            "negative_mean": f"{fitted.negative_mean:.6g}", "neutral_mean": f"{fitted.neutral_mean:.6g}",
            "positive_mean": f"{fitted.positive_mean:.6g}", "scale": f"{fitted.scale:.6g}",
            "samples": ",".join(f"{k}={v}" for k, v in fitted.counts.items()), **(extra or {})}
    return save_direction(path, fitted.direction, method="covariate", generator=generator, label=c.name,
                          accuracy=fitted.svm.val_accuracy, extra=meta)


def scaled_vector(direction: Direction) -> torch.Tensor:
    """The direction times its `scale` metadata (neutral -> positive class mean); InputError when it has none."""
    text = direction.metadata.get("scale")
    if text is None:
        raise InputError(f"direction {direction.label!r} carries no class-mean scale (not a covariate direction)")
    return direction.vector * float(text)
