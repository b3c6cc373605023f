"""EG3D super-resolution: the raw neural rendering (features) -> the final image.

Two StyleGAN2 synthesis blocks driven by the backbone's last w (repeated),
after resizing the raw image to the module's input size with antialiased
bilinear interpolation. Official modules (`training/superresolution.py`):
8XDC and 8X upsample in both blocks (raw at R/4), 4X, 2X and Deepfp32 keep the
first block at the input size (raw at R/2). Parameter names equal theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.nn.eg3d.config import SR_KINDS, EG3DConfig
from synthbio.nn.layers import (
    NoiseSource,
    SynthesisLayer,
    ToRGBLayer,
    _FilterHolder,
    setup_filter,
)
from synthbio.nn.synthesis import SynthesisBlock


class SynthesisBlockNoUp(_FilterHolder):
    """A StyleGAN2 synthesis block that keeps its input size: conv0, conv1, torgb; the image skip
    is added without upsampling (the official `SynthesisBlockNoUp`)."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None, resample_filter: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.num_conv = 2
        self.num_torgb = 1
        self._init_filter(resample_filter)
        self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)

    def forward(self, x: Tensor, imgs: list[Tensor] | None, ws: Tensor, *, noise_mode: str = "const",
                generator: NoiseSource = None, force_fp32: bool = False, fused_modconv: bool | None = None,
                noises: Sequence[Tensor] | None = None) -> tuple[Tensor, list[Tensor]]:
        """x [N,I,R,R], imgs [[N,C,R,R]], ws [N,3,w_dim] -> features [N,O,R,R], [image [N,C,R,R]]."""
        w0, w1, w2 = ws.unbind(dim=1)
        fused = x.shape[0] == 1 and x.device.type != "cpu" if fused_modconv is None else fused_modconv
        n0, n1 = noises if noises is not None else (None, None)
        x = self.conv0(x.to(torch.float32), w0, noise_mode=noise_mode, generator=generator, fused_modconv=fused,
                       noise=n0)
        x = self.conv1(x, w1, noise_mode=noise_mode, generator=generator, fused_modconv=fused, noise=n1)
        y = self.torgb(x, w2, fused_modconv=fused).to(torch.float32)
        return x, [y if imgs is None else imgs[0] + y]


class SuperResolution(torch.nn.Module):
    """rgb [N,3,r,r], features [N,C,r,r], backbone ws [N,L,w_dim] -> image [N,3,R,R]."""

    def __init__(self, config: EG3DConfig) -> None:
        super().__init__()
        self.kind = config.sr_kind
        upsample_first, _, only_if_smaller, has_filter = SR_KINDS[config.sr_kind]
        self.only_if_smaller = only_if_smaller
        self.antialias = config.sr_antialias and config.sr_kind != "SuperresolutionHybridDeepfp32"
        self.input_resolution = config.sr_input_resolution
        c0, c1 = config.sr_widths
        clamp = 256.0 if config.sr_num_fp16_res > 0 else None  # the official modules tie the clamp to fp16
        res = config.img_resolution
        channels = config.decoder_output_dim
        if upsample_first:
            self.block0 = SynthesisBlock(channels, c0, w_dim=config.w_dim, resolution=res // 2,
                                         branches=(("img", config.img_channels),), conv_clamp=clamp)
        else:
            self.block0 = SynthesisBlockNoUp(channels, c0, w_dim=config.w_dim, resolution=res // 2,
                                             img_channels=config.img_channels, conv_clamp=clamp)
        self.block1 = SynthesisBlock(c0, c1, w_dim=config.w_dim, resolution=res,
                                     branches=(("img", config.img_channels),), conv_clamp=clamp)
        if has_filter:
            self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))

    def forward(self, rgb: Tensor, x: Tensor, ws: Tensor, *, noise_mode: str = "none", generator: NoiseSource = None,
                force_fp32: bool = False) -> Tensor:
        ws = ws[:, -1:, :].repeat(1, 3, 1)
        size = x.shape[-1]
        if (size < self.input_resolution) if self.only_if_smaller else (size != self.input_resolution):
            target = (self.input_resolution, self.input_resolution)
            x = F.interpolate(x, size=target, mode="bilinear", align_corners=False, antialias=self.antialias)
            rgb = F.interpolate(rgb, size=target, mode="bilinear", align_corners=False, antialias=self.antialias)
        x, imgs = self.block0(x, [rgb], ws, noise_mode=noise_mode, generator=generator, force_fp32=force_fp32)
        _, imgs = self.block1(x, imgs, ws, noise_mode=noise_mode, generator=generator, force_fp32=force_fp32)
        return imgs[0]

    def extra_repr(self) -> str:
        return f"kind={self.kind}, input_resolution={self.input_resolution}"
