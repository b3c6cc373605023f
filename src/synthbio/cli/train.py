"""`synthbio train`: StyleGAN2-ADA training (single process, or one process per GPU under torchrun)."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Optional

import typer

from synthbio.cli.output import note, result

# --precision values as the command line spells them -> TrainConfig's (the old spellings are still read).
_PRECISIONS = {"auto": "auto", "float32": "fp32", "bfloat16": "bf16", "float16": "fp16",
               "fp32": "fp32", "bf16": "bf16", "fp16": "fp16"}
# TrainConfig field of each option `--resume` may change (synthbio.training.configs.RESUME_OVERRIDES).
_RESUME_PARAMS = {"kimg": "kimg", "max_minutes": "max_minutes", "snap": "snapshot_kimg", "tick": "kimg_per_tick",
                  "workers": "workers", "device": "device", "tensorboard": "tensorboard", "gradfix": "gradfix",
                  "compile_phases": "compile"}


def _same_as_saved(cfg: object, name: str, value: object) -> bool:
    """Whether a flag given with --resume repeats the run's saved setting (the same command line plus
    --resume is then accepted; only a different value is refused)."""
    from synthbio.training.configs import parse_branch_weights, parse_branches

    field = {"batch_size": "batch", "ema": "ema_kimg"}.get(name, name)
    try:
        if name == "branches":
            value = parse_branches(value) if value else None  # type: ignore[arg-type]
        elif name == "branch_weights":
            value = parse_branch_weights(value)  # type: ignore[arg-type]
        elif name == "precision":
            value = _PRECISIONS.get(value, value)  # type: ignore[call-overload]
        saved = getattr(cfg, field)
    except Exception:  # noqa: BLE001 - a value that cannot even be read is not the saved one
        return False
    if isinstance(saved, (list, tuple)) and isinstance(value, (list, tuple)):
        return [list(x) if isinstance(x, (list, tuple)) else x for x in saved] == \
            [list(x) if isinstance(x, (list, tuple)) else x for x in value]
    return bool(value == saved)


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the option was typed on the command line (not a default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def train_command(  # noqa: PLR0913 (one option per TrainConfig field)
    ctx: typer.Context,
    data: Annotated[Optional[str], typer.Option("--data", help="Image folder or .zip (paired data: one subfolder per branch); not needed with --resume.")] = None,  # noqa: UP007,E501
    outdir: Annotated[Optional[str], typer.Option("--outdir", "-o", help="Run folder (snapshots, stats.jsonl, grids); default with --resume: that run's.")] = None,  # noqa: UP007,E501
    config: Annotated[str, typer.Option("--config", help="tiny | small64 | fp128cpu | fp256 | fp256s | paper256 | paper512 | paper1024 | stylegan2.")] = "tiny",  # noqa: E501
    kimg: Annotated[Optional[float], typer.Option("--kimg", help="Training length in thousands of real images (default: the config's).")] = None,  # noqa: UP007,E501
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Total batch size over all processes (default: the config's).")] = None,  # noqa: UP007,E501
    gamma: Annotated[Optional[float], typer.Option("--gamma", help="R1 weight (default: the config's).")] = None,  # noqa: UP007
    lr: Annotated[Optional[float], typer.Option("--lr", help="Adam learning rate (default: the config's).")] = None,  # noqa: UP007
    ema: Annotated[Optional[float], typer.Option("--ema", help="G_ema half-life in kimg.")] = None,  # noqa: UP007
    aug: Annotated[str, typer.Option("--aug", help="ada | noaug | fixed.")] = "ada",
    p: Annotated[Optional[float], typer.Option("--p", help="Augmentation probability for --aug fixed.")] = None,  # noqa: UP007
    target: Annotated[float, typer.Option("--target", help="ADA target for the sign of D(real).")] = 0.6,
    pl_weight: Annotated[float, typer.Option("--pl-weight", help="Path-length regularisation weight (0 = off).")] = 2.0,
    mirror: Annotated[bool, typer.Option("--mirror", help="Add x-flipped copies of the data.")] = False,
    cond: Annotated[bool, typer.Option("--cond", help="Conditional model on the data set's labels.")] = False,
    labels: Annotated[Optional[str], typer.Option("--labels", help="Labels file (default with --cond: dataset.json).")] = None,  # noqa: UP007,E501
    branches: Annotated[Optional[str], typer.Option("--branches", help="Paired branches, e.g. rgb:3,nir:1.")] = None,  # noqa: UP007
    branch_weights: Annotated[str, typer.Option("--branch-weights", help="Generator-loss weights, e.g. nir=0.1.")] = "",  # noqa: E501
    resolution: Annotated[Optional[int], typer.Option("--resolution", help="Bring images to this size.")] = None,  # noqa: UP007
    resize_mode: Annotated[str, typer.Option("--resize-mode", help="none | resize | center-crop.")] = "none",
    max_size: Annotated[Optional[int], typer.Option("--max-size", help="Use only this many images.")] = None,  # noqa: UP007
    snap: Annotated[float, typer.Option("--snap", help="Snapshot every this many kimg (and at the end).")] = 50.0,
    tick: Annotated[Optional[float], typer.Option("--tick", help="kimg per stats line (default min(4, --snap)).")] = None,  # noqa: UP007,E501
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue a run exactly with its saved settings: its run folder or a folder with training_state.pt (only --kimg, --max-minutes, --snap, --tick, -j, --device, --tensorboard, --gradfix, --compile may change).")] = None,  # noqa: UP007,E501
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Start G and G_ema from this generator (same architecture; D fresh): fine-tuning.")] = None,  # noqa: UP007,E501
    gradfix: Annotated[str, typer.Option("--gradfix", help="auto | on | off: convolution double backward as plain convs in R1 / path length (auto = on CUDA).")] = "auto",  # noqa: E501
    compile_phases: Annotated[bool, typer.Option("--compile", help="torch.compile the main phases (CUDA graphs on CUDA; no effect on CPU).")] = False,  # noqa: E501
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps (auto: cuda, then mps, then cpu).")] = "auto",  # noqa: E501
    precision: Annotated[str, typer.Option("--precision", help="auto | float32 | bfloat16 | float16 (auto: bfloat16 on CUDA, float32 elsewhere).")] = "auto",  # noqa: E501
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Snapshot and stop after this long.")] = None,  # noqa: UP007,E501
    workers: Annotated[int, typer.Option("--workers", "-j", help="Data loader worker processes.")] = 0,
    grid: Annotated[int, typer.Option("--grid", help="Samples in each snapshot grid (fixed seeds).")] = 16,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also write TensorBoard events.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the fully resolved config as JSON and exit.")] = False,  # noqa: E501
) -> None:
    """Train a StyleGAN2-ADA generator; snapshots are native synthbio checkpoints, resumable exactly."""
    from synthbio.errors import InputError
    from synthbio.training.configs import TrainConfig, parse_branch_weights, parse_branches, saved_train_config
    from synthbio.training.loop import describe, train

    if precision not in _PRECISIONS:
        raise InputError(f"--precision {precision!r}: use auto, float32, bfloat16 or float16")
    if resume is not None:
        cfg = saved_train_config(resume)
        locked = [name for name in ("data", "config", "batch_size", "gamma", "lr", "ema", "aug", "p", "target",
                                    "pl_weight", "mirror", "cond", "labels", "branches", "branch_weights",
                                    "resolution", "resize_mode", "max_size", "seed", "precision", "grid",
                                    "init_from")
                  if _given(ctx, name) and not _same_as_saved(cfg, name, ctx.params[name])]
        if locked:
            flags = ", ".join("--" + n.replace("_", "-") for n in locked)
            raise InputError(f"--resume {resume!r} continues the run with its saved settings; {flags} cannot "
                             "change (leave it out or give the saved value, or start a new run with another --outdir)")
        # the weights come from the run's state now, not from the generator it was started from
        overrides: dict[str, object] = {"resume": resume, "outdir": outdir or cfg.outdir, "init_from": None}
        overrides.update({field: ctx.params[param] for param, field in _RESUME_PARAMS.items() if _given(ctx, param)})
        cfg = dataclasses.replace(cfg, **overrides)  # type: ignore[arg-type]
    else:
        if data is None or outdir is None:
            raise InputError("train needs --data DIR and --outdir DIR (or --resume RUN to continue a run)")
        cfg = TrainConfig(
            data=data, outdir=outdir, config=config, kimg=kimg, batch=batch_size, gamma=gamma, lr=lr, ema_kimg=ema,
            aug=aug, p=p, target=target, pl_weight=pl_weight, mirror=mirror, cond=cond, labels=labels,
            branches=parse_branches(branches) if branches else None,
            branch_weights=parse_branch_weights(branch_weights), resolution=resolution, resize_mode=resize_mode,
            max_size=max_size, snapshot_kimg=snap, kimg_per_tick=tick, seed=seed, resume=None, device=device,
            precision=_PRECISIONS[precision], max_minutes=max_minutes, workers=workers, grid=grid,
            tensorboard=tensorboard, init_from=init_from, gradfix=gradfix, compile=compile_phases,
        )
    if dry_run:
        result(json.dumps(describe(cfg), indent=2))
        return
    res = train(cfg, progress=True)
    if res.snapshots:
        result(f"{'stopped at time limit' if res.stopped_early else 'done'}: {res.cur_nimg / 1000:.3f} kimg, "
               f"{res.step} steps; latest snapshot {res.snapshots[-1]}")
    else:
        note("no snapshot written (nothing left to train)")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
