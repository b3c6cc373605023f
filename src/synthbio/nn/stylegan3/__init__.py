"""StyleGAN3 (alias-free, configs T and R) in plain PyTorch, without custom ops.

Module, parameter and buffer names follow the official NVlabs
`networks_stylegan3`, so its state dicts load key for key.
"""

from synthbio.nn.stylegan3.config import LayerSpec, StyleGAN3Config, layer_schedule
from synthbio.nn.stylegan3.filtered_lrelu import (
    filtered_lrelu,
    filtered_lrelu_reference,
)
from synthbio.nn.stylegan3.generator import StyleGAN3Generator, SynthesisNetwork
from synthbio.nn.stylegan3.layers import SynthesisInput, SynthesisLayer, input_transform

__all__ = [
    "LayerSpec",
    "StyleGAN3Config",
    "StyleGAN3Generator",
    "SynthesisInput",
    "SynthesisLayer",
    "SynthesisNetwork",
    "filtered_lrelu",
    "filtered_lrelu_reference",
    "input_transform",
    "layer_schedule",
]
