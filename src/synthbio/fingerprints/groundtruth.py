"""Exact minutiae of a synthetic ridge pattern (SFinGe step 5).

Pipeline: binarise -> thin (Zhang-Suen, vectorised with a 256-entry lookup
table over 3x3 neighbourhood codes) -> crossing number (1 = ending,
3 = bifurcation) -> drop minutiae near the silhouette border and close pairs
(short ridges, spurs, bridges, holes) -> direction by tracing the skeleton.

Directions follow :mod:`synthbio.fingerprints.types` (ISO 19794-2 / NIST
EFS): an ending points from the end into the ridge body; a bifurcation points
along the valley between its two branches, away from the stem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.types import Minutia

# 3x3 weights giving each pixel the code sum(bit_i * P_i) of its 8 neighbours,
# P2 (north) .. P9 (north-west) clockwise as in Zhang & Suen (1984).
_OFFSETS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))  # (dy, dx) of P2..P9
_CODE_KERNEL = np.zeros((3, 3), np.float32)
for _i, (_dy, _dx) in enumerate(_OFFSETS):
    _CODE_KERNEL[_dy + 1, _dx + 1] = float(1 << _i)


def _bits(code: int) -> list[int]:
    return [(code >> i) & 1 for i in range(8)]


def _transitions(p: list[int]) -> int:
    """Number of 0 -> 1 transitions in the cyclic sequence P2..P9, P2."""
    return sum(1 for i in range(8) if p[i] == 0 and p[(i + 1) % 8] == 1)


def _zhang_suen_luts() -> tuple[np.ndarray, np.ndarray]:
    """Deletion tables of the two Zhang-Suen sub-iterations, uint8 [256]."""
    lut1, lut2 = np.zeros(256, np.uint8), np.zeros(256, np.uint8)
    for code in range(256):
        p = _bits(code)  # p[0]=P2 ... p[7]=P9
        b = sum(p)
        if not (2 <= b <= 6 and _transitions(p) == 1):
            continue
        p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
        if p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0:
            lut1[code] = 1
        if p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0:
            lut2[code] = 1
    return lut1, lut2


_LUT1, _LUT2 = _zhang_suen_luts()
_CROSSING = np.array([_transitions(_bits(c)) for c in range(256)], np.uint8)


def _codes(img: np.ndarray) -> np.ndarray:
    """Neighbourhood code of every pixel of a 0/1 uint8 image, uint8 [H, W]."""
    c = cv2.filter2D(img.astype(np.float32), -1, _CODE_KERNEL, borderType=cv2.BORDER_CONSTANT)
    return c.astype(np.uint8)


def thin(binary: np.ndarray, *, max_iterations: int = 100) -> np.ndarray:
    """Zhang-Suen skeleton of a boolean image, bool [H, W] (8-connected, 1 px)."""
    img = binary.astype(np.uint8)
    for _ in range(max_iterations):
        changed = False
        for lut in (_LUT1, _LUT2):
            delete = (img == 1) & (lut[_codes(img)] == 1)
            if delete.any():
                img[delete] = 0
                changed = True
        if not changed:
            break
    return img.astype(bool)


def crossing_numbers(skeleton: np.ndarray) -> np.ndarray:
    """Crossing number of every skeleton pixel (0 off the skeleton), uint8 [H, W]."""
    cn = _CROSSING[_codes(skeleton.astype(np.uint8))]
    return np.where(skeleton, cn, 0).astype(np.uint8)


def iso_angle(dx: float, dy: float) -> float:
    """ISO angle in [0, 2 pi) of the pixel vector (dx, dy) (image y down)."""
    return math.atan2(-dy, dx) % (2 * math.pi)


def _neighbours(skel: np.ndarray, y: int, x: int) -> list[tuple[int, int]]:
    h, w = skel.shape
    out = []
    for dy, dx in _OFFSETS:
        yy, xx = y + dy, x + dx
        if 0 <= yy < h and 0 <= xx < w and skel[yy, xx]:
            out.append((yy, xx))
    return out


def _trace(skel: np.ndarray, start: tuple[int, int], first: tuple[int, int], steps: int) -> tuple[int, int]:
    """Follow the skeleton from ``start`` through ``first`` for ``steps`` pixels.

    Stops early at an end or a junction. Returns the last pixel (y, x).
    """
    seen = {start, first, *_neighbours(skel, *start)}
    cur = first
    for _ in range(steps - 1):
        nxt = [p for p in _neighbours(skel, *cur) if p not in seen]
        if not nxt:
            break
        if len(nxt) > 2 or (len(nxt) == 2 and max(abs(nxt[0][0] - nxt[1][0]), abs(nxt[0][1] - nxt[1][1])) > 1):
            break  # two separate branches: a junction
        # On a staircase both a corner 4-neighbour and the diagonal beyond it
        # are offered: step to the diagonal and mark the corner as visited.
        nxt.sort(key=lambda p: -(abs(p[0] - cur[0]) + abs(p[1] - cur[1])))
        seen.update(nxt)
        cur = nxt[0]
    return cur


def _branch_starts(skel: np.ndarray, y: int, x: int) -> list[tuple[int, int]]:
    """One neighbour per run of set neighbours around (y, x), cyclic order."""
    h, w = skel.shape
    on = []
    for dy, dx in _OFFSETS:
        yy, xx = y + dy, x + dx
        on.append(0 <= yy < h and 0 <= xx < w and bool(skel[yy, xx]))
    starts: list[tuple[int, int]] = []
    for i in range(8):
        if on[i] and not on[i - 1]:  # first pixel of a run
            run = [i]
            j = (i + 1) % 8
            while on[j] and j != i:
                run.append(j)
                j = (j + 1) % 8
            k = next((r for r in run if r % 2 == 0), run[0])  # prefer 4-neighbour
            starts.append((y + _OFFSETS[k][0], x + _OFFSETS[k][1]))
    return starts


@dataclass(frozen=True)
class ExtractionConfig:
    """Knobs of :func:`extract_minutiae` (pixels at 500 dpi)."""

    border_margin: float = 14.0  # drop minutiae closer than this to the mask edge
    # Drop both minutiae of a pair closer than this. Thinning shortens ridge
    # ends by about half a ridge width, so a 1 px break in a ridge gives
    # two skeleton endings ~7 px apart.
    min_distance: float = 8.0
    trace_steps: int = 10  # skeleton pixels followed to measure a direction
    threshold: float = 0.5  # ridge map binarisation level


def extract_minutiae(
    ridges: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    config: ExtractionConfig = ExtractionConfig(),
) -> list[Minutia]:
    """All ridge endings and bifurcations of a clean ridge map.

    Args:
        ridges: float [H, W], 1 = ridge, or bool.
        mask: bool [H, W] region to keep (default: whole image, with the
            image edge as the border).
    Returns:
        minutiae sorted by (y, x), directions in ISO convention.
    """
    if ridges.ndim != 2:
        raise InputError(f"ridge map must be 2-D, got shape {ridges.shape}")
    h, w = ridges.shape
    if mask is None:
        mask = np.ones((h, w), bool)
    if mask.shape != ridges.shape:
        raise InputError(f"mask shape {mask.shape} differs from ridge map shape {ridges.shape}")
    binary = (ridges > config.threshold) if ridges.dtype != bool else ridges
    skel = thin(binary & mask)
    cn = crossing_numbers(skel)
    padded = np.pad(mask.astype(np.uint8), 1)  # image edge counts as border
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]
    cand = ((cn == 1) | (cn == 3)) & (dist >= config.border_margin)
    ys, xs = np.nonzero(cand)
    if len(ys) == 0:
        return []
    pts = np.stack([xs, ys], 1).astype(np.float32)
    # Remove both members of close pairs: short ridges, spurs, bridges, holes.
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    keep = d2.min(1) >= config.min_distance**2
    out: list[Minutia] = []
    for y, x in zip(ys[keep].tolist(), xs[keep].tolist()):
        starts = _branch_starts(skel, y, x)
        ends = [_trace(skel, (y, x), s, config.trace_steps) for s in starts]
        vecs = [(ex - x, ey - y) for ey, ex in ends]
        if cn[y, x] == 1 and len(vecs) >= 1:
            out.append(Minutia(float(x), float(y), iso_angle(*vecs[0]), "ending"))
        elif cn[y, x] == 3 and len(vecs) == 3:
            units = [np.array(v, np.float64) / max(1e-6, math.hypot(*v)) for v in vecs]
            # The two branches closest in direction enclose the valley; the
            # third is the stem. Direction = bisector of the two branches.
            pairs = [(0, 1), (1, 2), (0, 2)]
            i, j = max(pairs, key=lambda p: float(units[p[0]] @ units[p[1]]))
            b = units[i] + units[j]
            out.append(Minutia(float(x), float(y), iso_angle(float(b[0]), float(b[1])), "bifurcation"))
    out.sort(key=lambda m: (m.y, m.x))
    return out
