"""Architecture configs, one frozen dataclass per network, saved as config.json.

Parameter names of the modules built from these configs mirror the official
StyleGAN2-ADA / StyleGAN3 (`networks_stylegan2`) implementation, so an official
state dict maps onto synthbio's modules key for key.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from synthbio.errors import InputError


def _check_resolution(res: int) -> None:
    if res < 4 or 2 ** int(math.log2(res)) != res:
        raise InputError(f"img_resolution must be a power of two >= 4, got {res}")


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
        if not self.branches:
            raise InputError("a generator needs at least one output branch")
        names = [n for n, _ in self.branches]
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise InputError(f"branch names must be unique identifiers, got {names}")
        if any(int(c) < 1 for _, c in self.branches):
            raise InputError(f"branch channel counts must be >= 1, got {self.branches}")
        if self.z_dim < 0 or self.c_dim < 0 or self.w_dim < 1:
            raise InputError("z_dim and c_dim must be >= 0 and w_dim >= 1")
        # Normalise lists coming from JSON into tuples so configs stay hashable.
        object.__setattr__(self, "branches", tuple((str(n), int(c)) for n, c in self.branches))
        object.__setattr__(self, "resample_filter", tuple(self.resample_filter))

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown generator config keys: {sorted(unknown)}")
        d = dict(d)
        if "branches" in d:
            d["branches"] = tuple(tuple(b) for b in d["branches"])
        if "resample_filter" in d:
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
        if self.img_channels < 1:
            raise InputError("img_channels must be >= 1")
        object.__setattr__(self, "resample_filter", tuple(self.resample_filter))

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown discriminator config keys: {sorted(unknown)}")
        d = dict(d)
        if "resample_filter" in d:
            d["resample_filter"] = tuple(d["resample_filter"])
        return cls(**d)


