"""Master fingerprints: the whole ridge pattern of one synthetic finger.

``generate_master(seed)`` runs the SFinGe steps: class and singularities ->
orientation field -> fingertip silhouette and ridge-period field -> ridge
growth by iterative Gabor filtering -> exact minutiae from the ridge skeleton.
Impressions of the finger are made from the master by
:func:`synthbio.fingerprints.impressions.make_impression`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.groundtruth import ExtractionConfig, extract_minutiae
from synthbio.fingerprints.orientation import (
    check_class,
    orientation_field,
    place_singularities,
    sample_class,
    smooth_random_field,
)
from synthbio.fingerprints.ridges import grow_ridges
from synthbio.fingerprints.types import FingerprintClass, Minutia, Singularity


@dataclass(frozen=True)
class MasterConfig:
    """How a master fingerprint is drawn. Lengths are pixels at ``dpi``.

    width, height: master canvas (bigger than a sensor, so impressions can
        move and rotate the finger without running off it).
    dpi: resolution; physical sizes (singularity offsets, ridge period range,
        silhouette) scale with ``dpi / 500``.
    fp_class: fixed class, or None to draw from the natural mix.
    ridge_period_px: (min, max) of the smooth random ridge-period field at
        500 dpi; rescaled by ``dpi / 500``.
    core_period_boost: relative period increase at the cores (0 = none).
    orientation_noise_rad: amplitude of the smooth orientation perturbation.
    far_field_distance_px: distance from the singularities at which the
        global arch flow gets half the weight (at 500 dpi).
    n_orient, n_period: Gabor bank quantisation of ridge growth.
    iterations: ridge-growth rounds.
    seed_density: growth seeds per canvas pixel (more = more minutiae).
    sigma_ratio: Gabor envelope sigma / ridge period (larger = straighter).
    min_blob_area_px: ridge fragments and valley holes smaller than this
        area are removed from the master (they are not real features).
    extraction: ground-truth extraction knobs.
    """

    width: int = 480
    height: int = 640
    dpi: int = 500
    fp_class: FingerprintClass | None = None
    ridge_period_px: tuple[float, float] = (8.0, 12.0)
    core_period_boost: float = 0.08
    orientation_noise_rad: float = 0.08
    far_field_distance_px: float = 150.0
    n_orient: int = 16
    n_period: int = 3
    iterations: int = 12
    seed_density: float = 2.0e-4
    sigma_ratio: float = 0.45
    min_blob_area_px: int = 40
    extraction: ExtractionConfig = field(default_factory=ExtractionConfig)


@dataclass
class MasterFingerprint:
    """One synthetic finger. Arrays are [H, W] on the master canvas.

    ridges: float32 in [0, 1], 1 = ridge (dark in a print), 0 outside ``mask``.
    mask: bool fingertip silhouette.
    orientation: float32 ridge orientation in [0, pi), ISO angles.
    period: float32 ridge period in pixels.
    minutiae: exact ground truth from the ridge skeleton (ISO directions).
    fp_class: None when unknown (a master reconstructed from a template).
    """

    ridges: np.ndarray
    mask: np.ndarray
    orientation: np.ndarray
    period: np.ndarray
    fp_class: FingerprintClass | None
    singularities: list[Singularity]
    minutiae: list[Minutia]
    dpi: int
    center: tuple[float, float] = (0.0, 0.0)  # silhouette centre (x, y)


def _check_config(config: MasterConfig) -> None:
    if config.width < 32 or config.height < 32:
        raise InputError(f"master canvas {config.width}x{config.height} is too small (min 32x32)")
    if config.dpi <= 0:
        raise InputError(f"dpi must be positive, got {config.dpi}")
    lo, hi = config.ridge_period_px
    if not 5.0 <= lo <= hi:
        raise InputError(f"ridge_period_px {config.ridge_period_px} must satisfy 5 <= min <= max")
    if config.fp_class is not None:
        check_class(config.fp_class)


def silhouette(
    rng: np.random.Generator, height: int, width: int
) -> tuple[np.ndarray, tuple[float, float]]:
    """Fingertip silhouette: an elliptic top and a flatter superellipse bottom.

    Sizes are drawn relative to the canvas. Returns (bool [H, W], centre x, y).
    """
    cx = width * (0.5 + rng.uniform(-0.03, 0.03))
    cy = height * rng.uniform(0.44, 0.50)
    a = width * rng.uniform(0.30, 0.40)
    b_top = height * rng.uniform(0.36, 0.43)
    b_bot = height * rng.uniform(0.48, 0.58)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u2 = ((xs - cx) / a) ** 2
    top = ys < cy
    v2 = ((ys - cy) / np.where(top, b_top, b_bot)) ** 2
    # Ellipse above the centre (round tip), superellipse of power 4 below
    # (flatter sides and bottom).
    mask = np.where(top, u2 + v2, u2 * u2 + v2 * v2) <= 1.0
    return mask, (float(cx), float(cy))


def period_field(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    period_range: tuple[float, float],
    singularities: list[Singularity],
    core_boost: float,
    scale: float,
) -> np.ndarray:
    """Smooth random ridge period in ``period_range``, a little wider at cores."""
    lo, hi = period_range
    f = smooth_random_field(rng, height, width, cells=3)
    period = lo + (hi - lo) * (0.5 + 0.5 * f)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for s in singularities:
        if s.kind == "core":
            period *= 1.0 + core_boost * np.exp(-((xs - s.x) ** 2 + (ys - s.y) ** 2) / (60 * scale) ** 2)
    return np.clip(period, lo, hi).astype(np.float32)


def remove_small_blobs(binary: np.ndarray, min_area: int) -> np.ndarray:
    """Drop ridge fragments and fill valley holes smaller than ``min_area`` px."""
    out = binary.copy()
    for value in (True, False):
        phase = (out == value).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(phase, connectivity=4)
        small = np.nonzero(stats[:, cv2.CC_STAT_AREA] < min_area)[0]
        small = small[small != 0] if value else small  # label 0 is background
        if len(small):
            drop = np.zeros(n, bool)
            drop[small] = True
            out[drop[labels] & (phase == 1)] = not value
    return out


def generate_master(seed: int, config: MasterConfig = MasterConfig()) -> MasterFingerprint:
    """Draw the master fingerprint of finger ``seed`` (bit-identical per seed)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    _check_config(config)
    r_class, r_shape, r_orient, r_ridge = (
        np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4)
    )
    fp_class = config.fp_class or sample_class(r_class)
    h, w = config.height, config.width
    scale = config.dpi / 500.0
    mask, center = silhouette(r_shape, h, w)
    sing = place_singularities(fp_class, r_shape, center=center, scale=scale)
    orientation = orientation_field(
        fp_class,
        sing,
        h,
        w,
        r_orient,
        center=center,
        scale=scale,
        far_field_distance=config.far_field_distance_px,
        noise_rad=config.orientation_noise_rad,
    )
    lo, hi = config.ridge_period_px
    period = period_field(
        r_orient,
        h,
        w,
        period_range=(lo * scale, hi * scale),
        singularities=sing,
        core_boost=config.core_period_boost,
        scale=scale,
    )
    soft = grow_ridges(
        orientation,
        period,
        r_ridge,
        n_orient=config.n_orient,
        n_period=config.n_period,
        iterations=config.iterations,
        seed_density=config.seed_density / scale**2,
        sigma_ratio=config.sigma_ratio,
        downsample=2 if lo * scale >= 6 else 1,
    )
    ridges = 0.5 + 0.5 * soft
    binary = ridges > 0.5
    cleaned = remove_small_blobs(binary, int(config.min_blob_area_px * scale**2))
    flipped = cleaned != binary
    ridges[flipped] = 1.0 - ridges[flipped]
    ridges[~mask] = 0.0
    minutiae = extract_minutiae(ridges, mask, config=config.extraction)
    inside = [s for s in sing if 0 <= s.x < w and 0 <= s.y < h and mask[int(s.y), int(s.x)]]
    return MasterFingerprint(
        ridges=ridges.astype(np.float32),
        mask=mask,
        orientation=orientation,
        period=period,
        fp_class=fp_class,
        singularities=inside,
        minutiae=minutiae,
        dpi=config.dpi,
        center=center,
    )
