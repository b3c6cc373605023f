"""Master fingerprints: determinism, classes, ridge period, ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.master import MasterConfig, generate_master, remove_small_blobs
from synthbio.fingerprints.orientation import poincare_index

SMALL = MasterConfig(width=192, height=256)


@pytest.fixture(scope="module")
def loop_master():
    return generate_master(7, MasterConfig(fp_class="left_loop"))


def test_same_seed_gives_identical_master() -> None:
    a, b = generate_master(3, SMALL), generate_master(3, SMALL)
    for name in ("ridges", "mask", "orientation", "period"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.minutiae == b.minutiae and a.fp_class == b.fp_class
    c = generate_master(4, SMALL)
    assert not np.array_equal(a.ridges, c.ridges)


def test_arrays_shapes_and_ranges() -> None:
    m = generate_master(1, SMALL)
    assert m.ridges.shape == m.mask.shape == m.orientation.shape == m.period.shape == (256, 192)
    assert m.ridges.dtype == np.float32 and m.mask.dtype == bool
    assert float(m.ridges.min()) >= 0.0 and float(m.ridges.max()) <= 1.0
    assert float(m.ridges[~m.mask].max()) == 0.0
    assert float(m.orientation.min()) >= 0.0 and float(m.orientation.max()) < math.pi
    assert 8.0 <= float(m.period.min()) and float(m.period.max()) <= 12.0
    assert 0.25 < float(m.mask.mean()) < 0.9


def test_fixed_class_and_its_singularities(loop_master) -> None:
    m = loop_master
    assert m.fp_class == "left_loop"
    kinds = sorted(s.kind for s in m.singularities)
    assert kinds == ["core", "delta"]
    for s in m.singularities:
        expected = 0.5 if s.kind == "core" else -0.5
        assert poincare_index(m.orientation, s.x, s.y, radius=8) == pytest.approx(expected, abs=1e-6)


def measured_period(patch: np.ndarray) -> float:
    n = patch.shape[0]
    win = np.hanning(n)[:, None] * np.hanning(n)[None, :]
    spec = np.abs(np.fft.fft2((patch - patch.mean()) * win))
    spec[0, 0] = 0
    iy, ix = np.unravel_index(int(np.argmax(spec)), spec.shape)
    fy, fx = (iy if iy < n // 2 else iy - n) / n, (ix if ix < n // 2 else ix - n) / n
    return 1.0 / math.hypot(fx, fy)


def test_ridge_period_matches_the_period_field(loop_master) -> None:
    m = loop_master
    y0, x0 = 470, int(m.center[0]) - 32  # below the delta: straight, regular ridges
    patch = m.ridges[y0 : y0 + 64, x0 : x0 + 64]
    assert m.mask[y0 : y0 + 64, x0 : x0 + 64].all()
    expected = float(m.period[y0 : y0 + 64, x0 : x0 + 64].mean())
    assert measured_period(patch) == pytest.approx(expected, rel=0.15)
    assert 7.5 <= measured_period(patch) <= 12.5


def test_ground_truth_minutiae_are_plausible(loop_master) -> None:
    m = loop_master
    assert 30 <= len(m.minutiae) <= 200
    kinds = {x.kind for x in m.minutiae}
    assert kinds == {"ending", "bifurcation"}
    for x in m.minutiae:
        assert m.mask[int(x.y), int(x.x)]
        assert 0.0 <= x.angle < 2 * math.pi
    pts = np.array([(x.x, x.y) for x in m.minutiae])
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1)) + np.eye(len(pts)) * 1e9
    assert float(d.min()) >= 8.0


def test_endings_lie_on_ridges_and_point_into_them(loop_master) -> None:
    m = loop_master
    on_ridge = 0
    endings = [x for x in m.minutiae if x.kind == "ending"]
    for x in endings:
        # A few px along the direction we are inside the ridge body.
        px, py = x.x + 4 * math.cos(x.angle), x.y - 4 * math.sin(x.angle)
        on_ridge += m.ridges[int(round(py)), int(round(px))] > 0.5
    assert on_ridge >= 0.9 * len(endings)


def test_remove_small_blobs() -> None:
    img = np.zeros((40, 40), bool)
    img[5:8, 5:8] = True  # 9 px fragment
    img[20:35, 10:30] = True
    img[25, 20] = False  # 1 px hole
    out = remove_small_blobs(img, 20)
    assert not out[5:8, 5:8].any()
    assert out[20:35, 10:30].all()


def test_bad_input_is_rejected() -> None:
    with pytest.raises(InputError, match="seed"):
        generate_master(-1, SMALL)
    with pytest.raises(InputError, match="ridge_period_px"):
        generate_master(0, MasterConfig(width=192, height=256, ridge_period_px=(12.0, 8.0)))
    with pytest.raises(InputError, match="class"):
        generate_master(0, MasterConfig(width=192, height=256, fp_class="loop"))  # type: ignore[arg-type]
