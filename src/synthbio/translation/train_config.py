"""`TranslationTrainConfig` (one `synthbio translate train` run) and the plan it resolves to.

`reference` picks the defaults of the settings SATNet changed from MUNIT;
every one of them can be set on its own:

| setting              | 'satnet' (default)                     | 'munit'                     |
|----------------------|----------------------------------------|-----------------------------|
| self-attention       | after content enc., after AdaIN blocks, | none                       |
|                      | before each D scale's last layer        |                             |
| spectral norm        | in D                                   | none                        |
| GAN loss             | hinge                                  | LSGAN                       |
| Adam (TTUR)          | G 1e-4, D 4e-4, betas (0, 0.9)         | 1e-4 both, betas (0.5, 0.999) |

The rest follows MUNIT's released configuration: style code 8, batch 1,
weight decay 1e-4, learning rate halved every 100k steps, image
reconstruction x10, style and content reconstruction x1, and the explicit
cycle loss x10 (MUNIT's configs that use it).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from synthbio.errors import InputError
from synthbio.translation.config import G_ATTENTION_PLACES, TranslatorConfig
from synthbio.translation.losses import GAN_LOSSES, IDENTITY_FORMS

REFERENCES = ("satnet", "munit")
PRECISIONS = ("auto", "fp32", "bf16")
ALIGNMENTS = ("model", "detect")
DIRECTIONS = ("a2b", "b2a")


@dataclass(frozen=True)
class TranslationTrainConfig:
    """Everything one training run needs; saved in OUTDIR/config.json. None = the reference's value.

    data_a, data_b: the two domains' image folders (unpaired).
    names: display names of domain A and B (e.g. 'photo', 'sketch'); saved with the model.
    channels_a, channels_b: convert images to 1 or 3 channels (None = the images' own).
    load_size: resize the shorter side first (0 = keep); crop: square training crop side.
    mirror: random left-right flips of the crops.
    identity_model: a differentiable IdentityModel name (dlib-resnet, arcface-r100,
        adaface-ir101, fingerprint-ridges, pixel-random) for the identity loss; None = off.
    identity_weight: its weight; identity_form: 'hinge' | 'cosine';
    identity_threshold: hinge margin in cosine units (None = the model's threshold).
    identity_alignment: 'model' (the model's own preprocessing: FFHQ-aligned faces,
        fingerprints) or 'detect' (dlib 5-point landmarks of each source face; faces only).
    identity_directions: which translations the loss applies to ('a2b', 'b2a').
    ridge_period: ridge period in pixels for 'fingerprint-ridges'.
    steps: training steps (one batch of each domain per step).
    snap: snapshot every this many steps (and at the end); tick: steps per stats line.
    max_minutes: snapshot and stop after this long (None = no limit).
    """

    data_a: str
    data_b: str
    outdir: str
    names: tuple[str, str] = ("a", "b")
    channels_a: int | None = None
    channels_b: int | None = None
    load_size: int = 0
    crop: int = 256
    mirror: bool = True
    reference: str = "satnet"
    dim: int = 64
    style_dim: int = 8
    n_downsample: int = 2
    n_res: int = 4
    mlp_dim: int = 256
    d_dim: int = 64
    d_layers: int = 4
    d_scales: int = 3
    g_attention: tuple[str, ...] | None = None
    d_attention: bool | None = None
    attention_blocks: int = 1
    g_spectral_norm: bool = False
    d_spectral_norm: bool | None = None
    gan_loss: str | None = None
    ttur: bool | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    betas: tuple[float, float] | None = None
    weight_decay: float = 1e-4
    lr_step: int = 100_000
    lr_gamma: float = 0.5
    gan_weight: float = 1.0
    recon_x_weight: float = 10.0
    recon_s_weight: float = 1.0
    recon_c_weight: float = 1.0
    cycle_weight: float = 10.0
    identity_model: str | None = None
    identity_weights: str | None = None
    identity_weight: float = 1.0
    identity_form: str = "hinge"
    identity_threshold: float | None = None
    identity_alignment: str = "model"
    identity_directions: tuple[str, ...] = DIRECTIONS
    ridge_period: float = 9.0
    batch: int = 1
    steps: int = 100_000
    snap: int = 5_000
    tick: int = 100
    grid: int = 6
    seed: int = 0
    resume: str | None = None
    device: str = "auto"
    precision: str = "auto"
    max_minutes: float | None = None

    def __post_init__(self) -> None:
        for name in ("data_a", "data_b", "outdir"):
            object.__setattr__(self, name, os.fspath(getattr(self, name)))
        if self.resume is not None:
            object.__setattr__(self, "resume", os.fspath(self.resume))
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "identity_directions", tuple(self.identity_directions))
        if self.g_attention is not None:
            object.__setattr__(self, "g_attention", tuple(self.g_attention))
        if self.betas is not None:
            object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        self._check()

    def _check(self) -> None:
        if len(self.names) != 2 or not all(self.names) or self.names[0] == self.names[1]:
            raise InputError(f"domain names must be two different non-empty names, got {self.names}")
        if self.reference not in REFERENCES:
            raise InputError(f"--reference must be one of {REFERENCES}, got {self.reference!r}")
        if self.gan_loss is not None and self.gan_loss not in GAN_LOSSES:
            raise InputError(f"--gan-loss must be one of {GAN_LOSSES}, got {self.gan_loss!r}")
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.identity_form not in IDENTITY_FORMS:
            raise InputError(f"--identity-form must be one of {IDENTITY_FORMS}, got {self.identity_form!r}")
        if self.identity_alignment not in ALIGNMENTS:
            raise InputError(f"--identity-alignment must be one of {ALIGNMENTS}, got {self.identity_alignment!r}")
        bad_dirs = [d for d in self.identity_directions if d not in DIRECTIONS]
        if bad_dirs or not self.identity_directions:
            raise InputError(f"--identity-directions must be among {DIRECTIONS}, got {self.identity_directions}")
        if self.g_attention is not None and any(p not in G_ATTENTION_PLACES for p in self.g_attention):
            raise InputError(f"--attention places must be among {G_ATTENTION_PLACES}, got {self.g_attention}")
        for name in ("batch", "steps", "snap", "tick", "lr_step"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.grid < 0:
            raise InputError(f"--grid must be >= 0, got {self.grid}")
        weights = ("gan_weight", "recon_x_weight", "recon_s_weight", "recon_c_weight", "cycle_weight",
                   "identity_weight", "weight_decay")
        for name in weights:
            if getattr(self, name) < 0:
                raise InputError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise InputError(f"--{name.replace('_', '-')} must be > 0, got {value}")
        if self.betas is not None and (len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas)):
            raise InputError(f"--betas must be two numbers in [0, 1), got {self.betas}")
        if not 0 < self.lr_gamma <= 1:
            raise InputError(f"--lr-gamma must be in (0, 1], got {self.lr_gamma}")
        if self.seed < 0:
            raise InputError(f"--seed must be >= 0, got {self.seed}")
        if not self.ridge_period > 0:
            raise InputError(f"--ridge-period must be > 0, got {self.ridge_period}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InputError(f"--max-minutes must be > 0, got {self.max_minutes}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TranslationPlan:
    """The resolved run: network, losses and optimisers (what --dry-run prints, what resume checks)."""

    network: TranslatorConfig
    gan_loss: str
    lr_g: float
    lr_d: float
    betas: tuple[float, float]
    batch_per_rank: int
    precision: str

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network.to_dict(), "gan_loss": self.gan_loss, "lr_g": self.lr_g, "lr_d": self.lr_d,
                "betas": list(self.betas), "batch_per_rank": self.batch_per_rank, "precision": self.precision}


def resolve_plan(config: TranslationTrainConfig, *, channels_a: int, channels_b: int, world_size: int = 1,
                 device_type: str = "cpu", bf16_supported: bool = False) -> TranslationPlan:
    """Fill the reference's defaults in and check the batch against the process count."""
    satnet = config.reference == "satnet"
    network = TranslatorConfig(
        channels_a=channels_a, channels_b=channels_b, dim=config.dim, style_dim=config.style_dim,
        n_downsample=config.n_downsample, n_res=config.n_res, mlp_dim=config.mlp_dim,
        g_attention=config.g_attention if config.g_attention is not None else (G_ATTENTION_PLACES if satnet else ()),
        attention_blocks=config.attention_blocks, g_spectral_norm=config.g_spectral_norm,
        d_dim=config.d_dim, d_layers=config.d_layers, d_scales=config.d_scales,
        d_attention=config.d_attention if config.d_attention is not None else satnet,
        d_spectral_norm=config.d_spectral_norm if config.d_spectral_norm is not None else satnet,
    )
    ttur = config.ttur if config.ttur is not None else satnet
    lr_g = config.lr_g if config.lr_g is not None else 1e-4
    lr_d = config.lr_d if config.lr_d is not None else (4e-4 if ttur else 1e-4)
    betas = config.betas if config.betas is not None else ((0.0, 0.9) if ttur else (0.5, 0.999))
    if config.batch % world_size:
        raise InputError(f"--batch-size {config.batch} does not split over {world_size} processes")
    if config.crop and config.crop < network.min_train_size:
        raise InputError(f"--crop {config.crop} is too small for this discriminator ({network.d_scales} scales of "
                         f"{network.d_layers} layers need at least {network.min_train_size} px)")
    if config.precision == "auto":
        precision = "bf16" if device_type == "cuda" and bf16_supported else "fp32"
    else:
        precision = config.precision
    return TranslationPlan(network=network, gan_loss=config.gan_loss or ("hinge" if satnet else "lsgan"),
                           lr_g=float(lr_g), lr_d=float(lr_d), betas=(float(betas[0]), float(betas[1])),
                           batch_per_rank=config.batch // world_size, precision=precision)
