"""Snapshots of a training run: native G_ema folders, `training_state.pt`, sample grids, stats.

Layout of OUTDIR:

    config.json                      the TrainConfig and the resolved TrainPlan
    stats.jsonl                      one JSON line per tick
    reals.png                        real samples (per branch: reals_<branch>.png)
    fakes<kimg:06d>[_<branch>].png   G_ema on fixed seeds at every snapshot
    network-snapshot-<kimg:06d>/     native checkpoint of G_ema (+ discriminator/)
    latest/                          the same for the newest snapshot, plus
      training_state.pt              everything needed to continue exactly

`training_state.pt` holds only tensors, dicts, lists, strings and numbers, so
it loads with `torch.load(weights_only=True)` (nothing is unpickled as code).
It is written to a temporary file, fsynced and renamed into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.checkpoints.native import save_discriminator, save_generator
from synthbio.errors import CheckpointError, InputError, OutputDirError, library_message
from synthbio.io.images import save_grid, to_uint8
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator
from synthbio.utils.hashing import atomic_write_bytes, atomic_write_torch, fsync_dir, raise_output_error
from synthbio.utils.seeds import z_from_seeds

STATE_FILE = "training_state.pt"
LATEST_DIR = "latest"
STATE_FORMAT = "synthbio.training_state"
STATE_VERSION = 1


def snapshot_name(cur_nimg: int) -> str:
    return f"network-snapshot-{cur_nimg // 1000:06d}"


def save_training_state(path: str | Path, state: Mapping[str, Any]) -> Path:
    """torch.save to a temp file beside `path`, fsync, rename (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_torch(path, dict(state, format=STATE_FORMAT, format_version=STATE_VERSION))
    return path


def find_state_file(resume: str | Path) -> Path:
    """--resume DIR -> DIR/training_state.pt or DIR/latest/training_state.pt; InputError otherwise."""
    resume = Path(resume)
    if not resume.exists():
        raise InputError(f"--resume {str(resume)!r}: no such directory")
    for candidate in (resume / STATE_FILE, resume / LATEST_DIR / STATE_FILE):
        if candidate.is_file():
            return candidate
    if resume.is_file() and resume.name.endswith(".pt"):
        return resume
    raise InputError(f"--resume {str(resume)!r}: holds no {STATE_FILE} (looked in it and in {LATEST_DIR}/)")


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a training_state.pt safely (weights_only); CheckpointError if corrupt or foreign."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except Exception as exc:  # truncated zip, unsafe globals, ...
        raise CheckpointError(f"{path}: not a readable training state: {library_message(exc)}") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a synthbio training state")
    if state.get("format_version") != STATE_VERSION:
        raise CheckpointError(f"{path}: format_version {state.get('format_version')!r} is not supported")
    return state


def save_networks(directory: Path, G_ema: Generator, D: Mapping[str, Discriminator], *,
                  provenance: dict[str, Any]) -> Path:
    """Native checkpoint of G_ema; the first branch's D in discriminator/, others in discriminator_<name>/."""
    names = list(D)
    save_generator(G_ema, directory, provenance=provenance, D=D[names[0]])
    for name in names[1:]:
        save_discriminator(D[name], directory / f"discriminator_{name}", provenance=provenance)
    return directory


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode("utf-8"))


def grid_latents(num: int, z_dim: int, *, device: torch.device) -> torch.Tensor:
    """Fixed latents of seeds 0..num-1 (the official seed -> z convention)."""
    return z_from_seeds(list(range(num)), z_dim, device=device)


