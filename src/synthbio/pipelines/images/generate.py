"""`synthbio generate`: images, manifest, latents and config for a list of seeds.

Output directory layout (single-branch model `img`, seeds 0 and 1):

    DIR/config.json        the command's GenerateConfig and what it resolved to
    DIR/seed0000.png ...   one PNG per sample (official file names)
    DIR/grid.png           with grid=True: the first 64 seeds
    DIR/manifest.jsonl     one line per completed sample (seed, files, hashes)
    DIR/samples.h5         z, w, w+ per sample, groups /<seed:05d>/reference/

An EG3D model renders each seed from every view (--yaw x --pitch): one view
writes `seed0000.png`, several write `seed0000_yaw-30_pitch+0.png`, ...;
with save_depth the depth map of each view goes beside it
(`seed0000_depth.npy` or 16-bit `seed0000_depth.png` with near/far recorded in
the file and in the manifest). A StyleGAN3 model can be translated / rotated
through its input layer (translate, rotate), as the official gen_images.py.

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
import math
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
    conditioning,
    is_camera_conditioned,
    map_seeds,
    synthesize_outputs,
)
from synthbio.io.depth import DEPTH_FORMATS, write_depth
from synthbio.io.images import png_planes, read_png, save_grid, to_uint8, write_png
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter, read_manifest
from synthbio.io.samples import SAMPLES_NAME
from synthbio.nn.eg3d.camera import DEFAULT_FOV_DEG
from synthbio.pipelines.common.rundir import CONFIG_NAME, claim_run_folder, keep_intact, remove_temp_files
from synthbio.pipelines.common.seeded import write_seed_latents
from synthbio.pipelines.images.views import (
    DEPTH_UNITS,
    View,
    check_view_options,
    depth_range,
    transform_kwargs,
    view_kwargs,
    views_of,
)
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.progress import Progress
from synthbio.utils.seeds import check_seed

GRID_MAX = 64  # the grid shows at most this many seeds (the first ones)
REFERENCE_LABEL = "reference"
# Settings that change the pixels of a seed: a directory holds one value of each.
# views / fov (EG3D) and transform (StyleGAN3) are None for other models, as in runs written before them.
RUN_KEYS = ("model_sha256", "truncation_psi", "truncation_cutoff", "class_idx", "noise_mode", "views", "fov",
            "transform")


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
    yaw / pitch: EG3D views in degrees (every pair is rendered); fov: EG3D field of
        view in degrees (None = the official 18.837); save_depth: 'npy' or 'png16'
        writes each view's depth map (EG3D).
    translate / rotate: StyleGAN3 input transform (image widths, degrees).
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
    yaw: tuple[float, ...] = (0.0,)
    pitch: tuple[float, ...] = (0.0,)
    fov: float | None = None
    save_depth: str | None = None
    translate: tuple[float, float] = (0.0, 0.0)
    rotate: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "yaw", tuple(float(v) for v in self.yaw))
        object.__setattr__(self, "pitch", tuple(float(v) for v in self.pitch))
        object.__setattr__(self, "translate", tuple(float(v) for v in self.translate))
        if not self.yaw or not self.pitch:
            raise InputError("--yaw and --pitch need at least one angle each")
        object.__setattr__(self, "rotate", float(self.rotate))
        if len(self.translate) != 2:
            raise InputError(f"--translate takes two numbers (x, y), got {list(self.translate)}")
        if not all(math.isfinite(v) for v in (*self.translate, self.rotate, *self.yaw, *self.pitch)):
            raise InputError("--translate, --rotate, --yaw and --pitch must be finite numbers")
        if self.fov is not None and not 0 < self.fov < 180:
            raise InputError(f"--fov must be in (0, 180) degrees, got {self.fov}")
        if self.save_depth is not None and self.save_depth not in DEPTH_FORMATS:
            raise InputError(f"--save-depth must be one of {', '.join(DEPTH_FORMATS)}, got {self.save_depth!r}")
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
        for key in ("seeds", "yaw", "pitch", "translate"):
            d[key] = list(d[key])
        return d

    @property
    def views(self) -> list[View]:
        return views_of(self.yaw, self.pitch)


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


def _planes_of(G: SeedableGenerator, views: list[View] | None = None) -> list[tuple[str, str]]:
    """(branch, suffix) of every PNG a sample gets: per channel group of each branch, per view (EG3D)."""
    out = []
    many = views is not None and len(views) > 1
    for name, channels in G.branches:
        suffixes = [""] if channels in (1, 3) else [f"_c{i}" for i in range(channels)]
        for view in views or [None]:
            out += [(name, (view.suffix(many=many) if view else "") + s) for s in suffixes]
    return out


def _depth_keys(views: list[View], save_depth: str | None) -> list[tuple[str, str]]:
    """(manifest key, file suffix with extension) of every depth map a sample gets."""
    if save_depth is None:
        return []
    ext = ".npy" if save_depth == "npy" else ".png"
    return [(f"depth{v.suffix(many=len(views) > 1)}", f"{v.suffix(many=len(views) > 1)}_depth{ext}")
            for v in views]


def sample_relpath(seed: int, branch: str, suffix: str, *, multi_branch: bool) -> str:
    stem = f"seed{seed:04d}{suffix}.png"
    return f"{branch}/{stem}" if multi_branch else stem


def grid_relpath(branch: str, *, multi_branch: bool) -> str:
    return f"grid_{branch}.png" if multi_branch else "grid.png"


# --- resuming -----------------------------------------------------------------------------


def _run_key(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in RUN_KEYS}


def _legacy_run(saved: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A folder whose config.json predates the "run" object: the run of its first manifest record."""
    return _run_key(records[0]) if records else None


