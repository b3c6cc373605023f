"""`synthbio translate train`: the run around TranslationTrainer — data, snapshots, grids, stats, resume.

Layout of OUTDIR:

    config.json                  the TranslationTrainConfig and the resolved plan
    stats.jsonl                  one JSON line per tick (losses, identity similarity, timing)
    samples/<step:08d>_a2b.png   per row: a source, its reconstruction, translations with
    samples/<step:08d>_b2a.png     fixed style codes (seeds 0, 1, 2) and with the style of a
                                   fixed reference of the target domain
    snapshot-<step:08d>/         native translator (model.safetensors + config.json, discriminator/)
    latest/                      the newest snapshot, plus
      training_state.pt          everything an exact resume needs (loaded with weights_only)

The snapshot machinery (atomic training_state.pt, --resume lookup, stats.jsonl
trimmed back to the resumed step) is `synthbio.training.snapshots`, shared
with `synthbio train`. A run killed with SIGKILL and resumed with the same
command plus --resume ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from synthbio.io.images import save_grid, to_uint8
from synthbio.training import distributed as dist_utils
from synthbio.training import snapshots as snaps
from synthbio.training.distributed import DistInfo
from synthbio.translation.checkpoint import save_translator
from synthbio.translation.data import DomainConfig, DomainDataset, uint8_to_float
from synthbio.translation.identity import build_identity_loss
from synthbio.translation.train_config import (
    TranslationPlan,
    TranslationTrainConfig,
    resolve_plan,
)
from synthbio.translation.trainer import TranslationTrainer
from synthbio.utils.devices import resolve_device

GRID_STYLE_SEEDS = (0, 1, 2)


@dataclass
class TranslationTrainResult:
    outdir: Path
    step: int
    stopped_early: bool
    snapshots: list[Path] = field(default_factory=list)
    trainer: TranslationTrainer | None = None


def snapshot_name(step: int) -> str:
    return f"snapshot-{step:08d}"


def open_domains(config: TranslationTrainConfig, *, min_size: int = 1) -> dict[str, DomainDataset]:
    """Both domains' datasets (InputError naming the folder and files for bad inputs)."""
    out = {}
    for d, path, channels, name in (("a", config.data_a, config.channels_a, config.names[0]),
                                    ("b", config.data_b, config.channels_b, config.names[1])):
        dc = DomainConfig(path=path, channels=channels, load_size=config.load_size, crop=config.crop,
                          mirror=config.mirror, min_size=min_size)
        out[d] = DomainDataset(dc, what=f"domain {d.upper()} ({name})")
    return out


