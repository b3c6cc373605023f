"""`synthbio convert`: any supported checkpoint -> native model folder."""

from __future__ import annotations

from pathlib import Path

import typer

from synthbio.errors import InputError


def convert(
    src: str = typer.Argument(..., metavar="IN", help="native folder, official .pkl, rosinality .pt or model name"),
    out_dir: Path = typer.Argument(..., metavar="OUT_DIR", help="folder to write (model.safetensors + config.json)"),
    which: str = typer.Option("G_ema", "--which", help="network to convert: G_ema, G or D"),
    force: bool = typer.Option(False, "--force", help="replace an existing, non-empty OUT_DIR"),
) -> None:
    """Convert a checkpoint to synthbio's native format, recording its provenance."""
    from rich.console import Console

    from synthbio.checkpoints import convert_checkpoint

    if which not in ("G_ema", "G", "D"):
        raise InputError(f"--which must be one of G_ema, G, D; got {which!r}")
    out = convert_checkpoint(src, out_dir, which=which, force=force)
    Console().print(f"wrote {which} of {src} to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
