"""`synthbio demo`: an end-to-end run on a small generator that synthbio builds itself.

The demo needs no download: it initialises a 64x64 two-branch (RGB + NIR)
StyleGAN2 generator from a fixed seed, saves it in synthbio's native format
under DIR/model, and runs `generate` on it (16 seeds, grid, manifest,
samples.h5). Its weights are untrained, so the images are smooth random
textures; the point is the files and their layout. Another generator (e.g. a
trained fingerprint model) can replace `build_demo_generator` without touching
the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from synthbio.nn.config import GeneratorConfig
from synthbio.nn.generator import Generator
from synthbio.pipelines.images.generate import GenerateConfig, GenerateResult, generate

DEMO_GENERATOR = GeneratorConfig(
    img_resolution=64, z_dim=64, w_dim=64, channel_base=1024, channel_max=64,
    mapping_layers=4, branches=(("rgb", 3), ("nir", 1)),
)
DEMO_WEIGHT_SEED = 2024
DEMO_W_AVG_SAMPLES = 1024  # enough for a stable mean w, cheap at w_dim 64


def build_demo_generator(
    config: GeneratorConfig = DEMO_GENERATOR, *, seed: int = DEMO_WEIGHT_SEED, noise_strength: float = 0.0
) -> Generator:
    """Random-weight generator, identical for the same `config` and `seed` on every machine.

    noise_strength: value of every layer's noise strength (an untrained layer
    starts at 0, which hides per-pixel noise and makes noise modes look alike).

    Weights are drawn inside `fork_rng`, so the caller's global random state is
    left as it was. w_avg is set to the mean mapping output of fixed latents,
    so truncation pulls towards the centre of this generator's W space.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator(config)
    G.eval().requires_grad_(False)
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.fill_(noise_strength)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn([DEMO_W_AVG_SAMPLES, G.z_dim], generator=g)
    # Conditional configs: spread the latents evenly over the classes.
    c = torch.eye(G.c_dim)[torch.arange(DEMO_W_AVG_SAMPLES) % G.c_dim] if G.c_dim else None
    with torch.no_grad():
        w = G.mapping(z, c)[:, 0]
        G.mapping.w_avg.copy_(w.mean(dim=0))
    return G


@dataclass(frozen=True)
class DemoResult:
    model_dir: Path
    generation: GenerateResult


def run_demo(
    outdir: str | os.PathLike[str],
    *,
    num_seeds: int = 16,
    truncation_psi: float = 0.7,
    device: str = "cpu",
    progress: bool = False,
) -> DemoResult:
    """Build and save the demo generator under outdir/model, then generate into outdir."""
    from synthbio.checkpoints import save_generator

    outdir = Path(outdir)
    model_dir = outdir / "model"
    outdir.mkdir(parents=True, exist_ok=True)
    save_generator(build_demo_generator(), model_dir)
    config = GenerateConfig(
        model=str(model_dir), outdir=str(outdir), seeds=tuple(range(num_seeds)),
        truncation_psi=truncation_psi, batch_size=8, device=device, grid=True,
    )
    return DemoResult(model_dir=model_dir, generation=generate(config, progress=progress))
