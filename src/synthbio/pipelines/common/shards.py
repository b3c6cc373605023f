"""Splitting a run into shards, running shards as Ray tasks, and copying their files into one folder.

`--shard K/N` takes the items i with i % N == K of a run (strided, so shards
stay balanced and a longer run extends each). Each shard is a complete,
resumable run of its own in its own folder; a merge copies every file it
lists after checking its sha256. The Ray backend keeps its shards beside the
output, in `<outdir>.shards/<K>-of-<N>` (never inside it, so the output's
layout stays clean), and merges them when all are done.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from synthbio.errors import InputError
from synthbio.utils.hashing import atomic_write_bytes, sha256_bytes, sha256_file
from synthbio.utils.seeds import parse_shard

T = TypeVar("T")


def shard_items(items: Sequence[T], shard: str) -> list[T]:
    """The items of shard K/N: positions i with i % N == K, in order."""
    k, n = parse_shard(shard)
    return list(items[k::n])


def shards_dir(outdir: str | os.PathLike[str]) -> Path:
    """Where the Ray backend keeps the shards of `outdir`: beside it, `<outdir>.shards/`."""
    out = Path(outdir)
    return out.with_name(out.name + ".shards")


def shard_outdir(outdir: str | os.PathLike[str], k: int, n: int) -> str:
    return os.fspath(shards_dir(outdir) / f"{k}-of-{n}")


def run_ray_tasks(fn: Callable[[Any], T], configs: Sequence[Any], *, address: str | None) -> list[T]:
    """fn(config) for every config as a Ray task (one CPU each), on the cluster at `address`
    or a local Ray instance started (and stopped) for the call."""
    try:
        import ray
    except ImportError:
        raise InputError("the ray backend needs Ray: pip install 'synthbio[ray]' (or `pip install ray`)") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(fn)
        return list(ray.get([task.remote(c) for c in configs]))
    finally:
        if started:
            ray.shutdown()


def copy_checked(src: Path, dst: Path, sha: str) -> None:
    """Copy a shard's file into the merged folder (atomic), after checking the sha256 its manifest records."""
    data = src.read_bytes()
    if sha256_bytes(data) != sha:
        raise InputError(f"{src} does not match the sha256 its manifest records: the shard was modified")
    if dst.is_file() and sha256_file(dst) == sha:
        return  # a rerun of the merge keeps what it already copied
    dst.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dst, data)


def order_shards(configs: Sequence[dict[str, Any]], paths: Sequence[Path]
                 ) -> tuple[list[dict[str, Any]], list[Path], int]:
    """Shard folders' configs (each with config["shard"] = "K/N") -> (configs, paths) in shard order, N.

    InputError when they split the run differently, a shard is given twice or one is missing.
    """
    parsed = [parse_shard(d["config"]["shard"]) for d in configs]
    counts = {n for _, n in parsed}
    if len(counts) != 1:
        raise InputError(f"shards split the run differently: {sorted({d['config']['shard'] for d in configs})}")
    n = counts.pop()
    seen: dict[int, Path] = {}
    for (k, _), path in zip(parsed, paths):
        if k in seen:
            raise InputError(f"shard {k}/{n} given twice: {seen[k]} and {path}")
        seen[k] = path
    missing = [f"{k}/{n}" for k in range(n) if k not in seen]
    if missing:
        raise InputError(f"missing shard(s) {', '.join(missing)}: give every shard of the run")
    order = sorted(range(len(paths)), key=lambda i: parsed[i][0])
    return [configs[i] for i in order], [paths[i] for i in order], n
