"""Tiny StyleGAN3 and EG3D generators for tests of the jobs (CPU, 16-64 px, a few channels).

Weights are the constructors' draws plus seeded offsets on biases (and w_avg,
magnitude EMAs), so outputs depend on every path; filters, Fourier
frequencies and phases stay as designed.
"""

from __future__ import annotations

from typing import Any

import torch

from synthbio.nn.eg3d import EG3DConfig, EG3DGenerator
from synthbio.nn.stylegan3 import StyleGAN3Config, StyleGAN3Generator


def tiny_sg3(seed: int = 0, **kw: Any) -> StyleGAN3Generator:
    base = dict(z_dim=8, w_dim=8, img_resolution=16, channel_base=256, channel_max=16, num_layers=4,
                num_critical=1, margin_size=2)
    base.update(kw)
    torch.manual_seed(seed)
    G = StyleGAN3Generator(StyleGAN3Config(**base)).eval()  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in G.named_parameters():
            if name.endswith("bias"):
                t.add_(0.2 * torch.randn(t.shape, generator=gen))
        for name, b in G.named_buffers():
            if name.endswith("magnitude_ema"):
                b.fill_(0.5 + float(torch.rand([], generator=gen)))
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=gen))
    return G.requires_grad_(False)


def tiny_eg3d(seed: int = 0, **kw: Any) -> EG3DGenerator:
    base = dict(z_dim=8, w_dim=8, img_resolution=32, backbone_resolution=16, plane_channels=4, channel_base=128,
                channel_max=16, decoder_hidden=8, decoder_output_dim=6, sr_kind="SuperresolutionHybrid4X",
                sr_channels=(8, 4), neural_rendering_resolution=8, depth_resolution=6, depth_resolution_importance=6,
                c_scale=1.0)
    base.update(kw)
    torch.manual_seed(seed)
    G = EG3DGenerator(EG3DConfig(**base)).eval()  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias"):
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
        G.mapping.w_avg.copy_(torch.randn(G.w_dim, generator=gen))
    return G.requires_grad_(False)
