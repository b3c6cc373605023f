"""Images from a generator: `synthbio generate` (seeds), `synthbio mix` (style mixing), `synthbio demo`."""

from synthbio.pipelines.images.demo import DemoResult, build_demo_generator, run_demo
from synthbio.pipelines.images.generate import GenerateConfig, GenerateResult, generate, generate_with
from synthbio.pipelines.images.mix import MixConfig, MixResult, style_mix, style_mix_with

__all__ = [
    "DemoResult",
    "GenerateConfig",
    "GenerateResult",
    "MixConfig",
    "MixResult",
    "build_demo_generator",
    "generate",
    "generate_with",
    "run_demo",
    "style_mix",
    "style_mix_with",
]
