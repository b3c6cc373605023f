"""Core fingerprint value types shared by synthesis, templates and matching.

Coordinate and angle conventions (used everywhere in synthbio):
- x, y are pixel coordinates with the origin at the top-left corner of the
  image, x to the right and y downwards (as in image arrays: img[y, x]).
- angle is in radians in [0, 2*pi), measured counter-clockwise from the +x
  axis as a viewer sees the image, i.e. the unit vector (cos a, -sin a) in
  (x, y) pixel coordinates. This is the ISO/IEC 19794-2 convention.
- Direction (ISO/IEC 19794-2 / INCITS 378, NIST EFS): a ridge ending is a
  valley bifurcation, so its direction points from the ending point along
  the ridge body, into the ridge (between the two valley branches); a ridge
  bifurcation points along the valley between its two branches (away from
  the single stem). Codecs convert to each format's own convention at the
  boundary: ISO 19794-2 / ANSI 378 records store this direction quantised
  (360/256 deg and 2 deg units); NBIS mindtct's default .xyt has a
  bottom-left origin (y_xyt = height - y) and the opposite direction
  (theta = ISO + 180 deg); see synthbio.fingerprints.minutiae.
- Resolution is always explicit (dots per inch, default 500).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MinutiaKind = Literal["ending", "bifurcation", "other"]
SingularityKind = Literal["core", "delta"]
FingerprintClass = Literal["arch", "tented_arch", "left_loop", "right_loop", "whorl"]

DEFAULT_DPI = 500


@dataclass(frozen=True)
class Minutia:
    x: float
    y: float
    angle: float  # radians, see module docstring
    kind: MinutiaKind = "ending"
    quality: int = 100  # 0..100 as in ISO 19794-2


@dataclass(frozen=True)
class Singularity:
    x: float
    y: float
    kind: SingularityKind
    angle: float | None = None  # radians; None when undefined


@dataclass
class MinutiaeTemplate:
    """A finger's minutiae with the image geometry they refer to."""

    minutiae: list[Minutia]
    width: int
    height: int
    dpi: int = DEFAULT_DPI
    singularities: list[Singularity] = field(default_factory=list)
    finger_position: int = 0  # ISO finger position code (0 = unknown)
    impression_type: int = 0  # ISO impression type (0 = live-scan plain)
    quality: int = 100  # finger quality 0..100
