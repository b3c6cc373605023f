"""The tiny generator the projector tests share."""

from __future__ import annotations

import pytest

from synthbio.nn.config import GeneratorConfig
from synthbio.nn.generator import Generator
from synthbio.pipelines.images.demo import build_demo_generator

TINY_PROJECTION_G = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16,
                                    mapping_layers=2)


@pytest.fixture(scope="module")
def G() -> Generator:
    """A 16 px random generator with non-zero noise strengths (so noise optimisation matters)."""
    return build_demo_generator(TINY_PROJECTION_G, noise_strength=0.1)
