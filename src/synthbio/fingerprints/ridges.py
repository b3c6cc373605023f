"""Ridge pattern growth by iterative space-variant Gabor filtering (SFinGe step 4).

Starting from a few random impulses, the image is filtered again and again
with a Gabor filter tuned, at every pixel, to the local ridge orientation and
period, and pushed through a saturating nonlinearity (Cappelli, Maio, Maltoni
2000). Each seed grows a patch of parallel ridges; where two patches with
different phase meet, ridges end or split, which is how the minutiae arise.

Speed: orientation is quantised to ``n_orient`` bins and period to
``n_period`` bins; each (orientation, period) kernel filters only the
bounding box of the pixels that use it, and each kernel is applied as the sum
of two separable filters, since an isotropic-Gaussian Gabor factors as

    G(x) G(y) cos(a x + b y) = G cos(ax) * G cos(by) - G sin(ax) * G sin(by).

Growth runs at ``1/downsample`` resolution (ridge period 4-6 px at the
default 2, well above the 2 px Nyquist limit) and the result is upsampled.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from synthbio.errors import InputError


def separable_gabor(
    theta: float, period: float, sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row/column factors of an even Gabor kernel for ridge orientation ``theta``.

    The wave vector is normal to the ridge direction ``(cos t, -sin t)``,
    i.e. ``(sin t, cos t)`` in pixel (x, y). Returns ``(cx, cy, sx, sy)``,
    float32 [K], with kernel = outer(cy, cx) - outer(sy, sx), normalised so a
    matching sinusoid of amplitude 1 responds with 1.
    """
    r = int(math.ceil(3.0 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(t**2) / (2 * sigma**2))
    a = 2 * math.pi * math.sin(theta) / period
    b = 2 * math.pi * math.cos(theta) / period
    cx, sx = g * np.cos(a * t), g * np.sin(a * t)
    cy, sy = g * np.cos(b * t), g * np.sin(b * t)
    kernel = np.outer(cy, cx) - np.outer(sy, sx)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    norm = float((kernel * np.cos(a * xx + b * yy)).sum())
    k = 1.0 / math.sqrt(norm)
    return tuple((v * k).astype(np.float32) for v in (cx, cy, sx, sy))  # type: ignore[return-value]


def _resize_orientation(theta: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an orientation field in the doubled-angle domain, [0, pi)."""
    c = cv2.resize(np.cos(2 * theta), (width, height), interpolation=cv2.INTER_AREA)
    s = cv2.resize(np.sin(2 * theta), (width, height), interpolation=cv2.INTER_AREA)
    return np.mod(0.5 * np.arctan2(s, c), np.pi).astype(np.float32)


def _kernel_regions(
    theta: np.ndarray, period: np.ndarray, n_orient: int, n_period: int
) -> list[tuple[float, float, np.ndarray, tuple[int, int, int, int]]]:
    """Group pixels by quantised (orientation, period).

    Returns ``(theta_c, period_c, flat_indices, (y0, y1, x0, x1))`` per
    non-empty group, the box being the group's bounding box.
    """
    h, w = theta.shape
    ob = np.round(theta / (math.pi / n_orient)).astype(np.int32) % n_orient
    pmin, pmax = float(period.min()), float(period.max())
    if n_period > 1 and pmax - pmin > 1e-3:
        pb = np.clip(((period - pmin) / (pmax - pmin) * n_period).astype(np.int32), 0, n_period - 1)
        centers = [pmin + (i + 0.5) * (pmax - pmin) / n_period for i in range(n_period)]
    else:
        pb = np.zeros_like(ob)
        centers = [float(period.mean())]
    label = (ob * len(centers) + pb).ravel()
    order = np.argsort(label, kind="stable")
    counts = np.bincount(label, minlength=n_orient * len(centers))
    starts = np.concatenate([[0], np.cumsum(counts)])
    groups = []
    for lab in np.nonzero(counts)[0]:
        idx = order[starts[lab] : starts[lab + 1]]
        ys, xs = idx // w, idx % w
        box = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        groups.append((float(lab // len(centers)) * math.pi / n_orient, centers[lab % len(centers)], idx, box))
    return groups


def _normalise(x: np.ndarray, sigma: float) -> np.ndarray:
    """Divide by the local amplitude (sqrt 2 x Gaussian-weighted RMS).

    Any region reached by the growing pattern jumps to full contrast at once,
    so the pattern spreads by about a kernel radius per iteration.
    """
    power = cv2.GaussianBlur(x * x, (0, 0), sigma)
    return x / (np.sqrt(2.0 * power) + 1e-4)


def _filter_bank(orientation: np.ndarray, period: np.ndarray, *, downsample: int, n_orient: int, n_period: int,
                 sigma_ratio: float) -> tuple[int, int, np.ndarray, list, list]:
    """(h, w, period [h, w], pixel groups, their separable kernels) at 1/downsample resolution."""
    if float(period.min()) <= 2.0 * downsample:
        raise InputError(f"ridge period {float(period.min()):.2f} px is too small for downsample={downsample}")
    height, width = orientation.shape
    h, w = max(8, height // downsample), max(8, width // downsample)
    theta = _resize_orientation(orientation, h, w)
    per = cv2.resize(period, (w, h), interpolation=cv2.INTER_AREA) * (w / width)
    groups = _kernel_regions(theta, per, n_orient, n_period)
    kernels = [separable_gabor(t, p, sigma_ratio * p) for t, p, _, _ in groups]
    return h, w, per, groups, kernels


def grow_ridges(
    orientation: np.ndarray,
    period: np.ndarray,
    rng: np.random.Generator,
    *,
    n_orient: int = 16,
    n_period: int = 3,
    iterations: int = 12,
    seed_density: float = 2.0e-4,
    sigma_ratio: float = 0.45,
    gain: float = 1.5,
    downsample: int = 2,
) -> np.ndarray:
    """Grow a ridge pattern that follows ``orientation`` and ``period``.

    Args:
        orientation: float32 [H, W] ridge orientation in [0, pi) (ISO angles).
        period: float32 [H, W] ridge period in pixels (> 2 * downsample).
        rng: the sample's generator (seed positions and signs).
        n_orient, n_period: quantisation of the filter bank.
        iterations: filter + saturate rounds (the pattern fills the image in
            about 10 at the default seed density).
        seed_density: seeds per pixel of the full-resolution canvas; more
            seeds give more phase conflicts, hence more minutiae.
        sigma_ratio: Gaussian envelope sigma as a fraction of the period;
            larger gives straighter, more regular ridges.
        gain: amplification of the contrast-normalised response before the
            clip to [-1, 1].
        downsample: growth resolution divisor.

    Returns:
        float32 [H, W] in [-1, 1], about sinusoidal across the ridges:
        positive on ridges, negative in valleys.
    """
    if orientation.shape != period.shape or orientation.ndim != 2:
        raise InputError(f"orientation {orientation.shape} and period {period.shape} must be equal 2-D shapes")
    height, width = orientation.shape
    h, w, per, groups, kernels = _filter_bank(orientation, period, downsample=downsample, n_orient=n_orient,
                                              n_period=n_period, sigma_ratio=sigma_ratio)

    img = np.zeros((h, w), np.float32)
    n_seeds = max(1, int(round(seed_density * height * width)))
    sy = rng.integers(0, h, n_seeds)
    sx = rng.integers(0, w, n_seeds)
    img[sy, sx] = rng.choice(np.array([-1.0, 1.0], np.float32), n_seeds)

    blur_sigma = float(per.mean())
    out = np.empty((h, w), np.float32)
    for _ in range(iterations):
        _filter_pass(img, groups, kernels, out)
        img = np.clip(_normalise(out, blur_sigma) * gain, -1.0, 1.0)
    soft = np.tanh(_normalise(out, blur_sigma) * 1.5).astype(np.float32)
    up = cv2.resize(soft, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(up, -1.0, 1.0, out=up)  # cubic interpolation overshoots a little


def _filter_pass(img: np.ndarray, groups: list, kernels: list, out: np.ndarray) -> None:
    """One space-variant Gabor filtering of ``img`` [h, w] into ``out`` (same shape)."""
    h, w = img.shape
    flat = out.ravel()
    for (_, _, idx, (y0, y1, x0, x1)), (cx, cy, sx_, sy_) in zip(groups, kernels):
        r = len(cx) // 2
        ya, yb, xa, xb = max(0, y0 - r), min(h, y1 + r), max(0, x0 - r), min(w, x1 + r)
        sub = img[ya:yb, xa:xb]
        resp = cv2.sepFilter2D(sub, -1, cx, cy, borderType=cv2.BORDER_REFLECT)
        resp -= cv2.sepFilter2D(sub, -1, sx_, sy_, borderType=cv2.BORDER_REFLECT)
        flat[idx] = resp[idx // w - ya, idx % w - xa]


def grow_anchored_ridges(
    orientation: np.ndarray,
    period: np.ndarray,
    anchor: np.ndarray,
    anchor_weight: np.ndarray,
    *,
    n_orient: int = 16,
    n_period: int = 3,
    iterations: int = 15,
    sigma_ratio: float = 0.45,
    gain: float = 1.5,
    downsample: int = 2,
) -> np.ndarray:
    """Grow ridges outwards from fixed patterns (``anchor``) instead of random impulses.

    Every round filters as `grow_ridges` does, then pulls each pixel back to
    ``anchor`` with weight ``anchor_weight`` (1 = held exactly, 0 = free), so
    the anchored patterns (e.g. a minutia's local ridge ending) survive the
    filtering, which would otherwise heal them, and the free ridges grow out
    from them with matching phase. Deterministic: no randomness is involved.

    Args:
        orientation, period: float32 [H, W] as in `grow_ridges`.
        anchor: float32 [H, W] in [-1, 1], positive on ridges.
        anchor_weight: float32 [H, W] in [0, 1]; growth starts where it exceeds 0.3.

    Returns:
        float32 [H, W] in [-1, 1], positive on ridges.
    """
    shapes = {orientation.shape, period.shape, anchor.shape, anchor_weight.shape}
    if len(shapes) != 1 or orientation.ndim != 2:
        raise InputError(f"orientation, period, anchor and anchor_weight must share one 2-D shape, got {shapes}")
    height, width = orientation.shape
    h, w, per, groups, kernels = _filter_bank(orientation, period, downsample=downsample, n_orient=n_orient,
                                              n_period=n_period, sigma_ratio=sigma_ratio)
    a_val = cv2.resize(anchor.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    a_w = np.clip(cv2.resize(anchor_weight.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA), 0.0, 1.0)
    img = np.where(a_w > 0.3, a_val, 0.0).astype(np.float32)
    blur_sigma = float(per.mean())
    out = np.empty((h, w), np.float32)
    for _ in range(iterations):
        _filter_pass(img, groups, kernels, out)
        img = np.clip(_normalise(out, blur_sigma) * gain, -1.0, 1.0)
        img = a_w * a_val + (1.0 - a_w) * img
    soft = np.tanh(_normalise(out, blur_sigma) * 1.5)
    soft = (a_w * a_val + (1.0 - a_w) * soft).astype(np.float32)
    up = cv2.resize(soft, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(up, -1.0, 1.0, out=up)
