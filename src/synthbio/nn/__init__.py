"""Networks of the StyleGAN2 family in plain PyTorch (no custom ops).

Module and parameter names follow the official NVlabs StyleGAN2-ADA code, so
its state dicts load with `load_state_dict(strict=True)`.
"""

from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator
from synthbio.nn.mapping import MappingNetwork
from synthbio.nn.synthesis import SynthesisNetwork

__all__ = [
    "Discriminator",
    "DiscriminatorConfig",
    "Generator",
    "GeneratorConfig",
    "MappingNetwork",
    "SynthesisNetwork",
]
