"""Architecture configs, one frozen dataclass per network, saved as config.json.

Parameter names of the modules built from these configs mirror the official
StyleGAN2-ADA / StyleGAN3 (`networks_stylegan2`) implementation, so an official
state dict maps onto synthbio's modules key for key.

Every field is checked on construction, before a network is built from it:
integers are integers (not floats or booleans) in their range, reals are
finite, resolutions are powers of two up to `MAX_RESOLUTION`, every block has
at least one channel, and the network stays under `MAX_PARAMETERS` weights.
A config.json from elsewhere is read through `from_dict`, so a hostile one
ends in one InputError naming the field, not in a ZeroDivisionError or an
allocation of gigabytes.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthbio.errors import InputError

MAX_RESOLUTION = 4096  # official StyleGAN2 networks go to 1024
MAX_DIM = 16384  # z_dim, c_dim, w_dim, feature widths
MAX_CHANNELS = 256  # channels of one output branch (an EG3D backbone draws 3 planes x 32 channels)
MAX_MAPPING_LAYERS = 64
MAX_FILTER_TAPS = 16
MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32 weights; StyleGAN2 at 1024 px has 30 M


def check_int(name: str, value: Any, low: int, high: int, *, optional: bool = False) -> None:
    """InputError unless value is an integer (not a bool or a float) in low..high (or None when optional)."""
    if value is None and optional:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= value <= high:
        shown = repr(value) if len(repr(value)) < 40 else repr(value)[:37] + "..."
        raise InputError(f"{name} must be an integer in {low}..{high}{' or null' if optional else ''}, got {shown}")


def check_real(name: str, value: Any, low: float, high: float, *, optional: bool = False,
               open_low: bool = False) -> None:
    """InputError unless value is a finite number in [low, high] ((low, high] with open_low)."""
    if value is None and optional:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        lo = "(" if open_low else "["
        raise InputError(f"{name} must be a finite number in {lo}{low:g}, {high:g}], got {value!r}")


def _check_filter(value: Any) -> None:
    if not isinstance(value, Sequence) or isinstance(value, str) or not 1 <= len(value) <= MAX_FILTER_TAPS:
        raise InputError(f"resample_filter must be a list of 1..{MAX_FILTER_TAPS} numbers, got {value!r}")
    for i, tap in enumerate(value):
        check_real(f"resample_filter[{i}]", tap, -1e6, 1e6)
    if not sum(value) > 0:  # the taps are normalised by their sum
        raise InputError(f"resample_filter taps must sum to a positive number, got {list(value)}")


def _check_resolution(res: int) -> None:
    check_int("img_resolution", res, 4, MAX_RESOLUTION)
    if 2 ** int(math.log2(res)) != res:
        raise InputError(f"img_resolution must be a power of two >= 4, got {res}")


def _check_channels(channel_base: Any, channel_max: Any, resolution: int) -> None:
    check_int("channel_base", channel_base, 1, 1 << 24)
    check_int("channel_max", channel_max, 1, MAX_DIM)
    if channel_base // resolution < 1:
        raise InputError(f"channel_base {channel_base} gives no channel at {resolution} px (needs >= {resolution})")


def _pairs(value: Any, what: str) -> tuple[tuple[Any, ...], ...]:
    """A JSON list of lists (or tuples) as a tuple of tuples; InputError for anything else."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise InputError(f"{what} must be a list, got {value!r}")
    out = []
    for item in value:
        if not isinstance(item, Sequence) or isinstance(item, str):
            raise InputError(f"{what} must be a list of [name, channels] pairs, got {value!r}")
        out.append(tuple(item))
    return tuple(out)


