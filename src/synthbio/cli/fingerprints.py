"""`synthbio fingerprints generate | evaluate | reconstruct | attack`: datasets, realism, template inversion."""

from __future__ import annotations

import json
import os
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import DbRootOption, GroupOption, ProtocolOption, WhereOption

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
    sensor: Annotated[str, typer.Option(
        "--sensor", help="optical | capacitive | ink | latent, a comma list of them, or mixed (all four); with "
                         "several, each impression's sensor is drawn from them.")] = "optical",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")] = False,
) -> None:
    """Write DIR/<finger>/<impression>.png with .iso/.xyt/.json ground truth, manifest.jsonl, config.json. Resumable."""
    from rich.console import Console

    from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, describe, generate_dataset

    config = FingerprintDatasetConfig(
        outdir=outdir, fingers=fingers, impressions=impressions, seed=seed, fp_class=fp_class,
        width=width, height=height, sensor=sensor, workers=_default_workers(workers),
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
    dataset: Annotated[str, typer.Argument(help="A directory made by `synthbio fingerprints generate`, or a "
                                           "database index of real prints (`synthbio db build fvc`).")],
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    db_root: DbRootOption = None,
    workers: Annotated[Optional[int], _WORKERS] = None,  # noqa: UP007
    extractors: Annotated[
        str, typer.Option("--extractors", help="Comma-separated minutiae extractors: leader, mindtct.")
    ] = "leader,mindtct",
    outdir: Annotated[
        Optional[str], typer.Option("--outdir", "-o", help="Report directory (default: DATASET/report; INDEX_report).")  # noqa: UP007,E501
    ] = None,
) -> None:
    """NFIQ2, minutiae precision/recall, Bozorth3 EER/FMR100/FMR1000 and DET: DATASET/report/index.html."""
    from rich.console import Console

    from synthbio.pipelines.fingerprints.evaluate import FingerprintReportConfig, evaluate_dataset

    config = FingerprintReportConfig(
        dataset=dataset,
        outdir=outdir,
        protocol=protocol,
        group=group,
        where=tuple(where or ()),
        db_root=db_root,
        extractors=tuple(e.strip() for e in extractors.split(",") if e.strip()),
        workers=_default_workers(workers),
    )
    console = Console(stderr=True)
    report = evaluate_dataset(config, progress=console.is_terminal)
    console.print(report.summary_text(), highlight=False)
    console.print(f"report: {report.html}\nmetrics: {report.metrics_json}", highlight=False)


_METHOD = typer.Option("--method", help="gabor (ridges grown from the minutiae, no model) | encoder (GAN via the "
                       "minutiae encoder).")
_ENCODER = typer.Option("--encoder", help="Minutiae encoder (--method encoder): a folder or a registry name.")
_MODEL = typer.Option("--model", help="Generator (default: the one the encoder's config.json names).")
_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps.")
_BATCH = typer.Option("--batch-size", help="Templates per encoder/generator pass.")


