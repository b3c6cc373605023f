"""`synthbio train`: StyleGAN2-ADA training (single process, or one process per GPU under torchrun)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer


def train_command(  # noqa: PLR0913 (one option per TrainConfig field)
    data: Annotated[str, typer.Option("--data", help="Image folder or .zip (paired data: one subfolder per branch).")],
    outdir: Annotated[str, typer.Option("--outdir", "-o", help="Run directory (snapshots, stats.jsonl, grids).")],
    config: Annotated[str, typer.Option("--config", "--cfg", help="tiny | small64 | fp128cpu | fp256 | fp256s | paper256 | paper512 | paper1024 | stylegan2.")] = "tiny",  # noqa: E501
    kimg: Annotated[Optional[float], typer.Option("--kimg", help="Training length in thousands of real images (default: the config's).")] = None,  # noqa: UP007,E501
    batch: Annotated[Optional[int], typer.Option("--batch", help="Total batch size over all processes.")] = None,  # noqa: UP007
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
    resume: Annotated[Optional[str], typer.Option("--resume", help="Continue a run: its OUTDIR or a folder with training_state.pt.")] = None,  # noqa: UP007,E501
    init_from: Annotated[Optional[str], typer.Option("--init-from", help="Start G and G_ema from this generator (same architecture; D fresh): fine-tuning.")] = None,  # noqa: UP007,E501
    gradfix: Annotated[str, typer.Option("--gradfix", help="auto | on | off: convolution double backward as plain convs in R1 / path length (auto = on CUDA).")] = "auto",  # noqa: E501
    compile_phases: Annotated[bool, typer.Option("--compile", help="torch.compile the main phases (CUDA graphs on CUDA; no effect on CPU).")] = False,  # noqa: E501
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps.")] = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto | fp32 | bf16 | fp16 (auto: bf16 on CUDA).")] = "auto",  # noqa: E501
    max_minutes: Annotated[Optional[float], typer.Option("--max-minutes", help="Snapshot and stop after this long.")] = None,  # noqa: UP007,E501
    workers: Annotated[int, typer.Option("--workers", help="Data loader worker processes.")] = 0,
    grid: Annotated[int, typer.Option("--grid", help="Samples in each snapshot grid (fixed seeds).")] = 16,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also write TensorBoard events.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the fully resolved config (JSON) and exit.")] = False,
) -> None:
    """Train a StyleGAN2-ADA generator; snapshots are native synthbio checkpoints, resumable exactly."""
    from rich.console import Console

    from synthbio.training.configs import TrainConfig, parse_branch_weights, parse_branches
    from synthbio.training.loop import describe, train

    cfg = TrainConfig(
        data=data, outdir=outdir, config=config, kimg=kimg, batch=batch, gamma=gamma, lr=lr, ema_kimg=ema,
        aug=aug, p=p, target=target, pl_weight=pl_weight, mirror=mirror, cond=cond, labels=labels,
        branches=parse_branches(branches) if branches else None,
        branch_weights=parse_branch_weights(branch_weights), resolution=resolution, resize_mode=resize_mode,
        max_size=max_size, snapshot_kimg=snap, kimg_per_tick=tick, seed=seed, resume=resume, device=device,
        init_from=init_from, gradfix=gradfix, compile=compile_phases,
        precision=precision, max_minutes=max_minutes, workers=workers, grid=grid, tensorboard=tensorboard,
    )
    if dry_run:
        typer.echo(json.dumps(describe(cfg), indent=2))
        return
    console = Console(stderr=True)
    result = train(cfg, progress=console.is_terminal)
    if result.snapshots:
        console.print(f"{'stopped at time limit' if result.stopped_early else 'done'}: {result.cur_nimg / 1000:.3f} "
                      f"kimg, {result.step} steps; latest snapshot {result.snapshots[-1]}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
