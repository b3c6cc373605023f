"""Tiny translator configurations and image folders for the translation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image

from synthbio.translation.config import TranslatorConfig

# 8 channels, one residual block, 2-scale D of 2 layers: trains a step in ~0.1 s on one core.
TINY_NET = {"dim": 8, "style_dim": 4, "n_res": 1, "mlp_dim": 16, "d_dim": 8, "d_layers": 2, "d_scales": 2}


def tiny_config(**overrides: object) -> TranslatorConfig:
    return TranslatorConfig(**{**TINY_NET, **overrides})  # type: ignore[arg-type]


def tiny_train_kwargs() -> dict[str, object]:
    """TranslationTrainConfig keyword arguments for a tiny network."""
    return {k: v for k, v in TINY_NET.items()}


def write_folder(folder: Path, count: int, *, size: tuple[int, int] = (40, 36), channels: int = 1,
                 seed: int = 0, pattern: str = "noise") -> Path:
    """`count` PNGs (H x W = size) of noise, or of stripes whose phase differs per image."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    for i in range(count):
        if pattern == "stripes":
            yy, xx = np.mgrid[0:h, 0:w]
            a = (127.5 + 100 * np.sin(2 * np.pi * (xx + 2 * yy + 3 * i) / 7)).astype(np.uint8)
        else:
            a = rng.integers(0, 256, (h, w), dtype=np.uint8)
        if channels == 3:
            a = np.stack([a, a[::-1], 255 - a], axis=-1)
        PIL.Image.fromarray(np.ascontiguousarray(a)).save(folder / f"img{i:02d}.png")
    return folder
