"""Impressions: determinism, rendering, ground-truth mapping and visibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.groundtruth import ExtractionConfig, extract_minutiae
from synthbio.fingerprints.impressions import ImpressionConfig, make_impression
from synthbio.fingerprints.master import MasterConfig, generate_master
from synthbio.fingerprints.types import MinutiaeTemplate

CLEAN = ImpressionConfig(
    pressure_range=(0.5, 0.5),
    moisture_range=(0.5, 0.5),
    noise_std_range=(0.0, 0.0),
    blur_sigma_range=(0.0, 0.0),
    max_creases=0,
    max_scratches=0,
    ink_variation=0.0,
)
RIGID = ImpressionConfig(
    displacement_std_px=0.0, rotation_std_deg=0.0, distortion=0.0, contact_fraction=(1.0, 1.0), contact_offset_px=0.0
)


@pytest.fixture(scope="module")
def master():
    return generate_master(11, MasterConfig(fp_class="right_loop"))


def angle_diff(a: float, b: float) -> float:
    d = abs(a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def test_same_seed_and_index_give_identical_impressions(master) -> None:
    a, b = make_impression(master, 5, 0), make_impression(master, 5, 0)
    assert np.array_equal(a.image, b.image)
    assert a.minutiae == b.minutiae and a.transform == b.transform
    c = make_impression(master, 5, 1)
    assert not np.array_equal(a.image, c.image)


def test_image_format_and_polarity(master) -> None:
    imp = make_impression(master, 1, 0)
    assert imp.image.dtype == np.uint8 and imp.image.shape == (560, 416)
    corner = float(imp.image[:20, :20].mean())
    centre = imp.image[230:330, 158:258].astype(np.float32)
    assert corner > 180  # light background
    assert float(np.percentile(centre, 10)) < 100  # dark ridges in the finger
    t = imp.template()
    assert isinstance(t, MinutiaeTemplate)
    assert (t.width, t.height, t.dpi) == (416, 560, 500)
    assert t.minutiae == imp.minutiae


def test_minutiae_count_in_plausible_range(master) -> None:
    counts = [len(make_impression(master, 2, i).minutiae) for i in range(4)]
    assert all(20 <= c <= 100 for c in counts), counts


def test_ground_truth_lands_on_reextracted_minutiae(master) -> None:
    """On a clean impression the GT must match what the skeleton shows."""
    imp = make_impression(master, 3, 0, CLEAN)
    t = imp.transform
    binary = imp.image < (t["background"] + t["ridge_grey"]) / 2
    found = extract_minutiae(binary, config=ExtractionConfig(border_margin=6.0))
    assert len(imp.minutiae) >= 20
    pts = np.array([(m.x, m.y) for m in found])
    hits = 0
    for g in imp.minutiae:
        d = np.hypot(pts[:, 0] - g.x, pts[:, 1] - g.y)
        near = [found[i] for i in np.nonzero(d <= 6.0)[0]]
        hits += any(angle_diff(f.angle, g.angle) < math.radians(30) for f in near)
    assert hits >= 0.85 * len(imp.minutiae), (hits, len(imp.minutiae))


def test_rigid_mapping_is_a_translation(master) -> None:
    """No distortion, rotation or displacement: the finger centre moves to the
    sensor centre and every angle is kept."""
    imp = make_impression(master, 4, 0, RIGID)
    ox, oy = 208 - master.center[0], 280 - master.center[1]
    by_pos = {(round(m.x, 3), round(m.y, 3)): m for m in master.minutiae}
    assert len(imp.minutiae) > 10
    for m in imp.minutiae:
        src = by_pos[(round(m.x - ox, 3), round(m.y - oy, 3))]
        assert angle_diff(m.angle, src.angle) < 1e-6 and m.kind == src.kind


def test_rotation_turns_angles_by_the_drawn_rotation(master) -> None:
    cfg = ImpressionConfig(rotation_std_deg=15.0, max_rotation_deg=30.0, distortion=0.0)
    imp = make_impression(master, 6, 2, cfg)
    rot = imp.transform["rotation"]
    assert abs(rot) > 1e-3
    src_angles = sorted(m.angle for m in master.minutiae)
    for m in imp.minutiae:
        back = (m.angle - rot) % (2 * math.pi)
        assert min(angle_diff(back, a) for a in src_angles) < 1e-6


def test_visibility_filter_keeps_only_minutiae_inside_the_crop(master) -> None:
    cfg = ImpressionConfig(width=200, height=200)
    imp = make_impression(master, 7, 0, cfg)
    full = make_impression(master, 7, 0)
    assert imp.image.shape == (200, 200)
    assert 0 < len(imp.minutiae) < len(full.minutiae)
    for m in imp.minutiae:
        assert 10.0 <= m.x <= 189.0 and 10.0 <= m.y <= 189.0
    for s in imp.singularities:
        assert 0 <= s.x < 200 and 0 <= s.y < 200


def test_bad_input_is_rejected(master) -> None:
    with pytest.raises(InputError, match="seed"):
        make_impression(master, -1, 0)
    with pytest.raises(InputError, match="sensor"):
        make_impression(master, 0, 0, ImpressionConfig(width=4, height=4))
    with pytest.raises(InputError, match="pressure_range"):
        make_impression(master, 0, 0, ImpressionConfig(pressure_range=(0.9, 0.1)))


def test_singularities_follow_the_same_mapping(master) -> None:
    imp = make_impression(master, 4, 0, RIGID)
    ox, oy = 208 - master.center[0], 280 - master.center[1]
    expected = {(round(s.x + ox, 3), round(s.y + oy, 3), s.kind) for s in master.singularities}
    got = {(round(s.x, 3), round(s.y, 3), s.kind) for s in imp.singularities}
    assert got and got <= expected
    assert imp.template().singularities == imp.singularities