def _prepare_outdir(
    outdir: Path, run: dict[str, Any], *, overwrite: bool, planes: list[str], branches: Sequence[str]
) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """Claim the folder for this run (`pipelines.common.rundir`); return (intact records by seed, seeds to redo)."""
    folder = claim_run_folder(outdir, command="generate", run=run, overwrite=overwrite, legacy_run=_legacy_run)
    remove_temp_files(outdir, branches)

    def accept(rec: dict[str, Any]) -> bool:
        files = rec.get("files")
        return _run_key(rec) == run and isinstance(files, dict) and sorted(files) == sorted(planes)

    return keep_intact(outdir, folder.records, key=lambda r: r.get("seed") if isinstance(r.get("seed"), int) else None,
                       accept=accept)


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
    conditioning(G, config.class_idx)  # bad class -> InputError before touching disk
    check_truncation(G, config.truncation_psi, config.truncation_cutoff)
    check_view_options(G, views=config.views, fov=config.fov, save_depth=config.save_depth,
                       translate=config.translate, rotate=config.rotate)
    outdir = Path(config.outdir)
    multi = len(G.branch_names) > 1
    eg3d = is_camera_conditioned(G)
    views = config.views if eg3d else None
    planes = _planes_of(G, views)
    plane_keys = [b + s for b, s in planes] + [k for k, _ in _depth_keys(config.views, config.save_depth)]
    transform = None if not transform_kwargs(G, translate=config.translate, rotate=config.rotate) \
        else [*config.translate, config.rotate]
    run = {
        "model_sha256": model_hash(G),
        "truncation_psi": config.truncation_psi,
        "truncation_cutoff": config.truncation_cutoff,
        "class_idx": config.class_idx,
        "noise_mode": config.noise_mode,
        "views": [v.to_list() for v in views] if views else None,
        "fov": (config.fov or DEFAULT_FOV_DEG) if eg3d else None,
        "transform": transform,
    }
    kept, redone = _prepare_outdir(outdir, run, overwrite=config.overwrite, planes=plane_keys, branches=G.branch_names)
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
    grids = _write_grids(outdir, config.seeds[:GRID_MAX], records, planes, multi,
                         views=len(views) if views else 1) if config.grid else []
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
    eg3d = is_camera_conditioned(G)
    views = config.views if eg3d else [View(0.0, 0.0)]
    many = len(views) > 1
    depth_files = dict(_depth_keys(config.views, config.save_depth))
    near, far = depth_range(G) if config.save_depth else (0.0, 0.0)
    extra = transform_kwargs(G, translate=config.translate, rotate=config.rotate)
    with ManifestWriter(outdir / MANIFEST_NAME) as manifest, Progress(progress and bool(todo)) as bar:
        task = bar.add_task("samples", total=len(todo))
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start : start + config.batch_size]
            _, ws = map_seeds(G, batch, class_idx=config.class_idx, truncation_psi=config.truncation_psi,
                              truncation_cutoff=config.truncation_cutoff)
            files: list[dict[str, Any]] = [{} for _ in batch]
            for view in views:  # one w per seed, rendered from every view
                vk = view_kwargs(G, view, fov=config.fov, n=len(batch), device=ws.device)
                out = synthesize_outputs(G, ws, seeds=batch, noise_mode=config.noise_mode, **vk, **extra)
                vs = view.suffix(many=many)
                for branch in G.branch_names:
                    images = to_uint8(out[branch])
                    for i, seed in enumerate(batch):
                        for suffix, plane in png_planes(images[i]):
                            rel = sample_relpath(seed, branch, vs + suffix, multi_branch=multi)
                            files[i][branch + vs + suffix] = {"path": rel, "sha256": write_png(outdir / rel, plane)}
                if config.save_depth:
                    depth = out["image_depth"][:, 0].float().cpu().numpy()
                    key = f"depth{vs}"
                    for i, seed in enumerate(batch):
                        rel = f"seed{seed:04d}{depth_files[key]}"
                        sha = write_depth(outdir / rel, depth[i], config.save_depth, near=near, far=far,
                                          units=DEPTH_UNITS)
                        files[i][key] = {"path": rel, "sha256": sha, "near": near, "far": far}
            for i, seed in enumerate(batch):
                assert sorted(files[i]) == sorted([b + s for b, s in planes] + list(depth_files))
                manifest.append({
                    "seed": seed, "identity": seed, "label": REFERENCE_LABEL, **run,
                    "files": files[i],
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
    outdir: Path, seeds: Sequence[int], records: list[dict[str, Any]], planes: list[tuple[str, str]], multi: bool,
    *, views: int = 1,
) -> list[Path]:
    """Grids read back from the written PNGs, so resumed runs get the same grid.

    With several views (EG3D) a row per seed, a column per view; otherwise channel planes of a
    branch are stacked into one tile per seed.
    """
    by_seed = {int(r["seed"]): r for r in records}
    written: list[Path] = []
    for branch in dict.fromkeys(b for b, _ in planes):
        keys = [b + s for b, s in planes if b == branch]
        tiles = []
        for seed in seeds:
            files = by_seed[seed]["files"]
            arrays = [read_png(outdir / files[k]["path"]) for k in keys]
            if views > 1:
                tiles += arrays
            else:
                tiles.append(arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=-1))
        written += save_grid(outdir / grid_relpath(branch, multi_branch=multi), tiles,
                             cols=views if views > 1 else None)
    return written
