"""`synthbio translate train | apply | sample | evaluate | testbed`: unpaired translation that keeps identity."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from synthbio.cli.output import json_safe, result, result_json

translate_app = typer.Typer(
    name="translate",
    help="Unpaired image translation (MUNIT with SATNet's additions) with an identity loss, and its evaluation.",
    no_args_is_help=True,
    add_completion=False,
)

_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")
_JSON = typer.Option("--json", help="Print the result as JSON on stdout.")
_DRY = typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")
_MODEL = typer.Option("--model", "-m", help="Translator folder, or a training run (its latest/ snapshot).")
_DIRECTION = typer.Option("--direction", help="a2b | b2a (the model's domains A and B).")
# --precision as the command line spells it -> the trainer's names (the short spellings are still read).
_PRECISIONS = {"auto": "auto", "float32": "fp32", "bfloat16": "bf16", "fp32": "fp32", "bf16": "bf16"}


def _bool_or_none(value: str | None, flag: str) -> bool | None:
    if value is None:
        return None
    from synthbio.errors import InputError

    if value.lower() in ("on", "yes", "true", "1"):
        return True
    if value.lower() in ("off", "no", "false", "0"):
        return False
    raise InputError(f"{flag} takes on or off, got {value!r}")


def _csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip() and v.strip() != "none")


@translate_app.command("train")
def train_command(
    data_a: Annotated[str, typer.Argument(help="Domain A: a folder of images (or a synthbio identity dataset).")],
    data_b: Annotated[str, typer.Argument(help="Domain B: a folder of images, unpaired with A.")],
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Run folder (snapshots, samples, stats.jsonl).")],
    names: Annotated[str, typer.Option("--names", help="Names of domain A and B, e.g. photo,sketch.")] = "a,b",
    channels_a: Annotated[int | None, typer.Option("--channels-a", help="Convert A to 1 or 3 channels.")] = None,
    channels_b: Annotated[int | None, typer.Option("--channels-b", help="Convert B to 1 or 3 channels.")] = None,
    load_size: Annotated[int, typer.Option("--load-size", help="Resize the shorter side first (0 = keep).")] = 0,
    crop: Annotated[int, typer.Option("--crop", help="Square random training crop (0 = whole images).")] = 256,
    mirror: Annotated[bool, typer.Option("--mirror/--no-mirror", help="Random left-right flips.")] = True,
    reference: Annotated[str, typer.Option("--reference", help="satnet | munit: defaults of the settings below.")] = "satnet",
    dim: Annotated[int, typer.Option("--dim", help="Channels of the first generator layer.")] = 64,
    style_dim: Annotated[int, typer.Option("--style-dim", help="Style code length.")] = 8,
    n_res: Annotated[int, typer.Option("--n-res", help="Residual blocks in content encoder and decoder.")] = 4,
    mlp_dim: Annotated[int, typer.Option("--mlp-dim", help="Width of the style MLP.")] = 256,
    d_dim: Annotated[int, typer.Option("--d-dim", help="Channels of the first D layer.")] = 64,
    d_layers: Annotated[int, typer.Option("--d-layers", help="Stride-2 layers per D scale.")] = 4,
    d_scales: Annotated[int, typer.Option("--d-scales", help="Discriminator scales.")] = 3,
    attention: Annotated[str | None, typer.Option("--attention", help="Generator self-attention: content,decoder | none (default: the reference's).")] = None,
    d_attention: Annotated[str | None, typer.Option("--d-attention", help="on | off (default: the reference's).")] = None,
    spectral_norm: Annotated[str | None, typer.Option("--spectral-norm", help="Spectral norm in D: on | off.")] = None,
    g_spectral_norm: Annotated[bool, typer.Option("--g-spectral-norm", help="Also spectrally normalise G.")] = False,
    gan_loss: Annotated[str | None, typer.Option("--gan-loss", help="hinge | lsgan (default: the reference's).")] = None,
    ttur: Annotated[str | None, typer.Option("--ttur", help="on: D 4e-4 / G 1e-4, betas (0, 0.9); off: 1e-4, (0.5, 0.999).")] = None,
    lr_g: Annotated[float | None, typer.Option("--lr-g", help="Generator learning rate.")] = None,
    lr_d: Annotated[float | None, typer.Option("--lr-d", help="Discriminator learning rate.")] = None,
    recon_x: Annotated[float, typer.Option("--recon-x-weight", help="Image reconstruction weight.")] = 10.0,
    cycle: Annotated[float, typer.Option("--cycle-weight", help="Explicit cycle loss weight (0 = off).")] = 10.0,
    identity_model: Annotated[str | None, typer.Option("--identity-model", help="dlib-resnet | arcface-r100 | adaface-ir101 | fingerprint-ridges | pixel-random (default: no identity loss).")] = None,
    identity_weights: Annotated[str | None, typer.Option("--identity-weights", help="Weights of the recogniser (ArcFace/AdaFace: required).")] = None,
    identity_weight: Annotated[float, typer.Option("--identity-weight", help="Weight of the identity loss.")] = 1.0,
    identity_form: Annotated[str, typer.Option("--identity-form", help="hinge: max(0, t - cos) | cosine: 1 - cos.")] = "hinge",
    identity_threshold: Annotated[float | None, typer.Option("--identity-threshold", help="Hinge margin t (default: the model's threshold).")] = None,
    identity_alignment: Annotated[str, typer.Option("--identity-alignment", help="model (aligned inputs) | detect (dlib landmarks of each source face).")] = "model",
    identity_directions: Annotated[str, typer.Option("--identity-directions", help="a2b,b2a or one of them.")] = "a2b,b2a",
    ridge_period: Annotated[float, typer.Option("--ridge-period", help="Ridge period in px for fingerprint-ridges.")] = 9.0,
    batch: Annotated[int, typer.Option("--batch-size", help="Images per domain per step, over all processes.")] = 1,
    steps: Annotated[int, typer.Option("--steps", help="Training steps.")] = 100_000,
    snap: Annotated[int, typer.Option("--snap", help="Snapshot every this many steps (and at the end).")] = 5_000,
    tick: Annotated[int, typer.Option("--tick", help="Steps per stats line.")] = 100,
    grid: Annotated[int, typer.Option("--grid", help="Images per sample grid (0 = none).")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    resume: Annotated[str | None, typer.Option("--resume", help="Continue a run: its OUTDIR.")] = None,
    device: Annotated[str, _DEVICE] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto | float32 | bfloat16 (auto: bfloat16 on CUDA that has it).")] = "auto",
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Snapshot and stop after this long.")] = None,
    dry_run: Annotated[bool, _DRY] = False,
) -> None:
    """Train a translator between two unpaired image folders; resumable exactly, DDP under torchrun."""
    from synthbio.errors import InputError
    from synthbio.training.distributed import env_world
    from synthbio.translation.train_config import TranslationTrainConfig
    from synthbio.translation.training import describe, train_translator

    if precision not in _PRECISIONS:
        raise InputError(f"--precision {precision!r}: use auto, float32 or bfloat16")
    precision = _PRECISIONS[precision]
    name_list = tuple(n.strip() for n in names.split(","))
    if len(name_list) != 2:
        raise InputError(f"--names takes two names, got {names!r}")
    cfg = TranslationTrainConfig(
        data_a=data_a, data_b=data_b, outdir=outdir, names=name_list, channels_a=channels_a, channels_b=channels_b,
        load_size=load_size, crop=crop, mirror=mirror, reference=reference, dim=dim, style_dim=style_dim,
        n_res=n_res, mlp_dim=mlp_dim, d_dim=d_dim, d_layers=d_layers, d_scales=d_scales,
        g_attention=_csv(attention), d_attention=_bool_or_none(d_attention, "--d-attention"),
        g_spectral_norm=g_spectral_norm, d_spectral_norm=_bool_or_none(spectral_norm, "--spectral-norm"),
        gan_loss=gan_loss, ttur=_bool_or_none(ttur, "--ttur"), lr_g=lr_g, lr_d=lr_d, recon_x_weight=recon_x,
        cycle_weight=cycle, identity_model=identity_model, identity_weights=identity_weights,
        identity_weight=identity_weight, identity_form=identity_form, identity_threshold=identity_threshold,
        identity_alignment=identity_alignment, identity_directions=_csv(identity_directions) or (),
        ridge_period=ridge_period, batch=batch, steps=steps, snap=snap, tick=tick, grid=grid, seed=seed,
        resume=resume, device=device, precision=precision, max_minutes=max_minutes,
    )
    if dry_run:
        typer.echo(json.dumps(describe(cfg), indent=2))
        return
    res = train_translator(cfg)
    if env_world().is_main:  # under torchrun every rank returns here; one line is enough
        state = "stopped at the time limit" if res.stopped_early else "done"
        result(f"{state}: {res.step} steps; latest snapshot {res.outdir / 'latest'}")


@translate_app.command("apply")
def apply_command(
    input_path: Annotated[str, typer.Argument(metavar="INPUT", help="A folder of images (or a dataset), or one image.")],
    model: Annotated[str, _MODEL],
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output folder (same sub-folders and file stems).")],
    direction: Annotated[str, _DIRECTION] = "a2b",
    styles: Annotated[int, typer.Option("--styles", help="Translations per input, style k from seed style-seed + k.")] = 1,
    style_seed: Annotated[int, typer.Option("--style-seed", help="Seed of the first style code.")] = 0,
    reference: Annotated[str | None, typer.Option("--reference", help="Take the style of this target-domain image instead.")] = None,
    channels: Annotated[int | None, typer.Option("--channels", help="Convert inputs to 1 or 3 channels.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.")] = 8,
    device: Annotated[str, _DEVICE] = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace another run's output folder.")] = False,
    dry_run: Annotated[bool, _DRY] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Translate every image of INPUT; writes PNGs, manifest.jsonl and config.json. Resumable."""
    from synthbio.pipelines.translation.apply import TranslateConfig, translate_folder

    cfg = TranslateConfig(input=input_path, model=model, outdir=outdir, direction=direction, styles=styles,
                          style_seed=style_seed, reference=reference, channels=channels, batch_size=batch_size,
                          device=device, overwrite=overwrite)
    if dry_run:
        typer.echo(json.dumps(cfg.to_dict(), indent=2))
        return
    res = translate_folder(cfg, log=True)
    summary = {"outdir": str(res.outdir), "translated": res.translated, "already_done": res.kept,
               "outputs": res.outputs, "manifest": str(res.manifest)}
    if as_json:
        result_json(summary)
    else:
        result(f"{res.translated} images translated, {res.kept} already done; {res.outputs} outputs in {res.outdir}")