@torch.no_grad()
def save_fakes_grid(G_ema: Generator, path_stem: Path, *, z: torch.Tensor, c: torch.Tensor,
                    batch: int = 16) -> list[Path]:
    """G_ema(z, c) with const noise as one grid PNG per branch: <stem>.png or <stem>_<branch>.png."""
    outs: dict[str, list[torch.Tensor]] = {}
    was_training = G_ema.training
    G_ema.eval()
    try:
        for i in range(0, z.shape[0], batch):
            cc = c[i:i + batch] if c.shape[1] > 0 else None
            imgs = G_ema(z[i:i + batch], cc, noise_mode="const", force_fp32=True)
            imgs = imgs if isinstance(imgs, dict) else {G_ema.branch_names[0]: imgs}
            for name, img in imgs.items():
                outs.setdefault(name, []).append(img.float().cpu())
    finally:
        G_ema.train(was_training)
    return save_branch_grids(path_stem, {k: torch.cat(v) for k, v in outs.items()})


def save_branch_grids(path_stem: Path, images: Mapping[str, torch.Tensor]) -> list[Path]:
    """{branch: [N,C,H,W] in [-1,1]} -> grid PNGs (one file per branch when there are several)."""
    written: list[Path] = []
    single = len(images) == 1
    for name, img in images.items():
        path = path_stem.with_name(path_stem.name + ("" if single else f"_{name}") + ".png")
        written += save_grid(path, list(to_uint8(img)))
    return written


def save_reals_grid(path_stem: Path, samples: Sequence[Mapping[str, np.ndarray | torch.Tensor]]) -> list[Path]:
    """Real samples {branch: uint8 [C,H,W]} -> reals grid PNG(s)."""
    images: dict[str, list[torch.Tensor]] = {}
    for s in samples:
        for name, img in s.items():
            images.setdefault(name, []).append(torch.as_tensor(np.asarray(img)).float() / 127.5 - 1)
    return save_branch_grids(path_stem, {k: torch.stack(v) for k, v in images.items()})


class StatsLog:
    """Append-only stats.jsonl; on resume, lines past the resumed step are dropped first."""

    def __init__(self, path: Path, *, keep_until_step: int | None = None) -> None:
        self.path = path
        if keep_until_step is not None and path.is_file():
            kept = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if int(json.loads(line).get("step", 0)) <= keep_until_step:
                        kept.append(line)
                except (ValueError, AttributeError):
                    break  # a line cut by a kill: everything after it is stale too
            atomic_write_bytes(path, "".join(k + "\n" for k in kept).encode("utf-8"))
        elif keep_until_step is None and path.is_file():
            path.unlink()
        try:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise_output_error(exc, path)

    def write(self, record: Mapping[str, Any]) -> None:
        try:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise_output_error(exc, self.path)

    def close(self) -> None:
        self._file.close()
        fsync_dir(self.path.parent)


def warm_start_generator(G: Generator, G_ema: Generator, source: str) -> None:
    """Copy the weights (and w_avg) of the generator ``source`` into G and G_ema, in place.

    source: a native folder, an official .pkl or a registry name (its G_ema).
    The architecture must equal this run's; the discriminator starts fresh.
    """
    from synthbio.checkpoints.loading import load_generator

    init = load_generator(source)
    have, want = init.state_dict(), G.state_dict()
    if have.keys() != want.keys() or any(have[k].shape != want[k].shape for k in want):
        theirs, ours = init.config.to_dict(), G.config.to_dict()
        diffs = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)] or ["weight shapes"]
        raise InputError(f"--init-from {source}: its architecture differs from this run's (differs in "
                         f"{', '.join(diffs[:6])}{' ...' if len(diffs) > 6 else ''}); pick the --config preset "
                         "(and --branches, --resolution) the generator was trained with")
    for net in (G, G_ema):
        net.load_state_dict({k: v.to(want[k].device, want[k].dtype) for k, v in have.items()})


def prepare_run_outdir(outdir: str | os.PathLike[str], *, resume: str | None, is_main: bool) -> Path:
    """The folder of a training run (GAN or translator): refused when it is a file, or when it already
    holds a run and this one does not resume it; created by the main process only."""
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"--outdir {str(out)!r} exists and is not a directory")
    existing = out / LATEST_DIR / STATE_FILE
    if resume is None and existing.is_file():
        raise OutputDirError(f"--outdir {str(out)!r} holds a training run ({existing}); "
                             f"continue it with --resume {out} or choose another --outdir")
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
    return out
