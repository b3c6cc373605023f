"""Folder kinds: which synthbio output a folder holds, and the adapter that shows it.

A kind is an object with a `name`, a `detect(folder, config)` test (config:
the folder's parsed `config.json`, or None) and an `open(folder, context)`
that returns a `DatasetView`. `KINDS` is tried in order and the first kind
whose test passes wins; a job that lands a new layout adds its kind with
`register_kind` (before the generic image folder, which takes anything with
images). Views share listing (paging, search, filters, sorting) over the
summaries their index gives; each adapter says how an item's samples look.

Refs: every file a view hands to the browser is named `<root>/<relative
path>` (see `synthbio.web.safety`), so the browser can only ask for files the
server may give.
"""

from __future__ import annotations

import abc
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from synthbio.errors import InputError
from synthbio.web.index import ItemEntry
from synthbio.web.safety import Roots

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MASK_SUFFIX = "_mask"
MASK_SUFFIXES = (MASK_SUFFIX, "_mask_color")  # a mask and its colour preview (`masks generate`) are no items
MAX_PAGE_SIZE = 500
_SCAN_LIMIT = 400  # entries looked at per folder while discovering (a 100k-identity folder is found by its config)


@dataclass(frozen=True)
class Context:
    """What adapters need from the server: the roots (to name files) and the cache folder."""

    roots: Roots
    cache_dir: Path

    def ref(self, path: Path) -> str:
        ref = self.roots.ref_of(path)
        if ref is None:
            raise InputError(f"{path} is outside the served folders")
        return ref


@dataclass(frozen=True)
class SortKey:
    """A way to order a list: by `field` of the item summaries (missing values last)."""

    name: str
    label: str
    field: str
    descending: bool = False


@dataclass(frozen=True)
class ListPage:
    total: int
    page: int
    size: int
    items: list[dict[str, Any]]


class DatasetView(abc.ABC):
    """Listing shared by every adapter; subclasses fill `entries` and say how items look."""

    kind = "folder"
    title = "folder"
    sort_keys: tuple[SortKey, ...] = ()
    filter_fields: tuple[str, ...] = ()

    def __init__(self, folder: Path, context: Context, config: dict[str, Any] | None) -> None:
        self.folder = folder
        self.context = context
        self.config = config
        self.ref = context.ref(folder)

    # --- each adapter gives these ----------------------------------------------------------
    @abc.abstractmethod
    def entries(self) -> list[ItemEntry]:
        """The items of the folder, in their natural order (from the index)."""

    @abc.abstractmethod
    def card(self, entry: ItemEntry) -> dict[str, Any]:
        """What the grid shows of one item: title, thumbnail ref, badges."""

    @abc.abstractmethod
    def item(self, key: str) -> dict[str, Any]:
        """Every sample of one item with its files, metadata and overlays."""

    # --- optional -------------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        """Settings worth showing above the grid (from config.json)."""
        return {}

    def histograms(self) -> dict[str, Any] | None:
        return None

    def compare(self, a: str, b: str) -> dict[str, Any]:
        raise InputError(f"{self.title} has no comparison of samples")

    def editor_link(self) -> dict[str, Any] | None:
        """{'model': ..., 'truncation_psi': ...} when the folder's images came from a generator."""
        return None

    # --- shared ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        entries = self.entries()
        filters = {f: sorted({str(e.summary[f]) for e in entries if f in e.summary}) for f in self.filter_fields}
        return {
            "ref": self.ref, "kind": self.kind, "title": self.title, "count": len(entries),
            "sort_keys": [{"name": s.name, "label": s.label} for s in self.sort_keys],
            "filters": filters, "facts": self.facts(), "editor": self.editor_link(),
            "has_histograms": self.histograms_available(),
        }

    def histograms_available(self) -> bool:
        return False

    def entry(self, key: str) -> ItemEntry:
        for e in self.entries():
            if e.key == key:
                return e
        raise InputError(f"{self.ref} has no item {key!r}")

    def list_items(self, *, page: int = 0, size: int = 48, query: str = "", sort: str = "",
                   filters: dict[str, str] | None = None) -> ListPage:
        if size < 1 or size > MAX_PAGE_SIZE:
            raise InputError(f"page size must be in 1-{MAX_PAGE_SIZE}, got {size}")
        if page < 0:
            raise InputError(f"page must be >= 0, got {page}")
        entries: Sequence[ItemEntry] = self.entries()
        q = query.strip().lower()
        if q:
            entries = [e for e in entries if q in e.key.lower() or q in str(e.summary.get("search", "")).lower()]
        for name, value in (filters or {}).items():
            if name not in self.filter_fields:
                known = ", ".join(self.filter_fields) or "nothing"
                raise InputError(f"unknown filter {name!r}; this list filters by {known}")
            if value:
                entries = [e for e in entries if str(e.summary.get(name)) == value]
        if sort:
            entries = sort_entries(entries, self._sort_key(sort))
        start = page * size
        return ListPage(total=len(entries), page=page, size=size,
                        items=[self.card(e) for e in entries[start:start + size]])

    def _sort_key(self, name: str) -> SortKey:
        for s in self.sort_keys:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.sort_keys) or "none"
        raise InputError(f"unknown sort {name!r}; this list sorts by: {known}")


