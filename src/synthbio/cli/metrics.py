"""`synthbio metrics ...`: distribution metrics of generated images (FD/FID, KID)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

metrics_app = typer.Typer(help="Quality metrics of generated images.", no_args_is_help=True)

_EXTRACTOR = typer.Option("--extractor", help="inception | fingerprint | fingerprint-minutiae.")


@metrics_app.command("fid")
def fid_command(
    real: Annotated[str, typer.Option("--real", help="Folder of real images (PNG/JPG, searched recursively).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Generator: registry name or checkpoint path.")] = None,  # noqa: UP007,E501
    fake: Annotated[Optional[str], typer.Option("--fake", help="Folder of generated images (instead of --model).")] = None,  # noqa: UP007,E501
    num: Annotated[int, typer.Option("--samples", help="Generated images (seeds 0..N-1).")] = 10000,
    extractor: Annotated[str, _EXTRACTOR] = "inception",
    inception_weights: Annotated[Optional[str], typer.Option("--inception-weights", help="pt_inception-2015-12-05-6726825d.pth file (default: registry entry fid-inception-v3).")] = None,  # noqa: UP007,E501
    fingerprint_size: Annotated[int, typer.Option("--fingerprint-size", help="Resize fingerprints to this side (0 = keep).")] = 0,  # noqa: E501
    truncation: Annotated[float, typer.Option("--truncation", "--trunc", help="Truncation psi (1 = none).")] = 1.0,
    class_idx: Annotated[Optional[int], typer.Option("--class-idx", help="Class of a conditional model.")] = None,  # noqa: UP007,E501
    noise_mode: Annotated[str, typer.Option("--noise-mode", help="random | const | none.")] = "random",
    branch: Annotated[Optional[str], typer.Option("--branch", help="Output of a multi-branch model (default: first).")] = None,  # noqa: UP007,E501
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 32,
    kid: Annotated[bool, typer.Option("--kid", help="Also compute KID (mean +- std over subsets).")] = False,
    kid_subsets: Annotated[int, typer.Option("--kid-subsets", help="KID: number of random subsets.")] = 100,
    kid_subset_size: Annotated[int, typer.Option("--kid-subset-size", help="KID: images per subset.")] = 1000,
    fd_method: Annotated[str, typer.Option("--fd-method", help="sqrtm (official) | eigh.")] = "sqrtm",
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")] = "auto",  # noqa: E501
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write cached real-set statistics.")] = False,  # noqa: E501
    cache_dir: Annotated[Optional[str], typer.Option("--cache-dir", help="Where real-set statistics are cached.")] = None,  # noqa: UP007,E501
    out: Annotated[Optional[str], typer.Option("--output", "-o", help="Also write the result as JSON to this file.")] = None,  # noqa: UP007,E501
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Fréchet distance (FID with --extractor inception) and optionally KID: real folder vs model or folder."""
    from pathlib import Path

    from synthbio.cli.output import note, result_json
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
        raise OutputDirError(f"--output {out!r} is a folder; give a file name for the JSON result")
    from synthbio.utils.progress import Progress

    tasks: dict[str, int] = {}
    with Progress() as bar:

        def on_batch(stage: str, n: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{stage} images", total=total)
            bar.advance(tasks[stage], n)

        result = compute_fid(config, on_batch=on_batch)
    if as_json:
        result_json(result.to_dict())
    label = "FID" if extractor == "inception" else "FD"
    cached = " (real statistics from cache)" if result.real_stats_cached else ""
    if not as_json:
        typer.echo(f"{label} ({result.extractor}, {result.num_real} real, {result.num_fake} generated): "
                   f"{result.fd:.4f}{cached}")
    if result.kid is not None and not as_json:
        typer.echo(f"KID: {result.kid.mean:.6f} +- {result.kid.std:.6f} "
                   f"({result.kid.num_subsets} subsets of {result.kid.subset_size})")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out, result.to_dict())
        note(f"result: {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
