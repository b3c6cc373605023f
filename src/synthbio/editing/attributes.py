"""Latent attribute classifier: a multi-label MLP from W / W+ latents to attribute logits.

Trained on latents of labelled images (e.g. inverted CK+ faces with their
action units), it scores any latent, and its scores feed InterFaceGAN
(`svm_directions`, top / bottom 2%). Labels are rare and unbalanced (an AU
present in 5% of faces), so the loss is BCE-with-logits with a per-label
positive weight n_neg / n_pos, which makes positives and negatives weigh the
same in the gradient. Missing labels (NaN) are masked out of the loss.

Inputs: 'w' = one w [N, w_dim] (layer 0 of a W+ latent), 'wplus_mean' = the
mean over layers, 'wplus_flat' = all layers concatenated [N, num_ws * w_dim].
The features are standardised with the training set's mean and std, stored as
buffers so the saved model needs nothing else.

Saved as a folder: `model.safetensors` + `config.json` ({"format":
"synthbio.attribute_classifier", "config": ..., "report": ...}).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from synthbio.errors import CheckpointError, InputError
from synthbio.utils.hashing import atomic_write, atomic_write_json
from synthbio.utils.jsonio import read_json_file

INPUT_MODES = ("w", "wplus_mean", "wplus_flat")
FORMAT = "synthbio.attribute_classifier"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class AttributeClassifierConfig:
    """label_names: one output per label. input_mode: see module docstring.

    hidden: widths of the hidden layers (() = a linear classifier).
    num_ws: layers of a W+ latent (used by 'wplus_flat'; 1 is fine for 'w').
    """

    label_names: tuple[str, ...]
    w_dim: int
    num_ws: int = 1
    input_mode: str = "w"
    hidden: tuple[int, ...] = (256, 128)
    dropout: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_names", tuple(str(n) for n in self.label_names))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.label_names or len(set(self.label_names)) != len(self.label_names):
            raise InputError(f"label names must be non-empty and unique, got {list(self.label_names)}")
        if self.input_mode not in INPUT_MODES:
            raise InputError(f"input mode {self.input_mode!r} is not one of {', '.join(INPUT_MODES)}")
        if self.w_dim < 1 or self.num_ws < 1 or any(h < 1 for h in self.hidden):
            raise InputError("w_dim, num_ws and hidden widths must be >= 1")
        if not 0 <= self.dropout < 1:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def in_features(self) -> int:
        return self.w_dim * (self.num_ws if self.input_mode == "wplus_flat" else 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["label_names"], d["hidden"] = list(self.label_names), list(self.hidden)
        return d


class LatentAttributeClassifier(torch.nn.Module):
    """latents [N, w_dim] or [N, num_ws, w_dim] -> logits [N, num_labels]."""

    def __init__(self, config: AttributeClassifierConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[torch.nn.Module] = []
        width = config.in_features
        for h in config.hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU(), torch.nn.Dropout(config.dropout)]
            width = h
        layers.append(torch.nn.Linear(width, len(config.label_names)))
        self.net = torch.nn.Sequential(*layers)
        self.register_buffer("feature_mean", torch.zeros(config.in_features))
        self.register_buffer("feature_std", torch.ones(config.in_features))

    def features(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw (unstandardised) input features [N, in_features] for this config's input mode."""
        c = self.config
        x = latents.to(torch.float32)
        if x.ndim == 2 and x.shape[1] == c.w_dim and c.input_mode != "wplus_flat":
            return x
        if x.ndim != 3 or x.shape[2] != c.w_dim:
            raise InputError(f"latents must be [N, {c.w_dim}] or [N, num_ws, {c.w_dim}], got {list(latents.shape)}")
        if c.input_mode == "w":
            return x[:, 0]
        if c.input_mode == "wplus_mean":
            return x.mean(dim=1)
        if x.shape[1] != c.num_ws:
            raise InputError(f"'wplus_flat' needs [N, {c.num_ws}, {c.w_dim}] latents, got {list(latents.shape)}")
        return x.flatten(1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net((self.features(latents) - self.feature_mean) / self.feature_std)

    @torch.no_grad()
    def predict_proba(self, latents: torch.Tensor) -> torch.Tensor:
        """Sigmoid probabilities [N, num_labels] in eval mode."""
        was = self.training
        self.eval()
        try:
            return torch.sigmoid(self(latents))
        finally:
            self.train(was)


def f1_scores(pred: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-label F1 = 2 TP / (2 TP + FP + FN) of {0,1} arrays [N, K].

    mask: [N, K], False where a label is unknown. NaN for a label with neither
    positives nor positive predictions.
    """
    m = np.ones_like(target, dtype=bool) if mask is None else mask.astype(bool)
    p, t = (pred > 0.5) & m, (target > 0.5) & m
    tp = (p & t).sum(0).astype(np.float64)
    den = 2 * tp + (p & ~t).sum(0) + (~p & t & m).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / den, np.nan)


@dataclass(frozen=True)
class TrainReport:
    """Held-out figures per label (same order as the config's label names)."""

    f1: list[float]
    accuracy: list[float]
    pos_weight: list[float]
    num_train: int
    num_val: int
    final_train_loss: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _as_tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return x.detach().cpu().float() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, np.float32))


def train_attribute_classifier(
    latents: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    config: AttributeClassifierConfig,
    *,
    epochs: int = 100,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[LatentAttributeClassifier, TrainReport]:
    """Fit the MLP on latents [N, ...] and labels [N, K] in {0, 1} (NaN = unknown); report held-out F1.

    All randomness (init, split, batches, dropout) comes from `seed`; the global
    RNG state is restored afterwards.
    """
    x, y = _as_tensor(latents), _as_tensor(labels)
    k = len(config.label_names)
    if y.ndim == 1 and k == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != k or y.shape[0] != x.shape[0]:
        raise InputError(f"labels must be [N={x.shape[0]}, {k}], got {list(y.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise InputError("latents contain NaN or inf values")
    known = torch.isfinite(y)
    if bool(((y[known] != 0) & (y[known] != 1)).any()):
        raise InputError("labels must be 0, 1 or NaN (missing)")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(x.shape[0], generator=g)
    n_val = int(round(x.shape[0] * val_fraction))
    va, tr = perm[:n_val], perm[n_val:]
    if len(tr) < 2:
        raise InputError(f"{x.shape[0]} samples leave {len(tr)} for training")
    y0 = torch.nan_to_num(y)
    mask = known.float()
    pos = (y0[tr] * mask[tr]).sum(0)
    neg = ((1 - y0[tr]) * mask[tr]).sum(0)
    if bool((pos == 0).any()) or bool((neg == 0).any()):
        bad = [config.label_names[i] for i in range(k) if pos[i] == 0 or neg[i] == 0]
        raise InputError(f"labels {bad} have no positive or no negative training example")
    pos_weight = neg / pos  # balances each label's positives against its negatives
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LatentAttributeClassifier(config)
        feats = model.features(x[tr])
        model.feature_mean.copy_(feats.mean(0))
        model.feature_std.copy_(feats.std(0).clamp_min(1e-6))
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
        model.train()
        last = float("nan")
        for _ in range(epochs):
            order = tr[torch.randperm(len(tr), generator=g)]
            for start in range(0, len(order), batch_size):
                b = order[start:start + batch_size]
                per = loss_fn(model(x[b]), y0[b]) * mask[b]
                loss = per.sum() / mask[b].sum().clamp_min(1)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                last = float(loss.detach())
    model.eval()
    if n_val:
        pred = (model.predict_proba(x[va]) > 0.5).float().numpy()
        tgt, m = y0[va].numpy(), mask[va].numpy().astype(bool)
        f1 = f1_scores(pred, tgt, m).tolist()
        acc = (((pred == tgt) & m).sum(0) / np.maximum(m.sum(0), 1)).tolist()
    else:
        f1 = acc = [float("nan")] * k
    return model, TrainReport(f1=f1, accuracy=acc, pos_weight=pos_weight.tolist(), num_train=len(tr),
                              num_val=n_val, final_train_loss=last)


def save_attribute_classifier(model: LatentAttributeClassifier, directory: str | os.PathLike[str], *,
                              report: TrainReport | None = None, provenance: dict[str, Any] | None = None) -> Path:
    """Write `model.safetensors` then `config.json` into `directory` (atomic each); return the folder."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(d / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp)))
    atomic_write_json(d / CONFIG_FILE, {"format": FORMAT, "config": model.config.to_dict(),
                                        "report": report.to_dict() if report else None,
                                        "provenance": provenance or {}})
    return d


def load_attribute_classifier(directory: str | os.PathLike[str]) -> tuple[LatentAttributeClassifier, dict[str, Any]]:
    """(model in eval mode, config.json) from a saved folder; CheckpointError naming it when unusable."""
    d = Path(directory)
    name = os.fspath(d)
    try:
        meta = read_json_file(d / CONFIG_FILE)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{name}: cannot read {CONFIG_FILE}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name}: not an attribute classifier folder (format {meta.get('format')!r})"
                              if isinstance(meta, dict) else f"{name}: bad {CONFIG_FILE}")
    try:
        cfg = AttributeClassifierConfig(**meta["config"])
        model = LatentAttributeClassifier(cfg)
        model.load_state_dict(load_file(str(d / WEIGHTS_FILE)))
    except (KeyError, TypeError, InputError, RuntimeError, SafetensorError, OSError) as exc:
        raise CheckpointError(f"{name}: cannot load the attribute classifier: {exc}") from None
    return model.eval(), meta
