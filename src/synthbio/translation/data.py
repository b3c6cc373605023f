"""One translation domain: a folder of images (or a synthbio identity dataset), and its training stream.

A domain folder is searched recursively; hidden files and the sample grids
synthbio writes at a dataset's top (`grid*.png`) are skipped. A synthbio
identity dataset (`DIR/<identity>/<sample>.png`) is read as it is: each
image's label is its folder relative to the domain root.

Every header is read at construction, so an empty folder, unreadable files,
images smaller than the training crop or a mix of grey and colour images are
reported at once, in one InputError that names the files.

Training stream: batch b of domain d on rank r holds the samples
`InfiniteLoader.batch_indices(b)` (a permutation per epoch, seeded), each
randomly cropped and mirrored with offsets drawn from
`numpy.random.default_rng([seed, d, r, b, k])`. So a batch is a pure function
of its position, and a resumed run draws exactly the batches an
uninterrupted one would have.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.io.derived import is_derived, is_sample_image
from synthbio.io.images import read_image, read_image_header
from synthbio.io.manifest import MANIFEST_NAME, read_manifest
from synthbio.training.data import InfiniteLoader

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_MAX_LISTED = 5


def _listing(title: str, items: Sequence[str]) -> str:
    """One line: 'title: first, second, ... (and N more)'."""
    more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"{title}: {', '.join(items[:_MAX_LISTED])}{more}"


def _paths_in(value: object) -> list[str]:
    """Every string under a "path" key of a JSON value (manifest records nest their files)."""
    if isinstance(value, dict):
        found = [value["path"]] if isinstance(value.get("path"), str) else []
        return found + [p for v in value.values() for p in _paths_in(v)]
    if isinstance(value, list):
        return [p for v in value for p in _paths_in(v)]
    return []


def manifest_images(root: Path) -> list[Path] | None:
    """The images a synthbio manifest.jsonl at `root` lists (its samples), or None without one.

    A synthbio dataset folder also holds reports, grids and ground-truth files;
    its manifest says which files are the samples.
    """
    if not (root / MANIFEST_NAME).is_file():
        return None
    paths = {p for r in read_manifest(root / MANIFEST_NAME).records for p in _paths_in(r)}
    files = [root / p for p in paths if is_sample_image(p, IMAGE_SUFFIXES) and (root / p).is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix()) or None


def list_domain_images(folder: str | os.PathLike[str], *, what: str = "domain") -> list[Path]:
    """Image files under `folder`, sorted by relative path.

    Symlinked folders are followed (each real folder once). Hidden files,
    reports and caches, masks and depth maps beside the samples and top-level
    grids are skipped (`synthbio.io.derived`).

    A path to one image file gives that file alone; a synthbio dataset (a
    folder with manifest.jsonl) gives the images its manifest lists.
    """
    root = Path(folder)
    if root.is_file():
        if root.suffix.lower() not in IMAGE_SUFFIXES:
            raise InputError(f"{what} {os.fspath(folder)!r} is not an image ({', '.join(IMAGE_SUFFIXES)})")
        return [root]
    if not root.is_dir():
        raise InputError(f"{what} folder {os.fspath(folder)!r} does not exist or is not a folder")
    listed = manifest_images(root)
    if listed is not None:
        return listed
    files = []
    for path in _walk(root):
        if not is_sample_image(path.relative_to(root).as_posix(), IMAGE_SUFFIXES):
            continue
        if path.is_file():
            files.append(path)
    if not files:
        raise InputError(f"{what} folder {os.fspath(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _walk(root: Path) -> Iterator[Path]:
    """Every file under root, following symlinked folders (identity folders are often linked into a
    train/test split), each real folder once (a link loop ends)."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        # hidden folders (interrupted writes) and reports / caches (synthbio.io.derived) are no data
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not is_derived(Path(dirpath) / d))
        yield from (Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))


def _is_gray(mode: str) -> bool:
    return mode in ("1", "L", "LA", "I", "F", "P;L") or mode.startswith("I;16")


def _fitted_size(width: int, height: int, load_size: int) -> tuple[int, int]:
    """(w, h) after resizing the shorter side to load_size (0 = unchanged)."""
    if load_size <= 0:
        return width, height
    scale = load_size / min(width, height)
    return max(load_size, round(width * scale)), max(load_size, round(height * scale))


