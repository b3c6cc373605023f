"""One way to say "these real images": a folder, an image file, or an index with a protocol and a group.

Every job that reads real images takes an `ImageSelection` and calls
`select_samples`: a database index (`synthbio db build ...`) with
`protocol` / `group` (`dev`, `dev/probe`, `train`) and attribute conditions,
or a plain folder (read as an ImageFolder: ROOT/<identity>/<image>, with the
imagefolder protocols `default` and `enroll-probe`), or one image file.
Missing files raise an InputError naming the first one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthbio.errors import InputError
from synthbio.io.databases.builders import IMAGE_SUFFIXES, build_imagefolder
from synthbio.io.databases.index import (AttrValue, Database, Sample, check_files, coerce_value, open_database,
                                         open_in_memory)


@dataclass(frozen=True)
class ImageSelection:
    """Which real images a job reads (saved in the job's config.json).

    source: a database index file, a folder, or an image file.
    protocol / group: the protocol and group (`dev`, `dev/probe`) of an index
    or folder; None = every sample. where: attribute equalities (`camera` =
    '05_1'). root: the database root when the images moved since the index
    was built.
    """

    source: str
    protocol: str | None = None
    group: str | None = None
    where: Mapping[str, AttrValue] = field(default_factory=dict)
    root: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "protocol": self.protocol, "group": self.group, "where": dict(self.where),
                "root": self.root}

    def describe(self) -> str:
        parts = [self.source]
        if self.protocol:
            parts.append(f"protocol {self.protocol}")
        if self.group:
            parts.append(f"group {self.group}")
        parts += [f"{k}={v}" for k, v in sorted(self.where.items())]
        return ", ".join(parts)


def parse_where(items: list[str] | tuple[str, ...] | None) -> dict[str, AttrValue]:
    """['camera=05_1', 'shot=7'] -> {'camera': '05_1', 'shot': 7} (numbers read as numbers)."""
    out: dict[str, AttrValue] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"attribute condition {item!r} is not NAME=VALUE (e.g. camera=05_1)")
        out[name.strip()] = coerce_value(value.strip())
    return out


def is_index_file(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    if not p.is_file():
        return False
    with open(p, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def open_selection(selection: ImageSelection) -> Database:
    """The Database a selection reads from (an index file, or a folder indexed in memory)."""
    src = Path(selection.source)
    if not src.exists():
        raise InputError(f"{selection.source!r} does not exist (give an image folder, an image, or a database index)")
    if src.is_dir():
        if selection.root is not None:
            raise InputError("--db-root applies to a database index, not to a folder")
        return open_in_memory(build_imagefolder(src), name=selection.source)
    if is_index_file(src):
        return open_database(src, root=selection.root)
    raise InputError(f"{selection.source!r} is neither a folder nor a database index")


def select_samples(selection: ImageSelection, *, check: bool = True) -> list[Sample]:
    """The samples a selection names, in key order; InputError when it names none or files are missing."""
    src = Path(selection.source)
    if src.is_file() and src.suffix.lower() in IMAGE_SUFFIXES and not is_index_file(src):
        if selection.protocol or selection.group or selection.where:
            raise InputError(f"{selection.source!r} is one image: --protocol, --group and --where need a database")
        return [Sample(key=src.stem, path=src.name, file=src, identity=src.stem, identity_index=0, attributes={})]
    with open_selection(selection) as db:
        samples = db.samples(protocol=selection.protocol, group=selection.group, where=selection.where)
        if not samples:
            raise InputError(f"no samples in {selection.describe()}")
        if check:
            check_files(samples, database=db)
    return samples


def select_many(sources: list[str] | tuple[str, ...], *, protocol: str | None = None, group: str | None = None,
                where: Mapping[str, AttrValue] | None = None, root: str | None = None,
                check: bool = True) -> list[Sample]:
    """The samples of several inputs, in the order given: files as they are (identity: the file's stem),
    folders and indexes through `select_samples` with the same protocol / group / conditions.

    The database flags need at least one folder or index among the inputs.
    """
    if not sources:
        raise InputError("no input images given (image files, folders, or a database index)")
    out: list[Sample] = []
    narrowed = bool(protocol or group or where or root)
    used_db = False
    for src in sources:
        p = Path(src)
        if p.is_file() and not is_index_file(p):  # an image (or another target file, e.g. .npy) as it is
            out.append(Sample(key=p.stem, path=p.name, file=p, identity=p.stem, identity_index=0, attributes={}))
            continue
        used_db = True
        out += select_samples(ImageSelection(src, protocol=protocol, group=group, where=dict(where or {}), root=root),
                              check=check)
    if narrowed and not used_db:
        raise InputError("--protocol, --group, --where and --db-root select from a database index or a folder; "
                         "the inputs are image files only")
    return out
