"""StyleGAN3 generator config and the per-layer schedule derived from it.

Field names and defaults follow the official `networks_stylegan3` constructor
arguments (Generator, SynthesisNetwork, SynthesisLayer, MappingNetwork), so an
official pickle's recorded init kwargs map onto one `StyleGAN3Config`. The
schedule (`layer_schedule`) repeats the paper's geometric progression of
cutoffs and stopbands (Karras et al. 2021, appendix F) in float64, exactly as
the official constructor computes it, because the input layer and the filter
designs use these numbers at run time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthbio.errors import InputError
from synthbio.nn.config import (
    MAX_CHANNELS,
    MAX_DIM,
    MAX_MAPPING_LAYERS,
    MAX_PARAMETERS,
    MAX_RESOLUTION,
    check_int,
    check_real,
    known_keys,
)

MAX_LAYERS = 64  # synthesis layers (official: 14)
MAX_MARGIN = 256  # pixels of margin around the internal feature maps (official: 10)
MAX_FILTER_SIZE = 32  # taps per unit of the lower sampling rate (official: 6); radial filters are taps**2
MAX_LRELU_UPSAMPLING = 8  # official: 2
MAX_CONV_KERNEL = 15  # official: 3 (T) or 1 (R)


@dataclass(frozen=True)
class StyleGAN3Config:
    """Alias-free generator (configs T and R).

    num_layers: synthesis layers between the Fourier input and ToRGB (14).
    num_critical: critically sampled layers at the end (2).
    first_cutoff / first_stopband: f_c and f_t of the first layer (2, 2**2.1).
    last_stopband_rel: f_t of the last layer relative to its cutoff (2**0.3).
    margin_size: extra pixels on each side of the internal feature maps (10).
    output_scale: factor on the ToRGB output (0.25).
    num_fp16_res: kept from official checkpoints; only CUDA would use float16.
    conv_kernel: 3 for config T, 1 for config R.
    filter_size: filter taps per unit of the lower sampling rate (6).
    lrelu_upsampling: oversampling of the leaky ReLU (2).
    use_radial_filters: radial (jinc) downsampling filters on the non-critical
        layers (config R).
    conv_clamp: clamp of every layer's output (None = none).
    magnitude_ema_beta: decay of each layer's tracked input magnitude.
    mapping_layers / mapping_lr_multiplier / w_avg_beta: the mapping network.
    """

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4
    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    conv_clamp: float | None = 256.0
    magnitude_ema_beta: float = 0.999
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.998

    def __post_init__(self) -> None:
        # Every field is checked before a network is built: a config.json or a pickle's init kwargs from
        # elsewhere end in one InputError naming the field, not in a hang, a huge allocation or a traceback.
        check_int("img_resolution", self.img_resolution, 4, MAX_RESOLUTION)
        if self.img_resolution & (self.img_resolution - 1):
            raise InputError(f"img_resolution must be a power of two >= 4, got {self.img_resolution}")
        check_int("z_dim", self.z_dim, 0, MAX_DIM)
        check_int("c_dim", self.c_dim, 0, MAX_DIM)
        check_int("w_dim", self.w_dim, 1, MAX_DIM)
        check_int("img_channels", self.img_channels, 1, MAX_CHANNELS)
        check_int("channel_base", self.channel_base, 1, 1 << 24)
        check_int("channel_max", self.channel_max, 1, MAX_DIM)
        check_int("num_layers", self.num_layers, 1, MAX_LAYERS)
        check_int("num_critical", self.num_critical, 0, self.num_layers - 1)
        check_real("first_cutoff", self.first_cutoff, 0.0, self.img_resolution / 2, open_low=True)
        check_real("first_stopband", self.first_stopband, 0.0, float(self.img_resolution), open_low=True)
        check_real("last_stopband_rel", self.last_stopband_rel, 0.0, 16.0, open_low=True)
        check_int("margin_size", self.margin_size, 0, MAX_MARGIN)
        check_real("output_scale", self.output_scale, -1e6, 1e6)
        check_int("num_fp16_res", self.num_fp16_res, 0, 16)
        check_int("conv_kernel", self.conv_kernel, 1, MAX_CONV_KERNEL)
        check_int("filter_size", self.filter_size, 1, MAX_FILTER_SIZE)
        check_int("lrelu_upsampling", self.lrelu_upsampling, 1, MAX_LRELU_UPSAMPLING)
        if not isinstance(self.use_radial_filters, bool):
            raise InputError(f"use_radial_filters must be true or false, got {self.use_radial_filters!r}")
        check_real("conv_clamp", self.conv_clamp, 0.0, 1e9, optional=True, open_low=True)
        check_real("magnitude_ema_beta", self.magnitude_ema_beta, 0.0, 1.0)
        check_int("mapping_layers", self.mapping_layers, 1, MAX_MAPPING_LAYERS)
        check_real("mapping_lr_multiplier", self.mapping_lr_multiplier, 0.0, 1e6, open_low=True)
        check_real("w_avg_beta", self.w_avg_beta, 0.0, 1.0)
        self._check_schedule()

    def _check_schedule(self) -> None:
        """The layers the fields imply: sampling rates of at least one sample per unit, a channel
        everywhere, a positive transition band, and no more than MAX_PARAMETERS weights."""
        inp, specs = layer_schedule(self)
        if inp.channels < 1 or any(s.out_channels < 1 for s in specs):
            raise InputError(f"channel_base {self.channel_base} gives a layer no channel (needs >= "
                             f"{self.img_resolution} or so)")
        for s in specs:
            if s.out_sampling_rate < 1 or not s.out_half_width > 0:
                raise InputError(f"first_cutoff {self.first_cutoff}, first_stopband {self.first_stopband} and "
                                 f"last_stopband_rel {self.last_stopband_rel} give layer {s.name} sampling rate "
                                 f"{s.out_sampling_rate} and transition half-width {s.out_half_width:g}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise InputError(f"this generator would have {self.parameter_count():,} weights; the limit is "
                             f"{MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """Approximate number of weights (mapping, input layer, synthesis layers), computed without building it."""
        embed = self.w_dim if self.c_dim else 0
        total = (self.z_dim + embed) * self.w_dim + self.c_dim * self.w_dim + self.mapping_layers * self.w_dim ** 2
        inp, specs = layer_schedule(self)
        total += inp.channels * (inp.channels + 2) + 4 * self.w_dim
        for s in specs:
            kernel = 1 if s.is_torgb else self.conv_kernel
            total += s.out_channels * s.in_channels * kernel * kernel + (self.w_dim + 1) * s.in_channels
        return total

    @property
    def num_ws(self) -> int:
        """The input layer, num_layers synthesis layers and ToRGB each take one w."""
        return self.num_layers + 2

    @property
    def config_name(self) -> str:
        """'T' or 'R' (translation / rotation equivariant) by the official naming."""
        return "R" if self.conv_kernel == 1 and self.use_radial_filters else "T"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StyleGAN3Config:
        return cls(**known_keys(cls, d, "StyleGAN3"))


@dataclass(frozen=True)
class LayerSpec:
    """One synthesis layer's geometry. Rates and frequencies in cycles per image unit."""

    name: str
    index: int
    is_torgb: bool
    is_critically_sampled: bool
    use_fp16: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float


