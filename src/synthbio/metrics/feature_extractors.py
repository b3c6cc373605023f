"""Feature extractors for distribution metrics (FD, KID): a protocol and its implementations.

An extractor maps images [N, C, H, W] in [-1, 1] to features [N, D]. FD and KID
compare the feature distributions of two image sets, so two numbers are
comparable only when computed with the same extractor (same `name`).

Extractors here:

- `InceptionFeatures` ('inception'): pool_3 of the FID Inception-v3
  (synthbio.metrics.inception), 2048-d; needs the weights file.
- `FingerprintFeatures` ('fingerprint', 'fingerprint-minutiae'): a fixed
  vector of ridge statistics computed in PyTorch, no download (listed in
  `FingerprintFeatures.feature_names`; see `_ridge_features`). With
  minutiae, NBIS MINDTCT adds minutiae count, density, type ratio and quality
  (~25 ms per image; needs synthbio's native NBIS library).

Domain extractors for faces (a face recogniser's embedding) fit the same
protocol: give them a `name`, `dim`, `resolution` and a `__call__`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from synthbio.errors import InputError

EXTRACTOR_NAMES: tuple[str, ...] = ("inception", "fingerprint", "fingerprint-minutiae")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, PIL's RGB -> L weights


@runtime_checkable
class FeatureExtractor(Protocol):
    """What FD/KID need from a feature extractor.

    name: identifies the features (network, weights, settings); the cache of
        real-set statistics is keyed by it, so different features need
        different names.
    dim: feature length D.
    resolution: the square side images are resized to before extraction,
        0 when features are computed at the image's own size.
    __call__: images [N, C, H, W] float in [-1, 1] -> features [N, D] float.
    """

    name: str
    dim: int
    resolution: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class InceptionFeatures:
    """FID Inception-v3 pool_3 features [N, 2048] of images [N, 1|3, H, W] in [-1, 1]."""

    dim = 2048
    resolution = 299

    def __init__(self, model: torch.nn.Module, *, name: str) -> None:
        self.model = model.eval()
        self.name = name

    @classmethod
    def from_weights(cls, path_or_name: str | os.PathLike[str] | None = None, *,
                     device: str | torch.device = "cpu", progress: bool = True) -> InceptionFeatures:
        """Load the weights (file path or registry name; None = 'fid-inception-v3')."""
        from synthbio.metrics.inception import load_fid_inception
        from synthbio.utils.hashing import module_sha256

        model = load_fid_inception(path_or_name, device=device, progress=progress)
        # The name carries a digest of the weights, so cached statistics never mix networks.
        return cls(model, name=f"inception-v3-fid-{module_sha256(model)[:12]}")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(images).float()


# --- fingerprint ridge statistics ------------------------------------------------------------


@dataclass(frozen=True)
class FingerprintFeatureConfig:
    """Settings of the fingerprint feature vector (defaults for 500 dpi images).

    size: resize images to size x size first (0 = keep their own size; ridge
        frequencies are then in cycles per pixel of the original scan).
    block: side of the blocks (px) for orientation, coherence and foreground.
    window: side of the local FFT windows (px, stride window / 2).
    period_range: ridge periods (px) searched by the local FFT, (shortest, longest).
    fg_std: block standard deviations of grey level (0..1 scale) mapped to
        foreground weight 0 and 1 (linear in between).
    orientation_bins, grey_bins, spectrum_bins: histogram sizes.
    minutiae: add NBIS MINDTCT minutiae statistics.
    dpi: resolution passed to MINDTCT.
    """

    size: int = 0
    block: int = 16
    window: int = 32
    period_range: tuple[float, float] = (4.0, 20.0)
    fg_std: tuple[float, float] = (0.03, 0.08)
    orientation_bins: int = 12
    grey_bins: int = 8
    spectrum_bins: int = 8
    minutiae: bool = False
    dpi: int = 500

    def __post_init__(self) -> None:
        if self.size < 0 or (0 < self.size < 2 * self.window):
            raise InputError(f"fingerprint feature size must be 0 or >= {2 * self.window}, got {self.size}")
        if self.block < 4 or self.window < 8 or self.window % 2:
            raise InputError(f"block must be >= 4 and window an even number >= 8, got {self.block}, {self.window}")
        lo, hi = self.period_range
        if not 2.0 <= lo < hi <= self.window:
            raise InputError(f"period_range must satisfy 2 <= shortest < longest <= window, got {self.period_range}")
        if not 0 <= self.fg_std[0] < self.fg_std[1]:
            raise InputError(f"fg_std must be increasing and non-negative, got {self.fg_std}")
        if min(self.orientation_bins, self.grey_bins, self.spectrum_bins) < 2:
            raise InputError("histograms need at least 2 bins")


def feature_names(config: FingerprintFeatureConfig) -> tuple[str, ...]:
    """Names of the fingerprint features, in vector order."""
    names = ["foreground_fraction"]
    names += [f"orientation_hist_{k}" for k in range(config.orientation_bins)]
    names += ["coherence_mean", "coherence_std", "coherence_smoothed_mean", "low_coherence_fraction"]
    names += ["ridge_frequency_mean", "ridge_frequency_std", "ridge_clarity_mean", "ridge_clarity_std"]
    names += [f"spectrum_{k}" for k in range(config.spectrum_bins)]
    names += ["grey_mean", "grey_std", "ridge_fraction", "ridge_grey", "valley_grey"]
    names += [f"grey_hist_{k}" for k in range(config.grey_bins)]
    if config.minutiae:
        names += ["minutiae_count", "minutiae_density", "bifurcation_fraction", "minutiae_quality"]
    return tuple(names)


def to_gray01(images: torch.Tensor) -> torch.Tensor:
    """[N, 1|3, H, W] in [-1, 1] -> grey level [N, 1, H, W] in [0, 1] (BT.601 luma for RGB)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"fingerprint features need images [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    x = images.float()
    if x.shape[1] == 3:
        x = sum(w * x[:, i : i + 1] for i, w in enumerate(_LUMA))  # type: ignore[assignment]
    return ((x + 1) / 2).clamp(0, 1)


