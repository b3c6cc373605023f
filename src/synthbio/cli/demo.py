"""`synthbio demo`: a complete generation run on a small generator built on the spot."""

from __future__ import annotations

from typing import Annotated

import typer


def demo_command(
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output directory.")] = "demo_out",
    num_seeds: Annotated[int, typer.Option("--num-seeds", help="How many samples to generate.")] = 16,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "cpu",
) -> None:
    """Build a small two-branch (RGB + NIR) generator, save it, and generate a dataset with it."""
    from rich.console import Console

    from synthbio.pipelines.images.demo import run_demo

    console = Console(stderr=True)
    result = run_demo(outdir, num_seeds=num_seeds, device=device, progress=console.is_terminal)
    gen = result.generation
    lines = [
        f"demo generator (native format): {result.model_dir}",
        f"{len(gen.generated) + len(gen.kept)} samples (rgb/ and nir/ PNGs) in {gen.outdir}",
        *(f"grid: {g}" for g in gen.grids),
        f"manifest: {gen.manifest}",
        f"latents:  {gen.samples}",
        f"config:   {gen.config}",
    ]
    console.print("\n".join(lines), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
