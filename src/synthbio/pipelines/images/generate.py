"""`synthbio generate`: images, manifest, latents and config for a list of seeds.

Output directory layout (single-branch model `img`, seeds 0 and 1):

    DIR/config.json        the command's GenerateConfig and what it resolved to
    DIR/seed0000.png ...   one PNG per sample (official file names)
    DIR/grid.png           with grid=True: the first 64 seeds
    DIR/manifest.jsonl     one line per completed sample (seed, files, hashes)
    DIR/samples.h5         z, w, w+ per sample, groups /<seed:05d>/reference/

A multi-branch model (e.g. rgb + nir) writes each branch in its own folder with
the same file names, `DIR/rgb/seed0000.png`, `DIR/nir/seed0000.png`, and grids
`DIR/grid_rgb.png`, `DIR/grid_nir.png`. Branches with neither 1 nor 3 channels
get one grayscale PNG per channel (`seed0000_c0.png`, ...).

Resuming: every file is written atomically and a sample's manifest line is
appended only after its files; on restart the listed samples whose files still
hash as recorded are kept and everything else is (re)done. A directory holding
a run with other settings (model weights, truncation, class, noise mode) is
refused with OutputDirError unless `overwrite=True`. `samples.h5` is rebuilt
from the manifest at the end (latents are recomputed from the seeds).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import synthbio
from synthbio.checkpoints import load_generator, model_hash
from synthbio.errors import InputError
from synthbio.generation.sampling import (
    SeedableGenerator,
    check_noise_mode,
    check_truncation,
    class_vector,
    map_seeds,
    synthesize,
)
from synthbio.io.images import png_planes, read_png, save_grid, to_uint8, write_png
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter, read_manifest
from synthbio.io.samples import SAMPLES_NAME
from synthbio.pipelines.common.seeded import CONFIG_NAME, make_outdir, prepare_seeded_outdir, write_seed_latents
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.seeds import check_seed

GRID_MAX = 64  # the grid shows at most this many seeds (the first ones)
REFERENCE_LABEL = "reference"
# Settings that change the pixels of a seed: a directory holds one value of each.
RUN_KEYS = ("model_sha256", "truncation_psi", "truncation_cutoff", "class_idx", "noise_mode")


@dataclass(frozen=True)
class GenerateConfig:
    """Everything `synthbio generate` needs; saved as DIR/config.json.

    model: a registry name or a checkpoint path (native folder, .pkl, .pt).
    seeds: sample seeds, in output order (duplicates are an error).
    truncation_cutoff: truncate only the first this-many ws (None = all).
    class_idx: class of a conditional model (None for unconditional ones).
    batch_size: samples per forward pass; never changes the images.
    grid: also write a grid of the first 64 samples.
    overwrite: replace another run's results in `outdir` instead of refusing.
    """

    model: str
    outdir: str
    seeds: tuple[int, ...]
    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None
    class_idx: int | None = None
    noise_mode: str = "const"
    batch_size: int = 8
    device: str = "auto"
    grid: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(check_seed(s) for s in self.seeds))
        object.__setattr__(self, "model", str(self.model))
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        object.__setattr__(self, "truncation_psi", float(self.truncation_psi))
        if not self.seeds:
            raise InputError("no seeds given")
        if len(set(self.seeds)) != len(self.seeds):
            raise InputError("the seed list repeats a seed")
        if not self.model:
            raise InputError("no model given")
        check_noise_mode(self.noise_mode)
        if self.batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {self.batch_size}")
        if self.class_idx is not None and self.class_idx < 0:
            raise InputError(f"class index must be >= 0, got {self.class_idx}")
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise InputError(f"truncation cutoff must be >= 0, got {self.truncation_cutoff}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d


@dataclass(frozen=True)
class GenerateResult:
    outdir: Path
    model_sha256: str
    generated: list[int]  # seeds produced by this call
    kept: list[int]  # seeds found complete from an earlier call
    redone: list[int]  # seeds listed by an earlier call whose files were missing or changed
    manifest: Path
    samples: Path
    config: Path
    grids: list[Path]


# --- file names ---------------------------------------------------------------------------


def _planes_of(G: SeedableGenerator) -> list[tuple[str, str]]:
    """(branch, suffix) of every PNG a sample gets, from the model's branch channel counts."""
    out = []
    for name, channels in G.config.branches:  # type: ignore[attr-defined]
        suffixes = [""] if channels in (1, 3) else [f"_c{i}" for i in range(channels)]
        out += [(name, s) for s in suffixes]
    return out


def sample_relpath(seed: int, branch: str, suffix: str, *, multi_branch: bool) -> str:
    stem = f"seed{seed:04d}{suffix}.png"
    return f"{branch}/{stem}" if multi_branch else stem


def grid_relpath(branch: str, *, multi_branch: bool) -> str:
    return f"grid_{branch}.png" if multi_branch else "grid.png"


# --- the job ------------------------------------------------------------------------------


def load_model(config: GenerateConfig) -> tuple[SeedableGenerator, torch.device]:
    """Resolve the device and load the generator (CheckpointError / ModelNotFoundError on failure)."""
    device = resolve_device(config.device)
    G = load_generator(config.model, device=device)
    G.eval().requires_grad_(False)  # type: ignore[attr-defined]
    return G, device


def describe(config: GenerateConfig) -> dict[str, Any]:
    """The resolved plan, for --dry-run: config, device, seed count (loads nothing)."""
    return {
        "config": config.to_dict(),
        "resolved_device": str(resolve_device(config.device)),
        "num_seeds": len(config.seeds),
        "outdir": os.path.abspath(config.outdir),
    }