@fingerprints_app.command("reconstruct")
def reconstruct_command(
    template: Annotated[str, typer.Argument(help="A template (ISO 19794-2, ANSI 378, .xyt, JSON) or a folder.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output PNG, or a folder (required for a folder input).")],
    method: Annotated[str, _METHOD] = "gabor",
    encoder: Annotated[str, _ENCODER] = "fingerprint-minutiae-encoder",
    model: Annotated[Optional[str], _MODEL] = None,  # noqa: UP007
    device: Annotated[str, _DEVICE] = "auto",
    dpi_out: Annotated[
        Optional[int], typer.Option("--dpi-out", help="PNG dpi (default: the template's, usually 500).")  # noqa: UP007
    ] = None,
    xyt_width: Annotated[int, typer.Option("--xyt-width", help="Image width for .xyt files (they store none).")] = 0,
    xyt_height: Annotated[int, typer.Option("--xyt-height", help="Image height for .xyt files (NIST needs it).")] = 0,
    batch_size: Annotated[int, _BATCH] = 16,
    impressions: Annotated[int, typer.Option("--impressions", help="N > 0: N mated impressions per template "
                                             "(gabor), in a folder per template, with ground-truth JSON.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the mated impressions.")] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")] = False,
) -> None:
    """Draw fingerprints from minutiae templates, at the template's size and dpi (minutiae line up)."""
    from rich.console import Console

    from synthbio.pipelines.fingerprints.reconstruct import ReconstructConfig, describe, reconstruct_files

    config = ReconstructConfig(template=template, out=out, method=method, encoder=encoder, model=model, device=device,
                               dpi_out=dpi_out, xyt_width=xyt_width, xyt_height=xyt_height, batch_size=batch_size,
                               impressions=impressions, seed=seed)
    if dry_run:
        typer.echo(json.dumps(describe(config), indent=2))
        return
    console = Console(stderr=True)
    result = reconstruct_files(config, progress=console.is_terminal)
    extra = f" ({len(result.skipped)} other formats of the same templates skipped)" if result.skipped else ""
    where = result.written[0] if len(result.written) == 1 else out
    if impressions:
        folders = sorted({str(p.parent) for p in result.written})
        place = folders[0] if len(folders) == 1 else f"{len(folders)} folders under {out}"
        console.print(f"{len(result.written)} mated impressions ({impressions} per template) written to {place}"
                      f"{extra}", highlight=False)
        return
    how = (f"encoder: {result.encoder}, generator: {result.generator}" if result.method == "encoder"
           else "method: gabor (ridges grown from the minutiae)")
    console.print(f"{len(result.written)} reconstructions written to {where}{extra}\n{how}", highlight=False)


@fingerprints_app.command("attack")
def attack_command(
    dataset: Annotated[str, typer.Argument(help="A directory made by `synthbio fingerprints generate`.")],
    method: Annotated[str, _METHOD] = "gabor",
    encoder: Annotated[str, _ENCODER] = "fingerprint-minutiae-encoder",
    model: Annotated[Optional[str], _MODEL] = None,  # noqa: UP007
    fingers: Annotated[
        Optional[str], typer.Option("--fingers", help="Attacked finger ids a:b (a <= f < b).")  # noqa: UP007
    ] = None,
    exclude_training: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option("--exclude-training", help="Encoder whose config.json lists its training fingers: skip those."),
    ] = None,
    template_source: Annotated[
        str, typer.Option("--template-source", help="groundtruth (dataset JSON) | mindtct (from the real image).")
    ] = "groundtruth",
    impostors: Annotated[
        str, typer.Option("--impostors", help="fvc (first impressions) | all (every impression pair).")
    ] = "fvc",
    baseline: Annotated[
        str, typer.Option("--baseline", help="Real genuine/impostor scores over: attacked | all (every finger).")
    ] = "attacked",
    outdir: Annotated[
        Optional[str], typer.Option("--outdir", "-o", help="Report folder (default: DATASET/attack).")  # noqa: UP007
    ] = None,
    device: Annotated[str, _DEVICE] = "auto",
    batch_size: Annotated[int, _BATCH] = 16,
    examples: Annotated[int, typer.Option("--examples", help="Example triples in the report.")] = 6,
    workers: Annotated[Optional[int], _WORKERS] = None,  # noqa: UP007
) -> None:
    """Template-inversion audit: type-I / type-II success at FMR 0.1% / 0.01% (MINDTCT + Bozorth3). Resumable."""
    from rich.console import Console

    from synthbio.pipelines.fingerprints.attack import FingerprintAttackConfig, run_attack

    config = FingerprintAttackConfig(
        dataset=dataset, method=method, encoder=encoder, model=model, outdir=outdir, fingers=fingers,
        exclude_training=exclude_training, template_source=template_source, impostors=impostors, baseline=baseline,
        device=device, batch_size=batch_size, examples=examples, workers=_default_workers(workers),
    )
    console = Console(stderr=True)
    report = run_attack(config, progress=console.is_terminal)
    console.print(report.summary_text(), highlight=False)
    console.print(f"report: {report.html}\nresults: {report.results_json}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(fingerprints_app, name="fingerprints")
