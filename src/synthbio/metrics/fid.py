"""Fréchet distance (FD/FID) and kernel distance (KID) between two image sets.

Both compare the distributions of features that an extractor
(synthbio.metrics.feature_extractors) gives for real and for generated
images; with the FID Inception-v3 they are FID and KID.

- Fréchet distance between Gaussians N(mu1, S1), N(mu2, S2) (Dowson & Landau
  1982; Heusel et al. 2017):  ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).
- KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial
  kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets; reported as
  mean and standard deviation over the subsets.

Feature statistics are streamed: `FeatureStats` merges per-batch means and
scatter matrices in float64 (Chan et al.'s pairwise update), so any number of
images fits in memory (only KID keeps the features themselves). Covariances
use the unbiased 1 / (N - 1), as TTUR and pytorch-fid (NVlabs' metrics divide
by N; the difference is below 1e-4 FID at 50k images).

`compute_fid(FidConfig)` runs the whole job: real images from a folder
(statistics cached in a .npz keyed by the folder listing, the extractor name
and its resolution), generated images from a model (seeds 0..num-1) or from a
second folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synthbio.errors import InputError, library_message
from synthbio.io.arrays import read_npz
from synthbio.io.derived import is_sample_image, walk_files
from synthbio.utils.jsonio import loads_strict

FD_METHODS = ("sqrtm", "eigh")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_STATS_VERSION = 1

# --- Fréchet distance ------------------------------------------------------------------------


def _check_gaussian(mu: np.ndarray, sigma: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise InputError(f"{what}: mean {mu.shape} and covariance {sigma.shape} do not match")
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise InputError(f"{what}: mean or covariance contains NaN or infinity")
    return mu, sigma


def _rank_clip(w: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with rounding noise set to 0.

    Values below D * eps * max (numpy's matrix_rank tolerance) are the
    directions a rank-deficient covariance lacks; their square roots would
    otherwise add sqrt(eps)-sized errors each.
    """
    tol = w.size * np.finfo(np.float64).eps * max(float(np.max(np.abs(w), initial=0.0)), 1e-300)
    return np.where(w > tol, w, 0.0)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(_rank_clip(w))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, *, method: str = "sqrtm",
                       eps: float = 1e-6) -> float:
    """Tr((S1 S2)^(1/2)) for covariance matrices, in float64.

    'sqrtm': scipy.linalg.sqrtm of the product, as TTUR / pytorch-fid / NVlabs.
    A non-finite result (singular product) is retried with eps * I added to
    both matrices; imaginary parts left by rounding are dropped when the
    diagonal's are below 1e-3 (else, or without scipy, the 'eigh' form is used).
    'eigh': S1 S2 is similar to the symmetric PSD S1^(1/2) S2 S1^(1/2), so the
    trace is the sum of the square roots of its eigenvalues (those below the
    rounding level set to 0).
    Real by construction and exact for singular covariances (fewer samples
    than dimensions).
    """
    if method not in FD_METHODS:
        raise InputError(f"unknown Fréchet method {method!r}: use one of {', '.join(FD_METHODS)}")
    if method == "sqrtm":
        try:
            import scipy.linalg
        except ImportError:  # scipy is optional: the eigenvalue form needs numpy only
            method = "eigh"
    if method == "eigh":
        root1 = _psd_sqrt(sigma1)
        inner = root1 @ sigma2 @ root1
        lam = np.linalg.eigvalsh((inner + inner.T) / 2)
        return float(np.sqrt(_rank_clip(lam)).sum())
    with warnings.catch_warnings():  # singular products (N <= D) are expected and handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.all(np.isfinite(covmean)):
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3) or not np.all(np.isfinite(covmean)):
            return trace_sqrt_product(sigma1, sigma2, method="eigh")
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *,
                     method: str = "sqrtm") -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) in float64 (see trace_sqrt_product).

    mu: [D], sigma: [D, D]. Symmetric up to rounding; 0 for equal Gaussians.
    """
    mu1, sigma1 = _check_gaussian(mu1, sigma1, "first set")
    mu2, sigma2 = _check_gaussian(mu2, sigma2, "second set")
    if mu1.shape != mu2.shape:
        raise InputError(f"feature dimensions differ: {mu1.size} vs {mu2.size}")
    diff = mu1 - mu2
    tr = trace_sqrt_product(sigma1, sigma2, method=method)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


# --- KID ---------------------------------------------------------------------------------------


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3 for rows of x [M, D], y [N, D] -> [M, N] float64."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of samples x [M, D], y [N, D] under the cubic polynomial kernel.

    sum_{i != j} k(x_i, x_j) / (M (M - 1)) + sum_{i != j} k(y_i, y_j) / (N (N - 1))
    - 2 sum_{i, j} k(x_i, y_j) / (M N)   (Gretton et al. 2012, eq. 3).
    """
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise InputError(f"MMD needs at least 2 samples per set, got {m} and {n}")
    kxx, kyy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    kxy = polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.sum() / (m * n))