@translate_app.command("sample")
def sample_command(
    input_path: Annotated[str, typer.Argument(metavar="INPUT", help="A folder of images or one image.")],
    model: Annotated[str, _MODEL],
    output: Annotated[str, typer.Option("--output", "-o", help="Grid PNG to write.")],
    direction: Annotated[str, _DIRECTION] = "a2b",
    styles: Annotated[int, typer.Option("--styles", help="Random styles per row.")] = 4,
    style_seed: Annotated[int, typer.Option("--style-seed", help="Seed of the first style code.")] = 0,
    reference: Annotated[str | None, typer.Option("--reference", help="Add a column in the style of this image.")] = None,
    rows: Annotated[int, typer.Option("--rows", help="Inputs shown (the first ones).")] = 8,
    channels: Annotated[int | None, typer.Option("--channels", help="Convert inputs to 1 or 3 channels.")] = None,
    device: Annotated[str, _DEVICE] = "auto",
) -> None:
    """One grid: per input row the source, then a translation per style (and per reference)."""
    from synthbio.pipelines.translation.apply import SampleConfig, sample_grid

    cfg = SampleConfig(input=input_path, model=model, output=output, direction=direction, styles=styles,
                       style_seed=style_seed, reference=reference, rows=rows, channels=channels, device=device)
    result(str(sample_grid(cfg)))


