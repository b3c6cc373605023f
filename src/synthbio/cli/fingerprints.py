"""`synthbio fingerprints generate | evaluate`: synthetic fingerprint datasets and their realism report."""

from __future__ import annotations

import json
import os
from typing import Annotated, Optional

import typer

fingerprints_app = typer.Typer(
    name="fingerprints",
    help="Synthetic fingerprint datasets (SFinGe-style) and their evaluation with NBIS / LEADER / NFIQ2.",
    no_args_is_help=True,
    add_completion=False,
)

_WORKERS = typer.Option("--workers", "-j", help="Worker processes (default: all cores). Never changes the output.")


def _default_workers(workers: int | None) -> int:
    return max(1, workers if workers is not None else (os.cpu_count() or 1))


@fingerprints_app.command("generate")
def generate_command(
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output directory.")],
    fingers: Annotated[int, typer.Option("--fingers", "-n", help="Number of fingers.")],
    impressions: Annotated[int, typer.Option("--impressions", "-m", help="Impressions per finger.")] = 4,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Dataset seed.")] = 0,
    workers: Annotated[Optional[int], _WORKERS] = None,  # noqa: UP007
    fp_class: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option("--class", help="arch | tented_arch | left_loop | right_loop | whorl (default: natural mix)."),
    ] = None,
    width: Annotated[int, typer.Option("--width", help="Sensor width in pixels (500 dpi).")] = 416,
    height: Annotated[int, typer.Option("--height", help="Sensor height in pixels (500 dpi).")] = 560,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")] = False,
) -> None:
    """Write DIR/<finger>/<impression>.png with .iso/.xyt/.json ground truth, manifest.jsonl, config.json. Resumable."""
    from rich.console import Console

    from synthbio.pipelines.fingerprint_dataset import FingerprintDatasetConfig, describe, generate_dataset

    config = FingerprintDatasetConfig(
        outdir=outdir, fingers=fingers, impressions=impressions, seed=seed, fp_class=fp_class,
        width=width, height=height, workers=_default_workers(workers),
    )
    if dry_run:
        typer.echo(json.dumps(describe(config), indent=2))
        return
    console = Console(stderr=True)
    result = generate_dataset(config, progress=console.is_terminal)
    console.print(
        f"{len(result.generated)} fingers generated, {len(result.kept)} already done, in {result.outdir}\n"
        f"manifest: {result.manifest}",
        highlight=False,
    )


@fingerprints_app.command("evaluate")
def evaluate_command(
    dataset: Annotated[str, typer.Argument(help="A directory made by `synthbio fingerprints generate`.")],
    workers: Annotated[Optional[int], _WORKERS] = None,  # noqa: UP007
    extractors: Annotated[
        str, typer.Option("--extractors", help="Comma-separated minutiae extractors: leader, mindtct.")
    ] = "leader,mindtct",
    outdir: Annotated[
        Optional[str], typer.Option("--outdir", "-o", help="Report directory (default: DATASET/report).")  # noqa: UP007
    ] = None,
) -> None:
    """NFIQ2, minutiae precision/recall, Bozorth3 EER/FMR100/FMR1000 and DET: DATASET/report/index.html."""
    from rich.console import Console

    from synthbio.pipelines.fingerprint_report import FingerprintReportConfig, evaluate_dataset

    config = FingerprintReportConfig(
        dataset=dataset,
        outdir=outdir,
        extractors=tuple(e.strip() for e in extractors.split(",") if e.strip()),
        workers=_default_workers(workers),
    )
    console = Console(stderr=True)
    report = evaluate_dataset(config, progress=console.is_terminal)
    console.print(report.summary_text(), highlight=False)
    console.print(f"report: {report.html}\nmetrics: {report.metrics_json}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(fingerprints_app, name="fingerprints")
