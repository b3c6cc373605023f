"""`synthbio dataset merge` and the Ray backend of `synthbio dataset generate`.

Merging: every shard directory must come from the same run (equal config
content and generator hash; only the shard differs), the shards must be all
of 0/N .. N-1/N exactly once, each complete, with disjoint identities and the
same references. The merged directory gets every image and latents file
(copied after checking its sha256), the manifests' records in identity order,
samples.h5 rebuilt from the latents, and config.json with shard "0/1" and
`merged_from`. Since references are global (see synthbio.pipelines.dataset.generate),
no pair of identities from different shards needs re-checking: the merged
dataset equals an unsharded run file for file.

Ray (`synthbio.pipelines.dataset.generate.generate_with_ray`) runs `ray_shards` shards as Ray tasks (one CPU each)
on the cluster at `ray_address` (or a local instance started for the call),
each into `<outdir>.shards/<K>-of-<N>` (beside, not inside, the dataset, so
the ImageFolder layout stays clean), then merges them into `outdir`. Each
shard is resumable on its own, so rerunning after a failure redoes only what
is missing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthbio.errors import InputError, OutputDirError
from synthbio.io.manifest import MANIFEST_NAME, read_manifest, rewrite_manifest
from synthbio.pipelines.common.shards import copy_checked, order_shards
from synthbio.pipelines.dataset.config import (
    CONFIG_NAME,
    REFERENCES_NAME,
    DatasetConfig,
    describe,
    parse_shard,
    read_config,
    shard_identities,
)
from synthbio.pipelines.common.rundir import record_files
from synthbio.pipelines.dataset.layout import build_samples_h5, complete_identities, h5_attrs, sample_labels
from synthbio.segmentation.classes import CLASSES_NAME
from synthbio.utils.hashing import atomic_write_json, sha256_file


@dataclass(frozen=True)
class MergeResult:
    outdir: Path
    identities: int
    samples: int
    shards: list[Path]


def _config_of(data: dict[str, Any], where: Path) -> DatasetConfig:
    try:
        return DatasetConfig(**data["config"])
    except (TypeError, KeyError) as exc:
        raise InputError(f"{where / CONFIG_NAME}: not a dataset config ({exc})") from None


def _check_shards(shards: Sequence[Path]) -> tuple[list[dict[str, Any]], int]:
    """Read and cross-check the shards' configs; return them (in shard order) and N."""
    if not shards:
        raise InputError("no shard directories given")
    configs = [read_config(p) for p in shards]
    first, first_path = configs[0], shards[0]
    for data, path in zip(configs[1:], shards[1:]):
        keys = sorted(set(first["content"]) | set(data["content"]))
        diffs = [k for k in keys if first["content"].get(k) != data["content"].get(k)]
        if first.get("model_sha256") != data.get("model_sha256"):
            diffs.append("model_sha256 (generator weights)")
        if first.get("masks_sha256") != data.get("masks_sha256"):
            diffs.append("masks_sha256 (pixel classifier weights)")
        if diffs:
            raise InputError(f"shards {first_path} and {path} come from different runs (different {', '.join(diffs)})")
    configs, _, n = order_shards(configs, list(shards))
    return configs, n


def _shard_records(path: Path, data: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Complete identities of one shard; InputError when any of its identities is missing."""
    content = data["content"]
    labels = sample_labels(int(content["samples_per_identity"]))
    complete, _ = complete_identities(path, read_manifest(path / MANIFEST_NAME).records, labels)
    want = shard_identities(int(content["identities"]), data["config"]["shard"])
    missing = [i for i in want if i not in complete]
    if missing:
        head = ", ".join(map(str, missing[:8])) + (" ..." if len(missing) > 8 else "")
        raise InputError(
            f"shard {path} ({data['config']['shard']}) is incomplete: identities {head} missing; "
            f"rerun `synthbio dataset generate --shard {data['config']['shard']} --outdir {path}` first"
        )
    extra = sorted(set(complete) - set(want))
    if extra:
        raise InputError(f"shard {path} holds identities {extra[:8]} outside its shard {data['config']['shard']}")
    return complete


def merge_datasets(shards: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str]) -> MergeResult:
    """Merge complete shard directories of one run into `outdir` (see module docstring)."""
    paths = [Path(p) for p in shards]
    out = Path(outdir)
    for p in paths:
        if p.resolve() == out.resolve():
            raise InputError(f"the merge output {out} is one of the shards")
    configs, n = _check_shards(paths)
    paths = sorted(paths, key=lambda p: parse_shard(read_config(p)["config"]["shard"])[0])
    per_shard = [_shard_records(p, d) for p, d in zip(paths, configs)]
    owner: dict[int, Path] = {}
    for p, recs in zip(paths, per_shard):
        for ident in recs:
            if ident in owner:
                raise InputError(f"identity {ident} is in two shards: {owner[ident]} and {p}")
            owner[ident] = p
    ref_shas = {sha256_file(p / REFERENCES_NAME) for p in paths if (p / REFERENCES_NAME).is_file()}
    if len(ref_shas) > 1:
        raise InputError("the shards hold different references.safetensors: they were not made by the same run")

    merged_cfg = dataclasses.replace(_config_of(configs[0], paths[0]), shard="0/1", outdir=os.fspath(out),
                                     backend="local")
    want = {**describe(merged_cfg), "model_sha256": configs[0].get("model_sha256"),
            **({"masks_sha256": configs[0]["masks_sha256"]} if "masks_sha256" in configs[0] else {}),
            "merged_from": [os.fspath(p) for p in paths]}
    want["run"] = {"content": want["content"], "model_sha256": want["model_sha256"],
                   "layout_version": want["layout_version"], "shard": "0/1",
                   **({"masks_sha256": want["masks_sha256"]} if "masks_sha256" in want else {})}
    if out.exists() and (out / MANIFEST_NAME).exists():
        have = read_config(out)
        if have["content"] != want["content"] or have.get("model_sha256") != want["model_sha256"]:
            raise OutputDirError(f"{out} holds another dataset; merge into an empty or new directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise OutputDirError(f"cannot use {os.fspath(out)!r} as output directory: {exc.strerror}") from None

    records: list[dict[str, Any]] = []
    for p, recs in zip(paths, per_shard):
        for ident in sorted(recs):
            for rec in recs[ident]:  # every file: all branches, ground truth, masks, latents
                for rel, sha in dict.fromkeys(record_files(rec)):
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    copy_checked(p / rel, out / rel, str(sha))
    for ident in sorted(owner):
        records += per_shard[paths.index(owner[ident])][ident]
    for name in (REFERENCES_NAME, CLASSES_NAME):  # the cache of references; the mask classes (--masks)
        if (paths[0] / name).is_file():
            copy_checked(paths[0] / name, out / name, sha256_file(paths[0] / name))
    atomic_write_json(out / CONFIG_NAME, want)
    rewrite_manifest(out / MANIFEST_NAME, records)
    build_samples_h5(out, records, h5_attrs(want))
    return MergeResult(outdir=out, identities=len(owner), samples=len(records), shards=paths)
