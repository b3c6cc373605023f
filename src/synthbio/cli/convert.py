"""`synthbio convert`: any supported checkpoint -> native model folder."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from synthbio.cli.output import result
from synthbio.errors import InputError


def convert(
    src: Annotated[str, typer.Argument(metavar="IN", help="Native folder, official .pkl, rosinality .pt or model name.")],
    legacy_out: Annotated[Optional[str], typer.Argument(metavar="[OUT_DIR]", hidden=True,  # noqa: UP007
                                                        help="Old spelling of --outdir.")] = None,
    outdir: Annotated[Optional[str], typer.Option("--outdir", "-o", help="Folder to write (model.safetensors + config.json).")] = None,  # noqa: UP007,E501
    which: Annotated[str, typer.Option("--which", help="Network to convert: G_ema, G or D.")] = "G_ema",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing, non-empty --outdir.")] = False,
) -> None:
    """Convert a checkpoint to synthbio's native format, recording its provenance."""
    from synthbio.checkpoints import convert_checkpoint

    if which not in ("G_ema", "G", "D"):
        raise InputError(f"--which must be one of G_ema, G, D; got {which!r}")
    if outdir is not None and legacy_out is not None and outdir != legacy_out:
        raise InputError(f"two output folders given ({legacy_out!r} and --outdir {outdir!r}): give --outdir only")
    target = outdir or legacy_out
    if target is None:
        raise InputError("no output folder: give -o/--outdir DIR")
    out = convert_checkpoint(src, target, which=which, force=overwrite)
    result(f"wrote {which} of {src} to {out}")


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
