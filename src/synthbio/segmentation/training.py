"""Training the pixel classifier from a few annotated samples, and cross-validating it.

Memory: the reference keeps the D-channel feature of every pixel of every
annotated image in float16 (16 images at 1024² x 5,568 channels x 2 bytes =
187 GB for StyleGAN2 config F, plus one image's upsampled float32 maps,
23 GB). Here each annotated image is synthesised once, its maps are tapped,
and only the features of `pixels_per_image` sampled pixels are gathered
(bilinear taps, never the resized maps) and kept in float16: P x D x 2 bytes
in all (16 x 16,384 x 5,568 x 2 = 2.9 GB), plus one image's maps at a time.

Sampling: a share `class_balance` of each image's budget is spread evenly over
the classes it contains (every pixel of a class smaller than its share), the
rest is drawn uniformly from the remaining annotated pixels, so small parts
(pupils, deltas) are seen often enough without distorting the class mix much.

Training (per member as the reference: Adam, cross-entropy; all members in the
same matrix products, see `pixel_classifier`): mini-batches of
`batch_size` pixels, an epoch = one pass over the training pixels; a share
`validation_fraction` of the sampled pixels is held out and each member keeps
its weights from the epoch of its lowest held-out loss, stopping after
`patience` epochs without improvement (the reference stops on a stalled loss).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.generation.sampling import check_noise_mode
from synthbio.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou
from synthbio.segmentation.classes import IGNORE_INDEX
from synthbio.segmentation.features import (
    FeatureLayer,
    feature_modules,
    gather_pixel_features,
    select_layers,
    synthesize_with_features,
)
from synthbio.segmentation.pixel_classifier import PixelClassifierConfig, PixelEnsemble
from synthbio.segmentation.predict import synthesize_with_masks

_STAT_CHUNK = 8192  # feature rows per step when computing channel statistics


@dataclass(frozen=True)
class AnnotatedSample:
    """One annotated synthetic sample: ws [num_ws, w_dim], labels [H, W] (255 = not annotated).

    seed: seeds the synthesis noise (noise_mode 'random'); name: for messages.
    """

    name: str
    seed: int
    ws: Tensor
    labels: np.ndarray


@dataclass(frozen=True)
class FitConfig:
    """How the pixel classifier is built and trained (see module docstring).

    layers: feature layers, names or globs ('b64.*'); () = all (the reference).
    rank: factor each member's first layer through this many dimensions
        (0 = full rank, the reference; see `pixel_classifier`).
    noise_mode: synthesis noise of the annotated samples (as exported).
    pixels_per_image: sampled pixels per annotated image (0 = every annotated pixel).
    max_minutes: stop training after this long (the best weights so far are kept); None = no limit.
    """

    layers: tuple[str, ...] = ()
    noise_mode: str = "const"
    members: int = 10
    hidden: tuple[int, ...] = (128, 32)
    rank: int = 0
    pixels_per_image: int = 16384
    class_balance: float = 0.5
    batch_size: int = 1024
    learning_rate: float = 1e-3
    max_epochs: int = 30
    patience: int = 3
    validation_fraction: float = 0.1
    max_minutes: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(str(x) for x in self.layers))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        check_noise_mode(self.noise_mode)
        if self.members < 1 or not self.hidden or min(self.hidden) < 1:
            raise InputError("--members must be >= 1 and hidden widths >= 1")
        if self.rank < 0:
            raise InputError(f"--rank must be >= 0 (0 = full), got {self.rank}")
        if self.pixels_per_image < 0:
            raise InputError(f"--pixels-per-image must be >= 0 (0 = all), got {self.pixels_per_image}")
        if not 0 <= self.class_balance <= 1:
            raise InputError(f"class balance must be in [0, 1], got {self.class_balance}")
        if self.batch_size < 2:
            raise InputError(f"batch size must be >= 2 (batch norm), got {self.batch_size}")
        if not self.learning_rate > 0 or self.max_epochs < 1 or self.patience < 1:
            raise InputError("learning rate must be > 0, max epochs and patience >= 1")
        if not 0 <= self.validation_fraction < 0.5:
            raise InputError(f"validation fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InputError(f"max minutes must be > 0, got {self.max_minutes}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layers"], d["hidden"] = list(self.layers), list(self.hidden)
        return d


@dataclass(frozen=True)
class PixelSet:
    """Sampled training pixels: features [P, D] float16, labels [P] int64, image [P] (sample index)."""

    features: Tensor
    labels: Tensor
    image: Tensor


@dataclass(frozen=True)
class FitReport:
    """epochs: run; best_epoch / best_val_loss: per member; seconds: training time (features excluded)."""

    pixels_train: int
    pixels_val: int
    in_features: int
    epochs: int
    best_epoch: list[int]
    best_val_loss: list[float]
    val_accuracy: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- pixels and their features ------------------------------------------------------------------


def sample_pixels(labels: np.ndarray, count: int, *, class_balance: float, generator: torch.Generator) -> Tensor:
    """Flat indices (sorted) of the pixels to train on from one annotation [H, W] (see module docstring)."""
    flat = torch.from_numpy(np.ascontiguousarray(labels).reshape(-1).astype(np.int64))
    valid = torch.nonzero(flat != IGNORE_INDEX).flatten()
    if count == 0 or count >= valid.numel():
        return valid
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    present = torch.unique(flat[valid])
    quota = round(count * class_balance) // max(1, present.numel())
    for k in present.tolist():
        idx = torch.nonzero(flat == k).flatten()
        take = idx[torch.randperm(idx.numel(), generator=generator)[:quota]]
        chosen[take] = True
    rest = valid[~chosen[valid]]
    need = count - int(chosen.sum())
    chosen[rest[torch.randperm(rest.numel(), generator=generator)[:max(0, need)]]] = True
    return torch.nonzero(chosen).flatten()


def resolve_layers(G: Any, patterns: Sequence[str]) -> list[str]:
    return select_layers(list(feature_modules(G)), patterns)


def pixel_training_set(
    G: Any, samples: Sequence[AnnotatedSample], *, layers: Sequence[str], config: FitConfig,
    generator: torch.Generator, on_sample: Callable[[int], None] | None = None,
) -> tuple[PixelSet, list[FeatureLayer]]:
    """Synthesise every annotated sample once and gather the features of its sampled pixels."""
    feats, labels, image = [], [], []
    described: list[FeatureLayer] | None = None
    for i, s in enumerate(samples):
        device = G.mapping.w_avg.device
        images, maps = synthesize_with_features(G, s.ws[None].to(device), layers=layers, seeds=[s.seed],
                                                noise_mode=config.noise_mode)
        height, width = next(iter(images.values())).shape[-2:]
        if s.labels.shape != (height, width):
            raise InputError(f"annotation of {s.name} is {s.labels.shape[1]}x{s.labels.shape[0]}, "
                             f"the generator makes {width}x{height} images")
        if described is None:
            described = [FeatureLayer(n, m.shape[1], m.shape[2], m.shape[3]) for n, m in zip(layers, maps)]
        idx = sample_pixels(s.labels, config.pixels_per_image, class_balance=config.class_balance,
                            generator=generator).to(device)
        feats.append(gather_pixel_features([m[0] for m in maps], idx // width, idx % width, out_height=height,
                                           out_width=width, dtype=torch.float16).cpu())
        labels.append(torch.from_numpy(s.labels.reshape(-1).astype(np.int64))[idx.cpu()])
        image.append(torch.full([idx.numel()], i, dtype=torch.int64))
        del maps, images
        if on_sample is not None:
            on_sample(i)
    if described is None:
        raise InputError("no annotated samples to train on")
    return PixelSet(torch.cat(feats), torch.cat(labels), torch.cat(image)), described


def feature_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std [D] (float64 sums, chunked: no float32 copy of all features)."""
    d = features.shape[1]
    s1 = torch.zeros(d, dtype=torch.float64)
    s2 = torch.zeros(d, dtype=torch.float64)
    for start in range(0, features.shape[0], _STAT_CHUNK):
        x = features[start:start + _STAT_CHUNK].double()
        s1 += x.sum(0)
        s2 += x.square().sum(0)
    n = max(1, features.shape[0])
    mean = s1 / n
    var = (s2 / n - mean.square()).clamp_min(0)
    return mean.float(), var.sqrt().float()


