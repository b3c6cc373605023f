"""Generator architectures by name, so a native checkpoint can say which one it holds.

Every generator here has the same surface (`mapping`, `synthesis`, `z_dim`,
`c_dim`, `w_dim`, `num_ws`, `img_resolution`, `img_channels`,
`branch_names`, `config` with `to_dict()`), and `config.json` records
`architecture` beside the config.
"""

from __future__ import annotations

from typing import Any

import torch

from synthbio.errors import InputError
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.eg3d import EG3DConfig, EG3DGenerator
from synthbio.nn.generator import Generator
from synthbio.nn.stylegan3 import StyleGAN3Config, StyleGAN3Generator

#: Any synthbio generator.
AnyGenerator = Generator | StyleGAN3Generator | EG3DGenerator

#: architecture name -> (config class, module class)
ARCHITECTURES: dict[str, tuple[type, type]] = {
    "stylegan2": (GeneratorConfig, Generator),
    "stylegan3": (StyleGAN3Config, StyleGAN3Generator),
    "eg3d": (EG3DConfig, EG3DGenerator),
}


def architecture_of(G: torch.nn.Module) -> str:
    """The registered name of a generator's architecture; InputError for anything else."""
    for name, (_, cls) in ARCHITECTURES.items():
        if type(G) is cls:
            return name
    raise InputError(f"{type(G).__name__} is not a synthbio generator ({', '.join(ARCHITECTURES)})")


def build_generator(architecture: str, config: dict[str, Any]) -> torch.nn.Module:
    """A fresh generator of `architecture` from its config dict (as saved in config.json)."""
    if architecture not in ARCHITECTURES:
        raise InputError(f"unknown generator architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})")
    config_cls, module_cls = ARCHITECTURES[architecture]
    return module_cls(config_cls.from_dict(config))


def is_generator(G: object) -> bool:
    return any(type(G) is cls for _, cls in ARCHITECTURES.values())
