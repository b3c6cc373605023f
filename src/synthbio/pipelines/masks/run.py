"""One `masks generate` run: its config, its folder, the generator and classifier it loads, and
the steps that end a complete run (the uncertainty filter, samples.h5, the grid).

Shared by the job (`generate.py`) and the merge of its shards (`merge.py`);
see `generate.py` for the folder layout.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.checkpoints import load_generator, model_hash
from synthbio.errors import InputError
from synthbio.generation.sampling import check_noise_mode, check_truncation, class_vector
from synthbio.io.derived import mark_derived
from synthbio.io.images import make_grid, read_png, write_png
from synthbio.io.manifest import MANIFEST_NAME, read_manifest, rewrite_manifest
from synthbio.io.samples import SAMPLES_NAME
from synthbio.pipelines.common.seeded import write_seed_latents
from synthbio.pipelines.common.shards import parse_shard
from synthbio.segmentation.classes import classes_from_json, overlay
from synthbio.segmentation.pixel_classifier import VOTES, WEIGHTS_FILE, load_pixel_classifier
from synthbio.segmentation.predict import check_compatible
from synthbio.segmentation.uncertainty import uncertainty_threshold
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json, sha256_file
from synthbio.utils.seeds import check_seed

COMMAND = "masks generate"
UNCERTAINTY_NAME = "uncertainty.json"
GRID_NAME = "grid.png"
DROPPED_DIR = "dropped"
MASKS_DIR = "masks"
GRID_MAX = 64
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class MasksGenerateConfig:
    """Everything `synthbio masks generate` needs; saved in DIR/config.json.

    classifier: a folder made by `masks train`. model: the generator (None =
    the one the classifier was trained on; its weights must hash the same).
    truncation_psi / truncation_cutoff / class_idx / noise_mode: None = as the
    annotated samples were made (the classifier records it). vote: 'mean'
    (argmax of the mean probability) or 'majority' (the reference's vote).
    drop_fraction: share of the most uncertain samples moved to DIR/dropped/.
    shard: 'K/N' makes seeds[K::N] only; backend 'ray' runs `ray_shards` shards as Ray tasks and merges them.
    """

    classifier: str
    outdir: str
    seeds: tuple[int, ...]
    model: str | None = None
    truncation_psi: float | None = None
    truncation_cutoff: int | None = None
    class_idx: int | None = None
    noise_mode: str | None = None
    vote: str = "mean"
    drop_fraction: float = 0.0
    batch_size: int = 8
    device: str = "auto"
    shard: str = "0/1"
    backend: str = "local"
    ray_address: str | None = None
    ray_shards: int = 2
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(check_seed(s) for s in self.seeds))
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        object.__setattr__(self, "classifier", os.fspath(self.classifier))
        if not self.seeds:
            raise InputError("no seeds given")
        if len(set(self.seeds)) != len(self.seeds):
            raise InputError("the seed list repeats a seed")
        if self.noise_mode is not None:
            check_noise_mode(self.noise_mode)
        if self.vote not in VOTES:
            raise InputError(f"--vote {self.vote!r} is not one of {', '.join(VOTES)}")
        if not 0 <= self.drop_fraction < 1:
            raise InputError(f"--drop-uncertain must be in [0, 1), got {self.drop_fraction}")
        if self.batch_size < 1 or self.ray_shards < 1:
            raise InputError("batch size and ray shards must be >= 1")
        if self.backend not in BACKENDS:
            raise InputError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        parse_shard(self.shard)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d


@dataclass(frozen=True)
class MasksGenerateResult:
    outdir: Path
    generated: list[int]  # seeds made by this call
    kept: list[int]  # seeds found complete from an earlier call
    redone: list[int]  # listed by an earlier call but missing or changed, made again
    dropped: list[int]  # seeds the uncertainty filter moved to DIR/dropped/ (complete runs only)
    threshold: float | None  # the uncertainty above which samples were dropped
    manifest: Path


# --- names --------------------------------------------------------------------------------------


def planes_of(branches: Sequence[Sequence[Any]]) -> list[tuple[str, str]]:
    out = []
    for name, channels in branches:
        out += [(str(name), s) for s in ([""] if int(channels) in (1, 3) else [f"_c{i}" for i in range(int(channels))])]
    return out


def image_relpath(seed: int, branch: str, suffix: str, *, multi_branch: bool) -> str:
    return f"{branch}/seed{seed:04d}{suffix}.png" if multi_branch else f"seed{seed:04d}{suffix}.png"


def mask_relpath(seed: int, *, multi_branch: bool, color: bool = False) -> str:
    name = f"seed{seed:04d}_mask{'_color' if color else ''}.png"
    return f"{MASKS_DIR}/{name}" if multi_branch else name


# --- loading ------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    G: Any
    model: Any
    meta: dict[str, Any]
    run: dict[str, Any]
    classes: tuple[Any, ...]


def load_run(config: MasksGenerateConfig) -> LoadedRun:
    device = resolve_device(config.device)
    model, meta = load_pixel_classifier(config.classifier, device=device)
    gen = meta.get("generator") or {}
    model_path = config.model or gen.get("model")
    if not model_path:
        raise InputError(f"{config.classifier} names no generator: give --model")
    G = load_generator(model_path, device=device).eval().requires_grad_(False)
    sha = model_hash(G)
    if gen.get("model_sha256") and sha != gen["model_sha256"]:
        raise InputError(f"the pixel classifier {config.classifier} was trained on another generator than "
                         f"{model_path!r} (weights sha256 {gen['model_sha256'][:12]}... vs {sha[:12]}...)")
    check_compatible(G, model)
    trained = meta.get("run") or {}
    run = {
        "model_sha256": sha,
        "classifier_sha256": sha256_file(Path(config.classifier) / WEIGHTS_FILE),
        "truncation_psi": float(config.truncation_psi if config.truncation_psi is not None
                                else trained.get("truncation_psi", 1.0)),
        "truncation_cutoff": config.truncation_cutoff if config.truncation_cutoff is not None
        else trained.get("truncation_cutoff"),
        "class_idx": config.class_idx if config.class_idx is not None else trained.get("class_idx"),
        "noise_mode": config.noise_mode or trained.get("noise_mode", "const"),
        "vote": config.vote,
    }
    class_vector(G.c_dim, run["class_idx"])
    check_truncation(G, run["truncation_psi"], run["truncation_cutoff"])
    classes = classes_from_json(meta.get("classes"), where=os.fspath(Path(config.classifier) / "config.json"))
    return LoadedRun(G=G, model=model, meta=meta, run=run, classes=classes)


def file_keys(branches: Sequence[Sequence[Any]]) -> list[str]:
    return [b + s for b, s in planes_of(branches)] + ["mask", "mask_color"]


# --- the end of a complete run: filter, latents, grid -----------------------------------------


def _move(outdir: Path, rec: dict[str, Any], *, to_dropped: bool) -> dict[str, Any]:
    """The record with its files moved into (or out of) DIR/dropped/ (os.replace, atomic per file)."""
    files = {}
    for key, entry in rec["files"].items():
        rel = entry["path"]
        base = rel[len(DROPPED_DIR) + 1:] if rel.startswith(DROPPED_DIR + "/") else rel
        new = f"{DROPPED_DIR}/{base}" if to_dropped else base
        if new != rel:
            (outdir / new).parent.mkdir(parents=True, exist_ok=True)
            os.replace(outdir / rel, outdir / new)
        files[key] = {**entry, "path": new}
    return {**rec, "files": files, "dropped": to_dropped}


def apply_uncertainty_filter(outdir: Path, records: list[dict[str, Any]], drop_fraction: float
                             ) -> tuple[list[dict[str, Any]], list[int], float]:
    """Move the `drop_fraction` most uncertain samples to DIR/dropped/ (and the others back); rewrite the manifest.

    Returns (records, dropped seeds, threshold). A kill part-way leaves records
    whose files moved: they no longer hash where listed and are redone on the
    next run, which then filters again.
    """
    threshold = uncertainty_threshold([float(r["uncertainty"]) for r in records], drop_fraction)
    drop = [float(r["uncertainty"]) > threshold for r in records]
    if any(drop):  # set aside, not data: training, FID and every other reader skip it (synthbio.io.derived)
        mark_derived(outdir / DROPPED_DIR, command=f"{COMMAND} --drop-uncertain", source=outdir)
    out = [_move(outdir, r, to_dropped=d) for r, d in zip(records, drop)]
    rewrite_manifest(outdir / MANIFEST_NAME, out)
    return out, [int(r["seed"]) for r in out if r["dropped"]], threshold


def finish_run(outdir: Path, loaded: LoadedRun, config: MasksGenerateConfig) -> tuple[list[int], float | None]:
    """A complete run: the records in seed order, the filter, samples.h5, the grid and uncertainty.json.

    Returns (dropped seeds, threshold); the threshold is None when nothing is dropped.
    """
    records = sorted(read_manifest(outdir / MANIFEST_NAME).records, key=lambda r: int(r["seed"]))
    records, dropped, cut = apply_uncertainty_filter(outdir, records, config.drop_fraction)
    threshold = float(cut) if np.isfinite(cut) else None  # +inf: nothing dropped
    run = loaded.run
    write_seed_latents(loaded.G, outdir / SAMPLES_NAME, [int(r["seed"]) for r in records],
                       class_idx=run["class_idx"], truncation_psi=run["truncation_psi"],
                       truncation_cutoff=run["truncation_cutoff"], noise_mode=run["noise_mode"],
                       batch_size=config.batch_size, generator_path=config.model or loaded.meta["generator"]["model"],
                       generator_sha256=run["model_sha256"])
    scores = [float(r["uncertainty"]) for r in records]
    atomic_write_json(outdir / UNCERTAINTY_NAME, {
        "drop_fraction": config.drop_fraction, "threshold": threshold,
        "samples": len(records), "dropped": dropped, "kept": [int(r["seed"]) for r in records if not r["dropped"]],
        "median": float(np.median(scores)) if scores else None, "max": max(scores, default=None),
        "score": "mean Jensen-Shannon divergence of the ensemble over the 10% most uncertain pixels (nats)",
    })
    _write_grid(outdir, [r for r in records if not r["dropped"]][:GRID_MAX], loaded)
    return dropped, threshold


def _write_grid(outdir: Path, records: list[dict[str, Any]], loaded: LoadedRun) -> None:
    if not records:
        (outdir / GRID_NAME).unlink(missing_ok=True)
        return
    first = loaded.G.branch_names[0]
    key = first if first in records[0]["files"] else f"{first}_c0"
    tiles = [overlay(read_png(outdir / r["files"][key]["path"]), read_png(outdir / r["files"]["mask"]["path"]),
                     loaded.classes, alpha=0.45) for r in records]
    write_png(outdir / GRID_NAME, make_grid(tiles, pad=2))


