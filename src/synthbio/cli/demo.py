"""`synthbio demo`: a complete generation run on a small generator built on the spot."""

from __future__ import annotations

from typing import Annotated

import typer

from synthbio.cli.output import result


def demo_command(
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output folder.")] = "demo_out",
    samples: Annotated[int, typer.Option("--samples", help="How many samples (seeds 0..N-1) to generate.")] = 16,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")] = "auto",  # noqa: E501
) -> None:
    """Build a small two-branch (RGB + NIR) generator, save it, and generate a dataset with it."""
    from synthbio.errors import InputError
    from synthbio.pipelines.images.demo import run_demo

    if samples < 1:
        raise InputError(f"--samples must be >= 1, got {samples}")
    res = run_demo(outdir, num_seeds=samples, device=device, progress=True)
    gen = res.generation
    result("\n".join([
        f"demo generator (native format): {res.model_dir}",
        f"{len(gen.generated) + len(gen.kept)} samples (rgb/ and nir/ PNGs) in {gen.outdir}",
        *(f"grid: {g}" for g in gen.grids),
        f"manifest: {gen.manifest}",
        f"latents:  {gen.samples}",
        f"config:   {gen.config}",
    ]))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
