"""StyleGAN2 generator: mapping network + synthesis network, built from a GeneratorConfig."""

from __future__ import annotations

import torch
from torch import Tensor

from synthbio.nn.config import GeneratorConfig
from synthbio.nn.layers import NoiseSource
from synthbio.nn.mapping import MappingNetwork
from synthbio.nn.synthesis import SynthesisNetwork


class Generator(torch.nn.Module):
    """G(z, c) = synthesis(mapping(z, c)).

    State-dict keys equal those of the official StyleGAN2-ADA / StyleGAN3
    `networks_stylegan2.Generator` (`mapping.fc0.weight`, `synthesis.b4.const`,
    ...), plus `torgb_<name>` heads for extra branches.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.branch_names = config.branch_names
        self.synthesis = SynthesisNetwork(
            w_dim=config.w_dim, img_resolution=config.img_resolution, branches=config.branches,
            channel_base=config.channel_base, channel_max=config.channel_max, num_fp16_res=config.num_fp16_res,
            conv_clamp=config.conv_clamp, resample_filter=config.resample_filter, use_noise=config.use_noise)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, num_ws=self.num_ws,
            num_layers=config.mapping_layers, embed_features=config.mapping_embed_features,
            layer_features=config.mapping_layer_features, lr_multiplier=config.mapping_lr_multiplier,
            w_avg_beta=config.w_avg_beta)

    @property
    def branches(self) -> tuple[tuple[str, int], ...]:
        """Output heads as (name, channels) pairs, the same attribute on every synthbio generator."""
        return self.config.branches

    def forward(self, z: Tensor, c: Tensor | None = None, *, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "const", generator: NoiseSource = None,
                update_emas: bool = False, force_fp32: bool = False) -> Tensor | dict[str, Tensor]:
        """z: [N, z_dim], c: [N, c_dim] or None -> [N, C, R, R] (one branch) or {branch: [N, C_b, R, R]}."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, generator=generator, force_fp32=force_fp32)

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"img_resolution={self.img_resolution}, branches={self.config.branches}")
