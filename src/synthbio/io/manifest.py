"""`manifest.jsonl`: one JSON object per line, one line per completed sample.

A line is appended (then flushed and fsynced) only after every file of its
sample is complete on disk, so the manifest is the record of what is done: a
run killed at any point leaves at most one partial last line, which
`read_manifest` drops. Resuming reads the manifest, trusts the listed samples
whose files still hash as recorded, and redoes the rest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from synthbio.utils.hashing import atomic_write_bytes, raise_output_error

MANIFEST_NAME = "manifest.jsonl"


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()


@dataclass(frozen=True)
class ManifestContents:
    """What a manifest file holds: the intact records and how many lines were dropped."""

    records: list[dict[str, Any]]
    dropped_lines: int


def read_manifest(path: str | os.PathLike[str]) -> ManifestContents:
    """Read the intact records of a manifest (missing file = no records).

    A line that does not end in a newline (the write was cut short) or that is
    not a JSON object is counted in `dropped_lines` and left out.
    """
    path = Path(path)
    if not path.exists():
        return ManifestContents(records=[], dropped_lines=0)
    records: list[dict[str, Any]] = []
    dropped = 0
    data = path.read_bytes()
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            dropped += 1
            continue
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            dropped += 1
            continue
        if not isinstance(rec, dict):
            dropped += 1
            continue
        records.append(rec)
    return ManifestContents(records=records, dropped_lines=dropped)


def rewrite_manifest(path: str | os.PathLike[str], records: Iterable[dict[str, Any]]) -> None:
    """Replace the manifest atomically with exactly `records`."""
    atomic_write_bytes(path, b"".join(_line(r) for r in records))


class ManifestWriter:
    """Appends records durably: each `append` is written, flushed and fsynced.

    Use as a context manager; the file is opened in append mode, so existing
    records stay untouched. A line the disk had no room for is cut off again
    (the file keeps its earlier records whole) and reported as an OutputError.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise_output_error(exc, self.path)

    def append(self, record: dict[str, Any]) -> None:
        line = _line(record)
        start = self._file.seek(0, os.SEEK_END)
        try:
            written = 0
            while written < len(line):  # an unbuffered write may take only part of the line
                written += self._file.write(line[written:])
            os.fsync(self._file.fileno())
        except OSError as exc:
            try:
                os.ftruncate(self._file.fileno(), start)  # no half line for the next run to trip on
            except OSError:
                pass  # read_manifest drops a cut last line anyway
            raise_output_error(exc, self.path)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
