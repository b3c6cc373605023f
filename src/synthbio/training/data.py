"""Training images: a folder or .zip of images (optionally paired branches) as uint8 tensors.

Layouts:
- single branch: every image under `path` (a folder, searched recursively, or a
  .zip archive), in sorted relative-path order, as in the official
  StyleGAN2-ADA `ImageFolderDataset`;
- paired branches (RGB + NIR, ...): `path/<branch>/<name>.<ext>` for every
  branch, matched by `<name>` (the path inside the branch folder without its
  extension), so `rgb/a/001.png` pairs with `nir/a/001.jpg`.

Every file is opened once at construction (header only) so that unreadable,
unpaired, non-square or wrongly sized files are reported together in one
InputError, instead of one at a time hours into a run. A file whose header
reads but whose pixel data is corrupt fails when it is loaded, with an
InputError naming it.

Sampling: `infinite_loader` draws batches from an endless stream whose order is
a pure function of (seed, position), so a run that stopped after B batches
resumes with exactly the batches an uninterrupted run would have drawn next.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import PIL.Image
import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.io.images import read_image, read_image_header
from synthbio.nn.config import MAX_DIM
from synthbio.utils.jsonio import loads_strict

#: Largest conditioning label: the generator's c_dim is bounded the same way (synthbio.nn.config.MAX_DIM).
MAX_CLASSES = MAX_DIM
from synthbio.io.derived import is_sample_image, keep_data_names, walk_files

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
RESIZE_MODES = ("none", "resize", "center-crop")
SINGLE_BRANCH = "img"
_MAX_LISTED = 20


def _listing(title: str, items: Sequence[str]) -> str:
    """'title (N):' followed by the first 20 items, one a line, and how many more."""
    shown = [f"  {s}" for s in items[:_MAX_LISTED]]
    if len(items) > _MAX_LISTED:
        shown.append(f"  ... and {len(items) - _MAX_LISTED} more")
    return f"{title} ({len(items)}):\n" + "\n".join(shown)


@dataclass(frozen=True)
class DatasetConfig:
    """Where the training images are and how to shape them.

    path: folder or .zip of images; for paired data a folder (or .zip) holding one
        subfolder per branch.
    resolution: None = native size (all images square, one power-of-two size);
        otherwise the side length every image is brought to.
    resize_mode: "none" (images must already have the size), "resize" (Lanczos to
        resolution x resolution, aspect not kept) or "center-crop" (central square,
        then Lanczos). The last two need `resolution`.
    branches: (name, channels) per branch for paired data, e.g. (("rgb", 3), ("nir", 1));
        None = one branch named "img".
    channels: single branch only: 1 (grayscale) or 3 (RGB); None = that of the first image.
    labels: optional labels file: dataset.json ({"labels": [[relpath, class], ...]}) or a
        CSV of `relpath,label` lines; an integer class becomes a one-hot c, a list of
        numbers (JSON) or several CSV columns a float vector. A path that is not a file
        is looked up inside the dataset folder or archive.
    xflip: append a horizontally mirrored copy of every sample (official --mirror).
    max_size: keep this many samples, a fixed pseudo-random subset (None = all).
    """

    path: str
    resolution: int | None = None
    resize_mode: str = "none"
    branches: tuple[tuple[str, int], ...] | None = None
    channels: int | None = None
    labels: str | None = None
    xflip: bool = False
    max_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", os.fspath(self.path))
        if self.resize_mode not in RESIZE_MODES:
            raise InputError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")
        if self.resolution is not None:
            _check_power_of_two(self.resolution, what="resolution")
        elif self.resize_mode != "none":
            raise InputError(f"resize_mode {self.resize_mode!r} needs a target resolution")
        if self.branches is not None:
            branches = tuple((str(n), int(c)) for n, c in self.branches)
            names = [n for n, _ in branches]
            if not branches or len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
                raise InputError(f"branch names must be unique identifiers, got {names}")
            if any(c not in (1, 3) for _, c in branches):
                raise InputError(f"branch channels must be 1 or 3, got {branches}")
            if self.channels is not None:
                raise InputError("channels applies to single-branch data; give channels per branch in branches")
            object.__setattr__(self, "branches", branches)
        if self.channels not in (None, 1, 3):
            raise InputError(f"channels must be 1, 3 or None, got {self.channels}")
        if self.max_size is not None and self.max_size < 1:
            raise InputError(f"max_size must be >= 1, got {self.max_size}")


def _check_power_of_two(res: int, *, what: str) -> None:
    if res < 4 or 2 ** int(math.log2(res)) != res:
        raise InputError(f"{what} must be a power of two >= 4, got {res}")


# ---------------------------------------------------------------------------
# File sources: a folder or a zip archive behind one interface.


class _Source:
    """Files of a dataset folder or .zip by relative posix path.

    The zip handle is opened lazily per process and dropped when pickled, so a
    dataset can be sent to DataLoader worker processes.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.is_zip = os.path.isfile(path) and zipfile.is_zipfile(path)
        if not self.is_zip and not os.path.isdir(path):
            raise InputError(f"dataset path {path!r} is neither a folder nor a .zip archive")
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1

    def names(self) -> list[str]:
        """Data files, relative: reports, caches and hidden files are skipped (`synthbio.io.derived`)."""
        if self.is_zip:
            return sorted(keep_data_names(n for n in self._archive().namelist() if not n.endswith("/")))
        return [p.relative_to(self.path).as_posix() for p in walk_files(self.path)]

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._zip_pid = os.getpid()
        return self._zip

    def read(self, name: str) -> bytes:
        """The bytes of one member; InputError naming it when the archive or the file is damaged."""
        try:
            if self.is_zip:
                return self._archive().read(name)
            with open(os.path.join(self.path, name), "rb") as f:
                return f.read()
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
            raise InputError(f"cannot read {self.display(name)}: {exc}") from None

    def display(self, name: str) -> str:
        return f"{self.path}:{name}" if self.is_zip else os.path.join(self.path, name)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_zip": None, "_zip_pid": -1}