@dataclass(frozen=True)
class KidResult:
    """KID: mean and standard deviation of the per-subset MMD^2 estimates."""

    mean: float
    std: float
    num_subsets: int
    subset_size: int


def kernel_distance(features_real: np.ndarray, features_fake: np.ndarray, *, num_subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> KidResult:
    """KID over `num_subsets` random subsets (without replacement) of min(subset_size, N_real, N_fake).

    Subsets are drawn by a numpy Generator seeded with `seed` (fake rows, then
    real rows, per subset), so the result is reproducible.
    """
    if num_subsets < 1:
        raise InputError(f"num_subsets must be >= 1, got {num_subsets}")
    real, fake = np.asarray(features_real), np.asarray(features_fake)
    m = min(len(real), len(fake), subset_size)
    if m < 2:
        raise InputError(f"KID needs at least 2 images per set, got {len(real)} real and {len(fake)} generated")
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return KidResult(mean=float(values.mean()), std=float(values.std()), num_subsets=num_subsets, subset_size=m)


# --- streamed statistics -----------------------------------------------------------------------


class FeatureStats:
    """Running mean and scatter matrix of features in float64; optionally the features too.

    update() merges a batch with the pairwise formulas of Chan, Golub & LeVeque
    (1979): mean += delta * b / n, M2 += M2_batch + delta delta^T * n_a b / n,
    which stays accurate when the mean is large next to the spread (a running
    sum of outer products does not).
    """

    def __init__(self, dim: int, *, keep_features: bool = False) -> None:
        if dim < 1:
            raise InputError(f"feature dimension must be >= 1, got {dim}")
        self.dim = dim
        self.keep_features = keep_features
        self.count = 0
        self._mean = np.zeros(dim)
        self._m2 = np.zeros((dim, dim))
        self._features: list[np.ndarray] = []

    def update(self, features: np.ndarray | torch.Tensor) -> None:
        """Add a batch of features [B, D]."""
        if isinstance(features, torch.Tensor):
            features = features.detach().to("cpu", torch.float64).numpy()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InputError(f"features must be [B, {self.dim}], got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise InputError("features contain NaN or infinity")
        b = len(x)
        if b == 0:
            return
        mean_b = x.mean(0)
        xc = x - mean_b
        total = self.count + b
        delta = mean_b - self._mean
        self._m2 += xc.T @ xc + np.outer(delta, delta) * (self.count * b / total)
        self._mean += delta * (b / total)
        self.count = total
        if self.keep_features:
            self._features.append(x.astype(np.float32))

    def mean_cov(self, *, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(mean [D], covariance [D, D]) with divisor N - ddof."""
        if self.count <= ddof:
            raise InputError(f"a covariance needs more than {ddof} images, got {self.count}")
        return self._mean.copy(), self._m2 / (self.count - ddof)

    def features(self) -> np.ndarray:
        """All features seen, [N, D] float32 (only with keep_features=True)."""
        if not self.keep_features:
            raise InputError("these statistics were computed without keeping the features")
        return np.concatenate(self._features) if self._features else np.zeros((0, self.dim), np.float32)

    def save(self, path: str | os.PathLike[str], *, meta: dict[str, Any]) -> None:
        """Write a .npz (mean, m2, count, meta JSON, features when kept) atomically."""
        from synthbio.utils.hashing import atomic_write_bytes

        arrays: dict[str, np.ndarray] = {
            "mean": self._mean, "m2": self._m2, "count": np.array(self.count),
            "meta": np.array(json.dumps({**meta, "version": _STATS_VERSION}, sort_keys=True)),
        }
        if self.keep_features:
            arrays["features"] = self.features()
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> tuple[FeatureStats, dict[str, Any]]:
        """(stats, meta) from a file written by save(); InputError naming the file if unreadable."""
        z = read_npz(path, what="feature statistics")
        try:
            meta = loads_strict(str(z["meta"]))
            if not isinstance(meta, dict):
                raise ValueError("its meta is not a JSON object")
            mean, m2 = z["mean"], z["m2"]
            if mean.ndim != 1 or m2.shape != (mean.shape[0], mean.shape[0]):
                raise ValueError(f"mean {mean.shape} and m2 {m2.shape} do not fit together")
            stats = cls(int(mean.shape[0]), keep_features="features" in z)
            stats._mean, stats._m2, stats.count = mean.astype(np.float64), m2.astype(np.float64), int(z["count"])
            if stats.keep_features:
                stats._features = [z["features"].astype(np.float32)]
        except (ValueError, KeyError, TypeError, OverflowError) as exc:
            raise InputError(f"cannot read feature statistics {os.fspath(path)!r}: {library_message(exc)}") from None
        return stats, meta


# --- image sources ------------------------------------------------------------------------------


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under `folder` (recursive, sorted by relative path).

    Hidden files and folders are skipped, and so are synthbio's sample grids
    (`grid.png`, `grid_<branch>.png` at the top) and the masks beside images
    (`<stem>_mask.png`, `<stem>_mask_color.png`: `masks generate`, `dataset
    generate --masks`). InputError if the folder is missing or holds no image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"image folder {os.fspath(folder)!r} does not exist or is not a folder")
    files = []
    for path in walk_files(root):  # hidden files and reports / caches (synthbio.io.derived) skipped
        if not is_sample_image(path.relative_to(root).as_posix(), IMAGE_SUFFIXES):
            continue  # masks, annotations and depth maps beside samples, sample grids
        if path.is_file():
            files.append(path)
    if not files:
        raise InputError(f"image folder {os.fspath(folder)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def listing_hash(folder: str | os.PathLike[str], files: Sequence[Path]) -> str:
    """sha256 over (relative path, size, mtime_ns) of every file: changes when any image does."""
    root = Path(folder)
    h = hashlib.sha256()
    for path in files:
        st = path.stat()
        h.update(f"{path.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def uint8_to_float(images_uint8: np.ndarray) -> torch.Tensor:
    """[N, H, W, C] uint8 -> [N, C, H, W] float32 in [-1, 1] (x / 127.5 - 1)."""
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float() / 127.5 - 1


def folder_batches(files: Sequence[Path], *, batch_size: int) -> Iterator[torch.Tensor]:
    """Images [B, C, H, W] in [-1, 1]; a batch holds consecutive files of one size and channel count."""
    from synthbio.io.images import read_png  # reads any PIL format as L or RGB

    batch: list[np.ndarray] = []
    for path in files:
        a = read_png(path)
        a = a[:, :, None] if a.ndim == 2 else a
        if batch and (a.shape != batch[0].shape or len(batch) == batch_size):
            yield uint8_to_float(np.stack(batch))
            batch = []
        batch.append(a)
    if batch:
        yield uint8_to_float(np.stack(batch))


def generator_batches(G: Any, *, num: int, batch_size: int, truncation_psi: float = 1.0,
                      class_idx: int | None = None, noise_mode: str = "random",
                      branch: str | None = None) -> Iterator[torch.Tensor]:
    """Images of seeds 0..num-1 [B, C, H, W], quantised to the uint8 levels a PNG would hold.

    Quantising as synthbio.io.images.to_uint8 (and the official metrics) makes a
    model's score equal to the score of its images written to a folder.
    """
    from synthbio.generation.sampling import (
        check_noise_mode,
        check_truncation,
        map_seeds,
        synthesize,
    )

    check_noise_mode(noise_mode)
    check_truncation(G, truncation_psi, None)
    branch = branch or G.branch_names[0]
    if branch not in G.branch_names:
        raise InputError(f"branch {branch!r} is not one of the model's outputs: {', '.join(G.branch_names)}")
    for start in range(0, num, batch_size):
        seeds = list(range(start, min(num, start + batch_size)))
        _, ws = map_seeds(G, seeds, class_idx=class_idx, truncation_psi=truncation_psi)
        x = synthesize(G, ws, seeds=seeds, noise_mode=noise_mode)[branch]
        yield ((x.float() * 127.5 + 128).clamp(0, 255).floor() / 127.5 - 1).cpu()


def feature_stats(batches: Iterator[torch.Tensor], extractor: Any, *, keep_features: bool = False,
                  on_batch: Callable[[int], None] | None = None) -> FeatureStats:
    """Stream image batches through `extractor` into FeatureStats."""
    stats = FeatureStats(extractor.dim, keep_features=keep_features)
    for images in batches:
        stats.update(extractor(images))
        if on_batch is not None:
            on_batch(len(images))
    return stats


# --- the job ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FidConfig:
    """`synthbio metrics fid`: a real folder against a model (`model`) or a folder (`fake`).

    num: generated images (seeds 0..num-1); ignored for `fake`.
    extractor: 'inception' | 'fingerprint' | 'fingerprint-minutiae'.
    inception_weights: weights file or registry name (None = 'fid-inception-v3').
    fingerprint_size: resize fingerprints to this side first (0 = keep their size).
    noise_mode: 'random' (per-seed noise, as the official metrics), 'const' or 'none'.
    branch: output of a multi-branch model to score (None = its first).
    kid: also compute KID (keeps all features in memory).
    fd_method: 'sqrtm' (official) or 'eigh' (see trace_sqrt_product).
    cache: read/write real-set statistics under cache_dir (None = $SYNTHBIO_HOME/fid-stats).
    """

    real: str
    model: str | None = None
    fake: str | None = None
    num: int = 10000
    extractor: str = "inception"
    inception_weights: str | None = None
    fingerprint_size: int = 0
    truncation_psi: float = 1.0
    class_idx: int | None = None
    noise_mode: str = "random"
    branch: str | None = None
    batch_size: int = 32
    kid: bool = False
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    kid_seed: int = 0
    fd_method: str = "sqrtm"
    device: str = "auto"
    cache: bool = True
    cache_dir: str | None = None


@dataclass(frozen=True)
class FidResult:
    fd: float
    kid: KidResult | None
    extractor: str
    num_real: int
    num_fake: int
    real_stats_cached: bool
    real_stats_path: str | None
    config: FidConfig

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["config"] = dataclasses.asdict(self.config)
        return out


def _check_config(config: FidConfig) -> None:
    if (config.model is None) == (config.fake is None):
        raise InputError("give exactly one of a model (--model) or a folder of generated images (--fake)")
    if config.batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {config.batch_size}")
    if config.model is not None and config.num < 2:
        raise InputError(f"--samples must be >= 2 generated images, got {config.num}")
    if config.fd_method not in FD_METHODS:
        raise InputError(f"unknown Fréchet method {config.fd_method!r}: use one of {', '.join(FD_METHODS)}")
    if config.kid and (config.kid_subsets < 1 or config.kid_subset_size < 2):
        raise InputError("KID needs kid_subsets >= 1 and kid_subset_size >= 2")


def stats_cache_path(config: FidConfig, listing: str, extractor: Any) -> Path:
    """Cache file of the real-set statistics: keyed by listing hash, extractor name and resolution."""
    from synthbio.checkpoints.registry import synthbio_home

    root = Path(config.cache_dir) if config.cache_dir else synthbio_home() / "fid-stats"
    key = json.dumps([listing, extractor.name, int(extractor.resolution)])
    return root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _real_stats(config: FidConfig, extractor: Any, *, on_batch: Callable[[str, int, int], None] | None
                ) -> tuple[FeatureStats, bool, Path | None]:
    files = list_images(config.real)
    meta = {"folder": str(Path(config.real).resolve()), "listing": listing_hash(config.real, files),
            "extractor": extractor.name, "resolution": int(extractor.resolution), "num_images": len(files)}
    path = stats_cache_path(config, meta["listing"], extractor) if config.cache else None
    if path is not None and path.is_file():
        stats, cached = FeatureStats.load(path)
        same = all(cached.get(k) == meta[k] for k in ("listing", "extractor", "resolution", "num_images"))
        if same and (stats.keep_features or not config.kid):
            return stats, True, path
    stats = feature_stats(folder_batches(files, batch_size=config.batch_size), extractor, keep_features=config.kid,
                          on_batch=(lambda b: on_batch("real", b, len(files))) if on_batch else None)
    if path is not None:
        stats.save(path, meta=meta)
    return stats, False, path


def compute_fid(config: FidConfig, *, extractor: Any | None = None,
                on_batch: Callable[[str, int, int], None] | None = None) -> FidResult:
    """FD (and KID) of generated vs real images, per `config`.

    extractor: use this FeatureExtractor instead of building `config.extractor`.
    on_batch(stage, images_in_batch, stage_total): progress callback, stage
    'real' or 'fake'.
    Raises InputError (bad folder/options), ModelNotFoundError / CheckpointError
    (missing or bad weights, model).
    """
    from synthbio.utils.devices import resolve_device

    _check_config(config)
    device = resolve_device(config.device)
    list_images(config.real)  # a missing or empty folder is named before any weights are looked for
    fake_files = list_images(config.fake) if config.fake is not None else []
    if extractor is None:
        from synthbio.metrics.feature_extractors import make_extractor

        extractor = make_extractor(config.extractor, inception_weights=config.inception_weights, device=device,
                                   fingerprint_size=config.fingerprint_size)
    if config.fake is not None:
        fake_batches, num_fake = folder_batches(fake_files, batch_size=config.batch_size), len(fake_files)
    else:
        from synthbio.checkpoints.loading import load_generator

        G = load_generator(config.model, device=device)  # type: ignore[arg-type]
        fake_batches = generator_batches(G, num=config.num, batch_size=config.batch_size,
                                         truncation_psi=config.truncation_psi, class_idx=config.class_idx,
                                         noise_mode=config.noise_mode, branch=config.branch)
        num_fake = config.num
    real, cached, path = _real_stats(config, extractor, on_batch=on_batch)
    fake = feature_stats(fake_batches, extractor, keep_features=config.kid,
                         on_batch=(lambda b: on_batch("fake", b, num_fake)) if on_batch else None)
    mu_r, sigma_r = real.mean_cov()
    mu_f, sigma_f = fake.mean_cov()
    fd = frechet_distance(mu_f, sigma_f, mu_r, sigma_r, method=config.fd_method)
    kid = None
    if config.kid:
        kid = kernel_distance(real.features(), fake.features(), num_subsets=config.kid_subsets,
                              subset_size=config.kid_subset_size, seed=config.kid_seed)
    return FidResult(fd=fd, kid=kid, extractor=extractor.name, num_real=real.count, num_fake=fake.count,
                     real_stats_cached=cached, real_stats_path=None if path is None else str(path), config=config)
