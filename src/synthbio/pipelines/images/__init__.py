"""Images from a generator: `synthbio generate` (seeds), `mix` (style mixing), `edit` (directions), `demo`."""

from synthbio.pipelines.images.demo import DemoResult, build_demo_generator, run_demo
from synthbio.pipelines.images.edit import EditConfig, EditResult, edit_with, run_edit
from synthbio.pipelines.images.generate import GenerateConfig, GenerateResult, generate, generate_with
from synthbio.pipelines.images.mix import MixConfig, MixResult, style_mix, style_mix_with

__all__ = [
    "DemoResult",
    "EditConfig",
    "EditResult",
    "GenerateConfig",
    "GenerateResult",
    "MixConfig",
    "MixResult",
    "build_demo_generator",
    "edit_with",
    "generate",
    "generate_with",
    "run_demo",
    "run_edit",
    "style_mix",
    "style_mix_with",
]