def _is_image(name: str) -> bool:
    """A training image: not a mask, annotation or depth map beside one, not a sample grid (io.derived)."""
    return is_sample_image(name, IMAGE_EXTENSIONS)


def _header(source: _Source, name: str) -> tuple[tuple[int, int], str]:
    """(width, height) and PIL mode from the image header (`synthbio.io.images.read_image_header`)."""
    return read_image_header(source.display(name), data=source.read(name))


def _is_gray_mode(mode: str) -> bool:
    return mode in ("1", "L", "LA", "I", "F") or mode.startswith("I;16")


def _shape_image(a: np.ndarray, *, resolution: int, mode: str) -> np.ndarray:
    """Bring an [H, W(, C)] uint8 image to [R, R(, C)] with the configured mode."""
    h, w = a.shape[:2]
    if mode == "none" or (h == w == resolution):
        return a
    img = PIL.Image.fromarray(a)
    if mode == "center-crop" and h != w:
        s = min(h, w)
        left, top = (w - s) // 2, (h - s) // 2
        img = img.crop((left, top, left + s, top + s))
    return np.asarray(img.resize((resolution, resolution), PIL.Image.Resampling.LANCZOS))


# ---------------------------------------------------------------------------
# Labels.


def _label_key(name: str, branch_names: Sequence[str]) -> str:
    """Normalised key of a label entry or a sample: posix path without extension
    (and without a leading branch folder for paired data)."""
    name = name.replace("\\", "/")
    p = PurePosixPath(name[2:] if name.startswith("./") else name)
    if branch_names and len(p.parts) > 1 and p.parts[0] in branch_names:
        p = PurePosixPath(*p.parts[1:])
    return p.with_suffix("").as_posix() if p.suffix.lower() in IMAGE_EXTENSIONS else p.as_posix()