# --- the training loop --------------------------------------------------------------------------


def _member_state(model: PixelEnsemble, m: int) -> dict[str, Tensor]:
    return {k: v[m].clone() for k, v in model.state_dict().items() if not k.startswith("feature_")}


def _load_member_state(model: PixelEnsemble, m: int, state: dict[str, Tensor]) -> None:
    with torch.no_grad():
        own = model.state_dict()
        for k, v in state.items():
            own[k][m].copy_(v)


def _val_losses(model: PixelEnsemble, x: Tensor, y: Tensor, batch: int) -> tuple[Tensor, float]:
    """Per-member mean cross-entropy [M] and the ensemble's (mean-probability) pixel accuracy.

    x: standardised features (`PixelEnsemble.standardise`)."""
    model.eval()
    total = torch.zeros(model.config.members, dtype=torch.float64)
    correct = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            logits = model.member_logits(x[start:start + batch])  # [B, M, K]
            yb = y[start:start + batch]
            ce = F.cross_entropy(logits.permute(0, 2, 1), yb[:, None].expand(-1, logits.shape[1]), reduction="none")
            total += ce.double().sum(0)
            correct += int((logits.softmax(-1).mean(1).argmax(-1) == yb).sum())
    n = max(1, x.shape[0])
    return (total / n).float(), correct / n