@translate_app.command("evaluate")
def evaluate_command(
    translations: Annotated[str, typer.Argument(help="A folder written by `synthbio translate apply`.")],
    target: Annotated[str | None, typer.Option("--target", help="Real target-domain images for FD/KID.")] = None,
    extractor: Annotated[str, typer.Option("--extractor", help="FD/KID features: inception | fingerprint.")] = "inception",
    inception_weights: Annotated[str | None, typer.Option("--inception-weights", help="FID Inception weights (file or registry name).")] = None,
    identity_model: Annotated[str, typer.Option("--identity-model", help="nbis-bozorth3 | dlib-resnet | arcface-r100 | adaface-ir101 | fingerprint-ridges | none.")] = "nbis-bozorth3",
    identity_weights: Annotated[str | None, typer.Option("--identity-weights", help="Recogniser weights (ArcFace/AdaFace).")] = None,
    identity_alignment: Annotated[str, typer.Option("--identity-alignment", help="model (aligned inputs) | detect (dlib landmarks; a translation is cropped by its source's face).")] = "model",
    gallery: Annotated[str | None, typer.Option("--gallery", help="Identity folders to match against instead of the sources.")] = None,
    ground_truth: Annotated[str | None, typer.Option("--ground-truth", help="Pixel-aligned counterparts of the sources (same paths).")] = None,
    target_fmr: Annotated[float, typer.Option("--target-fmr", help="Operating point (false match rate).")] = 0.001,
    examples: Annotated[int, typer.Option("--examples", help="Rows of the example grid.")] = 8,
    outdir: Annotated[str | None, typer.Option("--outdir", "-o", help="Report folder (default: TRANSLATIONS_evaluate).")] = None,
    device: Annotated[str, _DEVICE] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics (metrics.json) as JSON on stdout.")] = False,
) -> None:
    """FD/KID against the target domain and identity preservation (genuine rate at FMR 0.1%) in an HTML report."""
    from synthbio.pipelines.translation.evaluate import (
        TranslateEvaluateConfig,
        evaluate_translations,
    )

    cfg = TranslateEvaluateConfig(
        translations=translations, target=target, extractor=extractor, inception_weights=inception_weights,
        identity_model=None if identity_model == "none" else identity_model, identity_weights=identity_weights,
        identity_alignment=identity_alignment, gallery=gallery, ground_truth=ground_truth, target_fmr=target_fmr,
        examples=examples, outdir=outdir, device=device)
    metrics = evaluate_translations(cfg, log=True)
    if as_json:
        result_json(json_safe(metrics))
        return
    lines = [f"report: {cfg.report_dir / 'index.html'}"]
    op = metrics.get("identity", {}).get("vs_identity")
    if op:
        lines.append(f"identity: translated {op.get('gar_translated')}, untranslated {op.get('gar_source')} genuine "
                     f"accepted at threshold {op['threshold']:g} ({op['threshold_from']}); ratio {op.get('gar_ratio')}")
    if "realism" in metrics:
        r = metrics["realism"]
        lines.append(f"FD: translated {r['translated']['fd']:.3f}, untranslated {r['source']['fd']:.3f}")
    result("\n".join(lines))


