"""Supervised directions from labelled latents (InterFaceGAN, Shen et al., CVPR 2020 / TPAMI 2020).

A linear SVM separates latents with and without an attribute; the unit normal
n = coef / |coef| of its hyperplane is the editing direction (w' = w + alpha n).
With continuous attribute scores (a classifier's logits, an age estimate), only
the clearest examples are used: the top and bottom `fraction` (2% in the paper)
of the scores become the positive and negative sets. With class labels, the
two classes are used as given (or one class against the rest).

Conditional editing (InterFaceGAN, eq. 7): to change one attribute without
moving others, subtract from the primary normal its projection onto the span of
the condition normals (Gram-Schmidt on the conditions first, so correlated
conditions are handled), then renormalise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from synthbio.errors import InputError, SynthbioError

# A vector whose part outside a span is below this share of its norm lies in the span.
_SPAN_TOL = 1e-5


@dataclass(frozen=True)
class SVMDirection:
    """Unit normal [w_dim] (positive side = attribute present) and how well the hyperplane separates.

    intercept: offset b / |coef| (signed distance of the origin is -intercept).
    train_accuracy / val_accuracy: on the training set and on held-out latents.
    """

    direction: torch.Tensor
    intercept: float
    train_accuracy: float
    val_accuracy: float
    num_train: int
    num_val: int
    num_positive: int
    num_negative: int


def is_continuous(targets: np.ndarray) -> bool:
    """Scores (floats with more than two distinct values) rather than class labels."""
    t = np.asarray(targets)
    return t.dtype.kind == "f" and len(np.unique(t[np.isfinite(t)])) > 2


def extremes(scores: np.ndarray, *, fraction: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the top and bottom `fraction` of `scores` [N] -> (indices [M], labels [M] in {0, 1})."""
    s = np.asarray(scores, dtype=np.float64)
    if not 0 < fraction <= 0.5:
        raise InputError(f"fraction of extreme scores must be in (0, 0.5], got {fraction}")
    if not np.isfinite(s).all():
        raise InputError("attribute scores contain NaN or inf values")
    k = int(round(len(s) * fraction))
    if k < 2:
        raise InputError(f"{len(s)} scores x fraction {fraction} leaves {k} samples per side; "
                         "need at least 2 (more latents, or a larger fraction)")
    order = np.argsort(s, kind="stable")
    idx = np.concatenate([order[-k:], order[:k]])
    return idx, np.concatenate([np.ones(k, dtype=np.int64), np.zeros(k, dtype=np.int64)])


def binary_labels(labels: np.ndarray, *, positive: float | int | str | None = None) -> np.ndarray:
    """Class labels [N] -> {0, 1}: `positive` against the rest, or the larger of exactly two classes as 1."""
    lab = np.asarray(labels)
    if positive is not None:
        out = (lab == np.asarray(positive, dtype=lab.dtype)).astype(np.int64)
        if out.all() or not out.any():
            raise InputError(f"class {positive!r} must be present in some but not all labels")
        return out
    classes = np.unique(lab)
    if len(classes) != 2:
        raise InputError(f"labels must have exactly two classes (or name the positive class), "
                         f"got {len(classes)}: {classes.tolist()[:10]}")
    return (lab == classes[1]).astype(np.int64)


