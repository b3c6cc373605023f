"""Feature extractor protocol and the fingerprint ridge-statistics extractor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synthbio.errors import InputError
from synthbio.fingerprints.master import MasterConfig, generate_master
from synthbio.fingerprints.matching import nbis_library_path
from synthbio.metrics.feature_extractors import (
    FeatureExtractor,
    FingerprintFeatureConfig,
    FingerprintFeatures,
    InceptionFeatures,
    make_extractor,
)
from synthbio.metrics.fid import FeatureStats, frechet_distance
from synthbio.metrics.inception import FIDInceptionV3


def grating(period: float, angle: float, *, size: int = 128, phase: float = 0.0, amp: float = 0.8) -> torch.Tensor:
    """[1, 1, size, size] sinusoidal ridges running along `angle` (image coordinates, y down)."""
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64),
                          indexing="ij")
    across = -math.sin(angle) * x + math.cos(angle) * y
    return (amp * torch.cos(2 * math.pi * across / period + phase)).float()[None, None]


@pytest.fixture(scope="module")
def extractor() -> FingerprintFeatures:
    return FingerprintFeatures()


def _named(extractor: FingerprintFeatures, feats: torch.Tensor) -> dict[str, float]:
    return dict(zip(extractor.feature_names, feats[0].tolist()))


def test_extractors_follow_the_protocol(extractor: FingerprintFeatures) -> None:
    assert isinstance(extractor, FeatureExtractor)
    assert isinstance(InceptionFeatures(FIDInceptionV3(), name="inception-test"), FeatureExtractor)
    assert extractor.dim == len(extractor.feature_names) == 42 and extractor.resolution == 0
    minutiae = FingerprintFeatures(FingerprintFeatureConfig(minutiae=True))
    assert minutiae.dim == 46 and minutiae.name != extractor.name
    assert FingerprintFeatures(FingerprintFeatureConfig(block=8)).name != extractor.name
    with pytest.raises(InputError, match="unknown feature extractor"):
        make_extractor("vgg")


@pytest.mark.parametrize("period", [6.0, 8.0, 10.0, 12.0])
def test_ridge_period_is_recovered(extractor: FingerprintFeatures, period: float) -> None:
    f = _named(extractor, extractor(grating(period, 0.3)))
    assert 10 / f["ridge_frequency_mean"] == pytest.approx(period, rel=0.04)
    assert f["ridge_clarity_mean"] > 0.9 and f["foreground_fraction"] == pytest.approx(1.0, abs=1e-6)
    assert f["coherence_mean"] > 0.95 and f["ridge_fraction"] == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("angle", [0.2, 1.0, 2.5])
def test_orientation_histogram_peaks_at_ridge_direction(extractor: FingerprintFeatures, angle: float) -> None:
    f = _named(extractor, extractor(grating(9.0, angle)))
    bins = extractor.config.orientation_bins
    hist = np.array([f[f"orientation_hist_{k}"] for k in range(bins)])
    centres = (np.arange(bins) + 0.5) * np.pi / bins
    # Axial circular mean of the histogram.
    mean = 0.5 * math.atan2(float(hist @ np.sin(2 * centres)), float(hist @ np.cos(2 * centres))) % math.pi
    assert abs((mean - angle + math.pi / 2) % math.pi - math.pi / 2) < 0.05
    assert hist.sum() == pytest.approx(bins)


def test_noise_and_blank_images(extractor: FingerprintFeatures) -> None:
    noise = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 1, 128, 128)).astype(np.float32))
    f = _named(extractor, extractor(noise))
    assert f["coherence_mean"] < 0.5 and f["ridge_clarity_mean"] < 0.5
    blank = extractor(torch.ones(2, 1, 96, 96))
    assert torch.isfinite(blank).all() and _named(extractor, blank)["foreground_fraction"] < 1e-6


def test_batch_independent_and_rgb_equals_gray(extractor: FingerprintFeatures) -> None:
    masters = [generate_master(s, MasterConfig(width=128, height=128)).ridges for s in range(3)]
    batch = torch.from_numpy(1 - 2 * np.stack(masters))[:, None]
    together = extractor(batch)
    alone = torch.cat([extractor(batch[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(extractor(batch.repeat(1, 3, 1, 1)), together, rtol=1e-5, atol=1e-5)
    assert together.shape == (3, extractor.dim) and torch.isfinite(together).all()


def test_fd_over_ridge_features_orders_sets(extractor: FingerprintFeatures) -> None:
    rng = np.random.default_rng(1)

    def stats(period: float, n: int = 64) -> FeatureStats:
        s = FeatureStats(extractor.dim)
        imgs = torch.cat([grating(period * rng.uniform(0.95, 1.05), rng.uniform(0, math.pi), size=64,
                                  phase=rng.uniform(0, 6.3)) for _ in range(n)])
        s.update(extractor(imgs))
        return s

    a, b, c = stats(8.0), stats(8.0), stats(12.0)
    near = frechet_distance(*a.mean_cov(), *b.mean_cov(), method="eigh")
    far = frechet_distance(*a.mean_cov(), *c.mean_cov(), method="eigh")
    assert far > 5 * near


def test_resize_option_and_small_images() -> None:
    ex = FingerprintFeatures(FingerprintFeatureConfig(size=64))
    assert ex.resolution == 64 and ex(grating(8.0, 0.5, size=200)).shape == (1, ex.dim)
    with pytest.raises(InputError, match="at least 64 px"):
        FingerprintFeatures()(torch.zeros(1, 1, 48, 200))
    with pytest.raises(InputError, match="1 or 3"):
        FingerprintFeatures()(torch.zeros(1, 2, 64, 64))
    with pytest.raises(InputError, match="period_range"):
        FingerprintFeatureConfig(period_range=(10.0, 5.0))


@pytest.mark.skipif(not nbis_library_path().is_file(), reason="native NBIS library not built (make install)")
def test_minutiae_features_from_mindtct() -> None:
    ex = make_extractor("fingerprint-minutiae")
    master = generate_master(0, MasterConfig(width=192, height=192))
    feats = ex(torch.from_numpy(1 - 2 * master.ridges)[None, None])
    f = dict(zip(ex.feature_names, feats[0].tolist()))  # type: ignore[attr-defined]
    assert f["minutiae_count"] * 50 >= 5 and 0 <= f["bifurcation_fraction"] <= 1 and 0 < f["minutiae_quality"] <= 1
    assert f["minutiae_density"] > 0
