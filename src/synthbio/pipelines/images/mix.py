"""`synthbio mix`: style mixing between row seeds and column seeds.

Each row seed gives the base ws; for every column seed, the layers listed in
`styles` are taken from the column seed's ws instead (coarse layers 0-6 carry
pose and shape, later ones colour and texture). As in the official
`style_mixing.py`, truncation is applied to every layer, images are saved as
`<row>-<col>.png` (and `<seed>-<seed>.png` for the unmixed seeds) and
`grid.png` has the column seeds' own images as its top row, the row seeds' own
images as its left column, and the mixes inside. Multi-branch models get a
folder per branch and `grid_<branch>.png`, as in `synthbio generate`. With
noise_mode 'random' an image's noise is seeded by its row seed.

The folder holds one run (`synthbio.pipelines.common.rundir`): config.json
records the weights and every setting that changes an image; manifest.jsonl
lists each written image pair with its files' sha256. The same command again
rewrites the same files (it is cheap: rows x cols images); a folder holding
another run, a mix of other seeds or layers or a `generate` run, is refused
unless `overwrite`, which deletes only that run's files.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import synthbio
from synthbio.errors import InputError
from synthbio.generation.sampling import (
    SeedableGenerator,
    check_noise_mode,
    conditioning,
    map_seeds,
    mix_styles,
    parse_styles,
    synthesize,
)
from synthbio.io.images import png_planes, save_grid, to_uint8, write_png
from synthbio.io.manifest import MANIFEST_NAME, rewrite_manifest
from synthbio.pipelines.common.rundir import CONFIG_NAME, claim_run_folder, remove_temp_files
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.seeds import check_seed


@dataclass(frozen=True)
class MixConfig:
    """Everything `synthbio mix` needs; saved as DIR/config.json.

    rows / cols: seeds of the base images and of the style donors.
    styles: indices of the ws layers taken from the column seed (0-based).
    """

    model: str
    outdir: str
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    styles: tuple[int, ...] = tuple(range(7))
    truncation_psi: float = 1.0
    class_idx: int | None = None
    noise_mode: str = "const"
    batch_size: int = 8
    device: str = "auto"
    overwrite: bool = False

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            seeds = tuple(check_seed(s) for s in getattr(self, name))
            if not seeds:
                raise InputError(f"no {name} seeds given")
            object.__setattr__(self, name, seeds)
        object.__setattr__(self, "styles", tuple(int(s) for s in self.styles))
        object.__setattr__(self, "model", str(self.model))
        object.__setattr__(self, "outdir", os.fspath(self.outdir))
        object.__setattr__(self, "truncation_psi", float(self.truncation_psi))
        check_noise_mode(self.noise_mode)
        if self.batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {self.batch_size}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("rows", "cols", "styles"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class MixResult:
    outdir: Path
    images: list[Path]
    grids: list[Path]


def _hwc(images: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {b: to_uint8(x) for b, x in images.items()}


def _save(outdir: Path, name: str, branch: str, image: np.ndarray, *, multi: bool) -> dict[str, dict[str, str]]:
    """Write one image's PNG(s); returns the manifest entries {branch + suffix: {path, sha256}}."""
    out = {}
    for suffix, plane in png_planes(image):
        rel = f"{branch}/{name}{suffix}.png" if multi else f"{name}{suffix}.png"
        out[branch + suffix] = {"path": rel, "sha256": write_png(outdir / rel, plane)}
    return out


def run_key(G: SeedableGenerator, config: MixConfig) -> dict[str, Any]:
    """What decides the images of a mix (compared with the folder's config.json)."""
    from synthbio.checkpoints import model_hash

    return {"model_sha256": model_hash(G), "rows": list(config.rows), "cols": list(config.cols),
            "styles": list(config.styles), "truncation_psi": config.truncation_psi, "class_idx": config.class_idx,
            "noise_mode": config.noise_mode}


def style_mix(config: MixConfig) -> MixResult:
    """Load the model named in `config` and write the mixes and the grid."""
    from synthbio.checkpoints import load_generator

    device = resolve_device(config.device)
    G = load_generator(config.model, device=device)
    G.eval().requires_grad_(False)
    return style_mix_with(G, config)


def style_mix_with(G: SeedableGenerator, config: MixConfig) -> MixResult:
    """Style mixing with an already loaded generator `G`."""
    styles = parse_styles(config.styles, G.num_ws)
    conditioning(G, config.class_idx)
    multi = len(G.branch_names) > 1
    run = run_key(G, config)
    outdir = claim_run_folder(config.outdir, command="mix", run=run, overwrite=config.overwrite,
                              legacy_run=lambda saved, records: {"model_sha256": None}).outdir
    remove_temp_files(outdir, G.branch_names if multi else ())
    for b in G.branch_names if multi else ():
        (outdir / b).mkdir(exist_ok=True)
    atomic_write_json(outdir / CONFIG_NAME, {"command": "mix", "config": config.to_dict(), "run": run,
                                             "synthbio_version": synthbio.__version__})
    all_seeds = list(dict.fromkeys(config.rows + config.cols))
    opts = dict(class_idx=config.class_idx, truncation_psi=config.truncation_psi)
    ws_of: dict[int, torch.Tensor] = {}
    images: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    bs = config.batch_size
    for start in range(0, len(all_seeds), bs):
        batch = all_seeds[start : start + bs]
        _, ws = map_seeds(G, batch, **opts)
        out = _hwc(synthesize(G, ws, seeds=batch, noise_mode=config.noise_mode))
        for i, s in enumerate(batch):
            ws_of[s] = ws[i]
            images[(s, s)] = {b: x[i] for b, x in out.items()}
    pairs = [(r, c) for r in config.rows for c in config.cols]
    for start in range(0, len(pairs), bs):
        batch = pairs[start : start + bs]
        base = torch.stack([ws_of[r] for r, _ in batch])
        donor = torch.stack([ws_of[c] for _, c in batch])
        ws = mix_styles(base, donor, styles)
        out = _hwc(synthesize(G, ws, seeds=[r for r, _ in batch], noise_mode=config.noise_mode))
        for i, key in enumerate(batch):
            images[key] = {b: x[i] for b, x in out.items()}
    written: list[Path] = []
    records = []
    for (r, c), by_branch in images.items():
        files: dict[str, dict[str, str]] = {}
        for b, img in by_branch.items():
            files.update(_save(outdir, f"{r}-{c}", b, img, multi=multi))
        written += [outdir / f["path"] for f in files.values()]
        records.append({"row": r, "col": c, "files": files})
    rewrite_manifest(outdir / MANIFEST_NAME, records)
    grids = []
    for b in G.branch_names:
        blank = np.zeros_like(images[(config.rows[0], config.rows[0])][b])
        tiles = [blank] + [images[(c, c)][b] for c in config.cols]
        for r in config.rows:
            tiles += [images[(r, r)][b]] + [images[(r, c)][b] for c in config.cols]
        grids += save_grid(outdir / (f"grid_{b}.png" if multi else "grid.png"), tiles, cols=len(config.cols) + 1)
    return MixResult(outdir=outdir, images=written, grids=grids)
