"""`synthbio generate` and `synthbio mix`: parse options -> config dataclass -> one API call."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from synthbio.cli.output import result, result_json

_MODEL = typer.Option("--model", "-m", help="Generator: registry name or checkpoint path (native folder, .pkl, .pt).")
_OUTDIR = typer.Option("--outdir", "-o", help="Output folder.")
_TRUNC = typer.Option("--truncation", "--trunc", help="Truncation psi (1 = none).")
_CLASS = typer.Option("--class-idx", help="Class index of a conditional model.")
_NOISE = typer.Option("--noise-mode", help="const | random | none.")
_BATCH = typer.Option("--batch-size", help="Samples per forward pass (never changes the images).")
_DEVICE = typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")
_OVERWRITE = typer.Option("--overwrite", help="Replace another run's results in --outdir (the same command resumes).")
_DRY_RUN = typer.Option("--dry-run", help="Print the resolved config as JSON and exit; write nothing.")
_JSON = typer.Option("--json", help="Print the result as JSON on stdout.")


def generate_command(
    model: Annotated[str, _MODEL],
    seeds: Annotated[str, typer.Option("--seeds", help="Seeds, e.g. '0-99,120' (inclusive ranges).")],
    outdir: Annotated[str, _OUTDIR],
    truncation: Annotated[float, _TRUNC] = 1.0,
    truncation_cutoff: Annotated[Optional[int], typer.Option("--truncation-cutoff", help="Truncate only the first N ws.")] = None,  # noqa: UP007,E501
    class_idx: Annotated[Optional[int], _CLASS] = None,  # noqa: UP007
    noise_mode: Annotated[str, _NOISE] = "const",
    batch_size: Annotated[int, _BATCH] = 8,
    device: Annotated[str, _DEVICE] = "auto",
    grid: Annotated[bool, typer.Option("--grid", help="Also write a grid of the first 64 samples.")] = False,
    overwrite: Annotated[bool, _OVERWRITE] = False,
    dry_run: Annotated[bool, _DRY_RUN] = False,
    as_json: Annotated[bool, _JSON] = False,
    yaw: Annotated[str, typer.Option("--yaw", help="EG3D: camera yaw in degrees, a list or a sweep 'start:stop:count' (e.g. --yaw=-30:30:7); one image per view.")] = "0",  # noqa: E501
    pitch: Annotated[str, typer.Option("--pitch", help="EG3D: camera pitch in degrees, a list or a sweep.")] = "0",
    fov: Annotated[Optional[float], typer.Option("--fov", help="EG3D: field of view in degrees (default 18.837, the official one).")] = None,  # noqa: UP007,E501
    save_depth: Annotated[Optional[str], typer.Option("--save-depth", help="EG3D: also write each view's depth: npy (float32) or png16 (16-bit, near/far recorded).")] = None,  # noqa: UP007,E501
    translate: Annotated[str, typer.Option("--translate", help="StyleGAN3: translate the image, 'x,y' in image widths (as gen_images.py).")] = "0,0",  # noqa: E501
    rotate: Annotated[float, typer.Option("--rotate", help="StyleGAN3: rotate the image, degrees (as gen_images.py).")] = 0.0,  # noqa: E501
) -> None:
    """Generate one PNG per seed (and branch, and EG3D view), manifest.jsonl, samples.h5 and config.json. Resumable."""
    from synthbio.pipelines.images.generate import GenerateConfig, describe, generate
    from synthbio.utils.seeds import parse_seeds, parse_sweep

    shift = _parse_translate(translate)
    config = GenerateConfig(
        model=model, outdir=outdir, seeds=tuple(parse_seeds(seeds, what="--seeds")), truncation_psi=truncation,
        truncation_cutoff=truncation_cutoff, class_idx=class_idx, noise_mode=noise_mode,
        batch_size=batch_size, device=device, grid=grid, overwrite=overwrite,
        yaw=tuple(parse_sweep(yaw, what="--yaw")), pitch=tuple(parse_sweep(pitch, what="--pitch")), fov=fov,
        save_depth=save_depth, translate=shift, rotate=rotate,
    )
    if dry_run:
        result(json.dumps(describe(config), indent=2))
        return
    res = generate(config, progress=True)
    if as_json:
        result_json({"outdir": res.outdir, "generated": len(res.generated), "kept": len(res.kept),
                     "manifest": res.manifest, "samples": res.samples, "config": res.config, "grids": res.grids,
                     "model_sha256": res.model_sha256})
        return
    result(f"{len(res.generated)} samples generated, {len(res.kept)} already done, in {res.outdir}\n"
           f"manifest: {res.manifest}\nlatents:  {res.samples}" + "".join(f"\ngrid:     {g}" for g in res.grids))


def mix_command(
    model: Annotated[str, _MODEL],
    rows: Annotated[str, typer.Option("--rows", help="Row seeds (base images), e.g. '85,100'.")],
    cols: Annotated[str, typer.Option("--cols", help="Column seeds (style donors), e.g. '55,821'.")],
    outdir: Annotated[str, _OUTDIR],
    styles: Annotated[str, typer.Option("--styles", help="ws layers taken from the column seed, e.g. '0-6'.")] = "0-6",
    truncation: Annotated[float, _TRUNC] = 1.0,
    class_idx: Annotated[Optional[int], _CLASS] = None,  # noqa: UP007
    noise_mode: Annotated[str, _NOISE] = "const",
    batch_size: Annotated[int, _BATCH] = 8,
    device: Annotated[str, _DEVICE] = "auto",
    overwrite: Annotated[bool, _OVERWRITE] = False,
    dry_run: Annotated[bool, _DRY_RUN] = False,
) -> None:
    """Style mixing: each row seed with the --styles layers of each column seed, plus a grid."""
    from synthbio.pipelines.images.mix import MixConfig, style_mix
    from synthbio.utils.seeds import parse_seeds

    config = MixConfig(
        model=model, outdir=outdir, rows=tuple(parse_seeds(rows, what="--rows")),
        cols=tuple(parse_seeds(cols, what="--cols")), styles=tuple(parse_seeds(styles, what="--styles")),
        truncation_psi=truncation, class_idx=class_idx, noise_mode=noise_mode, batch_size=batch_size, device=device,
        overwrite=overwrite,
    )
    if dry_run:
        result(json.dumps({"config": config.to_dict()}, indent=2))
        return
    res = style_mix(config)
    result(f"{len(res.images)} images in {res.outdir}" + "".join(f"\ngrid: {g}" for g in res.grids))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate_command)
    app.command("mix")(mix_command)


def _parse_translate(text: str) -> tuple[float, float]:
    """'x,y' (image widths) -> (x, y); InputError naming --translate for anything else (a sweep, 'a,b', inf)."""
    import math

    from synthbio.errors import InputError

    parts = text.split(",")
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        x = y = math.nan
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(f"--translate takes two finite numbers 'x,y' in image widths, got {text!r}")
    return x, y
