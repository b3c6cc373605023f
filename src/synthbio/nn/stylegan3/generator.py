"""StyleGAN3 (alias-free) generator: mapping network + Fourier-feature synthesis network.

The same surface as synthbio's StyleGAN2 `Generator` (`G.mapping`,
`G.synthesis`, `z_dim`, `c_dim`, `w_dim`, `num_ws`, `img_resolution`,
`img_channels`, `branch_names`, `mapping.w_avg`), so sampling, mixing,
projection, directions and datasets take either. StyleGAN3 has no noise
inputs: `noise_mode` and `generator` are accepted and change nothing.
State-dict keys equal the official `networks_stylegan3.Generator`'s.
"""

from __future__ import annotations

import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn._per_sample import runs_per_sample, sample_copy
from synthbio.nn.layers import NoiseSource
from synthbio.nn.mapping import MappingNetwork, check_finite
from synthbio.nn.stylegan3.config import StyleGAN3Config, layer_schedule
from synthbio.nn.stylegan3.layers import SynthesisInput, SynthesisLayer

NOISE_MODES = ("random", "const", "none")


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, R, R] in roughly [-1, 1].

    ws[:, 0] drives the input layer's rotation and translation, ws[:, 1:]
    the num_layers synthesis layers and ToRGB, in order.
    """

    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__()
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.num_ws = config.num_ws
        self.num_layers = config.num_layers
        self.output_scale = config.output_scale
        input_spec, specs = layer_schedule(config)
        self.input = SynthesisInput(input_spec, w_dim=config.w_dim)
        self.layer_names: list[str] = []
        for spec in specs:
            layer = SynthesisLayer(spec, w_dim=config.w_dim, conv_kernel=config.conv_kernel,
                                   filter_size=config.filter_size, lrelu_upsampling=config.lrelu_upsampling,
                                   use_radial_filters=config.use_radial_filters, conv_clamp=config.conv_clamp,
                                   magnitude_ema_beta=config.magnitude_ema_beta)
            setattr(self, spec.name, layer)
            self.layer_names.append(spec.name)

    def _check(self, ws: Tensor, noise_mode: str) -> None:
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise InputError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        check_finite(ws, "ws")
        if noise_mode not in NOISE_MODES:
            raise InputError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")

    def forward(self, ws: Tensor, *, noise_mode: str = "const", generator: NoiseSource = None,
                force_fp32: bool = False, update_emas: bool = False, transform: Tensor | None = None) -> Tensor:
        """ws: [N, num_ws, w_dim] -> [N, img_channels, R, R] (float32).

        transform: [3, 3] or [N, 3, 3] input transform for this call, in place of
        the `input.transform` buffer (see `input_transform`). noise_mode,
        generator and force_fp32 are accepted for a uniform interface; this
        network has no noise and runs in float32.
        """
        self._check(ws, noise_mode)
        ws = ws.to(torch.float32)
        if transform is not None and transform.ndim == 3 and transform.shape[0] != ws.shape[0]:
            raise InputError(f"transform must be [3, 3] or [{ws.shape[0]}, 3, 3], got {list(transform.shape)}")
        if runs_per_sample(self, ws) and ws.shape[0] > 0 and not update_emas:  # batch-invariant CPU inference
            outs = []
            for i in range(ws.shape[0]):
                t = transform[i:i + 1] if transform is not None and transform.ndim == 3 else transform
                outs.append(self._run(sample_copy(ws, i), transform=t, update_emas=False))
            return torch.cat(outs)
        return self._run(ws, transform=transform, update_emas=update_emas)

    def _run(self, ws: Tensor, *, transform: Tensor | None, update_emas: bool) -> Tensor:
        w_list = ws.unbind(dim=1)
        x = self.input(w_list[0], transform=transform)
        for name, w in zip(self.layer_names, w_list[1:]):
            x = getattr(self, name)(x, w, update_emas=update_emas)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(dtype=torch.float32, memory_format=torch.contiguous_format)

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
                f"img_channels={self.img_channels}, num_layers={self.num_layers}")


class StyleGAN3Generator(torch.nn.Module):
    """G(z, c) = synthesis(mapping(z, c)), configs T and R (see StyleGAN3Config)."""

    architecture = "stylegan3"

    def __init__(self, config: StyleGAN3Config) -> None:
        super().__init__()
        self.config = config
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.branch_names = ("img",)
        self.branches = (("img", config.img_channels),)
        self.synthesis = SynthesisNetwork(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, num_ws=self.num_ws,
            num_layers=config.mapping_layers, lr_multiplier=config.mapping_lr_multiplier,
            w_avg_beta=config.w_avg_beta)

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "const", generator: NoiseSource = None,
                update_emas: bool = False, force_fp32: bool = False, transform: Tensor | None = None) -> Tensor:
        """z: [N, z_dim], c: [N, c_dim] or None -> images [N, img_channels, R, R]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, generator=generator, update_emas=update_emas,
                              transform=transform)

    def extra_repr(self) -> str:
        return (f"config={self.config.config_name}, z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
                f"num_ws={self.num_ws}, img_resolution={self.img_resolution}")
