"""StyleGAN2 synthesis network (skip architecture), with optional extra output branches.

Block `b{res}` holds `const` (4x4 only), `conv0` (2x upsampling, not at 4x4),
`conv1`, `torgb` for the first branch and `torgb_<name>` for every further
branch (e.g. NIR beside RGB, as in BiFaceGAN). Every head reads the same w and
is accumulated across resolutions like the RGB skip output:
img_res = upsample2d(img_res/2) + head(x_res).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn.config import channels_at
from synthbio.nn._per_sample import runs_per_sample, sample_copy
from synthbio.nn.layers import (
    NoiseSource,
    SynthesisLayer,
    ToRGBLayer,
    _FilterHolder,
    draw_noise,
    upsample2d,
)
from synthbio.nn.mapping import check_finite

NOISE_MODES = ("random", "const", "none")

# Below this resolution torch routes NHWC convolutions to slow non-oneDNN kernels on CPU.
_NHWC_MIN_RESOLUTION = 16


def head_name(index: int, branch: str) -> str:
    """Attribute name of a branch's output head: `torgb` for the first, `torgb_<name>` after."""
    return "torgb" if index == 0 else f"torgb_{branch}"


class SynthesisBlock(_FilterHolder):
    """One resolution: [upsampling conv0] + conv1 + output heads."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int,
                 branches: Sequence[tuple[str, int]], use_fp16: bool = False,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 use_noise: bool = True, fp16_channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.branches = tuple((str(n), int(c)) for n, c in branches)
        self.use_fp16 = use_fp16
        self.channels_last = use_fp16 and fp16_channels_last
        self._init_filter(resample_filter)
        self.num_conv = 0
        self.num_torgb = 1  # all heads share one w
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp,
                                        use_noise=use_noise, channels_last=self.channels_last)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, use_noise=use_noise, channels_last=self.channels_last)
        self.num_conv += 1
        for i, (name, channels) in enumerate(self.branches):
            setattr(self, head_name(i, name), ToRGBLayer(out_channels, channels, w_dim=w_dim,
                                                         conv_clamp=conv_clamp, channels_last=self.channels_last))

    def forward(self, x: Tensor | None, imgs: list[Tensor] | None, ws: Tensor, *, noise_mode: str = "const",
                generator: NoiseSource = None, force_fp32: bool = False, fused_modconv: bool | None = None,
                noises: Sequence[Tensor] | None = None) -> tuple[Tensor, list[Tensor]]:
        """x: [N,I,R/2,R/2] (None at 4x4); imgs: per-branch [N,C,R/2,R/2]; ws: [N, num_conv+1, w_dim].

        noises: with noise_mode 'random', unit noise [N,1,R,R] per conv layer drawn
        by the caller (then `generator` is not used). Returns features [N,O,R,R]
        and per-branch images [N,C,R,R] (float32).
        """
        n = ws.shape[0]
        on_cuda = ws.device.type == "cuda"
        dtype = torch.float16 if self.use_fp16 and on_cuda and not force_fp32 else torch.float32
        fmt = torch.channels_last if self.channels_last and dtype == torch.float16 else torch.contiguous_format
        on_cpu = ws.device.type == "cpu"
        if on_cpu and self.resolution >= _NHWC_MIN_RESOLUTION:
            fmt = torch.channels_last  # oneDNN convolutions run fastest on NHWC activations
        if fused_modconv is None:
            # A grouped conv with per-sample weights pays off only for one sample on GPU; on CPU
            # (and for batches) a shared-weight conv with activation scaling is faster. Same math.
            fused_modconv = n == 1 and not on_cpu
        w_iter = iter(ws.unbind(dim=1))
        noise_iter = iter(noises if noises is not None else [None] * self.num_conv)
        kw = dict(noise_mode=noise_mode, generator=generator, fused_modconv=fused_modconv)

        if self.in_channels == 0:
            x = self.const.to(dtype=dtype).unsqueeze(0).repeat([n, 1, 1, 1]).to(memory_format=fmt)
            x = self.conv1(x, next(w_iter), noise=next(noise_iter), **kw)
        else:
            assert x is not None
            x = x.to(dtype=dtype, memory_format=fmt)
            x = self.conv0(x, next(w_iter), noise=next(noise_iter), **kw)
            x = self.conv1(x, next(w_iter), noise=next(noise_iter), **kw)

        w_rgb = next(w_iter)
        out = []
        for i, (name, _) in enumerate(self.branches):
            y = getattr(self, head_name(i, name))(x, w_rgb, fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32, memory_format=torch.contiguous_format)
            if imgs is not None:
                y = upsample2d(imgs[i], self.filt) + y
            out.append(y)
        return x, out

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, architecture=skip, branches={self.branches}"


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> image(s) [N, C, R, R] in roughly [-1, 1].

    num_fp16_res: the N highest resolutions run in float16, on CUDA only.
    """

    def __init__(self, *, w_dim: int, img_resolution: int, branches: Sequence[tuple[str, int]] = (("img", 3),),
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: float | None = None, resample_filter: Sequence[float] = (1, 3, 3, 1),
                 use_noise: bool = True) -> None:
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise InputError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.branches = tuple((str(n), int(c)) for n, c in branches)
        self.img_channels = self.branches[0][1]
        self.num_fp16_res = num_fp16_res
        self.use_noise = use_noise
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            ch = channels_at(res, channel_base=channel_base, channel_max=channel_max)
            in_ch = channels_at(res // 2, channel_base=channel_base, channel_max=channel_max) if res > 4 else 0
            block = SynthesisBlock(in_ch, ch, w_dim=w_dim, resolution=res, branches=self.branches,
                                   use_fp16=res >= fp16_resolution, resample_filter=resample_filter,
                                   conv_clamp=conv_clamp, use_noise=use_noise)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last block's output heads

    @property
    def branch_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.branches)

    def feature_layers(self) -> dict[str, torch.nn.Module]:
        """The layers whose outputs are the synthesis feature maps, by name, in forward order.

        Every one returns an image-aligned map [N, C, r, r] (r = its block's
        resolution) covering the whole output image; `synthbio.segmentation`
        reads them through forward hooks to build per-pixel features (the
        DatasetGAN features). Names are `b{res}.conv0` / `b{res}.conv1`.
        """
        out: dict[str, torch.nn.Module] = {}
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            for name in ("conv0", "conv1"):
                if hasattr(block, name):
                    out[f"b{res}.{name}"] = getattr(block, name)
        return out

    def _check(self, ws: Tensor, noise_mode: str, generator: NoiseSource) -> None:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise InputError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        check_finite(ws, "ws")
        if noise_mode not in NOISE_MODES:
            raise InputError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if noise_mode == "random" and self.use_noise:
            if generator is None:
                raise InputError("noise_mode='random' needs generator= (one torch.Generator, or one per sample); "
                                 "synthbio never draws from the global RNG")
            if not isinstance(generator, torch.Generator):
                gens = list(generator)
                if len(gens) != ws.shape[0] or not all(isinstance(g, torch.Generator) for g in gens):
                    raise InputError(f"generator must be one torch.Generator or a sequence of {ws.shape[0]} "
                                     f"(one per sample), got {len(gens)} items")

    def forward(self, ws: Tensor, *, noise_mode: str = "const", generator: NoiseSource = None,
                force_fp32: bool = False, fused_modconv: bool | None = None) -> Tensor | dict[str, Tensor]:
        """ws: [N, num_ws, w_dim] -> [N, C, R, R] (one branch) or {branch: [N, C_b, R, R]}.

        noise_mode: 'const' uses the stored noise_const buffers, 'none' adds no
        noise, 'random' draws noise from `generator` (one torch.Generator, or a
        sequence with one per sample so each sample is independent of the batch).
        force_fp32: ignore num_fp16_res. fused_modconv: None = choose by batch/device.
        """
        self._check(ws, noise_mode, generator)
        if generator is not None and not isinstance(generator, torch.Generator):
            generator = list(generator)
        ws = ws.to(torch.float32)
        if runs_per_sample(self, ws) and ws.shape[0] > 0:  # batch-invariant CPU inference, see nn._per_sample
            noises = self._draw_noises(ws, noise_mode, generator)
            outs = [self._run(sample_copy(ws, i), noise_mode=noise_mode, force_fp32=force_fp32,
                              fused_modconv=fused_modconv, noises=[sample_copy(t, i) for t in noises])
                    for i in range(ws.shape[0])]
            imgs = [torch.cat(parts) for parts in zip(*outs)]
        else:
            imgs = self._run(ws, noise_mode=noise_mode, generator=generator, force_fp32=force_fp32,
                             fused_modconv=fused_modconv)
        if len(self.branches) == 1:
            return imgs[0]
        return {name: img for (name, _), img in zip(self.branches, imgs)}

    def _draw_noises(self, ws: Tensor, noise_mode: str, generator: NoiseSource) -> list[Tensor]:
        """Unit noise [N,1,R,R] for every conv layer, drawn in the order the layers would draw it."""
        if noise_mode != "random" or not self.use_noise:
            return []
        n = ws.shape[0]
        return [draw_noise(generator, (n, 1, res, res), device=ws.device)
                for res in self.block_resolutions for _ in range(getattr(self, f"b{res}").num_conv)]

    def _run(self, ws: Tensor, *, noise_mode: str, generator: NoiseSource = None, force_fp32: bool,
             fused_modconv: bool | None, noises: Sequence[Tensor] = ()) -> list[Tensor]:
        """The blocks in order: ws [N, num_ws, w_dim] -> per-branch images [N, C, R, R]."""
        x: Tensor | None = None
        imgs: list[Tensor] | None = None
        w_idx = 0
        noise_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            cur = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            block_noises = noises[noise_idx:noise_idx + block.num_conv] if noises else None
            noise_idx += block.num_conv
            x, imgs = block(x, imgs, cur, noise_mode=noise_mode, generator=generator, force_fp32=force_fp32,
                            fused_modconv=fused_modconv, noises=block_noises)
        assert imgs is not None
        return imgs

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"branches={self.branches}, num_fp16_res={self.num_fp16_res}")