def sort_entries(entries: Sequence[ItemEntry], key: SortKey) -> list[ItemEntry]:
    """Entries ordered by a summary field; items without a (finite) value go last, in their order."""
    have = [e for e in entries if _finite(e.summary.get(key.field))]
    missing = [e for e in entries if not _finite(e.summary.get(key.field))]
    have.sort(key=lambda e: e.summary[key.field], reverse=key.descending)
    return have + missing


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# --- the registry -----------------------------------------------------------------------------


class FolderKind(Protocol):
    name: str

    def detect(self, folder: Path, config: dict[str, Any] | None) -> bool: ...

    def open(self, folder: Path, context: Context, config: dict[str, Any] | None) -> DatasetView: ...


@dataclass(frozen=True)
class SimpleKind:
    """A kind from a detection function and a view class."""

    name: str
    test: Callable[[Path, dict[str, Any] | None], bool]
    view: Callable[[Path, Context, dict[str, Any] | None], DatasetView]

    def detect(self, folder: Path, config: dict[str, Any] | None) -> bool:
        return self.test(folder, config)

    def open(self, folder: Path, context: Context, config: dict[str, Any] | None) -> DatasetView:
        return self.view(folder, context, config)


KINDS: list[FolderKind] = []


def register_kind(kind: FolderKind, *, before: str | None = None) -> None:
    """Add a kind (replacing one of the same name), tried before `before` when given, else last."""
    KINDS[:] = [k for k in KINDS if k.name != kind.name]
    names = [k.name for k in KINDS]
    KINDS.insert(names.index(before) if before in names else len(KINDS), kind)


def read_config(folder: Path) -> dict[str, Any] | None:
    """A folder's config.json as a dict (None when absent or unreadable)."""
    path = folder / "config.json"
    try:
        if path.is_file() and path.stat().st_size < 16 << 20:
            data = json.loads(path.read_text())
            return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        pass
    return None


def detect_kind(folder: Path) -> FolderKind | None:
    config = read_config(folder)
    for kind in KINDS:
        if kind.detect(folder, config):
            return kind
    return None


@dataclass
class Found:
    """A folder discovered under a root: a dataset (kind set) or a report (index.html)."""

    path: Path
    kind: str | None = None
    report: bool = False
    children: list[str] = field(default_factory=list)


def _listdir(folder: Path) -> list[Path]:
    try:
        with_limit = []
        for i, entry in enumerate(sorted(folder.iterdir())):
            if i >= _SCAN_LIMIT:
                break
            with_limit.append(entry)
        return with_limit
    except OSError:
        return []


def discover(root: Path, *, max_depth: int = 3) -> Iterator[Found]:
    """Datasets and reports under `root`, breadth first; a dataset's own subfolders are not searched.

    Symlinked folders are not followed (a link out of the root would be refused anyway).
    """
    queue = [(root, 0)]
    while queue:
        folder, depth = queue.pop(0)
        if (folder / "index.html").is_file() and folder != root:
            yield Found(path=folder, report=True)
            continue
        kind = detect_kind(folder)
        if kind is not None and kind.name != "image-folder":
            yield Found(path=folder, kind=kind.name)
            yield from _reports_in(folder)  # a job's report folder inside the dataset (fingerprints evaluate)
            continue
        subdirs = [p for p in _listdir(folder) if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
        if kind is not None and not any(detect_kind(p) for p in subdirs[:8] if depth < max_depth):
            yield Found(path=folder, kind=kind.name)
            continue
        if depth < max_depth:
            queue += [(p, depth + 1) for p in subdirs]


def _reports_in(folder: Path) -> Iterator[Found]:
    """Subfolders with an index.html, skipping numbered identity / finger folders (one scandir pass)."""
    try:
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if not e.name.isdigit() and e.is_dir(follow_symlinks=False))
    except OSError:
        return
    for name in names:
        if (folder / name / "index.html").is_file():
            yield Found(path=folder / name, report=True)


def open_view(folder: Path, context: Context) -> DatasetView:
    config = read_config(folder)
    for kind in KINDS:
        if kind.detect(folder, config):
            return kind.open(folder, context, config)
    raise InputError(f"{context.ref(folder)!r} holds no images or synthbio output")


def images_in(folder: Path, *, limit: int | None = None) -> list[Path]:
    """Image files directly in `folder` (masks excluded), sorted by name."""
    out = []
    try:
        names = sorted(folder.iterdir())
    except OSError:
        return []
    for p in names:
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith(MASK_SUFFIXES) and p.is_file():
            out.append(p)
            if limit is not None and len(out) >= limit:
                break
    return out


def mask_of(image: Path) -> Path | None:
    """The `<stem>_mask.png` beside an image (a segmentation job's output), if present."""
    p = image.with_name(f"{image.stem}{MASK_SUFFIX}.png")
    return p if p.is_file() else None