def _wmean(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted mean over all but the batch dimension: [N, ...] -> [N]."""
    dims = tuple(range(1, v.ndim))
    return (v * w).sum(dims) / w.sum(dims)


def _wstd(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    m = _wmean(v, w).view(-1, *([1] * (v.ndim - 1)))
    return _wmean((v - m) ** 2, w).clamp_min(0).sqrt()


def _soft_weight(std: torch.Tensor, lo_hi: tuple[float, float]) -> torch.Tensor:
    """Foreground weight in [0, 1] from a local grey-level standard deviation.

    A small floor keeps weighted statistics defined (uniform) on blank images.
    """
    lo, hi = lo_hi
    return ((std - lo) / (hi - lo)).clamp(0, 1) + 1e-4


def _sobel(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel gradients (d/dx, d/dy) / 8 with replicated borders, as separable slices.

    (A 3x3 single-channel conv2d is several times slower on CPU.)
    """
    p = F.pad(g, (1, 1, 1, 1), mode="replicate")
    dx = p[..., 2:] - p[..., :-2]  # [N, 1, H + 2, W]
    dy = p[..., 2:, :] - p[..., :-2, :]  # [N, 1, H, W + 2]
    gx = (dx[..., :-2, :] + 2 * dx[..., 1:-1, :] + dx[..., 2:, :]) / 8
    gy = (dy[..., :-2] + 2 * dy[..., 1:-1] + dy[..., 2:]) / 8
    return gx, gy


def _box_mean(g: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over a size x size box (odd size) around each pixel, counting only pixels inside the image.

    Separable: the valid part of a box is a rectangle, so the 2-D mean is the
    row mean of column means.
    """
    r = size // 2
    g = F.avg_pool2d(g, (size, 1), stride=1, padding=(r, 0), count_include_pad=False)
    return F.avg_pool2d(g, (1, size), stride=1, padding=(0, r), count_include_pad=False)


def _orientation(g: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Block ridge orientation [N,1,h,w] in [0, pi), coherence (block and 3x3-smoothed) in [0, 1].

    Structure tensor (Kass & Witkin 1987; Bazen & Gerez 2002): the averaged
    gradient direction is 0.5 * atan2(2 Gxy, Gxx - Gyy); ridges run across it
    (+ pi/2). Coherence = sqrt((Gxx - Gyy)^2 + 4 Gxy^2) / (Gxx + Gyy).
    Angles are in image coordinates (x right, y down).
    """
    gx, gy = _sobel(g)
    t = torch.cat([gx * gx, gy * gy, gx * gy], 1)
    tb = F.avg_pool2d(t, block)
    ts = F.avg_pool2d(tb, 3, stride=1, padding=1, count_include_pad=False)

    def coherence(s: torch.Tensor) -> torch.Tensor:
        gxx, gyy, gxy = s[:, 0:1], s[:, 1:2], s[:, 2:3]
        return torch.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / (gxx + gyy + 1e-12)

    gxx, gyy, gxy = tb[:, 0:1], tb[:, 1:2], tb[:, 2:3]
    theta = torch.remainder(0.5 * torch.atan2(2 * gxy, gxx - gyy) + math.pi / 2, math.pi)
    return theta, coherence(tb), coherence(ts)


def _orientation_histogram(theta: torch.Tensor, weight: torch.Tensor, bins: int) -> torch.Tensor:
    """Soft histogram of axial angles [N,1,h,w] -> [N, bins], sums to 1.

    Each angle spreads over bins by exp(k (cos 2(theta - c) - 1)), a von Mises
    kernel on the doubled angle, so a small rotation changes the histogram
    smoothly (k = bins^2 / 18 gives a width of about one bin).
    """
    centres = (torch.arange(bins, device=theta.device, dtype=theta.dtype) + 0.5) * math.pi / bins
    kappa = bins * bins / 18.0
    a = torch.exp(kappa * (torch.cos(2 * (theta.flatten(1)[:, :, None] - centres)) - 1))  # [N, L, bins]
    a = a / a.sum(-1, keepdim=True)
    h = (a * weight.flatten(1)[:, :, None]).sum(1)
    return h / h.sum(-1, keepdim=True)


def _linear_histogram(v: torch.Tensor, weight: torch.Tensor, bins: int) -> torch.Tensor:
    """Histogram of values in [0, 1] with linear interpolation between bin centres: [N, bins]."""
    pos = (v.flatten(1).clamp(0, 1) * bins - 0.5).clamp(0, bins - 1)
    lo = pos.floor().long()
    frac = pos - lo
    hi = (lo + 1).clamp_max(bins - 1)
    w = weight.flatten(1)
    h = torch.zeros(v.shape[0], bins, device=v.device, dtype=v.dtype)
    h.scatter_add_(1, lo, w * (1 - frac))
    h.scatter_add_(1, hi, w * frac)
    return h / h.sum(-1, keepdim=True)


def _local_spectra(g: torch.Tensor, config: FingerprintFeatureConfig) -> torch.Tensor:
    """Ridge frequency, clarity and radial spectrum from local FFTs: [N, 4 + spectrum_bins].

    Windows of `window` px (stride window / 2), mean removed, Hann tapered,
    power spectrum P. In the band of ridge periods `period_range`:
    frequency = sum(P^2 r) / sum(P^2) over the band (cycles/px; squaring the
    power keeps the estimate on the spectral peak rather than on noise spread
    over the band), clarity = band power / all non-DC power. The radial profile
    is the share of non-DC power in equal radius bins over (0, 0.5] cycles/px.
    Statistics are weighted by each window's foreground weight.
    """
    n, ws = g.shape[0], config.window
    patches = g[:, 0].unfold(1, ws, ws // 2).unfold(2, ws, ws // 2).reshape(n, -1, ws, ws)  # [N, L, ws, ws]
    weight = _soft_weight(patches.std((-2, -1)), config.fg_std)  # [N, L]
    hann = torch.hann_window(ws, periodic=False, device=g.device, dtype=g.dtype)
    patches = (patches - patches.mean((-2, -1), keepdim=True)) * (hann[:, None] * hann[None, :])
    power = (torch.fft.rfft2(patches).abs() ** 2).flatten(-2)  # [N, L, ws * (ws // 2 + 1)]
    fy = torch.fft.fftfreq(ws, device=g.device, dtype=g.dtype)
    fx = torch.fft.rfftfreq(ws, device=g.device, dtype=g.dtype)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2).flatten()
    lo, hi = 1.0 / config.period_range[1], 1.0 / config.period_range[0]
    band = ((radius >= lo) & (radius <= hi)).to(g.dtype)
    edges = torch.linspace(0, 0.5, config.spectrum_bins + 1, device=g.device, dtype=g.dtype)
    idx = (torch.bucketize(radius.clamp(1e-9, 0.5), edges) - 1).clamp(0, config.spectrum_bins - 1)
    onehot = F.one_hot(idx, config.spectrum_bins).to(g.dtype) * (radius > 0).to(g.dtype)[:, None]
    # One matmul gives every sum over frequencies: [N, L, 2 + bins].
    sums = power @ torch.cat([band[:, None], onehot.sum(1, keepdim=True), onehot], 1)
    p_band, p_all = sums[..., 0], sums[..., 1] + 1e-12
    sq = power**2 @ torch.stack([band, band * radius], 1)
    freq = sq[..., 1] / (sq[..., 0] + 1e-30)
    clarity = p_band / p_all
    profile = sums[..., 2:] / p_all[..., None]  # [N, L, bins]
    prof = (profile * weight[..., None]).sum(1) / weight.sum(1, keepdim=True)
    return torch.cat([
        torch.stack([_wmean(freq, weight), _wstd(freq, weight), _wmean(clarity, weight),
                     _wstd(clarity, weight)], 1),
        prof,
    ], 1)


def _ridge_features(g: torch.Tensor, config: FingerprintFeatureConfig) -> torch.Tensor:
    """Grey level [N, 1, H, W] in [0, 1] -> ridge statistics [N, D] (order of `feature_names`).

    Scaling: histograms are multiplied by their bin count (mean 1), ridge
    frequency by 10 (0.1 cycles/px, a 10 px period, -> 1), so that every
    feature is of order 1 and none dominates FD by its units.
    """
    b = config.block
    h, w = (g.shape[2] // b) * b, (g.shape[3] // b) * b
    g = g[:, :, :h, :w]
    mean_b = F.avg_pool2d(g, b)
    std_b = (F.avg_pool2d(g * g, b) - mean_b**2).clamp_min(0).sqrt()
    fg = _soft_weight(std_b, config.fg_std)  # [N, 1, h/b, w/b]
    theta, coh, coh_s = _orientation(g, b)
    hist_o = _orientation_histogram(theta, fg * coh + 1e-6, config.orientation_bins) * config.orientation_bins
    coh_feats = torch.stack([_wmean(coh, fg), _wstd(coh, fg), _wmean(coh_s, fg),
                             _wmean((coh < 0.5).to(g.dtype), fg)], 1)
    spectra = _local_spectra(g, config)
    spectra = torch.cat([spectra[:, :2] * 10, spectra[:, 2:4], spectra[:, 4:] * config.spectrum_bins], 1)
    # Ridge/valley split: darker than the mean of the surrounding block-sized box.
    local_mean = _box_mean(g, b + 1 if b % 2 == 0 else b)
    ridge = (g < local_mean).to(g.dtype)
    fg_px = F.interpolate(fg, scale_factor=b, mode="nearest")
    grey = torch.stack([
        _wmean(g, fg_px), _wstd(g, fg_px), _wmean(ridge, fg_px),
        _wmean(g, fg_px * ridge + 1e-6), _wmean(g, fg_px * (1 - ridge) + 1e-6),
    ], 1)
    hist_g = _linear_histogram(g, fg_px, config.grey_bins) * config.grey_bins
    fg_fraction = (fg - 1e-4).flatten(1).mean(1, keepdim=True)
    return torch.cat([fg_fraction, hist_o, coh_feats, spectra, grey, hist_g], 1)


def _minutiae_features(g: torch.Tensor, fg_area_px: torch.Tensor, dpi: int) -> torch.Tensor:
    """MINDTCT minutiae statistics per image: [N, 4] (count / 50, per 10^4 fg px / 10, bifurcations, quality)."""
    from synthbio.fingerprints.matching import extract_minutiae

    # uint8 exactly as synthbio writes PNGs (x * 127.5 + 128 on [-1, 1]).
    images_uint8 = (g[:, 0] * 255 + 0.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
    rows = []
    for img, area in zip(images_uint8, fg_area_px.tolist()):
        minutiae = extract_minutiae(np.ascontiguousarray(img), method="mindtct", dpi=dpi).minutiae
        count = len(minutiae)
        bif = sum(m.kind == "bifurcation" for m in minutiae) / count if count else 0.0
        quality = sum(m.quality for m in minutiae) / (100.0 * count) if count else 0.0
        rows.append([count / 50.0, count / max(area / 1e4, 0.1) / 10.0, bif, quality])
    return torch.tensor(rows, dtype=torch.float32, device=g.device)


class FingerprintFeatures:
    """Ridge statistics of fingerprint images (dark ridges, light background).

    images [N, 1|3, H, W] in [-1, 1] (RGB is reduced to luma) -> [N, dim]
    float32; `feature_names` lists the features. Images must be at least
    2 * window px on each side. Computed per image, so features do not depend
    on batch composition.
    """

    def __init__(self, config: FingerprintFeatureConfig = FingerprintFeatureConfig(), *,
                 device: str | torch.device = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        self.feature_names = feature_names(config)
        self.dim = len(self.feature_names)
        self.resolution = config.size
        kind = "fingerprint-minutiae" if config.minutiae else "fingerprint"
        c = config
        self.name = (f"{kind}-v1-b{c.block}w{c.window}p{c.period_range[0]:g}-{c.period_range[1]:g}"
                     f"fg{c.fg_std[0]:g}-{c.fg_std[1]:g}o{c.orientation_bins}g{c.grey_bins}s{c.spectrum_bins}"
                     + (f"dpi{c.dpi}" if c.minutiae else ""))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        g = to_gray01(images.to(self.device))
        if self.config.size:
            g = F.interpolate(g, size=(self.config.size, self.config.size), mode="bilinear",
                              align_corners=False, antialias=True)
        if min(g.shape[2:]) < 2 * self.config.window:
            raise InputError(f"fingerprint images must be at least {2 * self.config.window} px on a side, "
                             f"got {tuple(g.shape[2:])}")
        with torch.no_grad():
            feats = _ridge_features(g, self.config)
            if self.config.minutiae:
                fg_area = feats[:, 0] * (g.shape[2] // self.config.block) * (g.shape[3] // self.config.block) \
                    * self.config.block**2
                feats = torch.cat([feats, _minutiae_features(g, fg_area, self.config.dpi)], 1)
        return feats.float()


def make_extractor(name: str, *, inception_weights: str | os.PathLike[str] | None = None,
                   device: str | torch.device = "cpu", fingerprint_size: int = 0,
                   progress: bool = True) -> FeatureExtractor:
    """An extractor by CLI name: 'inception', 'fingerprint' or 'fingerprint-minutiae'.

    inception_weights: weights file or registry name (None = 'fid-inception-v3').
    fingerprint_size: resize fingerprints to this square side (0 = keep).
    """
    if name == "inception":
        return InceptionFeatures.from_weights(inception_weights, device=device, progress=progress)
    if name in ("fingerprint", "fingerprint-minutiae"):
        config = FingerprintFeatureConfig(size=fingerprint_size, minutiae=name == "fingerprint-minutiae")
        return FingerprintFeatures(config, device=device)
    raise InputError(f"unknown feature extractor {name!r}: use one of {', '.join(EXTRACTOR_NAMES)}")
