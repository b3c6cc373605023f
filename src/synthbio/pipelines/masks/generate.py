"""`synthbio masks generate`: images and their masks from new seeds, resumable and shardable.

Layout (seeds 0 and 1; one branch):

    DIR/config.json               the MasksGenerateConfig and the run it resolved to
    DIR/classes.json
    DIR/seed0000.png              the image
    DIR/seed0000_mask.png         its mask: grey index PNG, pixel value = class index
    DIR/seed0000_mask_color.png   the mask in the class colours (a preview)
    DIR/manifest.jsonl            one line per sample: seed, files, uncertainty, dropped
    DIR/samples.h5                z, w, w+ per sample (rebuilt at the end)
    DIR/uncertainty.json          the filter: threshold, kept and dropped seeds
    DIR/grid.png                  the first 64 kept samples with their masks over them
    DIR/dropped/...               the samples the filter dropped, same layout

Several branches (RGB + NIR): `DIR/<branch>/seed0000.png` per branch, as
`synthbio generate` writes them, and ONE mask for all of them, aligned to
every branch (they share the synthesis trunk): `DIR/masks/seed0000_mask.png`
and `DIR/masks/seed0000_mask_color.png`.

Every sample gets an uncertainty: the Jensen-Shannon divergence of the
ensemble averaged over its 10% most uncertain pixels (DatasetGAN). Once the
run is complete, the `drop_fraction` most uncertain samples are moved to
`DIR/dropped/` (and marked in the manifest), so DIR holds the kept ones; a
rerun with another fraction moves them back or further.

Resuming and shards reuse `synthbio.pipelines.common`: files atomic, the
manifest line after them, kept records re-hashed on restart, another run's
folder refused (`seeded`); `--shard K/N` makes seeds[K::N] in a folder of its
own, `masks merge` (or the Ray backend, which runs the shards as tasks)
joins complete shards, then applies the filter over the whole run (`shards`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.errors import InputError
from synthbio.generation.sampling import map_seeds
from synthbio.io.images import png_planes, to_uint8, write_png
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter
from synthbio.pipelines.common.seeded import CONFIG_NAME, make_outdir, prepare_seeded_outdir
from synthbio.pipelines.common.shards import run_ray_tasks, shard_items, shard_outdir
from synthbio.pipelines.masks.merge import merge_mask_shards
from synthbio.pipelines.masks.run import (
    COMMAND,
    DROPPED_DIR,
    GRID_NAME,
    MASKS_DIR,
    UNCERTAINTY_NAME,
    LoadedRun,
    MasksGenerateConfig,
    MasksGenerateResult,
    file_keys,
    finish_run,
    image_relpath,
    load_run,
    mask_relpath,
)
from synthbio.segmentation.annotations import write_index_png
from synthbio.segmentation.classes import CLASSES_NAME, colour_mask, write_classes
from synthbio.segmentation.predict import synthesize_with_masks
from synthbio.segmentation.uncertainty import image_uncertainty
from synthbio.utils.devices import resolve_device
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.progress import Progress

# --- the job ------------------------------------------------------------------------------------


def generate_masks(config: MasksGenerateConfig, *, log: Callable[[str], None] | None = None,
                   on_sample: Callable[[int], None] | None = None, progress: bool = False) -> MasksGenerateResult:
    """Make (or complete) the dataset, or this shard of it; see the module docstring.

    progress: report the samples on stderr (a bar on a terminal, periodic lines otherwise).
    """
    if config.backend == "ray":
        return _generate_with_ray(config, log=log)
    loaded = load_run(config)
    return generate_masks_with(loaded, config, log=log, on_sample=on_sample, progress=progress)


def generate_masks_with(loaded: LoadedRun, config: MasksGenerateConfig, *, log: Callable[[str], None] | None = None,
                        on_sample: Callable[[int], None] | None = None, progress: bool = False
                        ) -> MasksGenerateResult:
    G, run = loaded.G, loaded.run
    outdir = Path(config.outdir)
    branches = [list(b) for b in G.config.branches]
    multi = len(branches) > 1
    live = [*(b for b, _ in branches), MASKS_DIR] if multi else []
    folders = [*live, *(f"{DROPPED_DIR}/{f}" for f in live), DROPPED_DIR]
    make_outdir(outdir)
    kept, redo = prepare_seeded_outdir(outdir, run, overwrite=config.overwrite, file_keys=file_keys(branches),
                                       folders=folders, run_outputs=(GRID_NAME, UNCERTAINTY_NAME))
    for f in live:
        (outdir / f).mkdir(exist_ok=True)
    write_classes(outdir / CLASSES_NAME, loaded.classes)
    model = config.model or loaded.meta["generator"]["model"]
    atomic_write_json(outdir / CONFIG_NAME, {
        "command": COMMAND, "config": config.to_dict(), "run": {**run, "classifier": config.classifier, "model": model},
        "branches": branches, "classes": [c.to_dict() for c in loaded.classes],
        "synthbio_version": synthbio.__version__,
    })
    mine = shard_items(config.seeds, config.shard)
    todo = [s for s in mine if s not in kept]
    done = _generate_seeds(loaded, config, todo, multi=multi, progress=progress, on_sample=on_sample)
    dropped: list[int] = []
    threshold = None
    if config.shard == "0/1":
        dropped, threshold = finish_run(outdir, loaded, config)
    return MasksGenerateResult(outdir=outdir, generated=done, kept=[s for s in mine if s in kept],
                               redone=[s for s in redo if s in set(done)], dropped=dropped, threshold=threshold,
                               manifest=outdir / MANIFEST_NAME)


def _generate_seeds(loaded: LoadedRun, config: MasksGenerateConfig, todo: list[int], *, multi: bool,
                    progress: bool, on_sample: Callable[[int], None] | None) -> list[int]:
    G, run, outdir = loaded.G, loaded.run, Path(config.outdir)
    k = len(loaded.classes)
    done: list[int] = []
    with ManifestWriter(outdir / MANIFEST_NAME) as manifest, Progress(progress and bool(todo)) as bar:
        task = bar.add_task("samples with masks", total=len(todo))
        for start in range(0, len(todo), config.batch_size):
            batch = todo[start:start + config.batch_size]
            _, ws = map_seeds(G, batch, class_idx=run["class_idx"], truncation_psi=run["truncation_psi"],
                              truncation_cutoff=run["truncation_cutoff"])
            images, preds = synthesize_with_masks(G, loaded.model, ws, seeds=batch, noise_mode=run["noise_mode"],
                                                  vote=run["vote"])
            images_u8 = {b: to_uint8(x) for b, x in images.items()}
            for i, seed in enumerate(batch):
                files = {}
                for branch in G.branch_names:
                    for suffix, plane in png_planes(images_u8[branch][i]):
                        rel = image_relpath(seed, branch, suffix, multi_branch=multi)
                        files[branch + suffix] = {"path": rel, "sha256": write_png(outdir / rel, plane)}
                labels = preds[i].labels.cpu().numpy().astype(np.uint8)
                rel = mask_relpath(seed, multi_branch=multi)
                files["mask"] = {"path": rel, "sha256": write_index_png(outdir / rel, labels)}
                rel = mask_relpath(seed, multi_branch=multi, color=True)
                preview = colour_mask(labels, loaded.classes)
                files["mask_color"] = {"path": rel, "sha256": write_png(outdir / rel, preview)}
                manifest.append({
                    "seed": seed, **run, "files": files, "uncertainty": image_uncertainty(preds[i].js),
                    "class_pixels": np.bincount(labels.reshape(-1), minlength=k)[:k].tolist(), "dropped": False,
                })
                done.append(seed)
                if on_sample is not None:
                    on_sample(seed)
            bar.advance(task, len(batch))
    return done


# --- shards -------------------------------------------------------------------------------------


def run_shard(config: MasksGenerateConfig) -> list[int]:
    """One shard in this process (the body of a Ray task); returns the seeds it made."""
    return generate_masks(config).generated


def _generate_with_ray(config: MasksGenerateConfig, *, log: Callable[[str], None] | None) -> MasksGenerateResult:
    if config.shard != "0/1":
        raise InputError("--backend ray splits the whole run itself: leave --shard at 0/1")
    n = config.ray_shards
    shard_cfgs = [dataclasses.replace(config, backend="local", shard=f"{k}/{n}",
                                      outdir=shard_outdir(config.outdir, k, n)) for k in range(n)]
    generated = run_ray_tasks(run_shard, shard_cfgs, address=config.ray_address)
    merged = merge_mask_shards([c.outdir for c in shard_cfgs], config.outdir, drop_fraction=config.drop_fraction)
    done = sorted(s for g in generated for s in g)
    return dataclasses.replace(merged, generated=done, kept=sorted(set(config.seeds) - set(done)))


def describe(config: MasksGenerateConfig) -> dict[str, Any]:
    """The resolved plan, for --dry-run (loads nothing)."""
    return {"command": COMMAND, "config": config.to_dict(), "resolved_device": str(resolve_device(config.device)),
            "seeds_in_shard": len(shard_items(config.seeds, config.shard)), "outdir": os.path.abspath(config.outdir)}
