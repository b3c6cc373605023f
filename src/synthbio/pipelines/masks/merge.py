"""`synthbio masks merge`: the complete shards of one `masks generate` run joined into one folder.

The shards must come from the same run (same classifier, generator, sampling
settings and seed list), be all of 0/N .. N-1/N exactly once, and each be
complete. Every listed file is copied after checking its sha256 (a rerun keeps
what it already copied), the records are joined in seed order, and the run is
finished as an unsharded one would be: the uncertainty filter over ALL
samples, samples.h5, the grid. So the merged folder equals an unsharded run's.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import synthbio
from synthbio.errors import InputError, OutputDirError, library_message
from synthbio.io.manifest import MANIFEST_NAME, read_manifest, rewrite_manifest
from synthbio.pipelines.common.seeded import CONFIG_NAME, make_outdir, record_is_intact
from synthbio.pipelines.common.shards import copy_checked, order_shards, shard_items
from synthbio.pipelines.masks.run import (
    COMMAND,
    DROPPED_DIR,
    MasksGenerateConfig,
    MasksGenerateResult,
    file_keys,
    finish_run,
    load_run,
)
from synthbio.segmentation.classes import CLASSES_NAME, classes_from_json, write_classes
from synthbio.utils.hashing import atomic_write_json
from synthbio.utils.jsonio import read_json_file


def _read_shard(path: Path) -> dict[str, Any]:
    try:
        data = read_json_file(path / CONFIG_NAME)
    except FileNotFoundError:
        raise InputError(f"{os.fspath(path)} has no {CONFIG_NAME}: not a `masks generate` shard") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{os.fspath(path / CONFIG_NAME)} is unreadable: {library_message(exc)}") from None
    if not isinstance(data, dict) or data.get("command") != COMMAND or not isinstance(data.get("run"), dict):
        raise InputError(f"{os.fspath(path)} is not a folder made by `synthbio masks generate`")
    return data


def _check_shards(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], list[Path]]:
    """The shards' configs in shard order; InputError when they do not make one whole run."""
    if not paths:
        raise InputError("no shard folders given")
    configs = [_read_shard(p) for p in paths]
    first = configs[0]
    for data, path in zip(configs[1:], paths[1:]):
        diffs = [k for k in sorted(set(first["run"]) | set(data["run"])) if first["run"].get(k) != data["run"].get(k)]
        if first["config"]["seeds"] != data["config"]["seeds"]:
            diffs.append("seeds")
        if diffs:
            raise InputError(f"shards {paths[0]} and {path} come from different runs (different {', '.join(diffs)})")
    configs, ordered, _ = order_shards(configs, list(paths))
    return configs, ordered


def _shard_records(path: Path, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of the shard's seeds; InputError naming what is missing or damaged."""
    keys = file_keys(data["branches"])
    run = {k: v for k, v in data["run"].items() if k not in ("classifier", "model")}
    records = {r.get("seed"): r for r in read_manifest(path / MANIFEST_NAME).records}
    want = shard_items(data["config"]["seeds"], data["config"]["shard"])
    bad = [s for s in want if s not in records or not record_is_intact(path, records[s], run, keys)]
    if bad:
        head = ", ".join(map(str, bad[:8])) + (" ..." if len(bad) > 8 else "")
        raise InputError(f"shard {path} ({data['config']['shard']}) is incomplete: seeds {head} missing or changed; "
                         f"rerun `synthbio masks generate --shard {data['config']['shard']} --outdir {path}` first")
    return [records[s] for s in want]


def _live_path(rel: str) -> str:
    """A shard's path with the filter undone (a shard is never filtered, but a merged folder may be reused)."""
    return rel[len(DROPPED_DIR) + 1:] if rel.startswith(DROPPED_DIR + "/") else rel


def merge_mask_shards(shards: Sequence[str | os.PathLike[str]], outdir: str | os.PathLike[str], *,
                      drop_fraction: float | None = None, device: str = "auto") -> MasksGenerateResult:
    """Merge complete shards of one run into `outdir` and finish the run (see module docstring).

    drop_fraction: None = the shards' own setting.
    """
    paths = [Path(p) for p in shards]
    out = Path(outdir)
    if any(p.resolve() == out.resolve() for p in paths):
        raise InputError(f"the merge output {out} is one of the shards")
    configs, paths = _check_shards(paths)
    per_shard = [_shard_records(p, d) for p, d in zip(paths, configs)]
    first = configs[0]
    cfg = MasksGenerateConfig(**{**first["config"], "seeds": tuple(first["config"]["seeds"]), "shard": "0/1",
                                 "backend": "local", "outdir": os.fspath(out), "device": device,
                                 **({} if drop_fraction is None else {"drop_fraction": drop_fraction})})
    loaded = load_run(dataclasses.replace(cfg, classifier=first["run"]["classifier"], model=first["run"]["model"]))
    changed = [k for k, v in loaded.run.items() if first["run"].get(k) != v]
    if changed:
        raise InputError("the classifier or generator changed since the shards were made "
                         f"(different {', '.join(changed)})")
    if (out / MANIFEST_NAME).exists():
        have = _read_shard(out)
        if have["run"] != first["run"] or have["config"]["seeds"] != first["config"]["seeds"]:
            raise OutputDirError(f"{out} holds another run; merge into an empty or new folder")
    make_outdir(out)
    records = []
    for path, recs in zip(paths, per_shard):
        for rec in recs:
            files = {}
            for key, entry in rec["files"].items():
                rel = _live_path(entry["path"])
                copy_checked(path / entry["path"], out / rel, entry["sha256"])
                files[key] = {**entry, "path": rel}
            records.append({**rec, "files": files, "dropped": False})
    order = {s: i for i, s in enumerate(first["config"]["seeds"])}
    records.sort(key=lambda r: order[r["seed"]])
    classes = classes_from_json(first["classes"], where=os.fspath(paths[0] / CONFIG_NAME))
    write_classes(out / CLASSES_NAME, classes)
    atomic_write_json(out / CONFIG_NAME, {**first, "config": cfg.to_dict(),
                                          "merged_from": [os.fspath(p) for p in paths],
                                          "synthbio_version": synthbio.__version__})
    rewrite_manifest(out / MANIFEST_NAME, records)
    dropped, threshold = finish_run(out, loaded, cfg)
    return MasksGenerateResult(outdir=out, generated=[], kept=[r["seed"] for r in records], redone=[],
                               dropped=dropped, threshold=threshold, manifest=out / MANIFEST_NAME)
