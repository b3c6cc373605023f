"""Class sampling, singularity placement and the zero-pole orientation model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.orientation import (
    CLASS_PRIORS,
    blend_orientations,
    check_class,
    orientation_field,
    place_singularities,
    poincare_index,
    sample_class,
    zero_pole_orientation,
)
from synthbio.fingerprints.types import Singularity

H, W = 256, 192
CENTER = (W / 2, H / 2)


def test_class_mix_matches_natural_frequencies() -> None:
    rng = np.random.default_rng(0)
    n = 20000
    draws = [sample_class(rng) for _ in range(n)]
    for cls, p in CLASS_PRIORS.items():
        freq = draws.count(cls) / n
        assert abs(freq - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-3, (cls, freq, p)


def test_check_class_rejects_unknown_names() -> None:
    assert check_class("whorl") == "whorl"
    with pytest.raises(InputError, match="plain_loop"):
        check_class("plain_loop")


@pytest.mark.parametrize(
    ("cls", "n_core", "n_delta"),
    [("arch", 0, 0), ("tented_arch", 1, 1), ("left_loop", 1, 1), ("right_loop", 1, 1), ("whorl", 2, 2)],
)
def test_singularity_counts_per_class(cls: str, n_core: int, n_delta: int) -> None:
    sing = place_singularities(cls, np.random.default_rng(1), center=(240, 320))  # type: ignore[arg-type]
    assert sum(s.kind == "core" for s in sing) == n_core
    assert sum(s.kind == "delta" for s in sing) == n_delta
    cores = [s for s in sing if s.kind == "core"]
    deltas = [s for s in sing if s.kind == "delta"]
    for d in deltas:  # deltas lie below the cores (image y grows downwards)
        assert all(d.y > c.y for c in cores)


def test_loop_delta_side() -> None:
    for seed in range(10):
        left = place_singularities("left_loop", np.random.default_rng(seed), center=(240, 320))
        right = place_singularities("right_loop", np.random.default_rng(seed), center=(240, 320))
        assert left[1].x > left[0].x  # left loop: delta on the right of the core
        assert right[1].x < right[0].x


@pytest.mark.parametrize("cls", ["tented_arch", "left_loop", "right_loop", "whorl"])
def test_poincare_index_at_singularities(cls: str) -> None:
    rng = np.random.default_rng(3)
    sing = place_singularities(cls, rng, center=(240, 320))  # type: ignore[arg-type]
    for theta in (
        zero_pole_orientation(sing, 640, 480),
        orientation_field(cls, sing, 640, 480, rng, center=(240, 320)),  # type: ignore[arg-type]
    ):
        for s in sing:
            expected = 0.5 if s.kind == "core" else -0.5
            assert poincare_index(theta, s.x, s.y, radius=8) == pytest.approx(expected, abs=1e-6)
        # Away from singularities the index is 0.
        assert poincare_index(theta, 40, 600, radius=8) == pytest.approx(0.0, abs=1e-6)


def test_zero_pole_loop_flow_directions() -> None:
    core, delta = Singularity(100, 100, "core"), Singularity(160, 200, "delta")
    theta = zero_pole_orientation([core, delta], 300, 260)

    def dist_to(t: float, target: float) -> float:
        d = abs(t - target) % math.pi
        return min(d, math.pi - d)

    assert dist_to(float(theta[60, 100]), 0.0) < 0.3  # above the core: horizontal
    # Midway between core and delta the two args differ by pi: vertical.
    assert dist_to(float(theta[150, 130]), math.pi / 2) < 0.05


def test_loop_field_is_flat_below_the_delta() -> None:
    rng = np.random.default_rng(2)
    sing = place_singularities("left_loop", rng, center=(240, 300))
    theta = orientation_field("left_loop", sing, 640, 480, rng, center=(240, 300), noise_rad=0.0)
    bottom = np.minimum(theta[630, 40:440], math.pi - theta[630, 40:440])
    assert float(bottom.max()) < 0.2


def test_orientation_field_range_and_determinism() -> None:
    sing = place_singularities("whorl", np.random.default_rng(0), center=CENTER)
    a = orientation_field("whorl", sing, H, W, np.random.default_rng(5), center=CENTER)
    b = orientation_field("whorl", sing, H, W, np.random.default_rng(5), center=CENTER)
    c = orientation_field("whorl", sing, H, W, np.random.default_rng(6), center=CENTER)
    assert a.dtype == np.float32 and a.shape == (H, W)
    assert float(a.min()) >= 0.0 and float(a.max()) < math.pi
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_arch_field_is_flat_at_the_bottom_and_curved_above() -> None:
    theta = orientation_field("arch", [], 640, 480, np.random.default_rng(0), center=(240, 320), noise_rad=0.0)
    bottom = np.minimum(theta[620], math.pi - theta[620])
    assert float(bottom.max()) < 0.1
    upper = np.minimum(theta[280], math.pi - theta[280])
    assert float(upper.max()) > 0.4  # the arch's flanks slope


def test_blend_orientations_wraps_in_doubled_angle() -> None:
    a = np.full((1, 1), 0.05, np.float32)
    b = np.full((1, 1), math.pi - 0.05, np.float32)
    mid = blend_orientations(a, b, np.full((1, 1), 0.5, np.float32))
    assert min(float(mid[0, 0]), math.pi - float(mid[0, 0])) < 1e-5  # ~0, not pi/2
