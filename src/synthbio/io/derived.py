"""Folders derived from a dataset (reports, caches) are never part of it: the contract every reader keeps.

A job that reads a dataset and writes something about it (`fingerprints
evaluate`, `fingerprints attack`, `dataset report`, their caches) writes it
OUTSIDE the dataset by default, to the sibling folder `<DIR>_<job>`
(`fp_report`, `fp_attack`). Wherever it writes, it marks the folder with a
file named `DERIVED_MARKER` (one JSON object: the command, and the dataset it
describes). Every reader of a dataset (training images, encoder data,
fingerprint and identity dataset indexes, privacy references) skips:

- any folder holding `DERIVED_MARKER`, with everything below it;
- hidden files and folders (names starting with "."), which hold temporary
  files of interrupted atomic writes.

So a report written inside a dataset folder (`--outdir fp/report`) still
never counts as training images, and a dataset copied with its reports stays
the same dataset. `walk_files` and `keep_data_names` apply the rule to a
folder and to a list of archive member names.

Ground truth that synthbio writes beside a sample as an image is part of the
sample, not another sample: `<stem>_mask.png` / `<stem>_mask_color.png`
(`masks generate`, `dataset generate --masks`), `<stem>_annotation.png`
(`masks export`), `<stem>_depth.png` (`generate --save-depth png16`), and the
sample grids at the top of a folder (`grid.png`, `grid_<branch>.png`).
`is_sample_image` is the rule every reader of images applies (training data,
FID, translation domains, privacy references, database folders).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

DERIVED_MARKER = ".synthbio-derived.json"
#: Stem endings of the ground-truth images written beside a sample (see the module docstring).
COMPANION_STEM_ENDINGS = ("_mask", "_mask_color", "_annotation", "_depth")


def mark_derived(folder: str | os.PathLike[str], *, command: str, source: str | os.PathLike[str]) -> Path:
    """Create `folder` if needed and mark it as derived from the dataset `source` (idempotent)."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    marker = path / DERIVED_MARKER
    text = json.dumps({"command": command, "source": os.fspath(Path(source).resolve())}) + "\n"
    if not marker.is_file() or marker.read_text(encoding="utf-8", errors="replace") != text:
        marker.write_text(text, encoding="utf-8")
    return path


def is_derived(folder: str | os.PathLike[str]) -> bool:
    """True when `folder` is marked as a report or cache (not data)."""
    return (Path(folder) / DERIVED_MARKER).is_file()


def derived_info(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker's content ({"command", "source"}) or None when the folder is not marked."""
    try:
        data = json.loads((Path(folder) / DERIVED_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def sibling_folder(dataset: str | os.PathLike[str], job: str) -> Path:
    """The default output of a job about a dataset: `<DIR>_<job>` beside it (`fp` -> `fp_report`)."""
    d = Path(dataset)
    if d.name in ("", ".", ".."):
        d = d.resolve()
    return d.with_name(f"{d.name}_{job}")


def walk_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Every data file under `root` (recursive, sorted by relative path), skipping derived and hidden ones."""
    base = Path(root)
    found: list[Path] = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not is_derived(Path(folder) / d))
        found += [Path(folder) / f for f in files if not f.startswith(".")]
    yield from sorted(found, key=lambda p: p.relative_to(base).as_posix())


def keep_data_names(names: Iterable[str]) -> list[str]:
    """Archive member names (posix, relative) without the derived folders' and hidden entries."""
    names = list(names)
    derived = {str(PurePosixPath(n).parent) for n in names if PurePosixPath(n).name == DERIVED_MARKER}

    def keep(name: str) -> bool:
        parts = PurePosixPath(name).parts
        if any(p.startswith(".") for p in parts):
            return False
        return not any("/".join(parts[:i]) in derived for i in range(1, len(parts)))

    return [n for n in names if keep(n)]


def is_sample_image(relpath: str | os.PathLike[str], suffixes: Iterable[str]) -> bool:
    """True when `relpath` (relative to the dataset root) is a sample image, not a mask, depth map or grid.

    suffixes: the image file suffixes the reader accepts (lower case, with the dot).
    """
    rel = PurePosixPath(os.fspath(relpath).replace("\\", "/"))
    if rel.suffix.lower() not in set(suffixes):
        return False
    if rel.stem.endswith(COMPANION_STEM_ENDINGS):
        return False
    return not (len(rel.parts) == 1 and (rel.stem == "grid" or rel.stem.startswith("grid_")))
