"""A tiny grayscale generator folder shared by the encoder tests (training and CLI)."""

from __future__ import annotations

from pathlib import Path

import torch

from synthbio.checkpoints.native import save_generator
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.generator import Generator


def tiny_generator(path: Path, *, channels: int = 1, seed: int = 0) -> Path:
    """16x16 generator (num_ws 6, w_dim 8) saved as a native folder at `path`."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(z_dim=8, w_dim=8, img_resolution=16, channel_base=128, channel_max=16, mapping_layers=2,
                          branches=(("img", channels),))
    G = Generator(cfg).eval()
    with torch.no_grad():  # a non-trivial w_avg, as a trained generator has
        G.mapping.w_avg.copy_(torch.linspace(-0.5, 0.5, 8))
    save_generator(G, path)
    return path
