"""StyleGAN2 discriminator (resnet / skip / orig), with projection conditioning on c.

Blocks `b{res}` go from the input resolution down to 8x8 (`fromrgb`, `conv0`,
`conv1` with 2x downsampling, `skip` for resnet); `b4` is the epilogue
(`mbstd`, `conv`, `fc`, `out`); `mapping` embeds c when c_dim > 0. Names match
the official implementation so its state dicts load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn.config import DiscriminatorConfig
from synthbio.nn.layers import Conv2dLayer, FullyConnectedLayer, MinibatchStdLayer, _FilterHolder, downsample2d
from synthbio.nn.mapping import MappingNetwork, check_finite


class DiscriminatorBlock(_FilterHolder):
    """One resolution: [fromrgb] + conv0 + conv1 (2x down) [+ resnet skip]."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, *, resolution: int,
                 img_channels: int, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 use_fp16: bool = False, fp16_channels_last: bool = False) -> None:
        super().__init__()
        if in_channels not in (0, tmp_channels):
            raise ValueError("in_channels must be 0 (first block) or tmp_channels")
        self.in_channels = in_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self._init_filter(resample_filter)
        cl = self.channels_last
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                       conv_clamp=conv_clamp, channels_last=cl)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation,
                                 conv_clamp=conv_clamp, channels_last=cl)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp, channels_last=cl)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    resample_filter=resample_filter, channels_last=cl)

    def forward(self, x: Tensor | None, img: Tensor | None, *, force_fp32: bool = False
                ) -> tuple[Tensor, Tensor | None]:
        """x: [N,C,R,R] or None; img: [N,img_channels,R,R] -> x [N,C',R/2,R/2], img (skip) or None."""
        ref = x if x is not None else img
        assert ref is not None
        on_cuda = ref.device.type == "cuda"
        dtype = torch.float16 if self.use_fp16 and on_cuda and not force_fp32 else torch.float32
        fmt = torch.channels_last if self.channels_last and dtype == torch.float16 else torch.contiguous_format
        if x is not None:
            x = x.to(dtype=dtype, memory_format=fmt)
        if self.in_channels == 0 or self.architecture == "skip":
            assert img is not None
            img = img.to(dtype=dtype, memory_format=fmt)
            y = self.fromrgb(img)
            x = x + y if x is not None else y
            img = downsample2d(img, self.filt) if self.architecture == "skip" else None
        assert x is not None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv1(self.conv0(x))
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class DiscriminatorEpilogue(torch.nn.Module):
    """4x4 head: [fromrgb (skip)] + minibatch stddev + conv + fc + out, projected on cmap if conditional."""

    def __init__(self, in_channels: int, *, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.architecture = architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = (MinibatchStdLayer(mbstd_group_size, mbstd_num_channels)
                      if mbstd_num_channels > 0 else None)
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3,
                                activation=activation, conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: Tensor, img: Tensor | None, cmap: Tensor | None) -> Tensor:
        """x: [N,C,4,4], cmap: [N,cmap_dim] or None -> logits [N,1] (float32)."""
        x = x.to(dtype=torch.float32, memory_format=torch.contiguous_format)
        if self.architecture == "skip":
            assert img is not None
            x = x + self.fromrgb(img.to(dtype=torch.float32, memory_format=torch.contiguous_format))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            assert cmap is not None
            # Projection discriminator (Miyato & Koyama 2018): <out, cmap> / sqrt(cmap_dim).
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture={self.architecture}"


class Discriminator(torch.nn.Module):
    """D(img, c) -> realness logits [N, 1]."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.c_dim = config.c_dim
        self.img_resolution = config.img_resolution
        self.img_resolution_log2 = int(np.log2(config.img_resolution))
        self.img_channels = config.img_channels
        self.block_resolutions = config.block_resolutions
        log2 = self.img_resolution_log2
        fp16_resolution = max(2 ** (log2 + 1 - config.num_fp16_res), 8)
        cmap_dim = config.cmap_dim if config.cmap_dim is not None else config.channels(4)
        if config.c_dim == 0:
            cmap_dim = 0
        self.cmap_dim = cmap_dim
        common = dict(img_channels=config.img_channels, architecture=config.architecture,
                      conv_clamp=config.conv_clamp)
        for res in self.block_resolutions:
            in_ch = config.channels(res) if res < config.img_resolution else 0
            block = DiscriminatorBlock(in_ch, config.channels(res), config.channels(res // 2), resolution=res,
                                       use_fp16=res >= fp16_resolution, resample_filter=config.resample_filter,
                                       **common)
            setattr(self, f"b{res}", block)
        if config.c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=config.c_dim, w_dim=cmap_dim, num_ws=None,
                                          w_avg_beta=None, num_layers=config.mapping_layers,
                                          lr_multiplier=config.mapping_lr_multiplier)
        self.b4 = DiscriminatorEpilogue(config.channels(4), cmap_dim=cmap_dim, resolution=4,
                                        mbstd_group_size=config.mbstd_group_size,
                                        mbstd_num_channels=config.mbstd_num_channels, **common)

    def forward(self, img: Tensor, c: Tensor | None = None, *, force_fp32: bool = False) -> Tensor:
        """img: [N, img_channels, R, R] in [-1, 1]; c: [N, c_dim] -> logits [N, 1]."""
        r = self.img_resolution
        if img.ndim != 4 or tuple(img.shape[1:]) != (self.img_channels, r, r):
            raise InputError(f"img must have shape [N, {self.img_channels}, {r}, {r}], got {list(img.shape)}")
        check_finite(img, "img")
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        if self.c_dim == 0 and c is not None and c.numel() > 0:
            raise InputError(f"this discriminator is unconditional (c_dim=0) but got c of shape {list(c.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, force_fp32=force_fp32)
        assert x is not None
        return self.b4(x, img, cmap)

    def extra_repr(self) -> str:
        return f"c_dim={self.c_dim}, img_resolution={self.img_resolution}, img_channels={self.img_channels}"