def train_ensemble(
    pixels: PixelSet, model_config: PixelClassifierConfig, config: FitConfig, *,
    generator: torch.Generator, log: Callable[[str], None] | None = None,
) -> tuple[PixelEnsemble, FitReport]:
    """Fit a fresh ensemble to sampled pixels (see module docstring)."""
    t0 = time.monotonic()
    n = pixels.labels.numel()
    if n < 2:
        raise InputError("fewer than 2 annotated pixels to train on")
    order = torch.randperm(n, generator=generator)
    n_val = round(config.validation_fraction * n)
    val_idx, train_idx = order[:n_val], order[n_val:]
    model = PixelEnsemble(model_config)
    model.reset_parameters(generator)
    model.set_feature_stats(*feature_stats(pixels.features[train_idx]))

    def member_inputs(idx: Tensor) -> Tensor:  # float16 features, standardised batch by batch
        return model.standardise(pixels.features[idx])

    x_val, y_val = member_inputs(val_idx), pixels.labels[val_idx]
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    m = model_config.members
    best_loss = [float("inf")] * m
    best_epoch = [0] * m
    best_state: list[dict[str, Tensor] | None] = [None] * m
    stale = [0] * m
    deadline = None if config.max_minutes is None else t0 + 60 * config.max_minutes
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        model.train()
        perm = train_idx[torch.randperm(train_idx.numel(), generator=generator)]
        running = 0.0
        steps = 0
        for start in range(0, perm.numel(), config.batch_size):
            idx = perm[start:start + config.batch_size]
            if idx.numel() < 2:
                continue  # batch norm needs two pixels
            logits = model.member_logits(member_inputs(idx))  # [B, M, K]
            y = pixels.labels[idx]
            # Sum over members of each member's mean loss: every member gets its own gradient.
            loss = F.cross_entropy(logits.permute(0, 2, 1), y[:, None].expand(-1, m), reduction="none").mean(0).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += float(loss.detach()) / m
            steps += 1
        out_of_time = deadline is not None and time.monotonic() > deadline
        if n_val == 0:
            if log:
                log(f"epoch {epoch}: train loss {running / max(1, steps):.4f}")
            if out_of_time:
                break
            continue
        losses, acc = _val_losses(model, x_val, y_val, 4 * config.batch_size)
        for k in range(m):
            if float(losses[k]) < best_loss[k] - 1e-4:
                best_loss[k], best_epoch[k], stale[k] = float(losses[k]), epoch, 0
                best_state[k] = _member_state(model, k)
            else:
                stale[k] += 1
        if log:
            log(f"epoch {epoch}: train loss {running / max(1, steps):.4f}, held-out loss "
                f"{float(losses.mean()):.4f}, held-out accuracy {acc:.4f}")
        if all(s >= config.patience for s in stale) or out_of_time:
            break
    if n_val:
        for k in range(m):
            if best_state[k] is not None:
                _load_member_state(model, k, best_state[k])  # type: ignore[arg-type]
    model.eval().requires_grad_(False)
    val_acc = _val_losses(model, x_val, y_val, 4 * config.batch_size)[1] if n_val else float("nan")
    report = FitReport(pixels_train=int(train_idx.numel()), pixels_val=n_val, in_features=model_config.in_features,
                       epochs=epoch, best_epoch=best_epoch if n_val else [epoch] * m,
                       best_val_loss=best_loss if n_val else [float("nan")] * m, val_accuracy=val_acc,
                       seconds=time.monotonic() - t0)
    return model, report