def _stratified_split(y: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Train / held-out index arrays with each class split in the same proportion."""
    train, val = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        n_val = int(round(len(idx) * val_fraction))
        if len(idx) - n_val < 1 or (val_fraction > 0 and n_val < 1):
            raise InputError(f"class {cls} has {len(idx)} samples: too few to split {val_fraction:.0%} held out")
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.concatenate(train), np.concatenate(val)


def train_svm_direction(
    latents: np.ndarray | torch.Tensor,
    targets: np.ndarray | Sequence[float],
    *,
    continuous: bool | None = None,
    fraction: float = 0.02,
    positive: float | int | str | None = None,
    val_fraction: float = 0.3,
    C: float = 1.0,
    seed: int = 0,
) -> SVMDirection:
    """InterFaceGAN boundary of `targets` in latent space: latents [N, w_dim], targets [N].

    continuous: scores (use the top/bottom `fraction`) or labels; None = detect
    (`is_continuous`). val_fraction: share of the used samples held out for
    `val_accuracy`, split per class with numpy Generator(seed).
    """
    try:
        from sklearn.svm import LinearSVC
    except ImportError:
        raise SynthbioError("SVM directions need scikit-learn: pip install 'synthbio[editing]'") from None

    x = latents.detach().cpu().numpy() if isinstance(latents, torch.Tensor) else np.asarray(latents)
    x = x.astype(np.float64)
    t = np.asarray(targets)
    if x.ndim != 2 or len(t) != len(x):
        raise InputError(f"latents must be [N, w_dim] with one target each, got {list(x.shape)} and {len(t)} targets")
    if not np.isfinite(x).all():
        raise InputError("latents contain NaN or inf values")
    if continuous is None:
        continuous = is_continuous(t)
    if continuous:
        idx, y = extremes(t, fraction=fraction)
        x = x[idx]
    else:
        y = binary_labels(t, positive=positive)
    rng = np.random.default_rng(seed)
    tr, va = _stratified_split(y, val_fraction, rng)
    svm = LinearSVC(C=C, dual="auto", max_iter=20000, random_state=seed)
    svm.fit(x[tr], y[tr])
    coef = svm.coef_.reshape(-1)
    norm = float(np.linalg.norm(coef))
    if norm == 0 or not np.isfinite(norm):
        raise InputError("the SVM found no separating direction (all-zero normal): are the labels informative?")
    train_acc = float((svm.predict(x[tr]) == y[tr]).mean())
    val_acc = float((svm.predict(x[va]) == y[va]).mean()) if len(va) else float("nan")
    return SVMDirection(direction=torch.from_numpy(coef / norm).to(torch.float32),
                        intercept=float(svm.intercept_[0]) / norm, train_accuracy=train_acc, val_accuracy=val_acc,
                        num_train=len(tr), num_val=len(va), num_positive=int(y.sum()),
                        num_negative=int(len(y) - y.sum()))


def conditional_direction(primary: torch.Tensor, conditions: Sequence[torch.Tensor]) -> torch.Tensor:
    """Unit `primary` [D] with its component in span(conditions) removed (InterFaceGAN eq. 7).

    Conditions are orthonormalised by Gram-Schmidt first; a condition inside the
    span of earlier ones is skipped. InputError when nothing of `primary` is left.
    """
    p = primary.detach().to(torch.float64).flatten()
    basis: list[torch.Tensor] = []
    for c in conditions:
        v = c.detach().to(torch.float64).flatten()
        if v.shape != p.shape:
            raise InputError(f"condition direction of shape {list(c.shape)} does not match {list(primary.shape)}")
        for b in basis:
            v = v - (v @ b) * b
        nv = float(v.norm())
        if nv > _SPAN_TOL * float(c.double().norm()):  # float32 inputs: anything smaller is rounding
            basis.append(v / nv)
    for b in basis:
        p = p - (p @ b) * b
    n = float(p.norm())
    if n <= _SPAN_TOL * float(primary.double().norm()):
        raise InputError("the primary direction lies in the span of the condition directions: nothing is left")
    return (p / n).to(torch.float32).reshape(primary.shape)


# --- from files: latents + a labels CSV ------------------------------------------------------------


@dataclass(frozen=True)
class LabelledLatents:
    """Latents [N, w_dim] joined to one label column [N]; `unmatched` counts CSV rows with no latent."""

    latents: torch.Tensor
    targets: np.ndarray
    keys: list[str]
    unmatched: int


def join_labels(latents_path: str, labels_path: str, *, label: str, key_column: str = "filename",
                space: str = "w") -> LabelledLatents:
    """Read latents (samples.h5 / .npy / .npz) and a labels CSV, joined on the CSV's `key_column`.

    A CSV key matches a latent by its sample key ('00003/reference'), its
    identity ('3'), 'seed0003' for generated samples, or the row index of a
    .npy file, compared on the file stem (so 'seed0003.png' matches). Rows with
    a missing label are dropped. space: 'w' = the sample's w (what samples.h5 records as w,
    otherwise layer 0), 'wplus_mean' = mean over layers.
    """
    from pathlib import Path

    from synthbio.editing.apply import read_latents
    from synthbio.io.labels import read_label_csv

    if space not in ("w", "wplus_mean"):
        raise InputError(f"latent space {space!r} is not 'w' or 'wplus_mean'")
    lat = read_latents(latents_path)
    table = read_label_csv(labels_path, key_column=key_column)
    values = table.column(label)
    index: dict[str, int] = {}
    for i, (key, aliases) in enumerate(zip(lat.keys, lat.aliases)):
        for name in (key, *aliases):
            index.setdefault(name, i)
    rows, targets, keys = [], [], []
    unmatched = 0
    for key, value in zip(table.keys, values):
        i = index.get(key, index.get(Path(key).stem, index.get(str(Path(key).with_suffix("")))))
        if i is None:
            unmatched += 1
            continue
        if np.isfinite(value):
            rows.append(i)
            targets.append(value)
            keys.append(key)
    if not rows:
        raise InputError(f"no row of {labels_path!r} matches a latent of {latents_path!r} with a value for "
                         f"{label!r} (keys look like {lat.keys[0]!r} / {lat.aliases[0][-1]!r})")
    ws = lat.ws[rows]
    if space == "w":  # the recorded w: a StyleGAN3 projection anchors ws[:, 0] at w_avg for every sample
        x = lat.w[rows] if lat.w is not None and lat.w.shape[1] == ws.shape[2] else ws[:, 0]
    else:
        x = ws.mean(dim=1)
    return LabelledLatents(latents=x, targets=np.asarray(targets), keys=keys, unmatched=unmatched)
