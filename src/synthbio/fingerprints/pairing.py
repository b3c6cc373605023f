"""Which minutiae of two impressions are the same: a rigid alignment by voting, then a one-to-one pairing.

Bozorth3 gives a score, not the pairs behind it. To show them, each pair of
minutiae (a from the first template, b from the second, same kind) proposes
the rotation that turns a's direction into b's and the translation that then
moves a onto b; proposals vote in (rotation, dx, dy) bins, the best bin's
members give the transform by their mean, and `pair_minutiae` pairs the moved
first template with the second within a distance and angle tolerance. This is
the classic Hough alignment of minutiae matchers (Ratha et al. 1996), enough
for impressions that overlap with moderate distortion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthbio.fingerprints.matching import pair_minutiae
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate


@dataclass(frozen=True)
class RigidTransform:
    """x' = R(rotation) x + (dx, dy) in pixel coordinates (y down); rotation in radians, ISO sense."""

    rotation: float
    dx: float
    dy: float

    def apply(self, m: Minutia) -> Minutia:
        # ISO angles turn counter-clockwise as seen on the image, i.e. clockwise in (x, y-down) terms.
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        x = c * m.x + s * m.y + self.dx
        y = -s * m.x + c * m.y + self.dy
        return Minutia(x=x, y=y, angle=(m.angle + self.rotation) % (2 * math.pi), kind=m.kind, quality=m.quality)


@dataclass(frozen=True)
class Pairing:
    """pairs: (index in the first template, index in the second); transform maps the first onto the second."""

    pairs: list[tuple[int, int]]
    transform: RigidTransform
    votes: int


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def align_templates(a: MinutiaeTemplate, b: MinutiaeTemplate, *, angle_bin: float = math.radians(10.0),
                    shift_bin: float = 16.0) -> tuple[RigidTransform, int]:
    """The rigid transform carrying `a` onto `b` with the most votes, and its vote count (0: no candidate)."""
    if not a.minutiae or not b.minutiae:
        return RigidTransform(0.0, 0.0, 0.0), 0
    pa = np.array([(m.x, m.y, m.angle) for m in a.minutiae])
    pb = np.array([(m.x, m.y, m.angle) for m in b.minutiae])
    same = np.array([[ma.kind == mb.kind for mb in b.minutiae] for ma in a.minutiae])
    rot = _wrap(pb[None, :, 2] - pa[:, None, 2])  # [A, B]
    c, s = np.cos(rot), np.sin(rot)
    dx = pb[None, :, 0] - (c * pa[:, None, 0] + s * pa[:, None, 1])
    dy = pb[None, :, 1] - (-s * pa[:, None, 0] + c * pa[:, None, 1])
    keys = np.stack([np.round(rot / angle_bin), np.round(dx / shift_bin), np.round(dy / shift_bin)], -1)[same]
    if len(keys) == 0:
        return RigidTransform(0.0, 0.0, 0.0), 0
    # Each proposal also votes for its neighbouring bins, so a cluster on a bin edge is not split.
    offsets = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    spread = (keys[:, None, :] + offsets[None]).reshape(-1, 3)
    uniq, counts = np.unique(spread, axis=0, return_counts=True)
    best = uniq[int(np.argmax(counts))]
    near = np.all(np.abs(keys - best) <= 1, axis=1)
    r, x, y = rot[same][near], dx[same][near], dy[same][near]
    mean_rot = math.atan2(float(np.sin(r).mean()), float(np.cos(r).mean()))
    return RigidTransform(mean_rot, float(x.mean()), float(y.mean())), int(near.sum())


def paired_minutiae(a: MinutiaeTemplate, b: MinutiaeTemplate, *, max_distance: float = 15.0,
                    max_angle: float = math.radians(30.0)) -> Pairing:
    """Align `a` onto `b`, then pair one to one within max_distance pixels and max_angle radians."""
    transform, votes = align_templates(a, b)
    moved = [transform.apply(m) for m in a.minutiae]
    pairs = pair_minutiae(moved, b.minutiae, max_distance=max_distance, max_angle=max_angle) if votes else []
    return Pairing(pairs=pairs, transform=transform, votes=votes)
