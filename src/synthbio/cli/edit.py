"""`synthbio edit`, `synthbio train-classifier` and `synthbio directions sefa|pca|svm|classifier`: one API call each."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import GroupOption, ProtocolOption, WhereOption

directions_app = typer.Typer(help="Compute editing directions (SeFa, PCA in W, SVM on labels or classifier scores, "
                                  "covariates of projected database samples).", no_args_is_help=True)

_MODEL = typer.Option("--model", "-m", help="Generator: registry name or checkpoint path (native folder, .pkl, .pt).")
_OUTDIR = typer.Option("--outdir", "-o", help="Output folder.")
_LAYERS = typer.Option("--layers", help="ws layer range 'a-b' (inclusive).")
_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")
_CLASS = typer.Option("--class-idx", help="Class of a conditional model.")
_TRUNC_HELP = "Truncation psi of the sampled latents (1 = none)."




def edit_command(
    model: Annotated[str, _MODEL],
    direction: Annotated[str, typer.Option("--direction", "-d", help="Direction file, or NAME of "
                                           "NAME.direction.safetensors in --directions-dir.")],
    outdir: Annotated[str, _OUTDIR],
    strengths: Annotated[str, typer.Option("--strengths", help="'start:stop:count' or a list, e.g. '-3:3:7'.")]
    = "-3:3:7",
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Seeds to edit, e.g. '0-3' (inclusive).")] = None,  # noqa: UP007
    latents: Annotated[Optional[str], typer.Option("--latents", help="samples.h5, .npy or .npz of latents to edit.")] = None,  # noqa: UP007,E501
    layers: Annotated[Optional[str], _LAYERS] = None,  # noqa: UP007
    truncation: Annotated[float, typer.Option("--truncation", "--trunc", help="Truncation psi for --seeds.")] = 1.0,
    class_idx: Annotated[Optional[int], _CLASS] = None,  # noqa: UP007
    noise_mode: Annotated[str, typer.Option("--noise-mode", help="const | random | none.")] = "const",
    directions_dir: Annotated[str, typer.Option("--directions-dir", help="Where direction NAMEs are looked up.")] = ".",  # noqa: E501
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 8,
    device: Annotated[str, _DEVICE] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another run's results in --outdir (the same command resumes).")] = False,  # noqa: E501
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
) -> None:
    """Edit latents along a direction: one image per strength, a strip per sample, samples.h5. Resumable."""
    import json

    from synthbio.editing.apply import parse_strengths
    from synthbio.pipelines.images.edit import EditConfig, run_edit
    from synthbio.utils.seeds import parse_seeds

    config = EditConfig(
        model=model, outdir=outdir, direction=direction, strengths=tuple(parse_strengths(strengths)),
        seeds=tuple(parse_seeds(seeds, what="--seeds")) if seeds is not None else (), latents=latents, layers=layers,
        truncation_psi=truncation, class_idx=class_idx, noise_mode=noise_mode, batch_size=batch_size,
        device=device, directions_dir=directions_dir, overwrite=overwrite)
    if dry_run:
        typer.echo(json.dumps({"config": config.to_dict()}, indent=2))
        return
    res = run_edit(config, progress=True)
    r = res.layers
    typer.echo(f"{len(res.images)} images, {len(res.strips)} strips (layers {r.start}-{r.stop - 1}; "
                     f"{len(res.edited)} samples edited, {len(res.kept)} already done) in {res.outdir}\n"
                     f"latents: {res.samples}")


def _load(model: str, device: str):  # type: ignore[no-untyped-def]
    from synthbio.checkpoints import load_generator
    from synthbio.utils.devices import resolve_device

    G = load_generator(model, device=resolve_device(device))
    return G.eval().requires_grad_(False)


@directions_app.command("sefa")
def sefa_command(
    model: Annotated[str, _MODEL],
    outdir: Annotated[str, _OUTDIR],
    layers: Annotated[Optional[str], _LAYERS] = None,  # noqa: UP007
    num: Annotated[int, typer.Option("--num-directions", help="How many directions (strongest first).")] = 5,
    prefix: Annotated[str, typer.Option("--prefix", help="File names: PREFIX_<k>.direction.safetensors.")] = "sefa",
    device: Annotated[str, _DEVICE] = "auto",
) -> None:
    """SeFa: closed-form directions from the style affine weights of the synthesis conv layers."""
    from synthbio.editing.directions import parse_layer_range
    from synthbio.editing.sefa import save_sefa, sefa

    G = _load(model, device)
    rng = parse_layer_range(layers, G.num_ws) if layers else None
    result = sefa(G, layers=rng, num_directions=num)
    paths = save_sefa(result, outdir, prefix=prefix, generator=model)
    ev = ", ".join(f"{float(e):.3g}" for e in result.eigenvalues)
    typer.echo(f"{len(paths)} SeFa directions (layers {result.layers.start}-{result.layers.stop - 1}, "
                     f"eigenvalues {ev}) in {outdir}")


@directions_app.command("pca")
def pca_command(
    model: Annotated[str, _MODEL],
    outdir: Annotated[str, _OUTDIR],
    layers: Annotated[Optional[str], _LAYERS] = None,  # noqa: UP007
    num: Annotated[int, typer.Option("--num-directions", help="How many principal components.")] = 10,
    samples: Annotated[int, typer.Option("--samples", help="How many w's to sample.")] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the z draws.")] = 0,
    class_idx: Annotated[Optional[int], _CLASS] = None,  # noqa: UP007
    prefix: Annotated[str, typer.Option("--prefix", help="File names: PREFIX<k>.direction.safetensors.")] = "pc",
    device: Annotated[str, _DEVICE] = "auto",
) -> None:
    """GANSpace: principal components of sampled w's; explained variance in each file's metadata."""
    from synthbio.editing.directions import parse_layer_range
    from synthbio.editing.pca import pca_directions, sample_w, save_pca

    G = _load(model, device)
    rng = parse_layer_range(layers, G.num_ws) if layers else None
    result = pca_directions(sample_w(G, samples, seed=seed, class_idx=class_idx), num_components=num)
    paths = save_pca(result, outdir, layers=rng, prefix=prefix, generator=model)
    ratios = ", ".join(f"{float(r):.3f}" for r in result.explained_variance_ratio)
    typer.echo(f"{len(paths)} PCA directions in {outdir}; explained variance ratio {ratios} "
                     f"(sum {float(result.explained_variance_ratio.sum()):.3f})")


@directions_app.command("svm")
def svm_command(
    latents: Annotated[str, typer.Option("--latents", help="samples.h5, .npy or .npz of latents.")],
    labels: Annotated[str, typer.Option("--labels", help="CSV: a key column + label columns.")],
    label: Annotated[str, typer.Option("--label", help="Label column to separate.")],
    outdir: Annotated[str, _OUTDIR],
    name: Annotated[Optional[str], typer.Option("--name", help="Direction file name (default: the label).")] = None,  # noqa: UP007,E501
    key_column: Annotated[str, typer.Option("--key-column", help="CSV column naming the sample.")] = "filename",
    kind: Annotated[str, typer.Option("--kind", help="auto | scores (top/bottom fraction) | classes.")] = "auto",
    fraction: Annotated[float, typer.Option("--fraction", help="Share of top and bottom scores used.")] = 0.02,
    positive: Annotated[Optional[float], typer.Option("--positive", help="Positive class against the rest.")] = None,  # noqa: UP007,E501
    condition: Annotated[Optional[list[str]], typer.Option("--condition", help="Direction(s) to project out.")] = None,  # noqa: UP007,E501
    space: Annotated[str, typer.Option("--space", help="w (layer 0) | wplus_mean.")] = "w",
    layers: Annotated[Optional[str], typer.Option("--layers", help="Layer range stored with the direction.")] = None,  # noqa: UP007,E501
    generator: Annotated[str, typer.Option("--model", "-m", help="Generator the latents come from (recorded with the direction).")] = "",  # noqa: E501
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Held-out share for the accuracy.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train / held-out split.")] = 0,
) -> None:
    """InterFaceGAN: linear SVM on labelled latents; the unit normal is saved with its held-out accuracy."""
    from pathlib import Path

    from synthbio.editing.directions import format_layer_range, load_direction, parse_layer_range, save_direction
    from synthbio.editing.svm_directions import conditional_direction, join_labels, train_svm_direction
    from synthbio.errors import InputError

    if kind not in ("auto", "scores", "classes"):
        raise InputError(f"--kind {kind!r} is not auto, scores or classes")
    layer_text = format_layer_range(parse_layer_range(layers, None)) if layers else ""
    data = join_labels(latents, labels, label=label, key_column=key_column, space=space)
    res = train_svm_direction(data.latents, data.targets, continuous=None if kind == "auto" else kind == "scores",
                              fraction=fraction, positive=positive, val_fraction=val_fraction, seed=seed)
    vec = res.direction
    conds = [load_direction(c).vector for c in condition or []]
    if conds:
        vec = conditional_direction(vec, conds)
    path = save_direction(Path(outdir) / (name or label), vec, method="svm", layers=layer_text,
                          generator=generator, label=label, accuracy=res.val_accuracy,
                          extra={"train_accuracy": f"{res.train_accuracy:.6f}", "num_train": res.num_train,
                                 "num_val": res.num_val, "num_positive": res.num_positive,
                                 "num_negative": res.num_negative, "space": space,
                                 "conditions": ",".join(condition or [])})
    typer.echo(f"{path}: held-out accuracy {res.val_accuracy:.3f} (train {res.train_accuracy:.3f}; "
                     f"{res.num_positive} positive, {res.num_negative} negative; {data.unmatched} CSV rows "
                     f"without latents)")


@directions_app.command("classifier")
def classifier_directions_command(
    model: Annotated[str, _MODEL],
    classifier: Annotated[str, typer.Option("--classifier", help="Attribute classifier folder (train-classifier).")],
    outdir: Annotated[str, _OUTDIR],
    samples: Annotated[int, typer.Option("--samples", help="How many latents to sample and score.")] = 10000,
    fraction: Annotated[float, typer.Option("--fraction", help="Share of top and bottom scores per label.")] = 0.02,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Comma-separated labels (default: all).")] = None,  # noqa: UP007,E501
    seed: Annotated[int, typer.Option("--seed", help="Seed of the z draws and the SVM split.")] = 0,
    truncation: Annotated[float, typer.Option("--truncation", "--trunc", help="Truncation psi of the samples.")] = 1.0,
    class_idx: Annotated[Optional[int], _CLASS] = None,  # noqa: UP007
    prefix: Annotated[str, typer.Option("--prefix", help="File names: PREFIX<label>.direction.safetensors.")] = "",
    device: Annotated[str, _DEVICE] = "auto",
) -> None:
    """InterFaceGAN from a latent classifier: score sampled latents, SVM on the extremes of each label."""
    from synthbio.pipelines.attributes.classifier import ClassifierDirectionsConfig, classifier_directions_job

    cfg = ClassifierDirectionsConfig(model=model, classifier=classifier, outdir=outdir, labels=_names(labels),
                                     num_samples=samples, fraction=fraction, seed=seed, truncation_psi=truncation,
                                     class_idx=class_idx, prefix=prefix, device=device)
    for name, (path, res) in classifier_directions_job(cfg).items():
        typer.echo(f"{name}: {path} (held-out accuracy {res.val_accuracy:.3f}, "
                         f"{res.num_positive}+{res.num_negative} extremes)")


@directions_app.command("covariates")
def covariates_command(
    collections: Annotated[list[str], typer.Argument(help="samples.h5 of `synthbio project-database` (one or more).")],
    outdir: Annotated[str, _OUTDIR],
    covariates: Annotated[str, typer.Option("--covariates", help="Comma-separated presets (pose, illumination, smile, "
                                            "surprise, squint, disgust, scream) or NAME:ATTR:NEG,..:POS,..:NEUTRAL,.. "
                                            "(separate those with ';').")] = "pose,illumination,smile",
    neutralise: Annotated[str, typer.Option("--neutralise", help="none | remove | neutral: take each direction out "
                                            "of the latents (or set it to its neutral mean) before fitting the next.")
                          ] = "none",
    svm_c: Annotated[float, typer.Option("--svm-c", help="Linear SVM regularisation C.")] = 1.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-out split.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Pose / illumination / expression directions from projected database samples and their attributes."""
    import json

    from synthbio.pipelines.attributes import CovariatesConfig, fit_covariate_directions

    sep = ";" if ";" in covariates else ","
    specs = tuple(c.strip() for c in covariates.split(sep) if c.strip())
    cfg = CovariatesConfig(collections=tuple(collections), outdir=outdir, covariates=specs, neutralise=neutralise,
                           svm_c=svm_c, seed=seed)
    report = fit_covariate_directions(cfg)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for name, r in report["covariates"].items():
        typer.echo(f"{name}: {outdir}/{r['file']} (held-out accuracy {r['val_accuracy']:.3f}; samples "
                   f"{r['samples']}; neutral -> positive {r['scale']:.3f})")