@translate_app.command("testbed")
def testbed_command(
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Output folder.")],
    kind: Annotated[str, typer.Option("--kind", help="fingerprints | branches (two outputs of a multi-branch generator).")] = "fingerprints",
    train_identities: Annotated[int, typer.Option("--train-identities", help="Training identities (half A, half B).")] = 200,
    test_identities: Annotated[int, typer.Option("--test-identities", help="Held-out identities, in both domains.")] = 50,
    samples: Annotated[int, typer.Option("--samples", help="Impressions per finger.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Test bed seed.")] = 0,
    size: Annotated[int, typer.Option("--size", help="Fingerprint image side in pixels at 500 dpi.")] = 256,
    model: Annotated[str | None, typer.Option("--model", "-m", help="--kind branches: a multi-branch generator.")] = None,
    branches: Annotated[str | None, typer.Option("--branches", help="--kind branches: the two outputs, e.g. rgb,nir.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a test bed made with other settings in --outdir (only its files); the same command resumes.")] = False,
    dry_run: Annotated[bool, _DRY] = False,
    as_json: Annotated[bool, _JSON] = False,
) -> None:
    """Two domains with identity ground truth (train/A, train/B unpaired; test/A, test/B aligned). Resumable."""
    from synthbio.pipelines.translation.testbed import (
        TranslationTestbedConfig,
        describe,
        make_testbed,
    )

    chosen = _csv(branches)
    cfg = TranslationTestbedConfig(outdir=outdir, kind=kind, train_identities=train_identities, test_identities=test_identities,
                        samples=samples, seed=seed, width=size, height=size, model=model,
                        branches=chosen if chosen else None, overwrite=overwrite)  # type: ignore[arg-type]
    if dry_run:
        typer.echo(json.dumps(describe(cfg), indent=2))
        return
    res = make_testbed(cfg, log=True)
    if as_json:
        result_json({"outdir": str(res.outdir), "made": res.made, "kept": res.kept})
        return
    result(f"{res.made} identities made, {res.kept} already done, in {res.outdir}")


def register(app: typer.Typer) -> None:
    app.add_typer(translate_app, name="translate")
