"""EG3D tri-plane generator config (Chan et al. 2022), one frozen dataclass.

The official `TriPlaneGenerator` hard-codes several sizes (a 256x256
backbone, 32-channel planes, a 64-wide decoder, super-resolution widths of
128/64 or 256/128); they are fields here with those defaults so that tiny
networks for tests have the same structure. Rendering fields are the
official `rendering_kwargs` (FFHQ values as defaults).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from synthbio.errors import InputError
from synthbio.nn.config import (
    MAX_CHANNELS,
    MAX_DIM,
    MAX_PARAMETERS,
    MAX_RESOLUTION,
    GeneratorConfig,
    check_int,
    check_real,
    known_keys,
)

MAX_RAYS_PER_SIDE = 1024  # neural rendering resolution (official: 64 or 128)
MAX_DEPTH_SAMPLES = 1024  # coarse or importance samples per ray (official: 48 + 48)

#: Super-resolution modules of the official code: name -> (upsamples in block0, default channels,
#: interpolate only when the input is smaller (not whenever it differs), registers `resample_filter`).
SR_KINDS: dict[str, tuple[bool, tuple[int, int], bool, bool]] = {
    "SuperresolutionHybrid8XDC": (True, (256, 128), False, False),
    "SuperresolutionHybrid8X": (True, (128, 64), False, True),
    "SuperresolutionHybrid4X": (False, (128, 64), True, True),
    "SuperresolutionHybrid2X": (False, (128, 64), False, True),
    "SuperresolutionHybridDeepfp32": (False, (128, 64), True, True),
}


def default_sr_kind(img_resolution: int) -> str:
    """The module the official training picks for a final resolution (512 / 256 / 128)."""
    return {512: "SuperresolutionHybrid8XDC", 256: "SuperresolutionHybrid4X"}.get(img_resolution,
                                                                                "SuperresolutionHybrid2X")


@dataclass(frozen=True)
class EG3DConfig:
    """Tri-plane generator.

    c_dim: camera conditioning size (25: cam2world 4x4 + normalised intrinsics 3x3).
    backbone_resolution / plane_channels: the StyleGAN2 backbone draws
        3 * plane_channels channels at this resolution (official: 256, 32).
    channel_base ... w_avg_beta: the StyleGAN2 backbone (see GeneratorConfig).
    decoder_hidden / decoder_output_dim / decoder_lr_multiplier: the tri-plane
        decoder MLP (official: 64, 32, rendering_kwargs['decoder_lr_mul']).
    sr_kind / sr_channels / sr_num_fp16_res / sr_antialias: super-resolution
        (sr_channels None = the module's official widths; conv clamp 256 when
        sr_num_fp16_res > 0, as there).
    neural_rendering_resolution: rays per side of the raw image (64 or 128).
    depth_resolution / depth_resolution_importance: coarse and importance
        samples per ray; ray_start / ray_end: their depth range; box_warp: side of
        the cube the planes span; white_back: composite onto white;
        disparity_space_sampling: coarse samples uniform in 1/depth.
    c_gen_conditioning_zero / c_scale: the camera fed to the mapping network is
        zeroed, or scaled by c_scale.
    superresolution_noise_mode: noise of the super-resolution layers.
    density_noise: std of noise on the densities (training only; 0 = none).
    avg_camera_radius / avg_camera_pivot: the orbit the default camera sits on.
    """

    z_dim: int = 512
    c_dim: int = 25
    w_dim: int = 512
    img_resolution: int = 512
    img_channels: int = 3
    backbone_resolution: int = 256
    plane_channels: int = 32
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995
    decoder_hidden: int = 64
    decoder_output_dim: int = 32
    decoder_lr_multiplier: float = 1.0
    sr_kind: str = "SuperresolutionHybrid8XDC"
    sr_channels: tuple[int, int] | None = None
    sr_num_fp16_res: int = 4
    sr_antialias: bool = True
    neural_rendering_resolution: int = 64
    depth_resolution: int = 48
    depth_resolution_importance: int = 48
    ray_start: float = 2.25
    ray_end: float = 3.3
    box_warp: float = 1.0
    white_back: bool = False
    disparity_space_sampling: bool = False
    c_gen_conditioning_zero: bool = False
    c_scale: float = 1.0
    superresolution_noise_mode: str = "none"
    density_noise: float = 0.0
    avg_camera_radius: float = 2.7
    avg_camera_pivot: tuple[float, float, float] = (0.0, 0.0, 0.2)

    def __post_init__(self) -> None:
        # Every field is checked before a network is built: a config.json or a pickle's values from
        # elsewhere end in one InputError naming the field, not in a hang, a huge allocation or a traceback.
        if not isinstance(self.sr_kind, str) or self.sr_kind not in SR_KINDS:
            raise InputError(f"unknown super-resolution module {self.sr_kind!r} (known: {', '.join(SR_KINDS)})")
        for name, low in (("img_resolution", 8), ("backbone_resolution", 4)):
            res = getattr(self, name)
            check_int(name, res, low, MAX_RESOLUTION)
            if res & (res - 1):
                raise InputError(f"{name} must be a power of two >= {low}, got {res}")
        if self.img_channels != 3 or isinstance(self.img_channels, bool):  # the raw image is the features' RGB
            raise InputError(f"img_channels must be 3 (EG3D renders RGB), got {self.img_channels!r}")
        check_int("plane_channels", self.plane_channels, 1, MAX_CHANNELS // 3)
        check_int("decoder_hidden", self.decoder_hidden, 1, MAX_DIM)
        check_int("decoder_output_dim", self.decoder_output_dim, 3, MAX_DIM)  # RGB first
        check_real("decoder_lr_multiplier", self.decoder_lr_multiplier, 0.0, 1e6, open_low=True)
        if self.sr_channels is not None:
            if (not isinstance(self.sr_channels, Sequence) or isinstance(self.sr_channels, str)
                    or len(self.sr_channels) != 2):
                raise InputError(f"sr_channels must be null or two channel counts, got {self.sr_channels!r}")
            for i, c in enumerate(self.sr_channels):
                check_int(f"sr_channels[{i}]", c, 1, MAX_DIM)
            object.__setattr__(self, "sr_channels", tuple(int(c) for c in self.sr_channels))
        check_int("sr_num_fp16_res", self.sr_num_fp16_res, 0, 16)
        for name in ("sr_antialias", "white_back", "disparity_space_sampling", "c_gen_conditioning_zero"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        check_int("neural_rendering_resolution", self.neural_rendering_resolution, 1, MAX_RAYS_PER_SIDE)
        check_int("depth_resolution", self.depth_resolution, 2, MAX_DEPTH_SAMPLES)
        check_int("depth_resolution_importance", self.depth_resolution_importance, 0, MAX_DEPTH_SAMPLES)
        check_real("ray_start", self.ray_start, 0.0, 1e6, open_low=self.disparity_space_sampling)
        check_real("ray_end", self.ray_end, 0.0, 1e6)
        if not self.ray_start < self.ray_end:
            raise InputError(f"need ray_start < ray_end, got {self.ray_start} and {self.ray_end}")
        check_real("box_warp", self.box_warp, 0.0, 1e6, open_low=True)
        check_real("c_scale", self.c_scale, -1e6, 1e6)
        check_real("density_noise", self.density_noise, 0.0, 1e6)
        check_real("avg_camera_radius", self.avg_camera_radius, 0.0, 1e6, open_low=True)
        if self.superresolution_noise_mode not in ("random", "const", "none"):
            raise InputError(f"superresolution_noise_mode must be random, const or none, "
                             f"got {self.superresolution_noise_mode!r}")
        pivot = self.avg_camera_pivot
        if not isinstance(pivot, Sequence) or isinstance(pivot, str) or len(pivot) != 3:
            raise InputError(f"avg_camera_pivot must be three numbers, got {pivot!r}")
        for i, v in enumerate(pivot):
            check_real(f"avg_camera_pivot[{i}]", v, -1e6, 1e6)
        object.__setattr__(self, "avg_camera_pivot", tuple(float(v) for v in pivot))
        # The StyleGAN2 backbone checks its own fields (z_dim ... w_avg_beta) and size.
        backbone = self.backbone_config()
        if self.parameter_count(backbone) > MAX_PARAMETERS:
            raise InputError(f"this generator would have {self.parameter_count(backbone):,} weights; the limit is "
                             f"{MAX_PARAMETERS:,}")

    def backbone_config(self) -> GeneratorConfig:
        """The StyleGAN2 generator that draws the three planes (3 * plane_channels channels)."""
        try:
            return GeneratorConfig(
                z_dim=self.z_dim, c_dim=self.c_dim, w_dim=self.w_dim, img_resolution=self.backbone_resolution,
                branches=(("img", 3 * self.plane_channels),), channel_base=self.channel_base,
                channel_max=self.channel_max, num_fp16_res=self.num_fp16_res, conv_clamp=self.conv_clamp,
                mapping_layers=self.mapping_layers, mapping_lr_multiplier=self.mapping_lr_multiplier,
                w_avg_beta=self.w_avg_beta)
        except InputError as exc:
            raise InputError(f"tri-plane backbone: {exc}") from None

    def parameter_count(self, backbone: GeneratorConfig | None = None) -> int:
        """Approximate number of weights (backbone, decoder, super-resolution), computed without building it."""
        total = (backbone or self.backbone_config()).parameter_count()
        total += (self.plane_channels + 1) * self.decoder_hidden + (self.decoder_hidden + 1) * (self.decoder_output_dim + 1)
        c0, c1 = self.sr_widths
        for cin, cout in ((self.decoder_output_dim, c0), (c0, c0), (c0, c1), (c1, c1)):
            total += cout * cin * 9 + (self.w_dim + 1) * cin + cout * self.img_channels
        return total

    @property
    def num_ws(self) -> int:
        """Two per backbone block (one at 4x4) plus the last toRGB, as the StyleGAN2 backbone."""
        n = 0
        res = 4
        while res <= self.backbone_resolution:
            n += 2
            res *= 2
        return n

    @property
    def sr_widths(self) -> tuple[int, int]:
        return self.sr_channels if self.sr_channels is not None else SR_KINDS[self.sr_kind][1]

    @property
    def sr_input_resolution(self) -> int:
        """Size the raw image is resized to before super-resolution."""
        upsample_first = SR_KINDS[self.sr_kind][0]
        return self.img_resolution // 4 if upsample_first else self.img_resolution // 2

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["avg_camera_pivot"] = list(self.avg_camera_pivot)
        d["sr_channels"] = None if self.sr_channels is None else list(self.sr_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EG3DConfig:
        return cls(**known_keys(cls, d, "EG3D"))
