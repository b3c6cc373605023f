"""A manifest read once: byte offsets of each item's lines plus the few numbers lists sort by.

`manifest.jsonl` of a 100k-image dataset is tens of MB; a page of a browser
needs 48 items. The index scans the file once (streaming, never holding the
records), keeps per item the offsets and lengths of its lines and a small
summary (numbers and strings to sort, filter and search by), and is saved in
the cache folder (never in the dataset), keyed by the manifest's path and
signature (size, mtime), so the next start of the server reads the index
instead of the manifest. An item's full records are read back from their
offsets when its page is opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthbio.utils.hashing import atomic_write_bytes

INDEX_VERSION = 1
KeyFn = Callable[[dict[str, Any]], "str | None"]
SummaryFn = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass
class ItemEntry:
    """One item (an identity, a finger, a seed): where its lines are and what lists show of it."""

    key: str
    spans: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) of each line
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class ManifestIndex:
    path: Path
    items: list[ItemEntry]
    by_key: dict[str, int]
    dropped_lines: int = 0

    def records(self, key: str) -> list[dict[str, Any]]:
        """The manifest records of one item, read from their offsets (KeyError for an unknown key)."""
        entry = self.items[self.by_key[key]]
        out = []
        with self.path.open("rb") as f:
            for offset, length in entry.spans:
                f.seek(offset)
                out.append(json.loads(f.read(length)))
        return out


def _signature(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _cache_file(cache_dir: Path, path: Path, kind: str) -> Path:
    digest = hashlib.sha256(f"{path.resolve()}|{kind}".encode()).hexdigest()[:32]
    return cache_dir / "index" / f"{digest}.json"


def scan_manifest(path: Path, key_fn: KeyFn, summary_fn: SummaryFn) -> ManifestIndex:
    """One streaming pass over a manifest: items in first-seen order, lines grouped by key_fn."""
    items: list[ItemEntry] = []
    by_key: dict[str, int] = {}
    dropped = 0
    offset = 0
    with path.open("rb") as f:
        for raw in f:
            length = len(raw)
            start, offset = offset, offset + length
            if not raw.endswith(b"\n"):
                dropped += 1  # a write cut short: not a record yet
                continue
            try:
                rec = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                dropped += 1
                continue
            key = key_fn(rec) if isinstance(rec, dict) else None
            if key is None:
                dropped += 1
                continue
            i = by_key.get(key)
            if i is None:
                i = by_key[key] = len(items)
                items.append(ItemEntry(key=key))
            items[i].spans.append((start, length))
            summary_fn(items[i].summary, rec)
    return ManifestIndex(path=path, items=items, by_key=by_key, dropped_lines=dropped)


_LOCK = threading.Lock()


def load_index(path: Path, *, kind: str, key_fn: KeyFn, summary_fn: SummaryFn,
               cache_dir: Path | None) -> ManifestIndex:
    """The index of `path`, from the cache when its signature still matches, else scanned (and cached).

    kind: names the adapter (its key and summary functions), so two readings
    of one manifest do not share a cache file.
    """
    with _LOCK:
        sig = _signature(path)
        cache = _cache_file(cache_dir, path, kind) if cache_dir is not None else None
        if cache is not None and cache.is_file():
            try:
                data = json.loads(cache.read_text())
                if data.get("version") == INDEX_VERSION and data.get("signature") == sig:
                    items = [ItemEntry(key=k, spans=[tuple(s) for s in spans], summary=summ)  # type: ignore[misc]
                             for k, spans, summ in data["items"]]
                    return ManifestIndex(path=path, items=items, by_key={e.key: i for i, e in enumerate(items)},
                                         dropped_lines=int(data.get("dropped", 0)))
            except (OSError, ValueError, KeyError, TypeError):
                pass  # an unreadable cache is rebuilt
        index = scan_manifest(path, key_fn, summary_fn)
        if cache is not None and _signature(path) == sig:  # not cached while a job is still appending
            payload = {"version": INDEX_VERSION, "signature": sig, "source": os.fspath(path),
                       "dropped": index.dropped_lines,
                       "items": [[e.key, e.spans, e.summary] for e in index.items]}
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(cache, json.dumps(payload, separators=(",", ":")).encode())
            except OSError:
                pass  # a read-only cache folder only costs a rescan next time
        return index


class LiveIndex:
    """An index re-read when its manifest changes (a job still running appends to it); empty while absent."""

    def __init__(self, path: Path, *, kind: str, key_fn: KeyFn, summary_fn: SummaryFn, cache_dir: Path | None) -> None:
        self.path, self.kind, self.key_fn, self.summary_fn, self.cache_dir = path, kind, key_fn, summary_fn, cache_dir
        self._index: ManifestIndex | None = None
        self._sig: dict[str, int] | None = None
        self._lock = threading.Lock()

    def get(self) -> ManifestIndex:
        try:
            sig = _signature(self.path)
        except OSError:
            return ManifestIndex(path=self.path, items=[], by_key={})
        with self._lock:
            if self._index is None or sig != self._sig:
                self._index = load_index(self.path, kind=self.kind, key_fn=self.key_fn, summary_fn=self.summary_fn,
                                         cache_dir=self.cache_dir)
                self._sig = sig
            return self._index
