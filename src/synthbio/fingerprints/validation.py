"""Checks every minutiae template passes, shared by the text (JSON, .xyt) and binary (ISO/ANSI) codecs.

`validate_template` rejects NaN/inf, negative or out-of-image coordinates,
unknown kinds and out-of-range qualities with a `TemplateError` (an
`InputError`) that names the file; `select_best_minutiae` keeps the minutiae a
255-slot binary record can hold, as ISO/IEC 19794-2 advises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import get_args

from synthbio.errors import InputError
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, MinutiaKind, SingularityKind

_MINUTIA_KINDS: tuple[str, ...] = get_args(MinutiaKind)
_SINGULARITY_KINDS: tuple[str, ...] = get_args(SingularityKind)

TWO_PI = 2.0 * math.pi


class TemplateError(InputError):
    """A template file or value that is malformed; the message names the input."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


def round_half_up(value: float) -> int:
    """Round to the nearest integer, halves upwards (Python's round() is banker's)."""
    return int(math.floor(value + 0.5))


def wrap_angle(angle: float) -> float:
    """Map an angle in radians to [0, 2*pi)."""
    wrapped = math.fmod(angle, TWO_PI)
    if wrapped < 0.0:
        wrapped += TWO_PI
    return 0.0 if wrapped >= TWO_PI else wrapped


def _check_point(
    source: str, what: str, x: float, y: float, width: int, height: int
) -> None:
    if not (math.isfinite(x) and math.isfinite(y)):
        raise TemplateError(source, f"{what} has a non-finite coordinate ({x}, {y})")
    if x < 0 or y < 0:
        raise TemplateError(source, f"{what} has a negative coordinate ({x}, {y})")
    # width/height 0 means "unknown" (e.g. an .xyt file), so no upper bound.
    if (width > 0 and x >= width) or (height > 0 and y >= height):
        raise TemplateError(
            source, f"{what} at ({x}, {y}) lies outside the {width}x{height} image"
        )


def validate_template(template: MinutiaeTemplate, *, source: str = "<template>") -> None:
    """Raise TemplateError unless every field of `template` is usable.

    Checks image geometry (width/height >= 0, 0 = unknown), dpi > 0, finger
    position 0..255, impression type 0..15, qualities 0..100, finite angles,
    known kinds, and coordinates inside [0, width) x [0, height).
    """
    for name in ("width", "height"):
        value = getattr(template, name)
        if not isinstance(value, int) or value < 0:
            raise TemplateError(source, f"{name} must be an integer >= 0, got {value!r}")
    if not isinstance(template.dpi, int) or template.dpi <= 0:
        raise TemplateError(source, f"dpi must be a positive integer, got {template.dpi!r}")
    if not 0 <= template.finger_position <= 255:
        raise TemplateError(source, f"finger_position {template.finger_position} not in 0..255")
    if not 0 <= template.impression_type <= 15:
        raise TemplateError(source, f"impression_type {template.impression_type} not in 0..15")
    if not 0 <= template.quality <= 100:
        raise TemplateError(source, f"finger quality {template.quality} not in 0..100")
    for i, m in enumerate(template.minutiae):
        what = f"minutia {i}"
        _check_point(source, what, m.x, m.y, template.width, template.height)
        if not math.isfinite(m.angle):
            raise TemplateError(source, f"{what} has a non-finite angle ({m.angle})")
        if m.kind not in _MINUTIA_KINDS:
            raise TemplateError(source, f"{what} has unknown kind {m.kind!r}")
        if not 0 <= m.quality <= 100:
            raise TemplateError(source, f"{what} quality {m.quality} not in 0..100")
    for i, s in enumerate(template.singularities):
        what = f"singularity {i} ({s.kind})"
        _check_point(source, what, s.x, s.y, template.width, template.height)
        if s.kind not in _SINGULARITY_KINDS:
            raise TemplateError(source, f"singularity {i} has unknown kind {s.kind!r}")
        if s.angle is not None and not math.isfinite(s.angle):
            raise TemplateError(source, f"{what} has a non-finite angle ({s.angle})")


def select_best_minutiae(minutiae: Sequence[Minutia], limit: int) -> list[Minutia]:
    """Keep at most `limit` minutiae, in their original order.

    Following the truncation guidance of ISO/IEC 19794-2, the lowest-quality
    minutiae go first; among equal qualities, those farthest from the centre
    of mass of all minutiae go first.
    """
    if limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}")
    if len(minutiae) <= limit:
        return list(minutiae)
    cx = sum(m.x for m in minutiae) / len(minutiae)
    cy = sum(m.y for m in minutiae) / len(minutiae)
    ranked = sorted(
        range(len(minutiae)),
        key=lambda i: (-minutiae[i].quality, math.hypot(minutiae[i].x - cx, minutiae[i].y - cy), i),
    )
    kept = sorted(ranked[:limit])
    return [minutiae[i] for i in kept]


