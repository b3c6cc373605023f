"""Separable Gabor bank and iterative ridge growth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.ridges import grow_ridges, separable_gabor


@pytest.mark.parametrize("theta", [0.0, 0.4, math.pi / 2, 2.5])
def test_separable_gabor_equals_full_kernel(theta: float) -> None:
    period, sigma = 5.0, 2.2
    cx, cy, sx, sy = separable_gabor(theta, period, sigma)
    kernel = np.outer(cy, cx) - np.outer(sy, sx)
    r = len(cx) // 2
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    # Wave vector normal to the ridge direction (cos t, -sin t): (sin t, cos t).
    full = np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.cos(2 * math.pi * (x * math.sin(theta) + y * math.cos(theta)) / period)
    full /= (full * np.cos(2 * math.pi * (x * math.sin(theta) + y * math.cos(theta)) / period)).sum()
    np.testing.assert_allclose(kernel, full, atol=1e-6)


def dominant_wave(patch: np.ndarray) -> tuple[float, float]:
    """(period px, ridge orientation rad in [0, pi)) of a patch's FFT peak."""
    n = patch.shape[0]
    win = np.hanning(n)[:, None] * np.hanning(n)[None, :]
    spec = np.abs(np.fft.fftshift(np.fft.fft2((patch - patch.mean()) * win)))
    spec[n // 2, n // 2] = 0
    iy, ix = np.unravel_index(int(np.argmax(spec)), spec.shape)
    fy, fx = (iy - n // 2) / n, (ix - n // 2) / n
    period = 1.0 / math.hypot(fx, fy)
    # Ridges run perpendicular to the wave vector (fx, fy) in pixel coords.
    ridge_dir = (-fy, fx)
    return period, math.atan2(-ridge_dir[1], ridge_dir[0]) % math.pi


def test_grown_ridges_follow_orientation_and_period() -> None:
    theta, period = math.pi / 6, 10.0
    o = np.full((160, 160), theta, np.float32)
    p = np.full((160, 160), period, np.float32)
    v = grow_ridges(o, p, np.random.default_rng(0), iterations=14)
    assert v.shape == (160, 160) and v.dtype == np.float32
    assert float(np.abs(v).max()) <= 1.0
    est_period, est_theta = dominant_wave(v[32:160, 16:144])
    assert est_period == pytest.approx(period, rel=0.12)
    d = abs(est_theta - theta) % math.pi
    assert min(d, math.pi - d) < 0.12
    assert float((np.abs(v) > 0.5).mean()) > 0.5  # the pattern filled the canvas


def test_grow_ridges_is_deterministic() -> None:
    o = np.full((64, 64), 1.0, np.float32)
    p = np.full((64, 64), 9.0, np.float32)
    a = grow_ridges(o, p, np.random.default_rng(4))
    b = grow_ridges(o, p, np.random.default_rng(4))
    c = grow_ridges(o, p, np.random.default_rng(5))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_grow_ridges_rejects_bad_input() -> None:
    o = np.zeros((32, 32), np.float32)
    with pytest.raises(InputError, match="shape"):
        grow_ridges(o, np.full((32, 31), 9.0, np.float32), np.random.default_rng(0))
    with pytest.raises(InputError, match="too small"):
        grow_ridges(o, np.full((32, 32), 3.0, np.float32), np.random.default_rng(0))
