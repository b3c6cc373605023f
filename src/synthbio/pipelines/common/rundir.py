"""The output folder of one run: refuse another run's folder unless overwrite, resume the same run.

Every job that writes a folder of results (`generate`, `mix`, `edit`,
`dataset generate`, ...) keeps one run per folder:

- `config.json` names the command and its *run key*: the settings that decide
  the content of the files (weights hash, truncation, seeds of a mix, the
  direction of an edit ...), not runtime knobs (device, batch size, workers);
- `manifest.jsonl` lists every finished sample and its files with their
  sha256, one line appended after the files (`synthbio.io.manifest`);
- a rerun of the same command with the same run key resumes: the listed
  samples whose files still hash as recorded are kept, the rest is redone;
- a folder holding another run (another command, or another run key) is
  refused with an `OutputDirError` naming what differs and the flags that
  resolve it (`--overwrite`, another `--outdir`); with `overwrite=True` only
  what that run wrote is deleted (the files its manifest lists, its
  manifest, config, latents and grids), never anything else in the folder.

Manifest records list their files either as `{"files": {key: {"path", "sha256"}}}`
(one sample, several files), as `{"path", "sha256"}` plus optional
`{"latents", "latents_sha256"}` (identity datasets), or in sub-records
`{"impressions": [{"files": ...}, ...]}` (fingerprint datasets: one record per
finger); all are understood.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthbio.errors import OutputDirError
from synthbio.io.manifest import MANIFEST_NAME, read_manifest, rewrite_manifest
from synthbio.io.samples import SAMPLES_NAME
from synthbio.utils.hashing import sha256_file
from synthbio.utils.jsonio import read_json_file

CONFIG_NAME = "config.json"
# What a run writes besides the files its manifest lists (removed with overwrite).
RUN_FILES = (MANIFEST_NAME, SAMPLES_NAME, CONFIG_NAME)
RUN_GLOBS = ("grid*.png",)


def make_outdir(outdir: str | os.PathLike[str]) -> Path:
    """Create the output folder, or raise OutputDirError naming it when that is impossible."""
    path = Path(outdir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise OutputDirError(f"cannot use --outdir {os.fspath(path)!r} as output folder: {exc.strerror}") from None
    return path


def read_run_config(outdir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The folder's config.json as a dict (None when absent or unreadable)."""
    path = Path(outdir) / CONFIG_NAME
    try:
        data = read_json_file(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_files(record: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(relative path, sha256) of every file one manifest record lists."""
    out: list[tuple[str, str | None]] = []
    files = record.get("files")
    if isinstance(files, dict):
        for entry in files.values():
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                out.append((entry["path"], entry.get("sha256")))
    for path_key, sha_key in (("path", "sha256"), ("latents", "latents_sha256"), ("mask", "mask_sha256")):
        if isinstance(record.get(path_key), str):
            out.append((record[path_key], record.get(sha_key)))
    subs = record.get("impressions")
    if isinstance(subs, list):
        for sub in subs:
            if isinstance(sub, dict):
                out += record_files(sub)
    return out


def record_is_intact(outdir: Path, record: dict[str, Any], *, cache: dict[str, bool] | None = None) -> bool:
    """Every file the record lists is there and hashes as recorded (a record listing none is not intact).

    cache: shared between calls, so a file several records list (an identity's
    latents) is hashed once.
    """
    files = record_files(record)
    if not files:
        return False
    for rel, sha in files:
        key = f"{rel}\0{sha}"
        if cache is not None and key in cache:
            ok = cache[key]
        else:
            p = outdir / rel
            ok = isinstance(sha, str) and p.is_file() and sha256_file(p) == sha
            if cache is not None:
                cache[key] = ok
        if not ok:
            return False
    return True


def remove_temp_files(outdir: Path, folders: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Temporary files of atomic writes cut short by a kill (`.<name>.*.tmp`), in the folder and `folders`."""
    for folder in [outdir, *[outdir / f for f in folders]]:
        if folder.is_dir():
            for p in folder.glob(".*.tmp"):
                p.unlink(missing_ok=True)


def clear_run(outdir: Path, records: Iterable[dict[str, Any]], *, also: Sequence[str] = ()) -> None:
    """Delete what one run wrote: the files its records list, `RUN_FILES`, `RUN_GLOBS` and `also` (globs).

    Folders the run made are removed when they are left empty.
    """
    parents: set[Path] = set()
    for rec in records:
        for rel, _ in record_files(rec):
            p = outdir / rel
            p.unlink(missing_ok=True)
            parents.add(p.parent)
    for name in RUN_FILES:
        (outdir / name).unlink(missing_ok=True)
    for pattern in (*RUN_GLOBS, *also):
        for p in sorted(outdir.glob(pattern), reverse=True):
            if p.is_file() or p.is_symlink():
                p.unlink()
            else:
                parents.add(p)
    for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        if folder != outdir and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


@dataclass(frozen=True)
class RunFolder:
    """A claimed output folder: its path and the manifest records of the same run found there."""

    outdir: Path
    records: list[dict[str, Any]]  # as read from the manifest (the same run's, possibly not intact)
    replaced: bool  # another run was there and was deleted (overwrite)


def _differences(prev: dict[str, Any], run: dict[str, Any], prefix: str = "") -> list[str]:
    """'key old there vs new now' for every differing key, nested dicts followed (content.seed ...)."""
    out = []
    for k in sorted(set(prev) | set(run)):
        a, b = prev.get(k), run.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        else:
            out.append(f"{prefix}{k} {a!r} there vs {b!r} now")
    return out


def claim_run_folder(
    outdir: str | os.PathLike[str],
    *,
    command: str,
    run: dict[str, Any],
    overwrite: bool,
    also: Sequence[str] = (),
    legacy_run: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any] | None] | None = None,
) -> RunFolder:
    """Make `outdir` this run's folder (module docstring); returns the records to resume from.

    command: the job's name as config.json records it ("generate", "mix", ...).
    run: the run key, JSON-able; compared with the "run" object of config.json.
    also: globs (relative to outdir) of further files the job writes, deleted
        with the rest of another run on overwrite.
    legacy_run: for folders written before config.json held a "run" object:
        (config.json or {}, manifest records) -> that run's key, or None.
    """
    path = make_outdir(outdir)
    contents = read_manifest(path / MANIFEST_NAME)
    saved = read_run_config(path)
    prev_command: str | None = None
    prev_run: dict[str, Any] | None = None
    if saved is not None:
        prev_command = saved.get("command") if isinstance(saved.get("command"), str) else None
        if isinstance(saved.get("run"), dict):
            prev_run = saved["run"]
    if prev_run is None and legacy_run is not None and (saved is not None or contents.records):
        prev_run = legacy_run(saved or {}, contents.records)
        prev_command = prev_command or command
    elif prev_run is None and saved is not None and prev_command is None:
        prev_command = "an unknown command"
    foreign = (prev_command is not None and prev_command != command) or (
        prev_run is not None and {k: prev_run.get(k) for k in run} != run)
    if foreign or (prev_command is None and contents.records):
        if not overwrite:
            if prev_command is not None and prev_command != command:
                what = f"`{prev_command}` results"
            elif prev_run is not None:
                what = f"another run ({', '.join(_differences({k: prev_run.get(k) for k in run}, run))})"
            else:
                what = f"a {MANIFEST_NAME} of another run"
            raise OutputDirError(f"output folder {os.fspath(path)!r} holds {what}; choose another --outdir "
                                 "or pass --overwrite to replace it")
        clear_run(path, contents.records, also=also)
        return RunFolder(outdir=path, records=[], replaced=True)
    return RunFolder(outdir=path, records=contents.records, replaced=False)


def keep_intact(outdir: Path, records: list[dict[str, Any]], *, key: Callable[[dict[str, Any]], Any],
                accept: Callable[[dict[str, Any]], bool] = lambda rec: True) -> tuple[dict[Any, dict[str, Any]], list[Any]]:
    """(intact records by key, keys to redo) and the manifest rewritten to exactly the intact records.

    key: a record's sample key (its seed, ...); the first record of a key wins.
    accept: a further check of a record (its run keys, its set of files).
    """
    kept: dict[Any, dict[str, Any]] = {}
    redo: list[Any] = []
    cache: dict[str, bool] = {}
    for rec in records:
        k = key(rec)
        if k is None or k in kept:
            continue
        if accept(rec) and record_is_intact(outdir, rec, cache=cache):
            kept[k] = rec
        else:
            redo.append(k)
    manifest = outdir / MANIFEST_NAME
    if redo or len(kept) != len(records) or (manifest.exists() and read_manifest(manifest).dropped_lines):
        rewrite_manifest(manifest, kept.values())
    return kept, redo
