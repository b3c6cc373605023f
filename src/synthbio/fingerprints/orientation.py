"""Fingerprint class, singularities and ridge-orientation fields (SFinGe step 1-2).

Angles follow :mod:`synthbio.fingerprints.types`: radians, counter-clockwise
from +x as a viewer sees the image (image y points down), so a direction ``a``
is the pixel vector ``(cos a, -sin a)``. A ridge orientation is an undirected
angle in ``[0, pi)``.

The orientation model is the zero-pole model of Sherlock and Monro (1993),
written in this convention as

    theta(z) = theta_inf + 1/2 * (sum_k arg(z - core_k) - sum_k arg(z - delta_k))

where ``arg`` is the ISO angle of the vector from the singularity to ``z``.
With this sign a counter-clockwise walk around a core turns the orientation by
+pi (Poincare index +1/2) and around a delta by -pi (index -1/2); ridges above
a loop's core are horizontal and between core and delta vertical, as in real
prints. Far from the singularities the pure model is too uniform, so the
field is blended (in the doubled-angle domain) with a global arch-like flow
whose weight grows with the distance from the nearest singularity, and
perturbed by a small smooth random field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.types import FingerprintClass, Singularity

# Natural class frequencies (Wilson, Candela, Watson 1994; used by SFinGe).
CLASS_PRIORS: dict[FingerprintClass, float] = {
    "arch": 0.037,
    "tented_arch": 0.029,
    "left_loop": 0.338,
    "right_loop": 0.317,
    "whorl": 0.279,
}
FINGERPRINT_CLASSES: tuple[FingerprintClass, ...] = tuple(CLASS_PRIORS)


def sample_class(rng: np.random.Generator) -> FingerprintClass:
    """Draw a class with the natural mix (:data:`CLASS_PRIORS`)."""
    p = np.array(list(CLASS_PRIORS.values()), dtype=np.float64)
    return FINGERPRINT_CLASSES[int(rng.choice(len(p), p=p / p.sum()))]


def check_class(fp_class: str) -> FingerprintClass:
    """Return ``fp_class`` if it names a class, else raise InputError."""
    if fp_class not in CLASS_PRIORS:
        raise InputError(
            f"unknown fingerprint class {fp_class!r}; expected one of {', '.join(FINGERPRINT_CLASSES)}"
        )
    return fp_class  # type: ignore[return-value]


def place_singularities(
    fp_class: FingerprintClass,
    rng: np.random.Generator,
    *,
    center: tuple[float, float],
    scale: float = 1.0,
) -> list[Singularity]:
    """Cores and deltas at plausible places for ``fp_class``.

    ``center`` is the (x, y) centre of the fingertip in pixels and ``scale``
    multiplies every offset (1.0 = 500 dpi). Offsets are drawn uniformly from
    ranges read off real plain impressions: a loop's delta lies 70-140 px to
    the side of the core (right for a left loop) and 90-170 px below it; a
    whorl has two cores 10-40 px apart and two deltas low on both sides; a
    tented arch has its delta 40-90 px right below the core; an arch has none.
    """
    cx, cy = center
    u = rng.uniform

    def s(v: float) -> float:
        return float(v * scale)

    core_x = cx + s(u(-25, 25))
    core_y = cy + s(u(-40, 25))
    if fp_class == "arch":
        return []
    if fp_class == "tented_arch":
        return [
            Singularity(core_x, core_y, "core"),
            Singularity(core_x + s(u(-8, 8)), core_y + s(u(40, 90)), "delta"),
        ]
    if fp_class in ("left_loop", "right_loop"):
        side = 1.0 if fp_class == "left_loop" else -1.0
        core_x -= side * s(u(0, 30))  # the core sits a little away from the delta
        return [
            Singularity(core_x, core_y, "core"),
            Singularity(core_x + side * s(u(70, 140)), core_y + s(u(90, 170)), "delta"),
        ]
    if fp_class == "whorl":
        half = s(u(5, 20))
        tilt = u(-1.2, 1.2)  # the two cores lie on a line of random slope
        dx, dy = half * math.cos(tilt), half * math.sin(tilt)
        ly, ry = core_y + s(u(100, 170)), core_y + s(u(100, 170))
        return [
            Singularity(core_x - dx, core_y - dy, "core"),
            Singularity(core_x + dx, core_y + dy, "core"),
            Singularity(core_x - s(u(90, 150)), ly, "delta"),
            Singularity(core_x + s(u(90, 150)), ry, "delta"),
        ]
    raise InputError(f"unknown fingerprint class {fp_class!r}")


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def zero_pole_orientation(
    singularities: Sequence[Singularity], height: int, width: int
) -> np.ndarray:
    """Sherlock-Monro orientation in [0, pi), float32 [H, W] (see module doc)."""
    xs, ys = _grid(height, width)
    theta = np.zeros((height, width), np.float32)
    for s in singularities:
        arg = np.arctan2(-(ys - s.y), xs - s.x)  # ISO angle of z - s
        theta += 0.5 * arg if s.kind == "core" else -0.5 * arg
    return np.mod(theta, np.pi).astype(np.float32)


def arch_orientation(
    height: int,
    width: int,
    *,
    center: tuple[float, float],
    amplitude: float,
    spread: float,
    scale: float = 1.0,
) -> np.ndarray:
    """Flow of ridges shaped ``y = y0 - A(y0) * exp(-(x - cx)^2 / (2 s^2))``.

    The tangent of such a ridge has slope ``dy/dx = A (x - cx) / s^2 * exp(.)``
    (image coordinates); its ISO angle is ``atan(-dy/dx)``. The hump height
    ``A`` is largest a little above ``center`` and fades to flat ridges at
    the bottom of the finger, as in plain arches. float32 [H, W] in [0, pi).
    """
    xs, ys = _grid(height, width)
    cx, cy = center
    s = spread * scale
    a = amplitude * scale * np.exp(-(((ys - (cy - 40 * scale)) / (220 * scale)) ** 2))
    a *= 1.0 / (1.0 + np.exp((ys - (cy + 120 * scale)) / (25 * scale)))  # flat at the bottom
    dx = xs - cx
    slope = a * dx / s**2 * np.exp(-(dx**2) / (2 * s**2))
    return np.mod(np.arctan(-slope), np.pi).astype(np.float32)


def smooth_random_field(
    rng: np.random.Generator, height: int, width: int, *, cells: int = 4
) -> np.ndarray:
    """A smooth random field in [-1, 1] of about ``cells`` bumps across, float32 [H, W]."""
    gh = max(2, round(cells * height / max(height, width))) + 2
    gw = max(2, round(cells * width / max(height, width))) + 2
    coarse = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    field = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, -1.0, 1.0)


def blend_orientations(a: np.ndarray, b: np.ndarray, weight_b: np.ndarray) -> np.ndarray:
    """Average two orientation fields in the doubled-angle domain, [0, pi)."""
    c = (1 - weight_b) * np.cos(2 * a) + weight_b * np.cos(2 * b)
    s = (1 - weight_b) * np.sin(2 * a) + weight_b * np.sin(2 * b)
    return np.mod(0.5 * np.arctan2(s, c), np.pi).astype(np.float32)


def orientation_field(
    fp_class: FingerprintClass,
    singularities: Sequence[Singularity],
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    center: tuple[float, float],
    scale: float = 1.0,
    far_field_distance: float = 150.0,
    noise_rad: float = 0.08,
) -> np.ndarray:
    """Ridge orientation of a master print, float32 [H, W] in [0, pi).

    ``far_field_distance`` (px at 500 dpi) is the distance from the nearest
    singularity at which the global arch flow takes over half the weight;
    ``noise_rad`` is the amplitude of the smooth random perturbation (small
    enough not to create new singularities).
    """
    cx, cy = center
    arch = arch_orientation(
        height,
        width,
        center=(cx + rng.uniform(-15, 15) * scale, cy),
        amplitude=rng.uniform(60, 110),
        spread=rng.uniform(80, 120),
        scale=scale,
    )
    if fp_class == "arch" or not singularities:
        theta = arch
    else:
        theta = zero_pole_orientation(singularities, height, width)
        xs, ys = _grid(height, width)
        d2 = np.full((height, width), np.inf, np.float32)
        for s in singularities:
            d2 = np.minimum(d2, (xs - s.x) ** 2 + (ys - s.y) ** 2)
        # Above the highest core (arches following the fingertip) and below
        # the lowest delta (flat ridges at the bottom); between them the
        # zero-pole flow is kept.
        top = min(s.y for s in singularities)
        bottom = max(s.y for s in singularities)
        above = 1.0 / (1.0 + np.exp((ys - (top - 20 * scale)) / (30 * scale)))
        below = 1.0 / (1.0 + np.exp(-(ys - (bottom + 40 * scale)) / (30 * scale)))
        w = (1.0 - np.exp(-d2 / (far_field_distance * scale) ** 2)) * (above + below)
        theta = blend_orientations(theta, arch, w.astype(np.float32))
    noise = smooth_random_field(rng, height, width, cells=3) * noise_rad
    return np.mod(theta + noise, np.pi).astype(np.float32)


def poincare_index(
    orientation: np.ndarray, x: float, y: float, *, radius: float = 6.0, steps: int = 64
) -> float:
    """Poincare index of an orientation field around (x, y): +0.5 core, -0.5 delta.

    Walks a circle counter-clockwise as the viewer sees it (ISO angles) and sums
    the orientation changes, each wrapped to (-pi/2, pi/2].
    """
    a = np.linspace(0.0, 2 * np.pi, steps, endpoint=False)
    px = np.clip(np.round(x + radius * np.cos(a)).astype(int), 0, orientation.shape[1] - 1)
    py = np.clip(np.round(y - radius * np.sin(a)).astype(int), 0, orientation.shape[0] - 1)
    th = orientation[py, px].astype(np.float64)
    d = np.diff(np.append(th, th[0]))
    d = (d + np.pi / 2) % np.pi - np.pi / 2
    return float(d.sum() / (2 * np.pi))
