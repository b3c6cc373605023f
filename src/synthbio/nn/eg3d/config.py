"""EG3D tri-plane generator config (Chan et al. 2022), one frozen dataclass.

The official `TriPlaneGenerator` hard-codes several sizes (a 256x256
backbone, 32-channel planes, a 64-wide decoder, super-resolution widths of
128/64 or 256/128); they are fields here with those defaults so that tiny
networks for tests have the same structure. Rendering fields are the
official `rendering_kwargs` (FFHQ values as defaults).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from synthbio.errors import InputError

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
        if self.sr_kind not in SR_KINDS:
            raise InputError(f"unknown super-resolution module {self.sr_kind!r} (known: {', '.join(SR_KINDS)})")
        for name in ("img_resolution", "backbone_resolution"):
            res = getattr(self, name)
            if res < 4 or res & (res - 1):
                raise InputError(f"{name} must be a power of two >= 4, got {res}")
        if self.img_resolution < 8:
            raise InputError(f"img_resolution must be >= 8, got {self.img_resolution}")
        if self.depth_resolution < 2 or self.depth_resolution_importance < 0:
            raise InputError("depth_resolution must be >= 2 and depth_resolution_importance >= 0")
        if not self.ray_start < self.ray_end or self.ray_start <= 0 and self.disparity_space_sampling:
            raise InputError(f"need 0 < ray_start < ray_end, got {self.ray_start} and {self.ray_end}")
        if self.superresolution_noise_mode not in ("random", "const", "none"):
            raise InputError(f"superresolution_noise_mode must be random, const or none, "
                             f"got {self.superresolution_noise_mode!r}")
        if self.decoder_output_dim < 3 or self.plane_channels < 1:
            raise InputError("decoder_output_dim must be >= 3 (RGB first) and plane_channels >= 1")
        if self.sr_channels is not None:
            object.__setattr__(self, "sr_channels", tuple(int(c) for c in self.sr_channels))
        object.__setattr__(self, "avg_camera_pivot", tuple(float(v) for v in self.avg_camera_pivot))

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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise InputError(f"unknown EG3D config keys: {sorted(unknown)}")
        d = dict(d)
        if d.get("sr_channels") is not None:
            d["sr_channels"] = tuple(d["sr_channels"])
        if "avg_camera_pivot" in d:
            d["avg_camera_pivot"] = tuple(d["avg_camera_pivot"])
        return cls(**d)