def _read_label_entries(text: str, *, is_json: bool, where: str) -> list[tuple[str, Any]]:
    if is_json:
        try:
            data = loads_strict(text)
        except ValueError as exc:
            raise InputError(f"labels file {where} is not valid JSON: {exc}") from None
        entries = data.get("labels") if isinstance(data, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, list) and len(e) == 2 for e in entries):
            raise InputError(f"labels file {where} must hold {{\"labels\": [[relpath, label], ...]}}")
        return [(str(k), v) for k, v in entries]
    try:
        rows = [r for r in csv.reader(io.StringIO(text)) if r and any(f.strip() for f in r)]
    except csv.Error as exc:  # a field past the csv module's limit, a stray carriage return
        raise InputError(f"labels file {where} is not a readable CSV: {exc}") from None
    out: list[tuple[str, Any]] = []
    for i, row in enumerate(rows):
        if len(row) < 2:
            raise InputError(f"labels file {where} line {i + 1}: expected 'relpath,label', got {row}")
        fields = [f.strip() for f in row[1:]]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if i == 0:
                continue  # a header line
            raise InputError(f"labels file {where} line {i + 1}: labels must be numbers, got {fields}") from None
        if len(values) == 1 and values[0].is_integer() and abs(values[0]) <= MAX_CLASSES:
            out.append((row[0].strip(), int(values[0])))
        else:
            out.append((row[0].strip(), values))
    return out