def image_to_uint8(img: PIL.Image.Image, channels: int) -> np.ndarray:
    """PIL image -> [H, W, channels] uint8 (16-bit grey scaled to 8 bits, palette and alpha dropped)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        a = np.clip(np.rint(np.asarray(img).astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        img = PIL.Image.fromarray(a, "L")
    img = img.convert("L" if channels == 1 else "RGB")
    a = np.asarray(img)
    return a[:, :, None] if a.ndim == 2 else a


@dataclass(frozen=True)
class DomainConfig:
    """How one domain's images are read.

    path: image folder (searched recursively), a synthbio identity dataset, or one image file.
    channels: 1 or 3 to convert every image; None = the images' own (all grey
        -> 1, all colour -> 3; a mix is an error that asks for one).
    load_size: resize each image's shorter side to this first (0 = keep), as MUNIT's new_size.
    crop: side of the square training crops (0 = no crop: images must then all have one size).
    mirror: flip half of the training crops left-right.
    min_size: smallest side a (loaded) image may have: the network's minimum.
    """

    path: str
    channels: int | None = None
    load_size: int = 0
    crop: int = 256
    mirror: bool = True
    min_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", os.fspath(self.path))
        if self.channels not in (None, 1, 3):
            raise InputError(f"channels must be 1, 3 or unset, got {self.channels}")
        if self.load_size < 0 or self.crop < 0:
            raise InputError(f"load size and crop must be >= 0, got {self.load_size}, {self.crop}")


class DomainDataset(torch.utils.data.Dataset):
    """The images of one domain as uint8 [C, H, W] (after load_size), validated up front.

    Attributes: files (absolute paths), names (relative posix paths), labels
    (folder of each image relative to the root, '' at the top), channels.
    """

    def __init__(self, config: DomainConfig, *, what: str = "domain") -> None:
        self.config = config
        self.what = what
        self.files = list_domain_images(config.path, what=what)
        self.root = Path(config.path).parent if Path(config.path).is_file() else Path(config.path)
        self.names = [p.relative_to(self.root).as_posix() for p in self.files]
        self.labels = [str(Path(n).parent) if Path(n).parent != Path(".") else "" for n in self.names]
        self.sizes, self.channels = self._validate()

    def _validate(self) -> tuple[list[tuple[int, int]], int]:
        cfg = self.config
        bad: list[str] = []
        sizes: list[tuple[int, int]] = []
        gray = colour = 0
        for path in self.files:
            try:  # the shared loader's header check: size limits and formats, before anything is decoded
                size, mode = read_image_header(path)
            except InputError as exc:
                bad.append(f"{path.relative_to(self.root)} ({exc})")
                sizes.append((0, 0))
                continue
            sizes.append(size)
            if _is_gray(mode):
                gray += 1
            else:
                colour += 1
        if bad:
            raise InputError(_listing(f"unreadable images in {self.what} folder {cfg.path!r}", bad))
        if cfg.channels is None and gray and colour:
            raise InputError(f"{self.what} folder {cfg.path!r} mixes grey ({gray}) and colour ({colour}) images: "
                             "choose the channels to convert them to (1 or 3)")
        channels = cfg.channels or (1 if gray else 3)
        fitted = [_fitted_size(w, h, cfg.load_size) for w, h in sizes]
        need = max(cfg.crop, cfg.min_size)
        small = [f"{n} ({w}x{h})" for n, (w, h) in zip(self.names, fitted) if min(w, h) < need]
        if small:
            raise InputError(_listing(f"images in {self.what} folder {cfg.path!r} smaller than {need}x{need} px"
                                      f"{' after resizing to ' + str(cfg.load_size) if cfg.load_size else ''}", small))
        if cfg.crop == 0 and len(set(fitted)) > 1:
            raise InputError(f"{self.what} folder {cfg.path!r} holds images of {len(set(fitted))} different sizes; "
                             "train on square crops (crop > 0) or resize them to one size")
        return fitted, channels

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> np.ndarray:
        """Image `index` as [H, W, C] uint8, resized per load_size."""
        path = self.files[index]
        a = read_image(path, mode="L" if self.channels == 1 else "RGB")  # the loader every command uses
        a = a[:, :, None] if a.ndim == 2 else a
        w, h = self.sizes[index]
        if (a.shape[1], a.shape[0]) != (w, h):
            resized = PIL.Image.fromarray(a[:, :, 0] if self.channels == 1 else a)
            a = image_to_uint8(resized.resize((w, h), PIL.Image.Resampling.BICUBIC), self.channels)
        return a

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(self.load(index).transpose(2, 0, 1).copy())


def uint8_to_float(images: Tensor) -> Tensor:
    """uint8 [N, C, H, W] -> float32 in [-1, 1]."""
    return images.to(torch.float32) / 127.5 - 1


class DomainStream:
    """Endless deterministic batches [N, C, crop, crop] (float in [-1, 1]) of one domain for one rank."""

    def __init__(self, dataset: DomainDataset, *, batch_size: int, seed: int, domain: int, rank: int = 0,
                 world_size: int = 1, start_batch: int = 0) -> None:
        self.dataset = dataset
        self.seed, self.domain, self.rank = int(seed), int(domain), int(rank)
        # The epoch order is InfiniteLoader's (seeded per domain); it is used for its indices only.
        self._order = InfiniteLoader(dataset, batch_size=batch_size, seed=self.seed * 2 + self.domain, rank=rank,
                                     world_size=world_size)
        self.batch_size = batch_size
        self.position = int(start_batch)

    def batch(self, b: int) -> Tensor:
        """Batch number b (a pure function of b and the stream's settings)."""
        cfg = self.dataset.config
        out = []
        for k, index in enumerate(self._order.batch_indices(b)):
            img = self.dataset.load(index)
            rng = np.random.default_rng([self.seed, self.domain, self.rank, b, k])
            if cfg.crop:
                h, w = img.shape[:2]
                top, left = int(rng.integers(0, h - cfg.crop + 1)), int(rng.integers(0, w - cfg.crop + 1))
                img = img[top:top + cfg.crop, left:left + cfg.crop]
            if cfg.mirror and rng.random() < 0.5:
                img = img[:, ::-1]
            out.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
        return uint8_to_float(torch.stack(out))

    def __next__(self) -> Tensor:
        x = self.batch(self.position)
        self.position += 1
        return x

    def __iter__(self) -> DomainStream:
        return self
