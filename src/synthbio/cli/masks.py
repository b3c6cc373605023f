"""`synthbio masks export | train | generate | merge | evaluate`: semantic masks from a few annotations."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from synthbio.cli.output import json_safe, note, result, result_json

masks_app = typer.Typer(
    name="masks",
    help="Semantic masks for synthetic images from a few annotations (DatasetGAN-style pixel classifier).",
    no_args_is_help=True,
    add_completion=False,
)

_MODEL = typer.Option("--model", "-m", help="Generator: registry name or checkpoint path.")
_OUTDIR = typer.Option("--outdir", "-o", help="Output directory.")
_SEEDS = typer.Option("--seeds", help="Seeds, e.g. '0-7' or '100-1099'.")
_TRUNC = typer.Option("--truncation", "--trunc", help="Truncation psi.")
_CLASS = typer.Option("--class-idx", help="Class index of a conditional generator.")
_NOISE = typer.Option("--noise-mode", help="const | random | none.")
_BATCH = typer.Option("--batch-size", help="Samples per forward pass (never changes a sample).")
_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")
_DRY = typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")
_JSON = typer.Option("--json", help="Print the result as JSON on stdout.")
_ANN_DIR = typer.Option("--annotations", help="Folder of the painted seedNNNN_annotation files (default: the export folder).")  # noqa: E501
_TOL = typer.Option("--colour-tolerance", help="Accept colours up to this many levels per channel off a class colour.")
_VOTE = typer.Option("--vote", help="mean (argmax of the mean probability) | majority (the reference's vote).")


def _log(message: str) -> None:
    note(message)


def _emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    """The result on stdout: JSON with --json, else plain lines."""
    if as_json:
        result_json(json_safe(data))  # strict JSON: an infinite threshold (nothing dropped) is null
    else:
        result(text)


@masks_app.command("export")
def export_command(
    model: Annotated[str, _MODEL],
    seeds: Annotated[str, _SEEDS],
    outdir: Annotated[str, _OUTDIR],
    classes: Annotated[str, typer.Option("--classes", help="classes.json, a default set (fingerprint, eye) or names 'background,skin,hair'.")],  # noqa: E501
    truncation: Annotated[float, _TRUNC] = 0.7,
    truncation_cutoff: Annotated[Optional[int], typer.Option("--truncation-cutoff", help="Truncate only the first N ws.")] = None,  # noqa: UP007,E501
    class_idx: Annotated[Optional[int], _CLASS] = None,  # noqa: UP007
    noise_mode: Annotated[str, _NOISE] = "const",
    batch_size: Annotated[int, _BATCH] = 8,
    device: Annotated[str, _DEVICE] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another export in --outdir (never painted annotations).")] = False,  # noqa: E501
    dry_run: Annotated[bool, _DRY] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Samples to annotate: every branch's image, their ws and a blank annotation file each (see OUTDIR/README.txt)."""
    from synthbio.pipelines.masks.export import ExportConfig, describe, export_annotations
    from synthbio.segmentation.classes import resolve_classes
    from synthbio.utils.seeds import parse_seeds

    config = ExportConfig(model=model, outdir=outdir, seeds=tuple(parse_seeds(seeds)), classes=resolve_classes(classes),
                          truncation_psi=truncation, truncation_cutoff=truncation_cutoff, class_idx=class_idx,
                          noise_mode=noise_mode, batch_size=batch_size, device=device, overwrite=overwrite)
    if dry_run:
        typer.echo(json.dumps(describe(config), indent=2))
        return
    r = export_annotations(config, progress=True)
    _log(f"paint the seedNNNN_annotation.png files (see {r.outdir / 'README.txt'}), "
         f"then: synthbio masks train {r.outdir} --outdir CLASSIFIER")
    _emit(as_json, {"outdir": str(r.outdir), "exported": r.exported, "kept": r.kept, "painted": r.painted,
                    "annotations": [str(p) for p in r.annotations]},
          f"{len(r.exported)} samples exported, {len(r.kept)} already there, {len(r.painted)} annotated, in {r.outdir}")