def generate(
    config: GenerateConfig,
    *,
    progress: bool = False,
    on_sample: Callable[[int], None] | None = None,
) -> GenerateResult:
    """Load the model named in `config` and generate into `config.outdir` (resumable)."""
    G, device = load_model(config)
    return generate_with(G, config, progress=progress, on_sample=on_sample, device=device)


def generate_with(
    G: SeedableGenerator,
    config: GenerateConfig,
    *,
    progress: bool = False,
    on_sample: Callable[[int], None] | None = None,
    device: torch.device | None = None,
) -> GenerateResult:
    """Generate with an already loaded generator `G` (on its device).

    on_sample(seed) is called after each sample's manifest line is durable.
    """
    class_vector(G.c_dim, config.class_idx)  # bad class -> InputError before touching disk
    check_truncation(G, config.truncation_psi, config.truncation_cutoff)
    outdir = Path(config.outdir)
    multi = len(G.branch_names) > 1
    planes = _planes_of(G)
    plane_keys = [b + s for b, s in planes]
    run = {
        "model_sha256": model_hash(G),
        "truncation_psi": config.truncation_psi,
        "truncation_cutoff": config.truncation_cutoff,
        "class_idx": config.class_idx,
        "noise_mode": config.noise_mode,
    }
    make_outdir(outdir)
    kept, redone = prepare_seeded_outdir(outdir, run, overwrite=config.overwrite, file_keys=plane_keys,
                                         folders=G.branch_names, run_outputs=("grid*.png",))
    if multi:
        for b in G.branch_names:
            (outdir / b).mkdir(exist_ok=True)
    atomic_write_json(
        outdir / CONFIG_NAME,
        {
            "command": "generate",
            "config": config.to_dict(),
            "run": {**run, "model": config.model},
            "device": str(device or "cpu"),
            "synthbio_version": synthbio.__version__,
        },
    )
    todo = [s for s in config.seeds if s not in kept]
    generated = _generate_seeds(G, config, todo, run=run, planes=planes, multi=multi, progress=progress,
                                on_sample=on_sample)
    records = read_manifest(outdir / MANIFEST_NAME).records
    write_latents(G, outdir / SAMPLES_NAME, records, config=config, run=run)
    grids = _write_grids(outdir, config.seeds[:GRID_MAX], records, planes, multi) if config.grid else []
    return GenerateResult(
        outdir=outdir,
        model_sha256=run["model_sha256"],
        generated=generated,
        kept=[s for s in config.seeds if s in kept],
        redone=[s for s in redone if s in set(generated)],
        manifest=outdir / MANIFEST_NAME,
        samples=outdir / SAMPLES_NAME,
        config=outdir / CONFIG_NAME,
        grids=grids,
    )


def _progress_bar(enabled: bool, total: int) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        disable=not enabled or total == 0, transient=False,
    )


def _generate_seeds(
    G: SeedableGenerator,
    config: GenerateConfig,
    todo: list[int],
    *,
    run: dict[str, Any],
    planes: list[tuple[str, str]],
    multi: bool,
    progress: bool,
    on_sample: Callable[[int], None] | None,
) -> list[int]:
    outdir = Path(config.outdir)
    done: list[int] = []
    with ManifestWriter(outdir / MANIFEST_NAME) as manifest, _progress_bar(progress, len(todo)) as bar:
        task = bar.add_task("generate", total=len(todo))
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            _, ws = map_seeds(G, batch, class_idx=config.class_idx, truncation_psi=config.truncation_psi,
                              truncation_cutoff=config.truncation_cutoff)
            images = {b: to_uint8(x) for b, x in synthesize(G, ws, seeds=batch, noise_mode=config.noise_mode).items()}
            for i, seed in enumerate(batch):
                files = {}
                for branch in G.branch_names:
                    for suffix, plane in png_planes(images[branch][i]):
                        rel = sample_relpath(seed, branch, suffix, multi_branch=multi)
                        files[branch + suffix] = {"path": rel, "sha256": write_png(outdir / rel, plane)}
                assert sorted(files) == sorted(b + s for b, s in planes)
                manifest.append({
                    "seed": seed, "identity": seed, "label": REFERENCE_LABEL, **run,
                    "files": files,
                })
                done.append(seed)
                bar.advance(task)
                if on_sample is not None:
                    on_sample(seed)
    return done


def write_latents(
    G: SeedableGenerator,
    path: Path,
    records: list[dict[str, Any]],
    *,
    config: GenerateConfig,
    run: dict[str, Any],
) -> int:
    """Rebuild samples.h5 for every manifest record (`common.seeded.write_seed_latents`)."""
    return write_seed_latents(
        G, path, [int(r["seed"]) for r in records], class_idx=config.class_idx,
        truncation_psi=config.truncation_psi, truncation_cutoff=config.truncation_cutoff,
        noise_mode=config.noise_mode, batch_size=config.batch_size, generator_path=config.model,
        generator_sha256=run["model_sha256"], label=REFERENCE_LABEL,
    )


def _write_grids(
    outdir: Path, seeds: Sequence[int], records: list[dict[str, Any]], planes: list[tuple[str, str]], multi: bool
) -> list[Path]:
    """Grids read back from the written PNGs, so resumed runs get the same grid."""
    by_seed = {int(r["seed"]): r for r in records}
    written: list[Path] = []
    for branch in dict.fromkeys(b for b, _ in planes):
        keys = [b + s for b, s in planes if b == branch]
        tiles = []
        for seed in seeds:
            files = by_seed[seed]["files"]
            arrays = [read_png(outdir / files[k]["path"]) for k in keys]
            tiles.append(arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=-1))
        written += save_grid(outdir / grid_relpath(branch, multi_branch=multi), tiles)
    return written
