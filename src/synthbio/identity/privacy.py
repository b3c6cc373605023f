"""Privacy filter: drop synthetic samples that look like a real (training) identity.

ArcBiFaceGAN's rule: a synthetic sample is rejected when its similarity to
any real identity exceeds a threshold derived from the recogniser's genuine
scores, mean - 2 std (0.622 for their ArcFace). Here:

- `embed_folder` embeds a real reference set, streaming batches of images
  from disk, optionally into a `.npy` memory map (float16 halves the size of
  a million-identity set);
- `nearest_real` finds each synthetic embedding's most similar real one,
  chunked over both sets so a million references fit in memory (the real
  set may be a `np.memmap`); `nearest_real_templates` does the same with a
  template matcher's scores;
- `derive_threshold` and `genuine_similarities` give the threshold;
- `privacy_filter` returns the keep mask and the data for the figures.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.io.derived import is_sample_image, walk_files
from synthbio.io.images import read_image

if TYPE_CHECKING:
    from synthbio.identity.models import IdentityModel

STORAGE_DTYPES = ("float32", "float16")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


# --- embedding a real reference set -------------------------------------------------------


def load_image(path: str | os.PathLike[str], *, mode: str = "RGB", size: int | None = None) -> Tensor:
    """One image file -> float [C, H, W] in [-1, 1] (mode 'RGB' or 'L'; size: resize to size x size)."""
    if mode not in ("L", "RGB"):
        raise InputError(f"image mode must be 'L' or 'RGB', got {mode!r}")
    a = read_image(path, mode=mode)  # type: ignore[arg-type]
    if size is not None and a.shape[:2] != (size, size):
        a = np.asarray(PIL.Image.fromarray(a).resize((size, size), PIL.Image.Resampling.LANCZOS), dtype=np.uint8)
    a = a[:, :, None] if a.ndim == 2 else a
    return torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 127.5 - 1


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under `folder` (recursive), sorted by relative path, so the order is stable."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"image folder {os.fspath(folder)!r} does not exist or is not a directory")
    # reports / caches, masks and depth maps beside samples, sample grids skipped (synthbio.io.derived)
    files = sorted(p for p in walk_files(root) if is_sample_image(p.relative_to(root).as_posix(), IMAGE_SUFFIXES))
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {os.fspath(folder)!r}")
    return files


def _same_shape_runs(images: list[Tensor]) -> list[Tensor]:
    """Consecutive images of equal shape stacked into batches [n, C, H, W], in order."""
    runs: list[list[Tensor]] = []
    for img in images:
        if runs and runs[-1][0].shape == img.shape:
            runs[-1].append(img)
        else:
            runs.append([img])
    return [torch.stack(r) for r in runs]


def embed_folder(
    model: IdentityModel,
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    batch_size: int = 32,
    mode: str = "RGB",
    size: int | None = None,
    transform: Callable[[Tensor], Tensor] | None = None,
    out: str | os.PathLike[str] | None = None,
    dtype: str = "float32",
    device: str | torch.device = "cpu",
) -> Any:
    """Embed image files in order, `batch_size` at a time (never all images in memory).

    paths: image files, or one folder (its images in `image_files` order).
    mode: 'RGB' or 'L'; size: resize every image to size x size (None: keep
    sizes; images of one batch with another size are embedded separately).
    transform: optional function on each batch [n, C, H, W] in [-1, 1] before
    `model.embed` (which applies the model's own `preprocess`), e.g. face
    alignment. out: write the embeddings to this `.npy` file as a memory map
    (written to `<out>.partial`, renamed when complete) and return it opened
    read-only; else return an in-memory array. dtype: storage, 'float32' or
    'float16'. Vector kinds -> np.ndarray [N, D]; template kinds -> list of N
    templates (`out` must be None).
    """
    if dtype not in STORAGE_DTYPES:
        raise InputError(f"embedding storage dtype must be one of {STORAGE_DTYPES}, got {dtype!r}")
    if int(batch_size) < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    if isinstance(paths, (str, os.PathLike)):
        paths = image_files(paths)
    if not paths:
        raise InputError("no image files to embed")
    if model.kind != "vector" and out is not None:
        raise InputError(f"{model.name!r} gives templates, which cannot be stored in an embedding array")
    n = len(paths)
    store: np.ndarray | None = None
    templates: list[Any] = []
    partial = None if out is None else Path(os.fspath(out) + ".partial")
    row = 0
    with torch.no_grad():
        for s in range(0, n, batch_size):
            images = [load_image(p, mode=mode, size=size) for p in paths[s:s + batch_size]]
            for batch in _same_shape_runs(images):
                batch = batch.to(device)
                if transform is not None:
                    batch = transform(batch)
                emb = model.embed(batch)
                if model.kind != "vector":
                    templates.extend(emb)
                    continue
                e = emb.detach().float().cpu().numpy()
                if store is None:
                    shape = (n, e.shape[1])
                    store = (np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=shape)
                             if partial is not None else np.empty(shape, dtype=dtype))
                store[row:row + len(e)] = e
                row += len(e)
    if model.kind != "vector":
        return templates
    assert store is not None
    if partial is None:
        return store
    assert isinstance(store, np.memmap) and out is not None
    store.flush()
    del store
    os.replace(partial, out)
    return np.load(out, mmap_mode="r")


# --- nearest real identity ----------------------------------------------------------------


def _as_float_tensor(a: Any, what: str) -> Tensor:
    # np.array copies: memmap slices are read-only, and float16 storage is widened to float32 here.
    t = a.detach().float() if isinstance(a, Tensor) else torch.from_numpy(np.array(a, dtype=np.float32))
    if t.ndim != 2:
        raise InputError(f"{what} must be a 2-d array [N, D], got shape {tuple(t.shape)}")
    return t


def nearest_real(
    synthetic_emb: Tensor | np.ndarray,
    real_emb: Tensor | np.ndarray,
    *,
    chunk: int = 65536,
    synthetic_chunk: int = 1024,
) -> tuple[Tensor, Tensor]:
    """Cosine of each synthetic embedding to its most similar real one.

    synthetic_emb: [N, D]; real_emb: [M, D] tensor, array or `np.memmap`
    (float16 or float32; read `chunk` rows at a time, so only
    synthetic_chunk x chunk similarities exist at once). Returns
    (max_sim float32 [N], index int64 [N]); ties go to the lowest index.
    """
    if chunk < 1 or synthetic_chunk < 1:
        raise InputError(f"chunk sizes must be >= 1, got {chunk}, {synthetic_chunk}")
    syn = F.normalize(_as_float_tensor(synthetic_emb, "synthetic embeddings"), dim=1, eps=1e-12)
    m = int(real_emb.shape[0]) if hasattr(real_emb, "shape") else 0
    if m == 0:
        raise InputError("the real reference set is empty")
    if len(real_emb.shape) != 2 or real_emb.shape[1] != syn.shape[1]:
        raise InputError(f"real embeddings {tuple(real_emb.shape)} do not match synthetic ones "
                         f"{tuple(syn.shape)} (same D needed)")
    best = torch.full((syn.shape[0],), -torch.inf)
    index = torch.zeros(syn.shape[0], dtype=torch.int64)
    for start in range(0, m, chunk):
        block = F.normalize(_as_float_tensor(real_emb[start:start + chunk], "real embeddings"), dim=1, eps=1e-12)
        for s in range(0, syn.shape[0], synthetic_chunk):
            sims = syn[s:s + synthetic_chunk] @ block.T  # [n, c]
            val, idx = sims.max(dim=1)  # first maximum within the block
            better = val > best[s:s + synthetic_chunk]  # strict: earlier blocks win ties
            best[s:s + synthetic_chunk] = torch.where(better, val, best[s:s + synthetic_chunk])
            index[s:s + synthetic_chunk] = torch.where(better, idx + start, index[s:s + synthetic_chunk])
    return best, index


def nearest_real_templates(
    model: IdentityModel,
    synthetic: Sequence[Any],
    real: Sequence[Any],
    *,
    chunk: int = 256,
) -> tuple[Tensor, Tensor]:
    """`nearest_real` for template matchers: the highest score of each synthetic template over the real ones.

    Scores come from `model.similarity` on `chunk` x `chunk` blocks (matchers
    compare pairs one by one, so the blocks bound memory, not time).
    Returns (max_score float32 [N], index int64 [N]); ties go to the lowest index.
    """
    if chunk < 1:
        raise InputError(f"chunk size must be >= 1, got {chunk}")
    if len(real) == 0:
        raise InputError("the real reference set is empty")
    n = len(synthetic)
    best = torch.full((n,), -torch.inf)
    index = torch.zeros(n, dtype=torch.int64)
    for start in range(0, len(real), chunk):
        block = list(real[start:start + chunk])
        for s in range(0, n, chunk):
            scores = model.similarity(list(synthetic[s:s + chunk]), block).float().cpu()
            val, idx = scores.max(dim=1)
            better = val > best[s:s + chunk]
            best[s:s + chunk] = torch.where(better, val, best[s:s + chunk])
            index[s:s + chunk] = torch.where(better, idx + start, index[s:s + chunk])
    return best, index


# --- threshold ----------------------------------------------------------------------------


def derive_threshold(genuine_scores: Tensor | np.ndarray | Sequence[float], *, ddof: int = 0) -> float:
    """mean - 2 std of genuine (same-identity) similarities (population std unless ddof=1)."""
    g = np.asarray(genuine_scores.detach().cpu() if isinstance(genuine_scores, Tensor) else genuine_scores,
                   dtype=np.float64).ravel()
    if g.size <= ddof or not np.isfinite(g).all():
        raise InputError(f"genuine scores must be {ddof + 1}+ finite values, got {g.size}")
    return float(g.mean() - 2 * g.std(ddof=ddof))


def genuine_similarities(embeddings: Tensor | np.ndarray, labels: Sequence[Any]) -> Tensor:
    """Cosine of every same-label pair (i < j) -> float32 [P] (grouped by label, in first-seen order)."""
    e = F.normalize(_as_float_tensor(embeddings, "embeddings"), dim=1, eps=1e-12)
    if len(labels) != e.shape[0]:
        raise InputError(f"{len(labels)} labels for {e.shape[0]} embeddings")
    groups: dict[Any, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    parts = []
    for idx in groups.values():
        if len(idx) > 1:
            g = e[idx]
            iu = torch.triu_indices(len(idx), len(idx), 1)
            parts.append((g @ g.T)[iu[0], iu[1]])
    if not parts:
        raise InputError("no label has two or more embeddings: genuine scores need pairs of one identity")
    return torch.cat(parts)


# --- the filter ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivacyResult:
    """Outcome of `privacy_filter`.

    keep: bool [N] (max similarity <= threshold). max_similarity / nearest_index:
    [N], the most similar real sample. genuine_scores: the scores the
    threshold was derived from (None when it was given).
    """

    keep: Tensor
    max_similarity: Tensor
    nearest_index: Tensor
    threshold: float
    genuine_scores: Tensor | None = field(default=None, repr=False)

    def figure_data(self, *, bins: int = 50) -> dict[str, Any]:
        """Histograms on common edges: nearest-real similarity of kept / rejected samples, genuine scores."""
        values = [self.max_similarity]
        if self.genuine_scores is not None:
            values.append(self.genuine_scores.float())
        allv = torch.cat(values)
        lo, hi = float(allv.min()), float(allv.max())
        if hi <= lo:
            hi = lo + 1e-6
        edges = np.linspace(lo, hi, bins + 1)
        sims = self.max_similarity.numpy()
        keep = self.keep.numpy()
        data: dict[str, Any] = {
            "threshold": self.threshold,
            "kept": int(keep.sum()),
            "rejected": int((~keep).sum()),
            "fraction_rejected": float((~keep).mean()) if keep.size else 0.0,
            "edges": edges.tolist(),
            "kept_counts": np.histogram(sims[keep], edges)[0].tolist(),
            "rejected_counts": np.histogram(sims[~keep], edges)[0].tolist(),
        }
        if self.genuine_scores is not None:
            data["genuine_counts"] = np.histogram(self.genuine_scores.numpy(), edges)[0].tolist()
        return data


def privacy_filter(
    synthetic: Any,
    real: Any,
    *,
    threshold: float | None = None,
    genuine_scores: Tensor | np.ndarray | Sequence[float] | None = None,
    model: IdentityModel | None = None,
    chunk: int = 65536,
) -> PrivacyResult:
    """Keep the synthetic samples no closer to a real identity than the threshold.

    synthetic / real: embeddings ([N, D] / [M, D], real may be a memmap) or,
    with a template `model`, lists of templates. threshold: in similarity
    units; None derives it from `genuine_scores` (mean - 2 std). A sample is
    rejected when its highest similarity to any real sample exceeds the threshold.
    """
    genuine = None
    if threshold is None:
        if genuine_scores is None:
            raise InputError("the privacy filter needs a threshold or genuine scores to derive one (mean - 2 std)")
        threshold = derive_threshold(genuine_scores)
        genuine = torch.as_tensor(np.asarray(
            genuine_scores.detach().cpu() if isinstance(genuine_scores, Tensor) else genuine_scores,
            dtype=np.float32)).ravel()
    if model is not None and model.kind == "template":
        max_sim, index = nearest_real_templates(model, synthetic, real, chunk=min(chunk, 256))
    else:
        max_sim, index = nearest_real(synthetic, real, chunk=chunk)
    return PrivacyResult(keep=max_sim <= threshold, max_similarity=max_sim, nearest_index=index,
                         threshold=float(threshold), genuine_scores=genuine)
