"""Checks every minutiae template passes, shared by the text (JSON, .xyt) and binary (ISO/ANSI) codecs.

`validate_template` rejects NaN/inf, negative or out-of-image coordinates,
unknown kinds and out-of-range qualities with a `TemplateError` (an
`InputError`) that names the file; `select_best_minutiae` keeps the minutiae a
255-slot binary record can hold, as ISO/IEC 19794-2 advises.

Two sets of bounds:

- Format bounds (`validate_template`, every reader and writer): what the
  binary records can express. Image sides 0..65535 px (0 = unknown), dpi
  1..166459 (the 16-bit pixels-per-cm field), coordinates below 65535 even
  when the size is unknown.
- Drawing limits (`check_drawable`, before a reconstruction allocates
  anything): the image drawn is at most `MAX_DRAW_SIDE` px a side, at least
  `MIN_DRAW_SIDE`, at `MIN_DRAW_DPI`..`MAX_DRAW_DPI` dpi, from at most
  `MAX_DRAW_POINTS` minutiae and singularities. A template inside the format
  bounds but outside these (a 36-byte record declaring 65535 x 65535 px, a
  sizeless .xyt with a minutia at x = 1e9, 10^6 dpi) is refused with one line
  naming the file instead of an allocation of gigabytes.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from synthbio.errors import InputError
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, MinutiaKind, SingularityKind

_MINUTIA_KINDS: tuple[str, ...] = get_args(MinutiaKind)
_SINGULARITY_KINDS: tuple[str, ...] = get_args(SingularityKind)

TWO_PI = 2.0 * math.pi

# Format bounds: what ISO/IEC 19794-2 / ANSI 378 headers can hold.
MAX_IMAGE_SIDE = 0xFFFF  # 16-bit width / height fields
MAX_DPI = 166_459  # round(65535 px/cm * 2.54), the 16-bit resolution field

# Drawing limits (fingerprints reconstruct, minutiae maps, mated impressions).
MAX_DRAW_SIDE = 4096  # px: 20.8 cm at 500 dpi, far beyond any finger
MIN_DRAW_SIDE = 16  # px: below this the ridge filters have nothing to hold on to
MIN_DRAW_DPI = 100  # the ridge period (10.5 px at 500 dpi) must stay above 2 px
MAX_DRAW_DPI = 2000
MAX_DRAW_POINTS = 1000  # minutiae + cores/deltas; a real finger has ~30-150


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


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_point(
    source: str, what: str, x: float, y: float, width: int, height: int
) -> None:
    if not (_is_number(x) and _is_number(y)):
        raise TemplateError(source, f"{what} has a coordinate that is not a number ({x!r}, {y!r})")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise TemplateError(source, f"{what} has a non-finite coordinate ({x}, {y})")
    if x < 0 or y < 0:
        raise TemplateError(source, f"{what} has a negative coordinate ({x}, {y})")
    # width/height 0 means "unknown" (e.g. an .xyt file): then the format's largest image bounds them.
    if (width > 0 and x >= width) or (height > 0 and y >= height):
        raise TemplateError(
            source, f"{what} at ({x}, {y}) lies outside the {width}x{height} image"
        )
    if x >= MAX_IMAGE_SIDE or y >= MAX_IMAGE_SIDE:
        raise TemplateError(
            source, f"{what} at ({x:g}, {y:g}) lies beyond the largest image a template can describe "
            f"({MAX_IMAGE_SIDE} px a side)"
        )


def validate_template(template: MinutiaeTemplate, *, source: str = "<template>") -> None:
    """Raise TemplateError unless every field of `template` is usable.

    Checks image geometry (width/height 0..65535, 0 = unknown), dpi
    1..166459, finger position 0..255, impression type 0..15, qualities
    0..100, finite angles, known kinds, and coordinates inside [0, width) x
    [0, height) (below 65535 when the size is unknown).
    """
    for name in ("width", "height"):
        value = getattr(template, name)
        if not _is_int(value) or not 0 <= value <= MAX_IMAGE_SIDE:
            raise TemplateError(source, f"{name} must be an integer in 0..{MAX_IMAGE_SIDE}, got {short_repr(value)}")
    if not _is_int(template.dpi) or not 0 < template.dpi <= MAX_DPI:
        raise TemplateError(source, f"dpi must be an integer in 1..{MAX_DPI}, got {short_repr(template.dpi)}")
    for name, top in (("finger_position", 255), ("impression_type", 15), ("quality", 100)):
        value = getattr(template, name)
        if not _is_int(value) or not 0 <= value <= top:
            label = "finger quality" if name == "quality" else name
            raise TemplateError(source, f"{label} {short_repr(value)} not in 0..{top}")
    for i, m in enumerate(template.minutiae):
        what = f"minutia {i}"
        _check_point(source, what, m.x, m.y, template.width, template.height)
        if not _is_number(m.angle) or not math.isfinite(m.angle):
            raise TemplateError(source, f"{what} has a non-finite angle ({short_repr(m.angle)})")
        if m.kind not in _MINUTIA_KINDS:
            raise TemplateError(source, f"{what} has unknown kind {short_repr(m.kind)}")
        if not _is_int(m.quality) or not 0 <= m.quality <= 100:
            raise TemplateError(source, f"{what} quality {short_repr(m.quality)} not in 0..100")
    for i, s in enumerate(template.singularities):
        what = f"singularity {i} ({short_repr(s.kind)})"
        _check_point(source, what, s.x, s.y, template.width, template.height)
        if s.kind not in _SINGULARITY_KINDS:
            raise TemplateError(source, f"singularity {i} has unknown kind {short_repr(s.kind)}")
        if s.angle is not None and (not _is_number(s.angle) or not math.isfinite(s.angle)):
            raise TemplateError(source, f"{what} has a non-finite angle ({short_repr(s.angle)})")


def read_template_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of a template file; TemplateError naming it when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise TemplateError(str(path), "file not found") from exc
    except IsADirectoryError as exc:
        raise TemplateError(str(path), f"is a folder, not a {what} file") from exc
    except OSError as exc:
        raise TemplateError(str(path), f"cannot read ({exc.strerror or exc})") from exc


def short_repr(value: object, limit: int = 40) -> str:
    """repr of a value for a one-line message (a 400-digit integer is cut, not printed whole)."""
    if _is_int(value) and abs(int(value)) >= 10**limit:
        return f"{str(value)[:12]}... ({len(str(value))} digits)"
    text = repr(value)
    return text if len(text) <= limit + 20 else text[: limit + 17] + "..."


def drawn_size(template: MinutiaeTemplate, *, dpi_out: int | None = None) -> tuple[int, int]:
    """(height, width) in pixels of a template's image at dpi_out (None = its own dpi).

    A width or height of 0 (unknown) is the extent of the points (largest coordinate + 1).
    """
    def extent(axis: int) -> int:
        pts = [(m.x, m.y) for m in template.minutiae] + [(s.x, s.y) for s in template.singularities]
        return int(max((p[axis] for p in pts), default=0.0)) + 1

    w = template.width or extent(0)
    h = template.height or extent(1)
    f = 1.0 if dpi_out is None else dpi_out / template.dpi
    return max(1, round(h * f)), max(1, round(w * f))


def check_drawable(template: MinutiaeTemplate, *, dpi_out: int | None = None, source: str = "<template>") -> None:
    """Raise TemplateError unless the template's image fits the drawing limits (module docstring).

    Checked on the template's own geometry and at `dpi_out`, before any pixel
    is allocated.
    """
    validate_template(template, source=source)
    for label, dpi in (("dpi", template.dpi), ("output dpi", dpi_out)):
        if dpi is not None and not (_is_int(dpi) and MIN_DRAW_DPI <= dpi <= MAX_DRAW_DPI):
            raise TemplateError(source, f"{label} {short_repr(dpi)} is outside the {MIN_DRAW_DPI}..{MAX_DRAW_DPI} dpi "
                                "a fingerprint can be drawn at")
    points = len(template.minutiae) + len(template.singularities)
    if points > MAX_DRAW_POINTS:
        raise TemplateError(source, f"{points} minutiae and singularities exceed the {MAX_DRAW_POINTS} a drawing takes")
    for at in (None, dpi_out):
        h, w = drawn_size(template, dpi_out=at)
        sized = "" if template.width and template.height else " (the extent of its minutiae: the template has no size)"
        if max(h, w) > MAX_DRAW_SIDE:
            raise TemplateError(source, f"the image would be {w}x{h} px{sized}; the limit is {MAX_DRAW_SIDE} px a side")
        if min(h, w) < MIN_DRAW_SIDE:
            raise TemplateError(source, f"the image would be {w}x{h} px{sized}; at least {MIN_DRAW_SIDE} px a side "
                                "is needed to draw ridges")


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