def known_keys(cls: type, d: Any, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise InputError(f"{what} config must be a JSON object, got {type(d).__name__}")
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise InputError(f"unknown {what} config keys: {sorted(map(str, unknown))[:8]}")
    return dict(d)


def channels_at(res: int, *, channel_base: int, channel_max: int) -> int:
    """Feature channels at one resolution: min(channel_base // res, channel_max)."""
    return min(channel_base // res, channel_max)


@dataclass(frozen=True)
class GeneratorConfig:
    """StyleGAN2 generator (mapping + skip-architecture synthesis).

    branches: output heads as (name, channels) pairs. The first is the classic
        `torgb` head; every further branch adds a `torgb_<name>` head per block
        that shares the trunk and the w of `torgb` (RGB + NIR, for example).
    conv_clamp: clamp for conv outputs (None = no clamp; official configs use
        256 together with fp16 layers).
    num_fp16_res: how many of the highest resolutions run in float16 on GPU
        (0 = all float32). Kept for official checkpoints; CPU always uses fp32.
    mapping_embed_features / mapping_layer_features: None means w_dim.
    w_avg_beta: decay of the tracked average w during training.
    """

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 256
    branches: tuple[tuple[str, int], ...] = (("img", 3),)
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    architecture: str = "skip"
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    mapping_embed_features: int | None = None
    mapping_layer_features: int | None = None
    w_avg_beta: float = 0.995
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)
    use_noise: bool = True

    def __post_init__(self) -> None:
        _check_resolution(self.img_resolution)
        if self.architecture != "skip":
            raise InputError(f"generator architecture {self.architecture!r} is not supported (use 'skip')")
        branches = _pairs(self.branches, "branches")
        if not branches or len(branches) > 16:
            raise InputError(f"a generator needs 1..16 output branches, got {len(branches)}")
        if any(len(b) != 2 for b in branches):
            raise InputError(f"branches must be [name, channels] pairs, got {list(branches)}")
        names = [n for n, _ in branches]
        if len(set(names)) != len(names) or not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise InputError(f"branch names must be unique identifiers, got {names}")
        for n, c in branches:
            check_int(f"channels of branch {n!r}", c, 1, MAX_CHANNELS)
        check_int("z_dim", self.z_dim, 0, MAX_DIM)
        check_int("c_dim", self.c_dim, 0, MAX_DIM)
        check_int("w_dim", self.w_dim, 1, MAX_DIM)
        _check_channels(self.channel_base, self.channel_max, self.img_resolution)
        check_int("num_fp16_res", self.num_fp16_res, 0, 16)
        check_real("conv_clamp", self.conv_clamp, 0.0, 1e9, optional=True, open_low=True)
        check_int("mapping_layers", self.mapping_layers, 1, MAX_MAPPING_LAYERS)
        check_real("mapping_lr_multiplier", self.mapping_lr_multiplier, 0.0, 1e6, open_low=True)
        check_int("mapping_embed_features", self.mapping_embed_features, 1, MAX_DIM, optional=True)
        check_int("mapping_layer_features", self.mapping_layer_features, 1, MAX_DIM, optional=True)
        check_real("w_avg_beta", self.w_avg_beta, 0.0, 1.0)
        _check_filter(self.resample_filter)
        if not isinstance(self.use_noise, bool):
            raise InputError(f"use_noise must be true or false, got {self.use_noise!r}")
        # Normalise lists coming from JSON into tuples so configs stay hashable.
        object.__setattr__(self, "branches", tuple((str(n), int(c)) for n, c in branches))
        object.__setattr__(self, "resample_filter", tuple(self.resample_filter))
        if self.parameter_count() > MAX_PARAMETERS:
            raise InputError(f"this generator would have {self.parameter_count():,} weights; the limit is "
                             f"{MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """Approximate number of weights (mapping and synthesis convolutions), computed without building it."""
        embed = self.mapping_embed_features or self.w_dim
        features = self.mapping_layer_features or self.w_dim
        dims = [self.z_dim + (embed if self.c_dim else 0)] + [features] * (self.mapping_layers - 1) + [self.w_dim]
        total = sum(a * b for a, b in zip(dims[:-1], dims[1:])) + self.c_dim * embed
        out_channels = sum(c for _, c in self.branches)
        previous = self.channels(4)
        for res in self.block_resolutions:
            ch = self.channels(res)
            total += (previous + ch) * (9 * ch + self.w_dim) + ch * out_channels + self.w_dim * ch
            previous = ch
        return total

    @property
    def img_channels(self) -> int:
        """Channels of the first (primary) branch."""
        return self.branches[0][1]

    @property
    def branch_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.branches)

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """Number of per-layer w vectors: two per block (one at 4x4) plus the last toRGB."""
        return 2 * len(self.block_resolutions)

    def channels(self, res: int) -> int:
        return channels_at(res, channel_base=self.channel_base, channel_max=self.channel_max)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["branches"] = [list(b) for b in self.branches]
        d["resample_filter"] = list(self.resample_filter)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GeneratorConfig:
        d = known_keys(cls, d, "generator")
        if "branches" in d:
            d["branches"] = _pairs(d["branches"], "branches")
        if "resample_filter" in d:
            _check_filter(d["resample_filter"])
            d["resample_filter"] = tuple(d["resample_filter"])
        return cls(**d)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """StyleGAN2 discriminator (resnet architecture by default).

    cmap_dim: width of the conditioning projection (None = channels at 4x4;
        ignored when c_dim == 0).
    mbstd_group_size: minibatch-stddev group (None = whole batch);
    mbstd_num_channels: 0 disables the layer.
    """

    c_dim: int = 0
    img_resolution: int = 256
    img_channels: int = 3
    architecture: str = "resnet"
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    cmap_dim: int | None = None
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)

    def __post_init__(self) -> None:
        _check_resolution(self.img_resolution)
        if self.architecture not in ("resnet", "skip", "orig"):
            raise InputError(f"discriminator architecture {self.architecture!r} is not one of resnet, skip, orig")
        check_int("c_dim", self.c_dim, 0, MAX_DIM)
        check_int("img_channels", self.img_channels, 1, MAX_CHANNELS)
        _check_channels(self.channel_base, self.channel_max, self.img_resolution)
        check_int("num_fp16_res", self.num_fp16_res, 0, 16)
        check_real("conv_clamp", self.conv_clamp, 0.0, 1e9, optional=True, open_low=True)
        check_int("cmap_dim", self.cmap_dim, 1, MAX_DIM, optional=True)
        check_int("mbstd_group_size", self.mbstd_group_size, 1, 1 << 16, optional=True)
        check_int("mbstd_num_channels", self.mbstd_num_channels, 0, MAX_DIM)
        check_int("mapping_layers", self.mapping_layers, 0, MAX_MAPPING_LAYERS)
        check_real("mapping_lr_multiplier", self.mapping_lr_multiplier, 0.0, 1e6, open_low=True)
        _check_filter(self.resample_filter)
        object.__setattr__(self, "resample_filter", tuple(self.resample_filter))
        if self.parameter_count() > MAX_PARAMETERS:
            raise InputError(f"this discriminator would have {self.parameter_count():,} weights; the limit is "
                             f"{MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """Approximate number of weights of the convolutions and the epilogue, computed without building it."""
        total = self.img_channels * self.channels(self.img_resolution)
        for res in self.block_resolutions:
            a, b = self.channels(res), self.channels(res // 2)
            total += 9 * a * a + 9 * a * b + a * b
        c4 = self.channels(4)
        return total + 9 * (c4 + self.mbstd_num_channels) * c4 + 16 * c4 * c4 + c4 * (self.cmap_dim or 1)

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(int(math.log2(self.img_resolution)), 2, -1)]

    def channels(self, res: int) -> int:
        return channels_at(res, channel_base=self.channel_base, channel_max=self.channel_max)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resample_filter"] = list(self.resample_filter)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiscriminatorConfig:
        d = known_keys(cls, d, "discriminator")
        if "resample_filter" in d:
            _check_filter(d["resample_filter"])
            d["resample_filter"] = tuple(d["resample_filter"])
        return cls(**d)


