"""Reconstruction from minutiae by ridge growth: conventions, geometry, and identity (MINDTCT + Bozorth3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.master import MasterConfig, generate_master
from synthbio.fingerprints.matching import extract_minutiae, match, pair_minutiae
from synthbio.fingerprints.reconstruction import load_reconstructor
from synthbio.fingerprints.minutiae_map import output_size
from synthbio.fingerprints.ridge_reconstruction import (
    RidgeReconstructionConfig,
    RidgeReconstructor,
    mated_impressions,
    minutia_prototypes,
    orientation_from_minutiae,
    reconstruct_ridges,
)
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate


def _angle_gap(a: float, b: float) -> float:
    return abs((a - b + math.pi) % (2 * math.pi) - math.pi)


def _ringed(m: Minutia, *, size: int = 200) -> MinutiaeTemplate:
    """One minutia at the centre and eight far ones with the same ridge direction around it (support)."""
    c = size / 2
    ring = [Minutia(c + 60 * math.cos(t), c + 60 * math.sin(t), m.angle % math.pi, "ending")
            for t in np.linspace(0, 2 * math.pi, 9)[:-1]]
    return MinutiaeTemplate(minutiae=[m, *ring], width=size, height=size, dpi=500)


def test_orientation_is_the_doubled_angle_average() -> None:
    a = 0.7
    tpl = MinutiaeTemplate(minutiae=[Minutia(10, 10, a), Minutia(40, 30, a + math.pi)], width=50, height=40)
    theta, support = orientation_from_minutiae(tpl, 40, 50, sigma=10.0, far_sigma=30.0, far_weight=0.1, step=1)
    assert theta.shape == (40, 50) and np.allclose(theta, a, atol=1e-5)  # opposite directions agree
    assert support[10, 10] == pytest.approx(1.0 + math.exp(-(30**2 + 20**2) / 200), rel=1e-5)
    # the default evaluates every sigma / 8 px and interpolates: the same field to < 1%
    exact = orientation_from_minutiae(tpl, 40, 50, sigma=16.0, far_sigma=30.0, far_weight=0.1, step=1)[1]
    coarse_theta, coarse = orientation_from_minutiae(tpl, 40, 50, sigma=16.0, far_sigma=30.0, far_weight=0.1)
    assert coarse.shape == (40, 50) and np.abs(coarse - exact).max() < 0.01 * exact.max()
    assert np.allclose(coarse_theta, a, atol=1e-5)
    # the support may use its own, narrower Gaussian; the orientation does not change
    theta5, support5 = orientation_from_minutiae(tpl, 40, 50, sigma=10.0, far_sigma=30.0, far_weight=0.1,
                                                 support_sigma=5.0, step=1)
    assert support5[10, 10] == pytest.approx(1.0 + math.exp(-(30**2 + 20**2) / 50), rel=1e-5)
    assert np.array_equal(theta5, theta)
    # directions of 0 and 60 deg at one point average to 30 deg
    tpl = MinutiaeTemplate(minutiae=[Minutia(2, 2, 0.0), Minutia(2, 2, math.pi / 3)], width=4, height=4)
    theta, _ = orientation_from_minutiae(tpl, 4, 4, sigma=5.0, far_sigma=9.0, far_weight=0.0)
    assert np.allclose(theta, math.pi / 6, atol=1e-5)


@pytest.mark.parametrize("kind,ahead", [("ending", 1.0), ("bifurcation", -1.0)])
def test_prototype_puts_the_ridge_on_the_side_the_direction_points_to(kind: str, ahead: float) -> None:
    a = 2.0  # direction (cos a, -sin a) in pixels
    m = Minutia(30.0, 30.0, a, kind)  # type: ignore[arg-type]
    tpl = MinutiaeTemplate(minutiae=[m], width=61, height=61)
    values, weights = minutia_prototypes(tpl, 61, 61, period=10.0, radius=8.0)
    fwd = (round(30 + 6 * math.cos(a)), round(30 - 6 * math.sin(a)))
    back = (round(30 - 6 * math.cos(a)), round(30 + 6 * math.sin(a)))
    # an ending: ridge ahead, valley behind; a bifurcation: valley ahead (between its branches), ridge behind
    assert np.sign(values[fwd[1], fwd[0]]) == ahead and np.sign(values[back[1], back[0]]) == -ahead
    assert weights[30, 30] == pytest.approx(1.0) and weights[0, 0] < 1e-6


@pytest.mark.parametrize("kind", ["ending", "bifurcation"])
@pytest.mark.parametrize("angle", [0.3, 2.0, 4.0, 5.5])
def test_mindtct_finds_the_minutia_where_and_as_the_template_says(kind: str, angle: float) -> None:
    tpl = _ringed(Minutia(100.0, 100.0, angle, kind))  # type: ignore[arg-type]
    found = extract_minutiae(reconstruct_ridges(tpl), method="mindtct", dpi=500).minutiae
    near = [m for m in found if math.hypot(m.x - 100, m.y - 100) < 5]
    assert len(near) == 1, near
    assert _angle_gap(near[0].angle, angle) < math.radians(15) and near[0].kind == kind


@pytest.fixture(scope="module")
def reals() -> list[MinutiaeTemplate]:
    """MINDTCT templates of three procedural fingers (the 'stolen' templates)."""
    cfg = MasterConfig(width=240, height=280)
    out = []
    for seed in (11, 12, 13):
        master = generate_master(seed, cfg)
        pixels = np.clip(235 - 200 * master.ridges, 0, 255).astype(np.uint8)  # dark ridges
        out.append(extract_minutiae(pixels, method="mindtct", dpi=500))
    return out


def test_a_reconstruction_matches_its_finger_and_not_others(reals: list[MinutiaeTemplate]) -> None:
    recon = extract_minutiae(reconstruct_ridges(reals[0]), method="mindtct", dpi=500)
    pairs = pair_minutiae(reals[0].minutiae, recon.minutiae, max_distance=8.0)
    assert len(pairs) >= 0.7 * len(reals[0].minutiae)  # most template minutiae come back within 8 px, 30 deg
    genuine = match(recon, reals[0])
    impostors = [match(recon, other) for other in reals[1:]]
    assert genuine >= 40 and genuine > 3 * max(impostors), (genuine, impostors)


def test_geometry_determinism_and_blank_templates() -> None:
    tpl = _ringed(Minutia(90.0, 80.0, 1.0, "ending"), size=180)
    tpl = MinutiaeTemplate(minutiae=[m for m in tpl.minutiae if m.y < 150], width=180, height=150, dpi=500)
    a = reconstruct_ridges(tpl)
    assert a.dtype == np.uint8 and a.shape == (150, 180) == output_size(tpl)
    assert np.array_equal(a, reconstruct_ridges(tpl))
    assert a.min() < 60 and a.max() > 200  # dark ridges on a light background
    big = reconstruct_ridges(tpl, dpi_out=1000)
    assert big.shape == (300, 360)
    empty = MinutiaeTemplate(minutiae=[], width=30, height=20)
    assert np.array_equal(reconstruct_ridges(empty), np.full((20, 30), 228, np.uint8))
    r = load_reconstructor("gabor")
    assert isinstance(r, RidgeReconstructor) and r.describe()["method"] == "gabor"
    assert np.array_equal(r.images_uint8([tpl])[0], a)


def test_bad_settings_are_named() -> None:
    with pytest.raises(InputError, match="ridge_period_px"):
        RidgeReconstructionConfig(ridge_period_px=0)
    with pytest.raises(InputError, match="support_threshold"):
        RidgeReconstructionConfig(support_threshold=1.5)
    with pytest.raises(InputError, match="ridge_grey"):
        RidgeReconstructionConfig(ridge_grey=240)
    with pytest.raises(InputError, match="unknown reconstruction method 'phase'"):
        load_reconstructor("phase")
    tiny = MinutiaeTemplate(minutiae=[Minutia(5, 5, 0.0)], width=20, height=20, dpi=80)
    with pytest.raises(InputError, match="dpi 80 is outside"):
        reconstruct_ridges(tiny)


def test_mated_impressions_carry_ground_truth_and_match_their_source(reals: list[MinutiaeTemplate]) -> None:
    imps = mated_impressions(reals[0], 2, seed=4)
    assert np.array_equal(mated_impressions(reals[0], 1, seed=4)[0].image, imps[0].image)  # per (template, seed)
    assert not np.array_equal(imps[0].image, imps[1].image)
    for imp in imps:
        assert imp.image.shape == (280, 240) and imp.template().width == 240
        found = extract_minutiae(imp.image, method="mindtct", dpi=500)
        # ground truth in the impression's own frame: MINDTCT finds most of it where it says
        assert len(pair_minutiae(imp.minutiae, found.minutiae, max_distance=10.0)) >= 0.5 * len(imp.minutiae)
        genuine, impostors = match(found, reals[0]), [match(found, r) for r in reals[1:]]
        assert genuine >= 40 and genuine > 3 * max(impostors), (genuine, impostors)
    with pytest.raises(InputError, match="impressions must be >= 1"):
        mated_impressions(reals[0], 0)