@masks_app.command("train")
def train_command(
    annotations: Annotated[str, typer.Argument(help="A folder made by `synthbio masks export`, with painted annotations.")],  # noqa: E501
    outdir: Annotated[str, _OUTDIR],
    annotation_dir: Annotated[Optional[str], _ANN_DIR] = None,  # noqa: UP007
    classes: Annotated[Optional[str], typer.Option("--classes", help="A classes.json to use instead of the folder's.")] = None,  # noqa: UP007,E501
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The generator, if it moved since the export (same weights).")] = None,  # noqa: UP007,E501
    layers: Annotated[Optional[str], typer.Option("--layers", help="Feature layers, names or globs: 'b64.*,b128.conv1' (default: all).")] = None,  # noqa: UP007,E501
    members: Annotated[int, typer.Option("--members", help="MLPs in the ensemble.")] = 10,
    rank: Annotated[int, typer.Option("--rank", help="Rank of each member's first layer (0 = full, the reference).")] = 0,  # noqa: E501
    pixels_per_image: Annotated[int, typer.Option("--pixels-per-image", help="Sampled pixels per annotated image (0 = all).")] = 16384,  # noqa: E501
    class_balance: Annotated[float, typer.Option("--class-balance", help="Share of each image's pixels spread evenly over its classes.")] = 0.5,  # noqa: E501
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pixels per training step.")] = 1024,
    epochs: Annotated[int, typer.Option("--epochs", help="At most this many passes over the sampled pixels.")] = 30,
    patience: Annotated[int, typer.Option("--patience", help="Stop a member after this many epochs without a better held-out loss.")] = 3,  # noqa: E501
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-3,
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Stop training after this long (best weights kept).")] = None,  # noqa: UP007,E501
    holdout: Annotated[int, typer.Option("--holdout", help="Keep the last N annotated samples out of training and score on them.")] = 0,  # noqa: E501
    folds: Annotated[int, typer.Option("--folds", help="K-fold cross-validation over the annotated samples (0 = none).")] = 0,  # noqa: E501
    tolerance: Annotated[int, _TOL] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of pixel sampling and initialisation.")] = 0,
    device: Annotated[str, _DEVICE] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a classifier already in --outdir.")] = False,
    dry_run: Annotated[bool, _DRY] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Train the pixel classifier (ensemble of MLPs on the generator's features) from painted annotations."""
    from synthbio.pipelines.masks.train import MasksTrainConfig, describe, train_masks
    from synthbio.segmentation.training import FitConfig

    fit = FitConfig(layers=tuple(x.strip() for x in layers.split(",") if x.strip()) if layers else (),
                    members=members, rank=rank, pixels_per_image=pixels_per_image, class_balance=class_balance,
                    batch_size=batch_size, learning_rate=lr, max_epochs=epochs, patience=patience,
                    max_minutes=max_minutes, seed=seed)
    config = MasksTrainConfig(annotations=annotations, outdir=outdir, fit=fit, annotation_dir=annotation_dir,
                              classes=classes, model=model, holdout=holdout, folds=folds, tolerance=tolerance,
                              device=device, overwrite=overwrite)
    if dry_run:
        typer.echo(json.dumps(describe(config), indent=2))
        return
    result = train_masks(config, log=_log)
    rep = result.report
    lines = [f"classifier: {result.classifier} (trained on {len(result.annotated)} annotated samples; "
             f"{len(result.not_annotated)} exported samples not annotated)",
             f"training: {rep['fit']['epochs']} epochs, {rep['fit']['pixels_train']} pixels x "
             f"{rep['fit']['in_features']} features, {rep['seconds']:.0f} s, peak RAM {rep['peak_rss_mib']:.0f} MiB"]
    if result.validation:
        v = result.validation
        per = ", ".join(f"{k} {'n/a' if x is None else f'{x:.3f}'}" for k, x in v["iou"].items())
        lines.append(f"{v['method']}: mIoU {v['miou']:.3f} ({per})" if v["miou"] is not None else v["method"])
    _emit(as_json, {"classifier": str(result.classifier), **rep}, "\n".join(lines))


@masks_app.command("generate")
def generate_command(
    classifier: Annotated[str, typer.Argument(help="A folder made by `synthbio masks train`.")],
    seeds: Annotated[str, _SEEDS],
    outdir: Annotated[str, _OUTDIR],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Generator (default: the classifier's).")] = None,  # noqa: UP007,E501
    truncation: Annotated[Optional[float], typer.Option("--truncation", "--trunc", help="Truncation psi (default: as annotated).")] = None,  # noqa: UP007,E501
    truncation_cutoff: Annotated[Optional[int], typer.Option("--truncation-cutoff", help="Truncate only the first N ws (default: as annotated).")] = None,  # noqa: UP007,E501
    class_idx: Annotated[Optional[int], _CLASS] = None,  # noqa: UP007
    noise_mode: Annotated[Optional[str], typer.Option("--noise-mode", help="const | random | none (default: as annotated).")] = None,  # noqa: UP007,E501
    vote: Annotated[str, _VOTE] = "mean",
    drop_uncertain: Annotated[float, typer.Option("--drop-uncertain", help="Move this share of the most uncertain samples to OUTDIR/dropped/.")] = 0.0,  # noqa: E501
    shard: Annotated[str, typer.Option("--shard", help="K/N: make seeds[K::N] only (join with `masks merge`).")] = "0/1",  # noqa: E501
    backend: Annotated[str, typer.Option("--backend", help="local | ray.")] = "local",
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster (default: a local instance).")] = None,  # noqa: UP007,E501
    ray_shards: Annotated[int, typer.Option("--ray-shards", help="Ray tasks (shards) to split the run into.")] = 2,
    batch_size: Annotated[int, _BATCH] = 8,
    device: Annotated[str, _DEVICE] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another run's results in --outdir.")] = False,
    dry_run: Annotated[bool, _DRY] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Images and masks (index PNG + colour preview) from new seeds, with uncertainty. Resumable, shardable."""
    from synthbio.pipelines.masks.generate import describe, generate_masks
    from synthbio.pipelines.masks.run import MasksGenerateConfig
    from synthbio.utils.seeds import parse_seeds

    config = MasksGenerateConfig(classifier=classifier, outdir=outdir, seeds=tuple(parse_seeds(seeds)), model=model,
                                 truncation_psi=truncation, truncation_cutoff=truncation_cutoff, class_idx=class_idx,
                                 noise_mode=noise_mode, vote=vote,
                                 drop_fraction=drop_uncertain, shard=shard, backend=backend, ray_address=ray_address,
                                 ray_shards=ray_shards, batch_size=batch_size, device=device, overwrite=overwrite)
    if dry_run:
        typer.echo(json.dumps(describe(config), indent=2))
        return
    r = generate_masks(config, log=_log, progress=True)
    text = f"{len(r.generated)} samples generated, {len(r.kept)} already done, in {r.outdir}"
    if r.dropped:
        text += f"\n{len(r.dropped)} most uncertain moved to {r.outdir / 'dropped'}"
    _emit(as_json, {"outdir": str(r.outdir), "generated": r.generated, "kept": r.kept, "redone": r.redone,
                    "dropped": r.dropped, "threshold": r.threshold}, text)


@masks_app.command("merge")
def merge_command(
    shards: Annotated[list[str], typer.Argument(help="Every shard folder of one `masks generate` run.")],
    outdir: Annotated[str, _OUTDIR],
    drop_uncertain: Annotated[Optional[float], typer.Option("--drop-uncertain", help="Share of the most uncertain samples to drop (default: the run's).")] = None,  # noqa: UP007,E501
    device: Annotated[str, _DEVICE] = "auto",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Join complete shards into one folder, then drop the most uncertain samples over the whole run."""
    from synthbio.pipelines.masks.merge import merge_mask_shards

    r = merge_mask_shards(shards, outdir, drop_fraction=drop_uncertain, device=device)
    _emit(as_json, {"outdir": str(r.outdir), "shards": list(shards), "kept": r.kept, "dropped": r.dropped,
                    "threshold": r.threshold},
          f"merged {len(shards)} shards: {len(r.kept)} samples in {r.outdir}, {len(r.dropped)} dropped as uncertain")


@masks_app.command("evaluate")
def evaluate_command(
    classifier: Annotated[str, typer.Argument(help="A folder made by `synthbio masks train`.")],
    annotations: Annotated[str, typer.Argument(help="A `masks export` folder with annotations the classifier never saw.")],  # noqa: E501
    outdir: Annotated[Optional[str], typer.Option("--outdir", "-o", help="Report folder (default: ANNOTATIONS_report).")] = None,  # noqa: UP007,E501
    annotation_dir: Annotated[Optional[str], _ANN_DIR] = None,  # noqa: UP007
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="The generator, if it moved (same weights).")] = None,  # noqa: UP007,E501
    tolerance: Annotated[int, _TOL] = 0,
    vote: Annotated[str, _VOTE] = "mean",
    device: Annotated[str, _DEVICE] = "auto",
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """mIoU and per-class IoU against held-out annotations; overlays, confusion matrix: REPORT/index.html."""
    from synthbio.pipelines.masks.evaluate import MasksEvaluateConfig, evaluate_masks

    config = MasksEvaluateConfig(classifier=classifier, annotations=annotations, outdir=outdir,
                                 annotation_dir=annotation_dir, model=model, tolerance=tolerance, vote=vote,
                                 device=device)
    r = evaluate_masks(config, log=_log, progress=True)
    m = r.metrics
    per = ", ".join(f"{k} {'n/a' if x is None else f'{x:.3f}'}" for k, x in m["iou"].items())
    miou = "n/a" if m["miou"] is None else f"{m['miou']:.3f}"
    _emit(as_json, {k: v for k, v in m.items() if k != "confusion"} | {"report": str(r.html)},
          f"mIoU {miou} on {m['samples']} samples ({per})\nreport: {r.html}")


def register(app: typer.Typer) -> None:
    app.add_typer(masks_app, name="masks")