def _label_matrix(values: list[Any], *, where: str) -> np.ndarray:
    """Class indices -> one-hot [N, max+1]; equal-length number lists -> [N, D] float32."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        if any(not 0 <= v < MAX_CLASSES for v in values):  # one-hot columns up to the largest index
            raise InputError(f"labels file {where}: class indices must be in 0..{MAX_CLASSES - 1}")
        idx = np.asarray(values, dtype=np.int64)
        c = np.zeros([len(values), int(idx.max()) + 1 if idx.size else 0], dtype=np.float32)
        c[np.arange(len(values)), idx] = 1
        return c
    try:
        with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused below in one line
            c = np.asarray([[float(x) for x in (v if isinstance(v, list) else [v])] for v in values], dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"labels file {where}: labels must be class indices or lists of numbers") from None
    if c.ndim != 2:
        raise InputError(f"labels file {where}: label vectors must all have the same length")
    if c.shape[1] > MAX_CLASSES or not np.isfinite(c).all():
        raise InputError(f"labels file {where}: label vectors must be finite, at most {MAX_CLASSES} numbers long")
    return c


# ---------------------------------------------------------------------------
# Dataset.


class ImageDataset(torch.utils.data.Dataset):
    """Images (and one-hot labels) as uint8 tensors, validated up front.

    Item: ({branch: uint8 [C, R, R]}, c float32 [c_dim]) with c = zeros(0) when
    unlabelled. Attributes: resolution, branches ((name, channels) pairs;
    (("img", C),) for single-branch data), c_dim, name, keys (sample names).
    """

    def __init__(self, config: DatasetConfig) -> None:
        self.config = config
        self._source = _Source(config.path)
        base = os.path.basename(os.path.normpath(config.path))
        self.name = base[:-4] if self._source.is_zip and base.lower().endswith(".zip") else base
        names = [n for n in self._source.names() if _is_image(n)]
        if config.branches is None:
            self._files = {SINGLE_BRANCH: names}
            self.keys = list(names)
        else:
            self.keys, self._files = self._pair(names, config.branches)
        if not self.keys:
            raise InputError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) found in {config.path!r}")
        self.branches, self.resolution = self._validate()
        labels = self._load_labels() if config.labels is not None else None
        idx = np.arange(len(self.keys))
        if config.max_size is not None and config.max_size < len(idx):
            # Fixed seed: the same subset on every run and every rank.
            idx = np.sort(np.random.default_rng(0).permutation(len(idx))[: config.max_size])
        self._raw_idx = idx
        self._labels = labels
        self.c_dim = 0 if labels is None else int(labels.shape[1])

    # -- scanning ------------------------------------------------------------

    def _pair(self, names: list[str], branches: tuple[tuple[str, int], ...]) -> tuple[list[str], dict[str, list[str]]]:
        """Match `<branch>/<name>.<ext>` files across branches by `<name>`."""
        per_branch: dict[str, dict[str, str]] = {}
        duplicates: list[str] = []
        for b, _ in branches:
            table: dict[str, str] = {}
            for n in names:
                p = PurePosixPath(n)
                if len(p.parts) < 2 or p.parts[0] != b:
                    continue
                key = PurePosixPath(*p.parts[1:]).with_suffix("").as_posix()
                if key in table:
                    duplicates.append(f"{table[key]} and {n}")
                table[key] = n
            if not table:
                raise InputError(f"branch folder {b!r} holds no images in {self.config.path!r}")
            per_branch[b] = table
        if duplicates:
            raise InputError(_listing(f"files with the same name in one branch of {self.config.path!r}", duplicates))
        all_keys = sorted(set().union(*[set(t) for t in per_branch.values()]))
        unpaired = []
        for k in all_keys:
            lacking = [b for b, _ in branches if k not in per_branch[b]]
            if lacking:
                unpaired += [f"{per_branch[b][k]} (no match in {', '.join(lacking)})"
                             for b, _ in branches if k in per_branch[b]]
        if unpaired:
            raise InputError(_listing(f"unpaired branch files in {self.config.path!r}", unpaired))
        return all_keys, {b: [per_branch[b][k] for k in all_keys] for b, _ in branches}

    def _validate(self) -> tuple[tuple[tuple[str, int], ...], int]:
        """Read every header once; raise one InputError listing every bad file."""
        cfg = self.config
        unreadable: list[str] = []
        headers: dict[str, list[tuple[tuple[int, int], str] | None]] = {}
        for b, files in self._files.items():
            hs: list[tuple[tuple[int, int], str] | None] = []
            for n in files:
                try:
                    hs.append(_header(self._source, n))
                except InputError as exc:
                    unreadable.append(str(exc))
                    hs.append(None)
            headers[b] = hs
        if unreadable:
            raise InputError(_listing(f"unreadable images in {cfg.path!r}", unreadable))
        if cfg.branches is None:
            # Grayscale only if every image is; one colour image makes the data set RGB.
            gray = all(_is_gray_mode(hd[1]) for hd in headers[SINGLE_BRANCH])  # type: ignore[index]
            channels = cfg.channels or (1 if gray else 3)
            branches: tuple[tuple[str, int], ...] = ((SINGLE_BRANCH, channels),)
        else:
            branches = cfg.branches
        resolution = cfg.resolution
        if cfg.resize_mode == "none":
            if resolution is None:
                w, h = headers[branches[0][0]][0][0]  # type: ignore[index]
                if w != h:
                    raise InputError(
                        f"{self._source.display(self._files[branches[0][0]][0])} is {w}x{h}, not square; "
                        "use resize_mode 'center-crop' or 'resize' with a resolution")
                _check_power_of_two(w, what=f"native image size of {cfg.path!r}")
                resolution = w
            wrong = [f"{self._source.display(n)} ({hd[0][0]}x{hd[0][1]})"  # type: ignore[index]
                     for b, files in self._files.items() for n, hd in zip(files, headers[b])
                     if hd[0] != (resolution, resolution)]  # type: ignore[index]
            if wrong:
                raise InputError(_listing(
                    f"images in {cfg.path!r} that are not {resolution}x{resolution} "
                    "(use resize_mode 'resize' or 'center-crop')", wrong))
        assert resolution is not None
        return branches, resolution

    def _load_labels(self) -> np.ndarray:
        """[num_files, c_dim] float32 labels aligned with self.keys."""
        spec = self.config.labels
        assert spec is not None
        # A relative name is looked up inside the data set first (the official dataset.json
        # sits there), so a same-named file in the working directory is not picked by mistake.
        inside = not os.path.isabs(spec) and spec.replace("\\", "/") in set(self._source.names())
        if inside:
            text, where = self._source.read(spec.replace("\\", "/")).decode("utf-8", errors="replace"), self._source.display(spec)
        elif os.path.isfile(spec):
            with open(spec, encoding="utf-8", errors="replace") as f:
                text, where = f.read(), spec
        else:
            raise InputError(f"labels file {spec!r} not found (inside {self.config.path!r} or as a path)")
        entries = _read_label_entries(text, is_json=spec.lower().endswith(".json"), where=where)
        branch_names = [b for b, _ in self.config.branches or ()]
        table = {_label_key(k, branch_names): v for k, v in entries}
        sample_keys = [_label_key(k, branch_names) for k in self.keys]
        missing = [k for k, s in zip(self.keys, sample_keys) if s not in table]
        if missing:
            raise InputError(_listing(f"images without a label in {where}", missing))
        return _label_matrix([table[s] for s in sample_keys], where=where)

    # -- items ---------------------------------------------------------------

    @property
    def num_files(self) -> int:
        """Distinct samples used (after max_size, before xflip doubling)."""
        return len(self._raw_idx)

    def __len__(self) -> int:
        return self.num_files * (2 if self.config.xflip else 1)

    def _resolve(self, idx: int) -> tuple[int, bool]:
        if not 0 <= idx < len(self):
            raise IndexError(f"index {idx} out of range for a dataset of {len(self)} samples")
        flip = idx >= self.num_files
        return int(self._raw_idx[idx - self.num_files if flip else idx]), flip

    def load_image(self, raw: int, branch: str, channels: int) -> Tensor:
        """One decoded image of file index `raw` as uint8 [C, R, R]."""
        name = self._files[branch][raw]
        a = read_image(self._source.display(name), data=self._source.read(name), mode="L" if channels == 1 else "RGB")
        a = _shape_image(a, resolution=self.resolution, mode=self.config.resize_mode)
        if a.ndim == 2:
            a = a[:, :, None]
        return torch.from_numpy(a.transpose(2, 0, 1).copy())  # PIL arrays are read-only

    def get_label(self, idx: int) -> Tensor:
        """c of sample idx, float32 [c_dim] (zeros(0) when unlabelled), without loading the image."""
        raw, _ = self._resolve(idx)
        if self._labels is None:
            return torch.zeros(0, dtype=torch.float32)
        return torch.from_numpy(self._labels[raw].copy())

    def __getitem__(self, idx: int) -> tuple[dict[str, Tensor], Tensor]:
        raw, flip = self._resolve(int(idx))
        images = {}
        for b, ch in self.branches:
            x = self.load_image(raw, b, ch)
            images[b] = x.flip(-1).contiguous() if flip else x
        return images, self.get_label(idx)


def to_float(images_uint8: Tensor) -> Tensor:
    """uint8 [N, C, H, W] in [0, 255] -> float32 in [-1, 1] (x / 127.5 - 1, as the official loop)."""
    return images_uint8.to(torch.float32) / 127.5 - 1


# ---------------------------------------------------------------------------
# Deterministic infinite sampling.


def _collate(items: list[tuple[dict[str, Tensor], Tensor]]) -> tuple[dict[str, Tensor], Tensor]:
    images = {b: torch.stack([it[0][b] for it in items]) for b in items[0][0]}
    return images, torch.stack([it[1] for it in items])


class _StreamOrder:
    """The endless index stream: epoch e is a permutation of range(n) seeded by (seed, e).

    Global position g -> sample perm_{g // n}[g % n]. Rank r of W takes global
    positions r, r + W, r + 2W, ..., so ranks never share a position.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self._epoch = -1
        self._perm = np.zeros(0, dtype=np.int64)

    def index(self, g: int) -> int:
        epoch, i = divmod(g, self.n)
        if epoch != self._epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch = epoch
        return int(self._perm[i])


class _BatchIndices:
    """Iterable of index lists for one rank, starting at a given batch position."""

    def __init__(self, order: _StreamOrder, *, batch_size: int, rank: int, world_size: int, start: int) -> None:
        self.order, self.batch_size, self.rank, self.world_size, self.start = order, batch_size, rank, world_size, start

    def batch(self, b: int) -> list[int]:
        first = b * self.batch_size
        return [self.order.index((first + k) * self.world_size + self.rank) for k in range(self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        b = self.start
        while True:
            yield self.batch(b)
            b += 1


class InfiniteLoader:
    """Endless iterator of ({branch: uint8 [N, C, R, R]}, c [N, c_dim]) batches.

    The order is a pure function of (seed, rank, world_size, batch_size) and the
    batch position, so `load_sampler_state(state)` (or `start_batch=`) after an
    interruption continues with exactly the batches that would have come next.
    `position` counts batches handed out; prefetched ones do not count.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, *, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, start_batch: int = 0) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        if batch_size < 1 or n < 1:
            raise InputError(f"batch_size and dataset size must be >= 1, got {batch_size} and {n}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise InputError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
        if num_workers < 0 or start_batch < 0:
            raise InputError("num_workers and start_batch must be >= 0")
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        self._order = _StreamOrder(n, seed)
        self.position = start_batch
        self._it: Iterator[Any] | None = None

    def batch_indices(self, b: int) -> list[int]:
        """Dataset indices of this rank's batch number b."""
        return _BatchIndices(self._order, batch_size=self.batch_size, rank=self.rank,
                             world_size=self.world_size, start=b).batch(b)

    def _start(self) -> Iterator[Any]:
        if self.num_workers == 0:
            return (_collate([self.dataset[i] for i in self.batch_indices(b)]) for b in _count(self.position))
        sampler = _BatchIndices(_StreamOrder(self._order.n, self.seed), batch_size=self.batch_size, rank=self.rank,
                                world_size=self.world_size, start=self.position)
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.num_workers,
                                             collate_fn=_collate)
        return iter(loader)

    def __iter__(self) -> InfiniteLoader:
        return self

    def __next__(self) -> tuple[dict[str, Tensor], Tensor]:
        if self._it is None:
            self._it = self._start()
        batch = next(self._it)
        self.position += 1
        return batch

    def sampler_state(self) -> dict[str, int]:
        """What an exact resume needs (save it in the training state)."""
        return {"seed": self.seed, "position": self.position, "batch_size": self.batch_size,
                "rank": self.rank, "world_size": self.world_size, "dataset_len": self._order.n}

    def load_sampler_state(self, state: dict[str, int]) -> None:
        """Continue from a saved position; the sampling setup must match the saved one."""
        mine = self.sampler_state()
        for k in ("seed", "batch_size", "world_size", "dataset_len"):
            if k in state and int(state[k]) != mine[k]:
                raise InputError(f"cannot resume the data order: saved {k}={state[k]}, this run has {mine[k]}")
        self.position = int(state["position"])
        self._it = None  # drop prefetched batches of the old position


def _count(start: int) -> Iterator[int]:
    b = start
    while True:
        yield b
        b += 1


def infinite_loader(dataset: torch.utils.data.Dataset, *, batch_size: int, seed: int, rank: int = 0,
                    world_size: int = 1, num_workers: int = 0, start_batch: int = 0) -> InfiniteLoader:
    """Deterministic endless batches of `batch_size` (per rank) from `dataset`; see InfiniteLoader."""
    return InfiniteLoader(dataset, batch_size=batch_size, seed=seed, rank=rank, world_size=world_size,
                          num_workers=num_workers, start_batch=start_batch)