def _names(text: Optional[str]) -> tuple[str, ...]:  # noqa: UP007
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else ()


def train_classifier_command(  # noqa: PLR0913 (one option per TrainClassifierConfig field)
    outdir: Annotated[str, _OUTDIR],
    ckplus: Annotated[Optional[str], typer.Option("--ckplus", help="CK+ root (cohn-kanade-images/, FACS/, Emotion/, Landmarks/).")] = None,  # noqa: UP007,E501
    csv: Annotated[Optional[str], typer.Option("--csv", help="Labels CSV: a key column + 0/1 label columns.")] = None,  # noqa: UP007,E501
    images: Annotated[Optional[str], typer.Option("--images", help="Folder the CSV's file names point into.")] = None,  # noqa: UP007,E501
    key_column: Annotated[str, typer.Option("--key-column", help="CSV column naming the image file.")] = "filename",
    database: Annotated[Optional[str], typer.Option("--database", help="Database index (or folder): its samples labelled by their attributes.")] = None,  # noqa: UP007,E501
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Comma-separated: CK+ 'AU12,happy', CSV columns (default: all), or database attributes ('smile', 'expression=smile').")] = None,  # noqa: UP007,E501
    encoder: Annotated[Optional[str], typer.Option("--encoder", "-e", help="Invert with this encoder (fast).")] = None,  # noqa: UP007,E501
    project: Annotated[bool, typer.Option("--project", help="Invert by optimisation into --model.")] = False,
    generator: Annotated[Optional[str], typer.Option("--model", "-m", help="Generator for --project.")] = None,  # noqa: UP007,E501
    steps: Annotated[int, typer.Option("--steps", help="Projection steps per image.")] = 200,
    loss: Annotated[str, typer.Option("--loss", help="Projection loss, e.g. l2, vgg, 'l2+0.8*vgg'.")] = "l2",
    latents: Annotated[Optional[str], typer.Option("--latents", help="samples.h5/.npy/.npz, one row per label row.")] = None,  # noqa: UP007,E501
    align: Annotated[bool, typer.Option("--align", help="CK+: FFHQ crop from the sequence's landmarks.")] = False,
    input_mode: Annotated[str, typer.Option("--input-mode", help="w | wplus_mean | wplus_flat.")] = "w",
    hidden: Annotated[str, typer.Option("--hidden", help="Hidden widths of the MLP ('' = linear).")] = "256,128",
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 100,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-3,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Held-out share for the F1.")] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of split, init, batches (and projection).")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images inverted per chunk (cache written after each).")] = 8,  # noqa: E501
    device: Annotated[str, _DEVICE] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
) -> None:
    """Train a latent attribute classifier from labelled faces (CK+, CSV or a database), inverting each image once."""
    import json
    import sys

    from synthbio.errors import InputError
    from synthbio.pipelines.attributes.classifier import TrainClassifierConfig, train_classifier_job

    if sum(x is not None for x in (ckplus, csv, database)) != 1:
        raise InputError("give exactly one label source: --ckplus DIR, --csv FILE (with --images DIR) or "
                         "--database INDEX")
    if not all(h.isdigit() for h in _names(hidden)):
        raise InputError(f"--hidden {hidden!r} must be comma-separated widths, e.g. '256,128' ('' = linear)")
    cfg = TrainClassifierConfig(
        outdir=outdir, source="ckplus" if ckplus else "csv" if csv else "database",
        labels=ckplus or csv or database or "", images=images, key_column=key_column, protocol=protocol, group=group,
        where=tuple(where or ()), label_names=_names(labels), encoder=encoder, project=project, generator=generator,
        steps=steps, loss=loss, latents=latents, align=align, input_mode=input_mode,
        hidden=tuple(int(h) for h in _names(hidden)), epochs=epochs, lr=lr, val_fraction=val_fraction, seed=seed,
        batch_size=batch_size, device=device)
    if dry_run:
        typer.echo(json.dumps(cfg.to_dict(), indent=2))
        return

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"[progress] inverted {done}/{total}\n")

    result = train_classifier_job(cfg, progress=show)
    f1 = ", ".join(f"{r['name']} {r['f1']:.2f}" if r["f1"] == r["f1"] else f"{r['name']} n/a"
                   for r in result.report["labels"])
    typer.echo(f"classifier: {result.classifier} ({result.num_inverted} images inverted now, "
                  f"{result.report['num_rows']} labelled); held-out F1: {f1}")


def register(app: typer.Typer) -> None:
    app.command("edit")(edit_command)
    app.command("train-classifier")(train_classifier_command)
    app.add_typer(directions_app, name="directions")
