"""Skin and contact: how a finger's ridge pattern turns into ink on a sensor.

The master's ridge map is a smooth, about sinusoidal profile across the
ridges. A real contact is not: the ridge edges are ragged, ridges are wider
where the finger presses harder, sweat pores open along the ridge crests, dry
skin leaves ridges broken into segments and dots, wet skin fills valleys,
flexion creases and scars cut white lines across the pattern, and thin
incipient ridges appear in some valleys (SFinGe's step 3 and the
dermatoglyphics literature; pore figures below).

:func:`skin_ink` works on the sensor grid (after the impression's geometry)
and splits the conditions into two groups, which is how the ground truth stays
exact:

- texture (pressure-dependent ridge width, ragged edges, closed and open
  pores) is kept below the level that changes the ridge topology: pores sit
  on the crest and are narrower than the ridge; edge noise is a fraction of
  the ridge/valley contrast. ``tests/fingerprints/test_skin.py`` checks that
  the ground-truth extractor finds the same minutiae with and without it.
- structure (dry breaks and dots, wet bridges, incipient ridges, creases,
  scars) does change the topology, so every change is accounted for: breaks,
  bridges and incipient fragments are kept out of a disc around every true
  minutia and each connected change is listed in ``Artefacts`` (where a
  matcher may find a minutia that the finger does not have); the true
  minutiae that a crease or scar covers are reported as hidden.

Pores (Ashbaugh 1999, *Quantitative-Qualitative Friction Ridge Analysis*):
about 9-18 pores per cm of ridge, diameters 88-220 um; at 500 dpi
(50.8 um/px) that is 1.7-4.3 px, at or below the width of a ridge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.orientation import smooth_random_field

Range = tuple[float, float]
UM_PER_PX_500DPI = 25_400.0 / 500.0


@dataclass(frozen=True)
class SkinConfig:
    """Skin and contact conditions. Lengths are pixels at 500 dpi; ranges uniform.

    ridge_threshold: level of the ridge map where ink starts at normal
        pressure and moisture (0.5 = ridges as wide as valleys; higher =
        thinner ridges).
    edge_softness: width of the ink transition in ridge-map units (0.3 gives
        the soft grey edges of a smooth sinusoid, ~0.08 the near-binary edges
        of a live-scan print).
    edge_noise: std of the fine noise added to the ridge map before
        thresholding (ragged ridge edges, mottled ridges); 0 = smooth.
    edge_noise_sigma_px: correlation length of that noise.
    mottle: depth of the fine light speckle inside the ridges (uneven
        contact of the ridge surface); it never takes a ridge pixel below
        half ink, so it leaves the ridge topology alone.
    pressure_variation: amplitude of the smooth pressure field around the
        impression's pressure (ridges wider where it is higher).
    moisture_variation: amplitude of the smooth moisture field (dry and wet
        patches inside one print).
    pore_density_per_mm: pores per mm of ridge (0 = none).
    pore_diameter_um: pore diameters, micrometres.
    pore_visibility: how much of the ridge ink a pore removes at its centre.
    dry_break_fraction: share of the ridge area broken away where the skin is
        fully dry (moisture 0); scales linearly to 0 at moisture 0.5.
    break_size_periods: size of a break, in ridge periods.
    wet_bridge_fraction: share of the area where valleys fill in where the
        skin is fully wet (moisture 1); scales to 0 at moisture 0.5.
    incipient_fraction: share of the valleys that carry a thin incipient ridge.
    crease_width_px: crease widths (their count is the impression's).
    scar_probability: chance that an impression shows a scar.
    scar_width_px: scar widths.
    protect_periods: radius, in ridge periods, of the disc around each true
        minutia that breaks, bridges, pores and incipient ridges stay out of.
    """

    ridge_threshold: float = 0.55
    edge_softness: float = 0.08
    edge_noise: float = 0.2
    edge_noise_sigma_px: float = 0.8
    mottle: float = 0.4
    pressure_variation: float = 0.25
    moisture_variation: float = 0.3
    pore_density_per_mm: Range = (0.6, 1.4)
    pore_diameter_um: Range = (88.0, 200.0)
    pore_visibility: Range = (0.3, 0.9)
    dry_break_fraction: float = 0.6
    break_size_periods: float = 0.28
    wet_bridge_fraction: float = 0.08
    incipient_fraction: float = 0.08
    crease_width_px: Range = (1.5, 4.0)
    scar_probability: float = 0.05
    scar_width_px: Range = (4.0, 10.0)
    protect_periods: float = 1.3

    def check(self) -> None:
        for name in ("pore_density_per_mm", "pore_diameter_um", "pore_visibility", "crease_width_px", "scar_width_px"):
            lo, hi = getattr(self, name)
            if lo > hi or lo < 0:
                raise InputError(f"SkinConfig.{name} = {(lo, hi)} must satisfy 0 <= min <= max")
        for name in ("edge_softness",):
            if getattr(self, name) <= 0:
                raise InputError(f"SkinConfig.{name} must be positive, got {getattr(self, name)}")
        for name in ("dry_break_fraction", "wet_bridge_fraction", "incipient_fraction", "scar_probability"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"SkinConfig.{name} must be in [0, 1], got {v}")


#: No skin model: the smooth ridge profile of the master, as before issue #17.
SMOOTH_SKIN = SkinConfig(
    ridge_threshold=0.5, edge_softness=0.3, edge_noise=0.0, mottle=0.0, pressure_variation=0.0, moisture_variation=0.0,
    pore_density_per_mm=(0.0, 0.0), dry_break_fraction=0.0, wet_bridge_fraction=0.0,
    incipient_fraction=0.0, scar_probability=0.0,
)


@dataclass
class Artefacts:
    """What the skin conditions changed in the ridge topology (sensor pixels).

    points: connected changes as ``[x, y, radius, kind]`` with kind
        ``break`` (ridge ink removed: dry skin), ``bridge`` (valley inked: wet
        skin) or ``incipient`` (a thin ridge fragment in a valley).
    lines: creases, scars and scratches as ``{"kind", "points": [[x, y], ...], "half_width"}``.
    hidden: true minutiae dropped because such a line covers them.
    """

    points: list[list[float | str]] = field(default_factory=list)
    lines: list[dict[str, object]] = field(default_factory=list)
    hidden: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"points": self.points, "lines": self.lines, "hidden_minutiae": self.hidden}


@dataclass
class SkinInk:
    """Result of :func:`skin_ink`: arrays [H, W] on the sensor grid.

    ink: float32 in [0, 1], 1 = ridge fully in contact.
    texture_ink: the same with the texture conditions only (the reference the
        structural changes are measured against).
    hide: bool, where a crease or scar hides the pattern (true minutiae there
        are not visible).
    artefacts: what the structural conditions changed.
    """

    ink: np.ndarray
    texture_ink: np.ndarray
    hide: np.ndarray
    artefacts: Artefacts


def unit_noise(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Gaussian noise low-passed with a Gaussian of ``sigma`` px, rescaled to unit std, float32 [H, W]."""
    n = rng.standard_normal((height, width), dtype=np.float32)
    if sigma > 0.05:
        n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / max(float(n.std()), 1e-6)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (tanh approximation, |error| < 2e-4)."""
    return 0.5 * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def _band(x: np.ndarray, width: float) -> np.ndarray:
    """0 below 0, 1 above ``width``, smoothstep in between."""
    t = np.clip(x / width, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def protect_mask(points: np.ndarray, radius: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 [H, W]: 1 inside a disc of ``radius[i]`` around ``points[i]`` ([N, 2] x, y), 0 outside."""
    canvas = np.zeros((height, width), np.uint8)
    for (x, y), r in zip(points.tolist(), radius.tolist()):
        if -r <= x < width + r and -r <= y < height + r:
            cv2.circle(canvas, (int(round(x * 4)), int(round(y * 4))), int(round(r * 4)), 1, -1, cv2.LINE_8, shift=2)
    return canvas.astype(np.float32)


def _pores(
    rng: np.random.Generator, ridges: np.ndarray, allowed: np.ndarray, period: float, config: SkinConfig, scale: float
) -> np.ndarray:
    """Ink kept by the pores, float32 [H, W] in [0, 1] (1 = no pore).

    Pores sit on the crest (ridge map > 0.9) at ``pore_density_per_mm`` per mm
    of ridge; the ridge length in view is the crest area over the period.
    """
    h, w = ridges.shape
    density_mm = float(rng.uniform(*config.pore_density_per_mm))
    crest = np.flatnonzero((ridges > 0.9) & (allowed > 0.5))
    inked_area = float(np.count_nonzero(ridges > 0.5))
    count = int(rng.poisson(density_mm * UM_PER_PX_500DPI / 1000.0 / scale * inked_area * 2.0 / period))
    keep = np.ones((h, w), np.float32)
    if count == 0 or len(crest) == 0:
        return keep
    idx = rng.choice(crest, size=min(count, len(crest)), replace=False)
    # A pore is narrower than its ridge (about half a period wide): it opens
    # the ridge's surface without cutting it.
    diam = np.minimum(rng.uniform(*config.pore_diameter_um, size=len(idx)) / UM_PER_PX_500DPI * scale, 0.3 * period)
    depth = rng.uniform(*config.pore_visibility, size=len(idx))
    holes = np.zeros((h, w), np.float32)
    for i, d, v in zip(idx.tolist(), diam.tolist(), depth.tolist()):
        y, x = divmod(i, w)
        jx, jy = rng.uniform(-0.5, 0.5, 2)
        cv2.circle(holes, (int(round((x + jx) * 4)), int(round((y + jy) * 4))), max(1, int(round(d * 2))), v, -1,
                   cv2.LINE_AA, shift=2)
    holes = cv2.GaussianBlur(holes, (0, 0), 0.5 * scale)
    return 1.0 - np.clip(holes, 0.0, 1.0)


def _lines(
    rng: np.random.Generator, height: int, width: int, count: int, *, widths: Range, scale: float, kind: str
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """White lines: creases (long, near-horizontal), scratches (straight, any angle), scars (curved, ragged).

    Returns (coverage float32 [H, W] in [0, 1], their polylines).
    """
    canvas = np.zeros((height, width), np.float32)
    axis = np.full((height, width), 255, np.uint8)  # 0 on the centre lines
    lines: list[dict[str, object]] = []
    for _ in range(count):
        cx, cy = rng.uniform(0.1 * width, 0.9 * width), rng.uniform(0.15 * height, 0.95 * height)
        a = rng.normal(0, 0.3) if kind == "crease" else rng.uniform(0, math.pi)
        half = rng.uniform(0.15, 0.5) * width
        thick = float(rng.uniform(*widths)) * scale
        n = 8
        t = np.linspace(-1.0, 1.0, n)
        bend = rng.normal(0, {"crease": 0.06, "scar": 0.2}.get(kind, 0.0)) * half
        xs = cx + t * half * math.cos(a) - bend * (1 - t**2) * math.sin(a)
        ys = cy + t * half * math.sin(a) + bend * (1 - t**2) * math.cos(a)
        pts = np.stack([xs, ys], 1)
        cv2.polylines(canvas, [np.round(pts * 4).astype(np.int32)], False, 1.0, max(1, int(round(thick))),
                      cv2.LINE_AA, shift=2)
        cv2.polylines(axis, [np.round(pts * 4).astype(np.int32)], False, 0, 1, cv2.LINE_8, shift=2)
        lines.append({"kind": kind, "points": [[round(float(x), 1), round(float(y), 1)] for x, y in pts]})
    if kind == "scar" and count:
        # Ragged scar edges: threshold the blurred line against coarse noise.
        soft = cv2.GaussianBlur(canvas, (0, 0), 1.5 * scale)
        canvas = _band(soft + 0.25 * unit_noise(rng, height, width, 2.0 * scale) - 0.35, 0.2)
    canvas = np.clip(canvas, 0.0, 1.0)
    if count:
        # Half width as drawn: the farthest covered pixel from the centre lines.
        dist = cv2.distanceTransform(axis, cv2.DIST_L2, 5)
        reach = float(dist[canvas > 0.05].max()) if (canvas > 0.05).any() else 0.0
        for line in lines:
            line["half_width"] = round(reach + 1.0, 2)
    return canvas, lines


def _artefact_points(changed: np.ndarray, kind_maps: dict[str, np.ndarray], min_area: int) -> list[list[float | str]]:
    """One ``[x, y, radius, kind]`` per 8-connected component of ``changed``."""
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(changed.astype(np.uint8), connectivity=8)
    out: list[list[float | str]] = []
    names = list(kind_maps)
    for lab in range(1, n):
        if stats[lab, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y = centroids[lab]
        bw, bh = stats[lab, cv2.CC_STAT_WIDTH], stats[lab, cv2.CC_STAT_HEIGHT]
        iy, ix = min(int(round(y)), changed.shape[0] - 1), min(int(round(x)), changed.shape[1] - 1)
        kind = names[int(np.argmax([m[iy, ix] for m in kind_maps.values()]))] if len(names) > 1 else names[0]
        out.append([round(float(x), 1), round(float(y), 1), round(0.5 * math.hypot(bw, bh), 1), kind])
    return out


def skin_ink(
    ridges: np.ndarray,
    contact: np.ndarray,
    period: float,
    rng: np.random.Generator,
    config: SkinConfig,
    *,
    pressure: float,
    moisture: float,
    minutiae_xy: np.ndarray,
    max_creases: int = 0,
    max_scratches: int = 0,
    scale: float = 1.0,
) -> SkinInk:
    """Ink of one contact.

    Args:
        ridges: float32 [H, W] in [0, 1], the master's ridge map on the sensor
            grid (1 = ridge crest, 0 = valley bottom and outside the finger).
        contact: float32 [H, W] in [0, 1], the contact region.
        period: mean ridge period in the contact, pixels.
        rng: the impression's generator.
        pressure, moisture: the impression's levels in [0, 1] (0.5 = normal).
        minutiae_xy: float [N, 2] true minutiae on the sensor grid (all, also
            those outside the contact), kept clear of breaks and bridges.
        max_creases, max_scratches: flexion creases and sensor scratches
            drawn, uniform in [0, max] (white lines; scratches are straight
            and thin).
        scale: dpi / 500.
    """
    config.check()
    h, w = ridges.shape
    # One generator per condition: switching one condition off leaves the
    # others exactly as they were (the tests compare such pairs of prints).
    r_field, r_edge, r_pore, r_mottle, r_break, r_wet, r_inc, r_lines = (
        np.random.default_rng(int(s)) for s in rng.integers(0, 2**63, size=8))
    pfield = np.clip(pressure + config.pressure_variation * smooth_random_field(r_field, h, w, cells=3), 0.0, 1.0)
    mfield = np.clip(moisture + config.moisture_variation * smooth_random_field(r_field, h, w, cells=4), 0.0, 1.0)
    # Heavy or wet contact widens the ridges, light or dry contact thins them
    # (the profile is about sinusoidal, so a threshold shift is a width change).
    radius = np.full(len(minutiae_xy), config.protect_periods * period, np.float32)
    guard = 1.0 - protect_mask(np.asarray(minutiae_xy, np.float64).reshape(-1, 2), radius, h, w)
    smooth_guard = cv2.GaussianBlur(guard, (0, 0), 2.0 * scale)
    thresh = config.ridge_threshold - 0.22 * (pfield - 0.5) - 0.18 * (mfield - 0.5)
    # At a true minutia the ink follows the master's own 0.5 level, where the
    # ground truth was extracted: a thinner ridge would move an ending back.
    thresh = smooth_guard * thresh + (1.0 - smooth_guard) * 0.5
    # Towards the contact's edge the pressure falls off: ridges thin out and
    # break up there instead of fading to grey.
    thresh = thresh + 0.6 * (1.0 - contact)
    r = ridges
    if config.edge_noise > 0:
        # Ragged edges everywhere but at the true minutiae, where a spur or a
        # notch could move or hide them.
        r = ridges + config.edge_noise * smooth_guard * unit_noise(r_edge, h, w, config.edge_noise_sigma_px * scale)
    soft = config.edge_softness
    core = np.clip((r - thresh) / soft + 0.5, 0.0, 1.0)
    if config.pore_density_per_mm[1] > 0:
        core = core * _pores(r_pore, ridges, guard * (contact > 0.5), period, config, scale)
    if config.mottle > 0:
        speck = np.clip(unit_noise(r_mottle, h, w, 0.7 * scale), 0.0, None)
        core = core * (1.0 - min(config.mottle, 0.49) * np.clip(speck / 2.0, 0.0, 1.0))
    inked = np.clip(contact * 2.0, 0.0, 1.0)  # the outline itself stays a little soft
    texture = (core * inked).astype(np.float32)

    dry = np.clip((0.5 - mfield) * 2.0, 0.0, 1.0)
    wet = np.clip((mfield - 0.5) * 2.0, 0.0, 1.0)
    size = config.break_size_periods * period
    ink = core
    kind_maps: dict[str, np.ndarray] = {}
    if config.dry_break_fraction > 0:
        # Breaks: blobs about a ridge width across, as many as the dryness asks for.
        frac = config.dry_break_fraction * dry
        gaps = _band(normal_cdf(unit_noise(r_break, h, w, size)) - (1.0 - frac), 0.02) * guard
        ink = ink * (1.0 - gaps)
        kind_maps["break"] = gaps
    if config.wet_bridge_fraction > 0:
        frac = config.wet_bridge_fraction * wet
        wet_blobs = _band(normal_cdf(unit_noise(r_wet, h, w, 1.5 * size)) - (1.0 - frac), 0.05) * guard
        filled = np.clip((r - (thresh - 0.5 * wet_blobs)) / soft + 0.5, 0.0, 1.0)
        ink = np.maximum(ink, filled * wet_blobs)
        kind_maps["bridge"] = wet_blobs
    if config.incipient_fraction > 0:
        patches = _band(normal_cdf(unit_noise(r_inc, h, w, 1.5 * period)) - (1.0 - config.incipient_fraction), 0.05)
        dotted = _band(unit_noise(r_inc, h, w, size), 0.3)
        line = _band(0.06 - ridges, 0.04)  # a thin line along the valley bottom
        inc = 0.9 * patches * dotted * line * guard
        ink = np.maximum(ink, inc)
        kind_maps["incipient"] = patches * line * guard

    artefacts = Artefacts()
    creases = int(r_lines.integers(0, max_creases + 1))
    scratches = int(r_lines.integers(0, max_scratches + 1))
    n_scars = int(r_lines.uniform() < config.scar_probability)
    hide = np.zeros((h, w), np.float32)
    for kind, count, widths in (("crease", creases, config.crease_width_px), ("scar", n_scars, config.scar_width_px),
                                ("scratch", scratches, (1.0, 2.0))):
        if count:
            cover, lines = _lines(r_lines, h, w, count, widths=widths, scale=scale, kind=kind)
            ink = ink * (1.0 - cover)
            hide = np.maximum(hide, cover)
            artefacts.lines.extend(lines)
    ink = (ink * inked).astype(np.float32)

    inside = contact > 0.0  # everywhere ink can be, also on the fading outline
    before, after = texture > 0.5, ink > 0.5
    lined = hide > 0.05
    if kind_maps:
        removed = before & ~after & inside & ~lined
        added = after & ~before & inside & ~lined
        min_area = 1  # one pixel can join two ridges
        breaks = {k: v for k, v in kind_maps.items() if k == "break"}
        fills = {k: v for k, v in kind_maps.items() if k != "break"}
        if breaks:
            artefacts.points.extend(_artefact_points(removed, breaks, min_area))
        if fills:
            artefacts.points.extend(_artefact_points(added, fills, min_area))
    return SkinInk(ink=ink, texture_ink=texture, hide=lined, artefacts=artefacts)
