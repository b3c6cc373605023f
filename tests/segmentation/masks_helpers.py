"""Tiny generators and pseudo-annotations for the masks tests (imported as `masks_helpers`)."""

from __future__ import annotations

import numpy as np
import torch

from synthbio.nn.config import GeneratorConfig
from synthbio.nn.generator import Generator


def tiny_generator(*, res: int = 32, branches=(("rgb", 3), ("nir", 1)), seed: int = 0) -> Generator:
    """A random-weight two-branch generator (channels <= 16), w_avg from 256 latents, noise on."""
    cfg = GeneratorConfig(img_resolution=res, z_dim=16, w_dim=16, channel_base=256, channel_max=16,
                          mapping_layers=2, branches=branches)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator(cfg)
    G.eval().requires_grad_(False)
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.fill_(0.3)
    z = torch.randn([256, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(0))
    return G


def planted_labels(G: Generator, ws: torch.Tensor, *, num_classes: int = 3, seed: int = 0) -> list[np.ndarray]:
    """Labels that ARE a fixed function of the features: argmax of fixed random projections of
    b16.conv1 (resized bilinearly) and b32.conv1, centred so every class occurs. [N] x [H, W] uint8."""
    import torch.nn.functional as F

    from synthbio.segmentation.features import synthesize_with_features

    _, maps = synthesize_with_features(G, ws, layers=["b16.conv1", "b32.conv1"], seeds=list(range(len(ws))))
    res = G.img_resolution
    feats = torch.cat([F.interpolate(maps[0], size=(res, res), mode="bilinear", align_corners=False), maps[1]], 1)
    g = torch.Generator().manual_seed(seed)
    proj = torch.randn(num_classes, feats.shape[1], generator=g)
    scores = torch.einsum("kc,nchw->nkhw", proj, feats)
    scores = scores - scores.mean(dim=(0, 2, 3), keepdim=True)  # no class dominates
    return [s.argmax(0).numpy().astype(np.uint8) for s in scores]