def fit_pixel_classifier(
    G: Any, samples: Sequence[AnnotatedSample], *, num_classes: int, config: FitConfig,
    log: Callable[[str], None] | None = None,
) -> tuple[PixelEnsemble, FitReport]:
    """Annotated samples of generator G -> trained ensemble (features, then training)."""
    if not samples:
        raise InputError("no annotated samples to train on")
    layers = resolve_layers(G, config.layers)
    gen = torch.Generator().manual_seed(config.seed)
    pixels, described = pixel_training_set(G, samples, layers=layers, config=config, generator=gen)
    height, width = samples[0].labels.shape
    model_config = PixelClassifierConfig(layers=tuple(described), height=height, width=width,
                                         num_classes=num_classes, members=config.members, hidden=config.hidden,
                                         rank=config.rank)
    return train_ensemble(pixels, model_config, config, generator=gen, log=log)


# --- scoring --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """confusion [K, K] (rows = annotation), iou [K] (NaN = class absent), miou, per-image mIoU."""

    confusion: np.ndarray
    iou: np.ndarray
    miou: float
    per_image_miou: list[float]

    def to_dict(self, class_names: Sequence[str]) -> dict[str, Any]:
        return {
            "miou": None if np.isnan(self.miou) else self.miou,
            "iou": {name: None if np.isnan(v) else float(v) for name, v in zip(class_names, self.iou)},
            "confusion": self.confusion.tolist(),
            "per_image_miou": [None if np.isnan(v) else v for v in self.per_image_miou],
        }


def score_masks(preds: Sequence[np.ndarray], targets: Sequence[np.ndarray], num_classes: int) -> Scores:
    """Dataset-level IoU of predicted against annotated index masks (255 in a target = not scored)."""
    cm = np.zeros([num_classes, num_classes], dtype=np.int64)
    per_image = []
    for p, t in zip(preds, targets):
        c = confusion_matrix(p, t, num_classes)
        cm += c
        per_image.append(mean_iou(c))
    return Scores(confusion=cm, iou=iou_per_class(cm), miou=mean_iou(cm), per_image_miou=per_image)


def predict_samples(G: Any, model: PixelEnsemble, samples: Sequence[AnnotatedSample], *,
                    noise_mode: str) -> list[np.ndarray]:
    """Predicted index masks [H, W] uint8 of annotated samples (one synthesis each)."""
    out = []
    device = G.mapping.w_avg.device
    for s in samples:
        _, preds = synthesize_with_masks(G, model, s.ws[None].to(device), seeds=[s.seed], noise_mode=noise_mode)
        out.append(preds[0].labels.cpu().numpy().astype(np.uint8))
    return out


def cross_validate(
    G: Any, samples: Sequence[AnnotatedSample], *, num_classes: int, config: FitConfig, folds: int,
    log: Callable[[str], None] | None = None,
) -> Scores:
    """k-fold cross-validation over the annotated images: every image is scored once, by an
    ensemble trained without it. Features are gathered once and shared by the folds."""
    if not 2 <= folds <= len(samples):
        raise InputError(f"cross-validation needs 2 <= folds <= annotated samples ({len(samples)}), got {folds}")
    layers = resolve_layers(G, config.layers)
    gen = torch.Generator().manual_seed(config.seed)
    pixels, described = pixel_training_set(G, samples, layers=layers, config=config, generator=gen)
    height, width = samples[0].labels.shape
    model_config = PixelClassifierConfig(layers=tuple(described), height=height, width=width,
                                         num_classes=num_classes, members=config.members, hidden=config.hidden,
                                         rank=config.rank)
    preds: list[np.ndarray | None] = [None] * len(samples)
    for f in range(folds):
        held = [i for i in range(len(samples)) if i % folds == f]
        keep = ~torch.isin(pixels.image, torch.tensor(held))
        subset = PixelSet(pixels.features[keep], pixels.labels[keep], pixels.image[keep])
        model, _ = train_ensemble(subset, model_config, config, generator=torch.Generator().manual_seed(
            config.seed * 1000 + f + 1))
        for i, p in zip(held, predict_samples(G, model, [samples[i] for i in held], noise_mode=config.noise_mode)):
            preds[i] = p
        if log:
            log(f"fold {f + 1}/{folds} done (held out: {', '.join(samples[i].name for i in held)})")
    return score_masks([p for p in preds if p is not None], [s.labels for s in samples], num_classes)