def _bf16_supported(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def plan_for(config: TranslationTrainConfig, *, info: DistInfo, device: torch.device) -> tuple[TranslationPlan, dict]:
    """Open the data, resolve the plan and check the data against the network's minimum size."""
    data = open_domains(config)
    plan = resolve_plan(config, channels_a=data["a"].channels, channels_b=data["b"].channels,
                        world_size=info.world_size, device_type=device.type, bf16_supported=_bf16_supported(device))
    data = open_domains(config, min_size=plan.network.min_train_size)
    return plan, data


def describe(config: TranslationTrainConfig) -> dict[str, Any]:
    """The resolved run (what --dry-run prints): config, plan, data summary, device."""
    info = dist_utils.env_world()
    device = resolve_device(config.device)
    plan, data = plan_for(config, info=info, device=device)
    return {"train": config.to_dict(), "plan": plan.to_dict(), "device": str(device),
            "domains": {d: {"path": ds.config.path, "images": len(ds), "channels": ds.channels} for d, ds in data.items()}}


def _prepare_outdir(config: TranslationTrainConfig, info: DistInfo) -> Path:
    return snaps.prepare_run_outdir(config.outdir, resume=config.resume, is_main=info.is_main)


# --------------------------------------------------------------------------- grids


def _center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if not size or (h == size and w == size):
        return x
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def grid_images(data: DomainDataset, count: int, crop: int) -> torch.Tensor:
    """The first `count` images of a domain, centre-cropped to the training crop: [N, C, S, S] in [-1, 1]."""
    n = min(count, len(data))
    return torch.stack([_center_crop(uint8_to_float(data[i][None])[0], crop) for i in range(n)])


@torch.no_grad()
def translation_grid(G: torch.nn.ModuleDict, sources: torch.Tensor, references: torch.Tensor, *, src: str,
                     dst: str, style_dim: int) -> list[Any]:
    """Rows of [source, reconstruction, translations with style seeds 0..2, translation with a reference's style]."""
    was = G.training
    G.eval()
    try:
        device = next(G.parameters()).device
        x = sources.to(device)
        c, s = G[src].encode(x)
        cells = [x, G[src].decode(c, s)]
        for seed in GRID_STYLE_SEEDS:
            style = torch.randn([1, style_dim], generator=torch.Generator().manual_seed(seed)).to(device)
            cells.append(G[dst].decode(c, style.expand(x.shape[0], -1)))
        ref_style = G[dst].encode_style(references[: x.shape[0]].to(device))
        if ref_style.shape[0] < x.shape[0]:
            ref_style = ref_style[torch.arange(x.shape[0]) % ref_style.shape[0]]
        cells.append(G[dst].decode(c, ref_style))
    finally:
        G.train(was)
    rows = []
    for i in range(x.shape[0]):
        for cell in cells:
            img = cell[i:i + 1].float()
            img = img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img
            rows.append(to_uint8(img)[0])
    return rows


# --------------------------------------------------------------------------- run


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train_translator(config: TranslationTrainConfig, *, device: torch.device | None = None,
                     log: bool = True) -> TranslationTrainResult:
    """Train (or resume) a translator as configured. Under torchrun every process calls this."""
    info = dist_utils.env_world()
    if device is None:
        device = resolve_device(config.device)
        if device.type == "cuda":
            device = torch.device("cuda", info.local_rank if info.enabled else torch.cuda.current_device())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    state = state_path = None
    if config.resume is not None:
        state_path = snaps.find_state_file(config.resume)
        state = snaps.load_training_state(state_path)
    plan, data = plan_for(config, info=info, device=device)
    identity = None
    if config.identity_model is not None and config.identity_weight > 0:
        identity = build_identity_loss(config.identity_model, weights=config.identity_weights,
                                       form=config.identity_form, threshold=config.identity_threshold,
                                       alignment=config.identity_alignment, ridge_period=config.ridge_period,
                                       device=device)
    outdir = _prepare_outdir(config, info)
    dist_utils.init_process_group(info, device)
    try:
        trainer = TranslationTrainer(config, plan, data, info, device, identity=identity)
        if state is not None:
            trainer.load_state_dict(state, where=str(state_path))
            del state
        return _run(trainer, outdir, log=log and info.is_main)
    finally:
        dist_utils.shutdown()


def _run(t: TranslationTrainer, outdir: Path, *, log: bool) -> TranslationTrainResult:
    config, plan, info = t.config, t.plan, t.info
    main = info.is_main
    resumed = config.resume is not None
    start_step = t.step_idx
    grids = None
    stats = None
    if main:
        snaps.write_json_atomic(outdir / "config.json", {"command": "translate train", "train": config.to_dict(),
                                                         "plan": plan.to_dict()})
        stats = snaps.StatsLog(outdir / "stats.jsonl", keep_until_step=start_step if resumed else None)
        if config.grid:
            grids = {d: grid_images(t.data[d], config.grid, config.crop) for d in ("a", "b")}
            (outdir / "samples").mkdir(exist_ok=True)
    written: list[Path] = []
    start_time = time.time()
    tick_start, tick_step = start_time, t.step_idx
    stopped_early = False
    done = t.step_idx >= config.steps
    names = {"a": config.names[0], "b": config.names[1]}

    def snapshot() -> None:
        state = t.state_dict()  # every rank joins the gather of RNG states
        if not main:
            return
        provenance = {"source": "synthbio translate train", "step": t.step_idx, "data_a": config.data_a,
                      "data_b": config.data_b, "identity_model": config.identity_model}
        if grids is not None:
            for src, dst in (("a", "b"), ("b", "a")):
                rows = translation_grid(t.G, grids[src], grids[dst], src=src, dst=dst,
                                        style_dim=plan.network.style_dim)
                save_grid(outdir / "samples" / f"{t.step_idx:08d}_{src}2{dst}.png", rows,
                          cols=2 + len(GRID_STYLE_SEEDS) + 1)
        path = outdir / snapshot_name(t.step_idx)
        save_translator(path, plan.network, t.G, domains=names, provenance=provenance, D=t.D)
        latest = outdir / snaps.LATEST_DIR
        save_translator(latest, plan.network, t.G, domains=names, provenance=provenance, D=t.D)
        snaps.save_training_state(latest / snaps.STATE_FILE, state)
        written.append(path)

    try:
        while not done:
            t.step()
            done = t.step_idx >= config.steps
            if config.max_minutes is not None and not done:
                over = time.time() - start_time > config.max_minutes * 60
                if dist_utils.any_rank(over, info, t.device):
                    done = stopped_early = True
            snap_now = done or t.step_idx % config.snap == 0
            if not (snap_now or t.step_idx % config.tick == 0):
                continue
            now = time.time()
            sec_per_step = (now - tick_start) / max(t.step_idx - tick_step, 1)
            record = {"tick": t.tick, "step": t.step_idx, "Timing/sec_per_step": sec_per_step,
                      "Timing/total_sec": now - start_time, **t.pop_stats()}
            t.tick += 1
            if main:
                assert stats is not None
                stats.write(record)  # before the snapshot: a resume drops lines past the snapshot's step
                if log:
                    eta = (config.steps - t.step_idx) * sec_per_step
                    _log(f"translate train: step {t.step_idx}/{config.steps}, {sec_per_step:.3f} s/step, "
                         f"G {record.get('Loss/G/total', float('nan')):.3f}, D {record.get('Loss/D/total', float('nan')):.3f}"
                         f", ETA {eta / 60:.1f} min")
            if snap_now:
                snapshot()
            tick_start, tick_step = time.time(), t.step_idx
        if t.step_idx == start_step and not (outdir / snaps.LATEST_DIR / snaps.STATE_FILE).is_file():
            snapshot()  # nothing to train (steps already reached): still leave a model
    finally:
        if stats is not None:
            stats.close()
    return TranslationTrainResult(outdir=outdir, step=t.step_idx, stopped_early=stopped_early, snapshots=written,
                                  trainer=t)

