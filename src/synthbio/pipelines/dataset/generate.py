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
refused with OutputDirError unless `overwrite` (`synthbio.pipelines.common.rundir`),
which deletes only that run's files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthbio.errors import InputError
from synthbio.io.manifest import MANIFEST_NAME, ManifestWriter, read_manifest, rewrite_manifest
from synthbio.io.samples import SAMPLES_NAME
from synthbio.pipelines.common.rundir import claim_run_folder
from synthbio.pipelines.common.shards import run_ray_tasks, shard_outdir
from synthbio.pipelines.dataset.config import (
    CONFIG_NAME,
    REFERENCES_NAME,
    DatasetConfig,
    DatasetResult,
    content_defaults,
    describe,
    shard_identities,
)
from synthbio.pipelines.dataset.engines import build_engine
from synthbio.pipelines.dataset.layout import (
    build_samples_h5,
    complete_identities,
    h5_attrs,
    remove_identity_files,
    remove_temp_files,
    sample_labels,
    write_identity,
)
from synthbio.pipelines.dataset.merge import merge_datasets
from synthbio.segmentation.classes import CLASSES_NAME, write_classes
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.progress import Progress


def run_key(want: dict[str, Any]) -> dict[str, Any]:
    """What a folder's files depend on: the config content, generator, layout and shard."""
    key = {"content": want["content"], "model_sha256": want.get("model_sha256"),
           "layout_version": want["layout_version"], "shard": want["config"]["shard"]}
    if "masks_sha256" in want:  # --masks: the classifier decides the masks as the generator decides the images
        key["masks_sha256"] = want["masks_sha256"]
    return key


def _legacy_run(saved: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run key of a config.json written before it held one (fields added since read as their defaults)."""
    if not isinstance(saved.get("content"), dict) or not isinstance(saved.get("config"), dict):
        return None
    return run_key({**saved, "content": {**content_defaults(), **saved["content"]}})


def _prepare(config: DatasetConfig, want: dict[str, Any], branches: list[str]
             ) -> tuple[Path, dict[int, list[dict[str, Any]]], set[int]]:
    folder = claim_run_folder(config.outdir, command="dataset generate", run=want["run"], overwrite=config.overwrite,
                              also=(REFERENCES_NAME,), legacy_run=_legacy_run)
    outdir = folder.outdir
    mine = set(shard_identities(config.identities, config.shard))
    labels = sample_labels(config.samples_per_identity)
    complete, partial = complete_identities(outdir, folder.records, labels)
    complete = {i: r for i, r in complete.items() if i in mine}
    for ident in partial:  # whatever a partial identity left is removed before it is redone
        remove_identity_files(outdir, ident, labels, branches)
    kept = [r for i in sorted(complete) for r in complete[i]]
    if partial or len(kept) != len(folder.records) or read_manifest(outdir / MANIFEST_NAME).dropped_lines:
        rewrite_manifest(outdir / MANIFEST_NAME, kept)
    remove_temp_files(outdir)
    atomic_write_json(outdir / CONFIG_NAME, want)
    return outdir, complete, partial


# --- the job ------------------------------------------------------------------------------


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
    want["run"] = run_key(want)
    branches = engine.branches if len(engine.branches) > 1 else []
    outdir, complete, partial = _prepare(config, want, branches)
    if masks is not None:
        write_classes(outdir / CLASSES_NAME, masks.classes)
    run = engine.run_info()
    mine = shard_identities(config.identities, config.shard)
    todo = [i for i in mine if i not in complete]
    done: list[int] = []
    with Progress(progress) as bar:
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
