"""Output folders with one sample per seed: the resumable, manifest-first machinery of
`synthbio generate` and `synthbio masks generate`.

A sample's files are written atomically, then its manifest line (`seed`, the
run's settings, `files`: {key: {"path", "sha256"}}) is appended and fsynced.
The folder's `config.json` holds the run's settings under "run". On restart:

- a folder holding another run (any of `run_keys` differs) is refused with
  OutputDirError, or with overwrite=True cleared of exactly what that run
  wrote (its listed files, its whole-run outputs, manifest, latents, config);
- temporary files of writes cut short by a kill are deleted;
- records whose files all still hash as recorded are kept, the others redone,
  and the manifest is rewritten to the kept records.

`samples.h5` is rebuilt from the manifest at the end: z from the seed, ws
from the mapping (`write_seed_latents`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import synthbio
from synthbio.errors import OutputDirError
from synthbio.generation.sampling import SeedableGenerator, map_seeds
from synthbio.io.manifest import MANIFEST_NAME, read_manifest, rewrite_manifest
from synthbio.io.samples import SAMPLES_NAME, SampleLatents, write_samples
from synthbio.utils.hashing import sha256_file

CONFIG_NAME = "config.json"


def make_outdir(outdir: Path) -> None:
    """Create the output folder, or raise OutputDirError naming it when that is impossible."""
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise OutputDirError(f"cannot use {os.fspath(outdir)!r} as output directory: {exc.strerror}") from None


def _run_key(record: dict[str, Any], run_keys: Sequence[str]) -> dict[str, Any]:
    return {k: record.get(k) for k in run_keys}


def previous_run(outdir: Path, records: list[dict[str, Any]], run_keys: Sequence[str]) -> dict[str, Any] | None:
    """The settings of the run that wrote `outdir` (its config.json, else its first record), or None."""
    cfg_path = outdir / CONFIG_NAME
    if cfg_path.exists():
        try:
            saved = json.loads(cfg_path.read_text())
            if isinstance(saved, dict) and isinstance(saved.get("run"), dict):
                return _run_key(saved["run"], run_keys)
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            pass
    return _run_key(records[0], run_keys) if records else None


def _clear_previous(outdir: Path, records: list[dict[str, Any]], run_outputs: Sequence[str]) -> None:
    """Remove only what an earlier run wrote: its listed files, whole-run outputs, manifest, latents, config."""
    for rec in records:
        for entry in rec.get("files", {}).values():
            (outdir / entry["path"]).unlink(missing_ok=True)
    for pattern in run_outputs:
        for p in outdir.glob(pattern):
            if p.is_file():
                p.unlink()
    for name in (MANIFEST_NAME, SAMPLES_NAME, CONFIG_NAME):
        (outdir / name).unlink(missing_ok=True)


def record_is_intact(outdir: Path, rec: dict[str, Any], run: dict[str, Any], file_keys: Sequence[str]) -> bool:
    """The record belongs to `run`, lists exactly `file_keys`, and every file hashes as recorded."""
    files = rec.get("files")
    if _run_key(rec, list(run)) != run or not isinstance(files, dict) or sorted(files) != sorted(file_keys):
        return False
    for entry in files.values():
        p = outdir / entry["path"]
        if not p.is_file() or sha256_file(p) != entry["sha256"]:
            return False
    return True


def remove_temp_files(outdir: Path, folders: Sequence[str] = ()) -> None:
    """Temporary files left by a killed run (see utils.hashing.temp_path_for) in outdir and its `folders`."""
    for folder in [outdir, *[outdir / f for f in folders]]:
        if folder.is_dir():
            for p in folder.glob(".*.tmp"):
                p.unlink(missing_ok=True)


def prepare_seeded_outdir(
    outdir: Path, run: dict[str, Any], *, overwrite: bool, file_keys: Sequence[str], folders: Sequence[str] = (),
    run_outputs: Sequence[str] = (),
) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """Check the folder belongs to this run; return (intact records by seed, listed seeds to redo).

    run: the settings that change a sample's files (the keys compared). folders:
    subfolders that may hold temporary files. run_outputs: globs of files made
    from the whole run (grids), removed with another run's files on overwrite.
    """
    contents = read_manifest(outdir / MANIFEST_NAME)
    prev = previous_run(outdir, contents.records, list(run))
    if prev is not None and prev != run:
        if not overwrite:
            diffs = ", ".join(f"{k} {prev.get(k)!r} there vs {v!r} now" for k, v in run.items() if prev.get(k) != v)
            raise OutputDirError(
                f"output directory {os.fspath(outdir)!r} holds another run ({diffs}); "
                "choose another --outdir or pass --overwrite to replace it"
            )
        _clear_previous(outdir, contents.records, run_outputs)
        contents = read_manifest(outdir / MANIFEST_NAME)
    remove_temp_files(outdir, folders)
    kept: dict[int, dict[str, Any]] = {}
    redo: list[int] = []
    for rec in contents.records:
        seed = rec.get("seed")
        if not isinstance(seed, int) or seed in kept:
            continue
        if record_is_intact(outdir, rec, run, file_keys):
            kept[seed] = rec
        else:
            redo.append(seed)
    if redo or contents.dropped_lines or len(kept) != len(contents.records):
        rewrite_manifest(outdir / MANIFEST_NAME, kept.values())
    return kept, redo


def write_seed_latents(
    G: SeedableGenerator, path: Path, seeds: Sequence[int], *, class_idx: int | None, truncation_psi: float,
    truncation_cutoff: int | None, noise_mode: str, batch_size: int, generator_path: str, generator_sha256: str,
    label: str = "reference",
) -> int:
    """Rebuild samples.h5 for `seeds`: z from the seed, ws from the mapping (groups /<seed:05d>/<label>/).

    w_latent is layer 0 of the (truncated) ws; w_plus_latent is every layer, as
    the synthesis network received them.
    """

    def samples() -> Iterator[SampleLatents]:
        for start in range(0, len(seeds), batch_size):
            batch = list(seeds[start : start + batch_size])
            z, ws = map_seeds(G, batch, class_idx=class_idx, truncation_psi=truncation_psi,
                              truncation_cutoff=truncation_cutoff)
            z, ws = z.cpu().numpy(), ws.float().cpu().numpy()
            for i, seed in enumerate(batch):
                attrs = {"seed": seed} if class_idx is None else {"seed": seed, "class_idx": class_idx}
                yield SampleLatents(identity=seed, label=label, z=z[i], w=ws[i, 0], w_plus=ws[i], attrs=attrs)

    attrs = {
        "generator_sha256": generator_sha256,
        "generator_path": generator_path,
        "truncation_psi": truncation_psi,
        "truncation_cutoff": truncation_cutoff,
        "class_idx": class_idx,
        "noise_mode": noise_mode,
        "embedding_model": "none",
        "synthbio_version": synthbio.__version__,
    }
    return write_samples(path, samples(), attrs=attrs)
