"""`synthbio dataset generate`: an identity-labelled synthetic dataset on disk.

Layout (identity 3, samples per identity M = 3):

    DIR/config.json                      the DatasetConfig and what it resolved to
    DIR/00003/reference.png              ImageFolder layout: one folder per identity
    DIR/00003/variation_0.png
    DIR/00003/variation_1.png
    DIR/00003/reference_mask.png         with --masks CLASSIFIER: an index mask beside every image
    DIR/classes.json                     (value = class index; the classifier's classes)
    DIR/00003/latents.safetensors        the identity's z / ws / embeddings (resume, merge;
                                         not an image, so ImageFolder readers skip it)
    DIR/references.safetensors           every reference of the dataset (cache, see below)
    DIR/manifest.jsonl                   one line per written sample
    DIR/samples.h5                       /<identity:05d>/<label>/ groups, rebuilt at the end

M counts every image of an identity: the reference and M - 1 variations.

Determinism: identity i's seed is a word of `SeedSequence([seed, i])` (with
rejection references: of the i-th accepted candidate, see
`synthbio.pipelines.dataset.engines`), sample k of it gets `SeedSequence([seed,
i, k])`, so every file is a function of the config, whatever the shard, batch
size, backend or interruption.

References and shards: references have inter-class constraints (rejection
needs the set accepted so far, Langevin moves them all together), so they
are computed once for the WHOLE dataset, deterministically, by every run
(shards included) and cached in DIR/references.safetensors; a shard then
makes only the variations of its identities. Every shard therefore holds the
same references as an unsharded run, and the merged dataset equals the
unsharded one, file for file. `--shard K/N` takes identities i with
i % N == K (strided, so shards stay balanced and a longer run extends each).

Resuming: images, latents and references are written atomically; an
identity's manifest lines are appended (fsynced) only after all its files.
On restart, identities whose M records are present and whose files hash as
recorded are kept; a partial identity is removed and redone; temp files of a
killed write are deleted. A directory holding another run's dataset is
refused with OutputDirError.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthbio.errors import InputError, OutputDirError
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter, read_manifest, rewrite_manifest
from synthbio.io.samples import SAMPLES_NAME
from synthbio.pipelines.common.shards import run_ray_tasks, shard_outdir
from synthbio.pipelines.dataset.config import (
    CONFIG_NAME,
    REFERENCES_NAME,
    DatasetConfig,
    DatasetResult,
    describe,
    shard_identities,
)
from synthbio.pipelines.dataset.engines import build_engine
from synthbio.pipelines.dataset.layout import (
    build_samples_h5,
    check_same_run,
    complete_identities,
    h5_attrs,
    image_relpath,
    latents_relpath,
    mask_relpath,
    remove_temp_files,
    sample_labels,
    write_identity,
)
from synthbio.pipelines.dataset.merge import merge_datasets
from synthbio.segmentation.classes import CLASSES_NAME, write_classes
from synthbio.utils.hashing import atomic_write_json


def _prepare(config: DatasetConfig, want: dict[str, Any]) -> tuple[Path, dict[int, list[dict[str, Any]]], set[int]]:
    outdir = Path(config.outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise OutputDirError(f"cannot use {os.fspath(outdir)!r} as output directory: {exc.strerror}") from None
    contents = read_manifest(outdir / MANIFEST_NAME)
    check_same_run(outdir, want, bool(contents.records))
    mine = set(shard_identities(config.identities, config.shard))
    complete, partial = complete_identities(outdir, contents.records, sample_labels(config.samples_per_identity))
    complete = {i: r for i, r in complete.items() if i in mine}
    for ident in partial:  # whatever a partial identity left is removed before it is redone
        for label in sample_labels(config.samples_per_identity):
            (outdir / image_relpath(ident, label)).unlink(missing_ok=True)
            (outdir / mask_relpath(ident, label)).unlink(missing_ok=True)
        (outdir / latents_relpath(ident)).unlink(missing_ok=True)
    kept = [r for i in sorted(complete) for r in complete[i]]
    if partial or contents.dropped_lines or len(kept) != len(contents.records):
        rewrite_manifest(outdir / MANIFEST_NAME, kept)
    remove_temp_files(outdir)
    atomic_write_json(outdir / CONFIG_NAME, want)
    return outdir, complete, partial


# --- the job ------------------------------------------------------------------------------


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=not enabled, transient=False)


def generate_dataset(
    config: DatasetConfig,
    *,
    progress: bool = False,
    on_identity: Callable[[int], None] | None = None,
) -> DatasetResult:
    """Make (or complete) the dataset, or this shard of it; see the module docstring.

    backend "ray" runs `ray_shards` shards as Ray tasks and merges them into
    `config.outdir` (`generate_with_ray`).
    """
    if config.backend == "ray":
        return generate_with_ray(config, progress=progress)
    engine = build_engine(config)
    want = {**describe(config), "model_sha256": engine.model_sha256}
    masks = getattr(engine, "masks", None)
    if masks is not None:  # the classifier's weights decide the masks as the generator's decide the images
        want["masks_sha256"] = masks.sha256
    outdir, complete, partial = _prepare(config, want)
    if masks is not None:
        write_classes(outdir / CLASSES_NAME, masks.classes)
    run = engine.run_info()
    mine = shard_identities(config.identities, config.shard)
    todo = [i for i in mine if i not in complete]
    done: list[int] = []
    with _progress(progress) as bar:
        refs = engine.references(outdir / REFERENCES_NAME, bar=bar) if todo else None
        job = bar.add_task("identities", total=len(todo))
        with ManifestWriter(outdir / MANIFEST_NAME) as manifest:
            for ident in todo:
                write_identity(outdir, engine.identity(ident, refs), manifest, run)
                done.append(ident)
                bar.advance(job)
                if on_identity is not None:
                    on_identity(ident)
    records = read_manifest(outdir / MANIFEST_NAME).records
    # Identity order, whatever order resumed runs appended in: a resumed, a sharded-then-merged
    # and an uninterrupted run leave the same manifest.
    ordered = sorted(records, key=lambda r: int(r["identity"]))  # stable: label order kept
    if ordered != records:
        rewrite_manifest(outdir / MANIFEST_NAME, ordered)
    build_samples_h5(outdir, ordered, h5_attrs(want))
    return DatasetResult(
        outdir=outdir, identities=list(mine), generated=done, kept=sorted(complete),
        redone=sorted(partial & set(done)), manifest=outdir / MANIFEST_NAME,
        samples=outdir / SAMPLES_NAME, config=outdir / CONFIG_NAME,
    )


# --- Ray backend --------------------------------------------------------------------------


def run_shard(config: DatasetConfig) -> list[int]:
    """One shard in this process (the body of a Ray task); returns the identities it made."""
    return generate_dataset(config).generated


def generate_with_ray(config: DatasetConfig, *, progress: bool = False) -> DatasetResult:
    """Run `config.ray_shards` shards as Ray tasks, then merge them into `config.outdir`."""
    if config.shard != "0/1":
        raise InputError("--backend ray splits the whole run itself: leave --shard at 0/1")
    n = config.ray_shards
    shard_cfgs = [
        dataclasses.replace(config, backend="local", shard=f"{k}/{n}", outdir=shard_outdir(config.outdir, k, n))
        for k in range(n)
    ]
    generated = run_ray_tasks(run_shard, shard_cfgs, address=config.ray_address)
    merged = merge_datasets([c.outdir for c in shard_cfgs], config.outdir)
    done = sorted(i for g in generated for i in g)
    out = merged.outdir
    return DatasetResult(
        outdir=out, identities=list(range(config.identities)), generated=done,
        kept=sorted(set(range(config.identities)) - set(done)), redone=[],
        manifest=out / MANIFEST_NAME, samples=out / SAMPLES_NAME, config=out / CONFIG_NAME,
    )
