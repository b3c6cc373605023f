"""`synthbio metrics ...`: distribution metrics of generated images (FD/FID, KID)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

metrics_app = typer.Typer(help="Quality metrics of generated images.", no_args_is_help=True)

_EXTRACTOR = typer.Option("--extractor", help="inception | fingerprint | fingerprint-minutiae.")


@metrics_app.command("fid")
def fid_command(
    real: Annotated[str, typer.Option("--real", help="Folder of real images (PNG/JPG, searched recursively).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Registry name or checkpoint path.")] = None,  # noqa: UP007,E501
    fake: Annotated[Optional[str], typer.Option("--fake", help="Folder of generated images (instead of --model).")] = None,  # noqa: UP007,E501
    num: Annotated[int, typer.Option("--num", help="Generated images (seeds 0..num-1).")] = 10000,
    extractor: Annotated[str, _EXTRACTOR] = "inception",
    inception_weights: Annotated[Optional[str], typer.Option("--inception-weights", help="pt_inception-2015-12-05-6726825d.pth file (default: registry entry fid-inception-v3).")] = None,  # noqa: UP007,E501
    fingerprint_size: Annotated[int, typer.Option("--fingerprint-size", help="Resize fingerprints to this side (0 = keep).")] = 0,  # noqa: E501
    truncation: Annotated[float, typer.Option("--truncation", "--trunc", help="Truncation psi (1 = none).")] = 1.0,
    class_idx: Annotated[Optional[int], typer.Option("--class-idx", "--class", help="Class of a conditional model.")] = None,  # noqa: UP007,E501
    noise_mode: Annotated[str, typer.Option("--noise-mode", help="random | const | none.")] = "random",
    branch: Annotated[Optional[str], typer.Option("--branch", help="Output of a multi-branch model (default: first).")] = None,  # noqa: UP007,E501
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 32,
    kid: Annotated[bool, typer.Option("--kid", help="Also compute KID (mean +- std over subsets).")] = False,
    kid_subsets: Annotated[int, typer.Option("--kid-subsets")] = 100,
    kid_subset_size: Annotated[int, typer.Option("--kid-subset-size")] = 1000,
    fd_method: Annotated[str, typer.Option("--fd-method", help="sqrtm (official) | eigh.")] = "sqrtm",
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "auto",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write cached real-set statistics.")] = False,  # noqa: E501
    cache_dir: Annotated[Optional[str], typer.Option("--cache-dir", help="Where real-set statistics are cached.")] = None,  # noqa: UP007,E501
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="Write the result as JSON to this file.")] = None,  # noqa: UP007,E501
) -> None:
    """Fréchet distance (FID with --extractor inception) and optionally KID: real folder vs model or folder."""
    from pathlib import Path

    from rich.console import Console

    from synthbio.errors import OutputDirError
    from synthbio.metrics.fid import FidConfig, compute_fid
    from synthbio.utils.hashing import atomic_write_json

    config = FidConfig(
        real=real, model=model, fake=fake, num=num, extractor=extractor, inception_weights=inception_weights,
        fingerprint_size=fingerprint_size, truncation_psi=truncation, class_idx=class_idx, noise_mode=noise_mode,
        branch=branch, batch_size=batch_size, kid=kid, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
        fd_method=fd_method, device=device, cache=not no_cache, cache_dir=cache_dir,
    )
    if out is not None and Path(out).is_dir():
        raise OutputDirError(f"--out {out!r} is a folder; give a file name for the JSON result")
    console = Console(stderr=True)
    done = {"real": 0, "fake": 0}

    def on_batch(stage: str, n: int, total: int) -> None:
        done[stage] += n
        if console.is_terminal:
            console.print(f"{stage}: {done[stage]}/{total} images", end="\r", highlight=False)

    result = compute_fid(config, on_batch=on_batch)
    label = "FID" if extractor == "inception" else "FD"
    cached = " (real statistics from cache)" if result.real_stats_cached else ""
    typer.echo(f"{label} ({result.extractor}, {result.num_real} real, {result.num_fake} generated): "
               f"{result.fd:.4f}{cached}")
    if result.kid is not None:
        typer.echo(f"KID: {result.kid.mean:.6f} +- {result.kid.std:.6f} "
                   f"({result.kid.num_subsets} subsets of {result.kid.subset_size})")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out, result.to_dict())
        console.print(f"result: {out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
