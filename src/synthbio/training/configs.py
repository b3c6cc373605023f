"""Named training configurations and the `TrainConfig` of one `synthbio train` run.

A preset fixes the architecture width and the StyleGAN2-ADA hyper-parameters
(`train.py --cfg` in the official code); the data set fixes resolution,
channels (branches) and label size. `resolve_plan` combines both with the
user's overrides into a `TrainPlan`, the fully resolved run that `--dry-run`
prints and `training_state.pt` stores.

Official values (Karras et al. 2020b, Table/`cfg_specs`):
  paper256: map 8, fmaps 0.5, lr 0.0025, gamma 1,   ema 20 kimg, mbstd 8, batch 64
  paper512: map 8, fmaps 1,   lr 0.0025, gamma 0.5, ema 20 kimg, mbstd 8, batch 64
  paper1024: map 8, fmaps 1,  lr 0.002,  gamma 2,   ema 10 kimg, mbstd 4, batch 32
  stylegan2 (config F): map 8, fmaps 1, lr 0.002, gamma 10, ema 10 kimg, mbstd 4, batch 32
fmaps f means channel_base = f * 32768, channel_max 512.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from synthbio.errors import InputError
from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.training.speed import check_gradfix

AUG_MODES = ("ada", "noaug", "fixed")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Preset:
    """Architecture and optimisation defaults of one named configuration.

    gamma None: the ADA heuristic 0.0002 * resolution^2 / batch.
    ema_kimg None: batch * 10 / 32 (half-life in thousands of images).
    ema_rampup None: no ramp-up (the official paper configs).
    """

    description: str
    z_dim: int
    w_dim: int
    map_layers: int
    channel_base: int
    channel_max: int
    mbstd_group: int
    lr: float
    batch: int
    gamma: float | None = None
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    conv_clamp: float | None = 256
    kimg: float = 25000


PRESETS: dict[str, Preset] = {
    "tiny": Preset("16-32 px, 8-32 channels: CPU tests and smoke runs", z_dim=32, w_dim=32, map_layers=2,
                   channel_base=256, channel_max=32, mbstd_group=4, lr=0.0025, batch=4, conv_clamp=None, kimg=1),
    "small64": Preset("64 px, up to 256 channels: CPU experiments and benchmarks", z_dim=256, w_dim=256,
                      map_layers=2, channel_base=8192, channel_max=256, mbstd_group=4, lr=0.0025, batch=16,
                      kimg=1000),
    "fp256": Preset("256 px grayscale fingerprints (ADA 'auto' at 256 px, mapping 2, batch 32)", z_dim=512,
                    w_dim=512, map_layers=2, channel_base=16384, channel_max=512, mbstd_group=4, lr=0.0025,
                    batch=32, ema_kimg=10, kimg=10000),
    "fp256s": Preset("256 px grayscale fingerprints, small enough to ship (<25 MB): the default model's config",
                     z_dim=256, w_dim=256, map_layers=2, channel_base=8192, channel_max=256, mbstd_group=4,
                     lr=0.0025, batch=32, ema_kimg=10, kimg=10000),
    "fp128cpu": Preset("128 px grayscale fingerprints, small enough to train on a 2-core CPU in hours",
                       z_dim=128, w_dim=128, map_layers=2, channel_base=1024, channel_max=128, mbstd_group=4,
                       lr=0.0025, batch=16, ema_kimg=5, kimg=1000),
    "cpu64": Preset("64 px, up to 64 channels: small CPU test beds (the masks test bed)",
                    z_dim=64, w_dim=64, map_layers=2, channel_base=1024, channel_max=64, mbstd_group=4,
                    lr=0.0025, batch=16, conv_clamp=None, kimg=200),
    "paper256": Preset("official paper256", z_dim=512, w_dim=512, map_layers=8, channel_base=16384,
                       channel_max=512, mbstd_group=8, lr=0.0025, batch=64, gamma=1, ema_kimg=20, ema_rampup=None),
    "paper512": Preset("official paper512", z_dim=512, w_dim=512, map_layers=8, channel_base=32768,
                       channel_max=512, mbstd_group=8, lr=0.0025, batch=64, gamma=0.5, ema_kimg=20,
                       ema_rampup=None),
    "paper1024": Preset("official paper1024", z_dim=512, w_dim=512, map_layers=8, channel_base=32768,
                        channel_max=512, mbstd_group=4, lr=0.002, batch=32, gamma=2, ema_kimg=10, ema_rampup=None),
    "stylegan2": Preset("official StyleGAN2 config F", z_dim=512, w_dim=512, map_layers=8, channel_base=32768,
                        channel_max=512, mbstd_group=4, lr=0.002, batch=32, gamma=10, ema_kimg=10, ema_rampup=None),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InputError(f"unknown training config {name!r}: use one of {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass(frozen=True)
class TrainConfig:
    """One training run (`synthbio train`). None means "the preset's value".

    kimg: length in thousands of real images shown to D. snapshot_kimg:
    network/state snapshot interval (also written at the end and when
    max_minutes runs out). kimg_per_tick: stats/progress interval (None =
    min(4, snapshot_kimg)). aug: 'ada' (p adjusted towards `target`), 'fixed'
    (constant `p`), 'noaug'. branches: output branches (name, channels) for
    paired multi-branch data (None = one branch with the data's channels).
    branch_weights: generator-loss weight per branch (missing = 1).
    cond/labels: train a conditional model on the labels file `labels`
    (default dataset.json inside the data set, as the official tool).
    precision: 'auto' = bf16 on CUDA, fp32 elsewhere. resume: an OUTDIR (uses
    OUTDIR/latest) or a folder holding training_state.pt.
    gradfix: 'auto' | 'on' | 'off', the convolutions' double backward as
    plain convolutions in R1 / path length ('auto' = on CUDA);
    compile: torch.compile the main phases' G synthesis and D
    (:mod:`synthbio.training.speed`). init_from: start G and G_ema from this
    generator's weights (same architecture; D starts fresh): fine-tuning.
    """

    data: str
    outdir: str
    config: str = "tiny"
    kimg: float | None = None
    batch: int | None = None
    gamma: float | None = None
    ema_kimg: float | None = None
    lr: float | None = None
    precision: str = "auto"
    snapshot_kimg: float = 50.0
    kimg_per_tick: float | None = None
    seed: int = 0
    aug: str = "ada"
    p: float | None = None
    target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0
    mirror: bool = False
    cond: bool = False
    labels: str | None = None
    branches: tuple[tuple[str, int], ...] | None = None
    branch_weights: tuple[tuple[str, float], ...] = ()
    resolution: int | None = None
    resize_mode: str = "none"
    max_size: int | None = None
    resume: str | None = None
    device: str = "auto"
    tensorboard: bool = False
    max_minutes: float | None = None
    style_mixing_prob: float = 0.9
    pl_weight: float = 2.0
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    g_reg_interval: int = 4
    d_reg_interval: int = 16
    grid: int = 16
    workers: int = 0
    gradfix: str = "auto"
    compile: bool = False
    init_from: str | None = None

    def __post_init__(self) -> None:
        get_preset(self.config)
        check_gradfix(self.gradfix)
        if self.init_from is not None and self.resume is not None:
            raise InputError("--init-from starts a new run; --resume continues one: use one of them")
        if self.aug not in AUG_MODES:
            raise InputError(f"--aug {self.aug!r}: use one of {', '.join(AUG_MODES)}")
        if self.aug == "fixed" and self.p is None:
            raise InputError("--aug fixed needs --p (the constant augmentation probability)")
        if self.p is not None and self.aug != "fixed":
            raise InputError("--p is only used with --aug fixed")
        if self.p is not None and not 0 <= self.p <= 1:
            raise InputError(f"--p must be in [0, 1], got {self.p}")
        if not 0 <= self.target <= 1:
            raise InputError(f"--target must be in [0, 1], got {self.target}")
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision {self.precision!r}: use one of {', '.join(PRECISIONS)}")
        for name, value in (("kimg", self.kimg), ("snapshot_kimg", self.snapshot_kimg),
                            ("kimg_per_tick", self.kimg_per_tick), ("max_minutes", self.max_minutes),
                            ("ema_kimg", self.ema_kimg), ("lr", self.lr)):
            if value is not None and not value > 0:
                raise InputError(f"{name} must be > 0, got {value}")
        if self.gamma is not None and self.gamma < 0:
            raise InputError(f"--gamma must be >= 0, got {self.gamma}")
        if self.batch is not None and self.batch < 1:
            raise InputError(f"--batch-size must be >= 1, got {self.batch}")
        if self.g_reg_interval < 1 or self.d_reg_interval < 1 or self.ada_interval < 1:
            raise InputError("regularisation and ADA intervals must be >= 1")
        if self.pl_batch_shrink < 1 or self.grid < 1 or self.workers < 0:
            raise InputError("pl_batch_shrink and grid must be >= 1, workers >= 0")
        if not 0 <= self.style_mixing_prob <= 1:
            raise InputError(f"style_mixing_prob must be in [0, 1], got {self.style_mixing_prob}")
        if self.branches is not None:
            object.__setattr__(self, "branches", tuple((str(n), int(c)) for n, c in self.branches))
        object.__setattr__(self, "branch_weights", tuple((str(n), float(w)) for n, w in self.branch_weights))
        if self.branch_weights and self.branches is not None:
            names = {n for n, _ in self.branches}
            unknown = [n for n, _ in self.branch_weights if n not in names]
            if unknown:
                raise InputError(f"--branch-weights names {unknown} are not branches {sorted(names)}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["branches"] = [list(b) for b in self.branches] if self.branches is not None else None
        d["branch_weights"] = [list(b) for b in self.branch_weights]
        return d


# What `--resume` may change: the length of the run and how it is run, never what it learns from.
RESUME_OVERRIDES = ("kimg", "max_minutes", "snapshot_kimg", "kimg_per_tick", "workers", "device", "tensorboard",
                    "gradfix", "compile")


def saved_train_config(resume: str) -> TrainConfig:
    """The TrainConfig an earlier run saved in its config.json ("train"), for `--resume RUN`.

    RUN is the run folder, its `latest/` or any folder holding training_state.pt;
    config.json is looked up there and up to two folders above the state file.
    """
    import json
    from pathlib import Path

    from synthbio.training.snapshots import find_state_file

    state = find_state_file(resume)
    for folder in dict.fromkeys((Path(resume), state.parent, state.parent.parent)):
        try:
            data = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("train"), dict):
            names = {f.name for f in dataclasses.fields(TrainConfig)}
            return TrainConfig(**{k: v for k, v in data["train"].items() if k in names})
    raise InputError(f"--resume {resume!r}: no config.json with the run's settings next to {state}")


def differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON-like values differ (one line, not two multi-kilobyte dumps)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in differing_keys(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".") or "value"]


def parse_branches(spec: str) -> tuple[tuple[str, int], ...]:
    """'rgb:3,nir:1' -> (('rgb', 3), ('nir', 1)); InputError naming the bad item."""
    out = []
    for item in (s.strip() for s in spec.split(",")):
        name, sep, ch = item.partition(":")
        if not sep or not name.isidentifier() or not ch.isdigit() or int(ch) < 1:
            raise InputError(f"--branches {spec!r}: {item!r} is not NAME:CHANNELS (e.g. rgb:3,nir:1)")
        out.append((name, int(ch)))
    if len({n for n, _ in out}) != len(out):
        raise InputError(f"--branches {spec!r}: branch names repeat")
    return tuple(out)


def parse_branch_weights(spec: str) -> tuple[tuple[str, float], ...]:
    """'nir=0.1' -> (('nir', 0.1),)."""
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.isidentifier() or not math.isfinite(weight) or weight < 0:
            raise InputError(f"--branch-weights {spec!r}: {item!r} is not NAME=WEIGHT (e.g. nir=0.1)")
        out.append((name, weight))
    return tuple(out)


def lazy_regularization_adam(*, lr: float, betas: tuple[float, float], interval: int) -> tuple[float, tuple[float, float]]:
    """Adam settings corrected for lazy regularisation (StyleGAN2 appendix B).

    With the regulariser applied every `interval` minibatches, one cycle holds
    interval + 1 optimiser steps for `interval` minibatches of data, so the
    learning rate is scaled by mb_ratio = interval / (interval + 1) and the
    betas are raised to that power (keeping the moments' half-life in images).
    """
    mb_ratio = interval / (interval + 1)
    return lr * mb_ratio, (betas[0] ** mb_ratio, betas[1] ** mb_ratio)


@dataclass(frozen=True)
class TrainPlan:
    """The fully resolved run: networks, optimisation and schedule."""

    G: GeneratorConfig
    D: dict[str, DiscriminatorConfig]
    batch: int
    batch_per_rank: int
    world_size: int
    lr: float
    betas: tuple[float, float]
    gamma: float
    ema_kimg: float
    ema_rampup: float | None
    kimg: float
    kimg_per_tick: float
    branch_weights: dict[str, float]
    precision: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.to_dict(), "D": {k: v.to_dict() for k, v in self.D.items()},
            "batch": self.batch, "batch_per_rank": self.batch_per_rank, "world_size": self.world_size,
            "lr": self.lr, "betas": list(self.betas), "gamma": self.gamma, "ema_kimg": self.ema_kimg,
            "ema_rampup": self.ema_rampup, "kimg": self.kimg, "kimg_per_tick": self.kimg_per_tick,
            "branch_weights": dict(self.branch_weights), "precision": self.precision,
        }

    def architecture(self) -> dict[str, Any]:
        """What must match for a resume: both network configs."""
        return {"G": self.G.to_dict(), "D": {k: v.to_dict() for k, v in self.D.items()}}


def resolve_precision(precision: str, device_type: str) -> str:
    """'auto' -> bf16 on CUDA (no loss scaling needed), fp32 elsewhere."""
    if precision == "auto":
        return "bf16" if device_type == "cuda" else "fp32"
    return precision


def resolve_plan(config: TrainConfig, *, resolution: int, branches: tuple[tuple[str, int], ...], c_dim: int,
                 world_size: int = 1, device_type: str = "cpu") -> TrainPlan:
    """Preset + data set + overrides -> TrainPlan; InputError for inconsistent settings."""
    preset = get_preset(config.config)
    batch = config.batch or preset.batch
    if batch % world_size:
        raise InputError(f"--batch-size {batch} is not divisible by the {world_size} training processes")
    per_rank = batch // world_size
    mbstd = min(preset.mbstd_group, per_rank)
    if per_rank % mbstd:
        raise InputError(f"batch per process {per_rank} is not divisible by the minibatch-stddev group {mbstd}")
    if per_rank // config.pl_batch_shrink < 1:
        raise InputError(f"batch per process {per_rank} is too small for pl_batch_shrink {config.pl_batch_shrink}")
    c_dim = c_dim if config.cond else 0
    precision = resolve_precision(config.precision, device_type)
    G = GeneratorConfig(
        z_dim=preset.z_dim, c_dim=c_dim, w_dim=preset.w_dim, img_resolution=resolution, branches=branches,
        channel_base=preset.channel_base, channel_max=preset.channel_max, num_fp16_res=0,
        conv_clamp=preset.conv_clamp, mapping_layers=preset.map_layers)
    D = {name: DiscriminatorConfig(
        c_dim=c_dim, img_resolution=resolution, img_channels=ch, channel_base=preset.channel_base,
        channel_max=preset.channel_max, num_fp16_res=0, conv_clamp=preset.conv_clamp, mbstd_group_size=mbstd)
        for name, ch in branches}
    gamma = config.gamma if config.gamma is not None else (
        preset.gamma if preset.gamma is not None else 0.0002 * resolution**2 / batch)
    ema_kimg = config.ema_kimg or preset.ema_kimg or batch * 10 / 32
    weights = {name: 1.0 for name, _ in branches}
    for name, w in config.branch_weights:
        if name not in weights:
            raise InputError(f"--branch-weights: {name!r} is not one of the branches {list(weights)}")
        weights[name] = w
    kimg = config.kimg or preset.kimg
    tick = config.kimg_per_tick or min(4.0, config.snapshot_kimg)
    return TrainPlan(G=G, D=D, batch=batch, batch_per_rank=per_rank, world_size=world_size,
                     lr=config.lr or preset.lr, betas=(0.0, 0.99), gamma=float(gamma), ema_kimg=float(ema_kimg),
                     ema_rampup=preset.ema_rampup, kimg=float(kimg), kimg_per_tick=float(tick),
                     branch_weights=weights, precision=precision)