@dataclass(frozen=True)
class InputSpec:
    """The Fourier-feature input: channels, size (pixels), sampling rate and bandwidth."""

    channels: int
    size: int
    sampling_rate: float
    bandwidth: float


def layer_schedule(cfg: StyleGAN3Config) -> tuple[InputSpec, list[LayerSpec]]:
    """The input layer and the num_layers + 1 synthesis layers (ToRGB last).

    Cutoffs f_c and minimum stopbands f_t grow geometrically from the first
    layer to the last non-critical one, then stay; the sampling rate is the
    smallest power of two >= 2 f_t (at most the resolution); the transition
    half-width is max(f_t, s/2) - f_c; channels ~ channel_base / (2 f_c).
    """
    n = cfg.num_layers
    last_cutoff = cfg.img_resolution / 2
    last_stopband = last_cutoff * cfg.last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / (n - cfg.num_critical), 1)
    cutoffs = cfg.first_cutoff * (last_cutoff / cfg.first_cutoff) ** exponents
    stopbands = cfg.first_stopband * (last_stopband / cfg.first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, cfg.img_resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + cfg.margin_size * 2
    sizes[-2:] = cfg.img_resolution
    channels = np.rint(np.minimum((cfg.channel_base / 2) / cutoffs, cfg.channel_max))
    channels[-1] = cfg.img_channels

    inp = InputSpec(channels=int(channels[0]), size=int(sizes[0]), sampling_rate=float(rates[0]),
                    bandwidth=float(cutoffs[0]))
    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        out_size = int(sizes[idx])
        out_channels = int(channels[idx])
        layers.append(LayerSpec(
            name=f"L{idx}_{out_size}_{out_channels}", index=idx, is_torgb=idx == n,
            is_critically_sampled=idx >= n - cfg.num_critical,
            use_fp16=bool(rates[idx] * (2**cfg.num_fp16_res) > cfg.img_resolution),
            in_channels=int(channels[prev]), out_channels=out_channels,
            in_size=int(sizes[prev]), out_size=out_size,
            in_sampling_rate=int(rates[prev]), out_sampling_rate=int(rates[idx]),
            in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[idx]),
            in_half_width=float(half_widths[prev]), out_half_width=float(half_widths[idx])))
    return inp, layers
