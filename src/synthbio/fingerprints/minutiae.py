"""Minutiae template files: JSON, NIST .xyt, and format dispatch.

Formats (see `synthbio.fingerprints.types` for the in-memory convention:
pixels from the top-left corner with y down, angle in radians
counter-clockwise from +x as a viewer sees the image, ISO/IEC 19794-2
direction):

- JSON (`.json`): full fidelity. Every Minutia and Singularity field, the
  image geometry, dpi, finger position/impression/quality, and free metadata
  (e.g. `finger_class`), under a `schema_version`.
- NIST `.xyt` (`.xyt`): one minutia a line, `x y theta quality`, integers,
  as NBIS `mindtct` writes and `bozorth3` reads. Tools disagree on the
  frame, so the convention is explicit (`XytConvention`, default "nist"):

  * "nist": NBIS internal representation (mindtct default, bozorth3
    default). Origin bottom-left, `y_xyt = height - y`; theta in degrees
    counter-clockwise from east, pointing *out and away* from the ridge
    ending / bifurcation valley, i.e. the ISO direction + 180 deg
    (NBIS `lfs2nist_minutia_XYT`: theta = 270 - lfs_deg, where the ISO/M1
    direction is 90 - lfs_deg).
  * "m1": ANSI INCITS 378 ("M1") representation written by `mindtct -m1`
    and read by `bozorth3 -m1`: origin top-left, ISO direction, theta in
    2-degree units (0..179), as NBIS 5 `lfs2m1_minutia_XYT` halves it.
  * "iso": top-left origin, ISO direction, whole degrees. This is what
    afis' `FingerprintTemplate.to_xyt()` writes by default (it also appends
    a type letter E/B, which this reader accepts).

  .xyt carries no type, no image size and no dpi: reading needs `height`
  for bottom-left conventions, kinds come back as "other" unless a fifth
  column (E/B/O) is present, and dpi is the caller's.
- ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 binary records: see
  `synthbio.fingerprints.iso19794`.

Validation: `validate_template` rejects NaN/inf, negative or out-of-image
coordinates, unknown kinds and out-of-range qualities with a `TemplateError`
(an `InputError`) that names the file. Text formats accept any number of
minutiae; the binary formats hold at most 255 per view (see
`select_best_minutiae`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from synthbio.errors import InputError
from synthbio.fingerprints.types import (
    DEFAULT_DPI,
    FingerprintClass,
    Minutia,
    MinutiaeTemplate,
    MinutiaKind,
    Singularity,
)
from synthbio.fingerprints.iso19794 import MAGIC, read_fmr, sniff_standard, write_fmr
from synthbio.fingerprints.validation import (
    TemplateError,
    read_template_bytes,
    short_repr,
    round_half_up,
    select_best_minutiae,
    validate_template,
    wrap_angle,
)
from synthbio.utils.hashing import atomic_write_bytes
from synthbio.utils.jsonio import loads_strict

__all__ = [  # the template API, including what the validation module provides
    "JSON_FORMAT_NAME",
    "TemplateError",
    "TemplateFormat",
    "XytConvention",
    "detect_format",
    "format_from_path",
    "format_xyt",
    "parse_xyt",
    "read_json",
    "read_json_metadata",
    "read_template",
    "read_xyt",
    "round_half_up",
    "select_best_minutiae",
    "template_from_dict",
    "template_to_dict",
    "validate_template",
    "wrap_angle",
    "write_json",
    "write_template",
    "write_xyt",
]

TemplateFormat = Literal["json", "xyt", "iso19794-2", "ansi378"]

JSON_FORMAT_NAME = "synthbio.minutiae_template"
JSON_SCHEMA_VERSION = 1

_FINGER_CLASSES: tuple[str, ...] = get_args(FingerprintClass)

_EXTENSIONS: dict[str, TemplateFormat] = {
    ".json": "json",
    ".xyt": "xyt",
    ".iso": "iso19794-2",
    ".fmr": "iso19794-2",
    ".ist": "iso19794-2",
    ".ansi": "ansi378",
    ".ansi378": "ansi378",
    ".378": "ansi378",
}

# --------------------------------------------------------------------------
# JSON


def template_to_dict(
    template: MinutiaeTemplate, *, metadata: dict[str, Any] | None = None
) -> dict[str, Any]:
    """JSON-ready dict of a template (schema `JSON_SCHEMA_VERSION`), validated first."""
    validate_template(template)
    metadata = dict(metadata or {})
    finger_class = metadata.get("finger_class")
    if finger_class is not None and finger_class not in _FINGER_CLASSES:
        raise InputError(f"finger_class must be one of {_FINGER_CLASSES}, got {finger_class!r}")
    return {
        "format": JSON_FORMAT_NAME,
        "schema_version": JSON_SCHEMA_VERSION,
        "convention": "x, y: pixels from the top-left corner, y down; angle: radians "
        "counter-clockwise from +x as seen on the image (ISO/IEC 19794-2 direction)",
        "width": template.width,
        "height": template.height,
        "dpi": template.dpi,
        "finger_position": template.finger_position,
        "impression_type": template.impression_type,
        "quality": template.quality,
        "minutiae": [
            {"x": m.x, "y": m.y, "angle": m.angle, "kind": m.kind, "quality": m.quality}
            for m in template.minutiae
        ],
        "singularities": [
            {"x": s.x, "y": s.y, "kind": s.kind, "angle": s.angle}
            for s in template.singularities
        ],
        "metadata": metadata,
    }


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], source: str) -> Any:
    if key not in obj:
        raise TemplateError(source, f"missing field {key!r}")
    value = obj[key]
    # bool is an int subclass; a JSON true/false is never a valid number here.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TemplateError(source, f"field {key!r} has the wrong type ({value!r})")
    return value


def template_from_dict(obj: Any, *, source: str = "<json>") -> MinutiaeTemplate:
    """Inverse of `template_to_dict`; raises TemplateError on a malformed object."""
    if not isinstance(obj, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}.get(type(obj), "a number")
        raise TemplateError(source, f"top level is {kind}, not a JSON object (a synthbio template)")
    if obj.get("format") != JSON_FORMAT_NAME:
        raise TemplateError(source, f"format is {short_repr(obj.get('format'))}, expected {JSON_FORMAT_NAME!r}")
    version = _field(obj, "schema_version", int, source)
    if version > JSON_SCHEMA_VERSION or version < 1:
        raise TemplateError(
            source, f"schema_version {version} is not supported (this reader knows 1..{JSON_SCHEMA_VERSION})"
        )
    num = (int, float)
    try:
        minutiae = [
            Minutia(
                x=float(_field(m, "x", num, source)),
                y=float(_field(m, "y", num, source)),
                angle=float(_field(m, "angle", num, source)),
                kind=_field(m, "kind", str, source),
                quality=_field(m, "quality", int, source),
            )
            for m in _field(obj, "minutiae", list, source)
        ]
        singularities = [
            Singularity(
                x=float(_field(s, "x", num, source)),
                y=float(_field(s, "y", num, source)),
                kind=_field(s, "kind", str, source),
                angle=None if s.get("angle") is None else float(_field(s, "angle", num, source)),
            )
            for s in obj.get("singularities", [])
        ]
    except (TypeError, AttributeError) as exc:  # a list item that is not an object
        raise TemplateError(source, f"malformed minutia/singularity entry ({exc})") from exc
    template = MinutiaeTemplate(
        minutiae=minutiae,
        width=_field(obj, "width", int, source),
        height=_field(obj, "height", int, source),
        dpi=_field(obj, "dpi", int, source),
        singularities=singularities,
        finger_position=_field(obj, "finger_position", int, source) if "finger_position" in obj else 0,
        impression_type=_field(obj, "impression_type", int, source) if "impression_type" in obj else 0,
        quality=_field(obj, "quality", int, source) if "quality" in obj else 100,
    )
    validate_template(template, source=source)
    return template


def parse_json_text(data: bytes, *, source: str) -> Any:
    """JSON bytes (UTF-8, an optional byte-order mark) -> object; TemplateError for anything else.

    NaN/Infinity, integers beyond 18 digits and nesting deeper than Python's
    recursion limit are refused with the file's name (`synthbio.utils.jsonio.loads_strict`).
    """
    try:
        return loads_strict(data)
    except ValueError as exc:
        raise TemplateError(source, f"not valid JSON ({exc})") from None


def _load_json(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    source = str(path)
    return parse_json_text(read_template_bytes(path, "JSON"), source=source), source


def read_json(path: str | os.PathLike[str]) -> MinutiaeTemplate:
    """Read a synthbio JSON template."""
    obj, source = _load_json(path)
    return template_from_dict(obj, source=source)


def read_json_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The free `metadata` object of a synthbio JSON template (e.g. finger_class)."""
    obj, source = _load_json(path)
    template_from_dict(obj, source=source)  # same checks as read_json
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise TemplateError(source, "metadata is not a JSON object")
    return metadata


def write_json(
    template: MinutiaeTemplate,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a template as synthbio JSON (floats kept exactly)."""
    try:
        obj = template_to_dict(template, metadata=metadata)
    except TemplateError as exc:
        raise TemplateError(str(path), exc.problem) from exc
    text = json.dumps(obj, indent=1, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------
# NIST .xyt


@dataclass(frozen=True)
class XytConvention:
    """How an .xyt file maps onto synthbio's frame.

    origin: where y = 0 is ("bottom-left" needs the image height).
    angle_offset_deg: added to the ISO direction (degrees) on write and
        subtracted on read; 180 for NIST's "out and away" direction.
    angle_unit_deg: degrees per stored theta unit (2 for ANSI/M1).
    """

    origin: Literal["top-left", "bottom-left"]
    angle_offset_deg: float
    angle_unit_deg: float = 1.0


XYT_CONVENTIONS: dict[str, XytConvention] = {
    "nist": XytConvention(origin="bottom-left", angle_offset_deg=180.0, angle_unit_deg=1.0),
    "m1": XytConvention(origin="top-left", angle_offset_deg=0.0, angle_unit_deg=2.0),
    "iso": XytConvention(origin="top-left", angle_offset_deg=0.0, angle_unit_deg=1.0),
}

_XYT_KIND_LETTERS: dict[str, MinutiaKind] = {"E": "ending", "B": "bifurcation", "O": "other"}
_KIND_TO_XYT_LETTER = {v: k for k, v in _XYT_KIND_LETTERS.items()}


def _resolve_convention(convention: str | XytConvention) -> XytConvention:
    if isinstance(convention, XytConvention):
        return convention
    if convention not in XYT_CONVENTIONS:
        raise InputError(f"xyt convention must be one of {sorted(XYT_CONVENTIONS)}, got {convention!r}")
    return XYT_CONVENTIONS[convention]


def format_xyt(
    template: MinutiaeTemplate,
    *,
    convention: str | XytConvention = "nist",
    with_kind: bool = False,
    source: str = "<template>",
) -> str:
    """Text of an .xyt file: `x y theta quality` integer lines.

    with_kind appends E/B/O (afis style); NBIS tools expect four columns.
    """
    conv = _resolve_convention(convention)
    validate_template(template, source=source)
    if conv.origin == "bottom-left" and template.height <= 0:
        raise TemplateError(source, "a bottom-left .xyt convention needs the image height")
    units = round_half_up(360.0 / conv.angle_unit_deg)
    lines = []
    for m in template.minutiae:
        x = round_half_up(m.x)
        y = round_half_up(m.y)
        if conv.origin == "bottom-left":
            y = template.height - y
        degrees = (math.degrees(m.angle) + conv.angle_offset_deg) % 360.0
        theta = round_half_up(degrees / conv.angle_unit_deg) % units
        line = f"{x} {y} {theta} {int(m.quality)}"
        if with_kind:
            line += f" {_KIND_TO_XYT_LETTER[m.kind]}"
        lines.append(line)
    return "".join(line + "\n" for line in lines)


def parse_xyt(
    text: str,
    *,
    convention: str | XytConvention = "nist",
    width: int = 0,
    height: int = 0,
    dpi: int = DEFAULT_DPI,
    source: str = "<xyt>",
) -> MinutiaeTemplate:
    """Parse .xyt text; any number of lines. width/height 0 = unknown."""
    conv = _resolve_convention(convention)
    if conv.origin == "bottom-left" and height <= 0:
        raise TemplateError(
            source, "a bottom-left .xyt convention (e.g. 'nist') needs height= to flip y"
        )
    minutiae: list[Minutia] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        kind: MinutiaKind = "other"
        if len(tokens) == 5 and tokens[4].upper() in _XYT_KIND_LETTERS:
            kind = _XYT_KIND_LETTERS[tokens[4].upper()]
            tokens = tokens[:4]
        if len(tokens) not in (3, 4):
            raise TemplateError(source, f"line {lineno}: expected 'x y theta [quality]', got {raw!r}")
        try:
            values = [float(t) for t in tokens]
        except ValueError as exc:
            raise TemplateError(source, f"line {lineno}: not a number in {short_repr(raw)}") from exc
        if not all(math.isfinite(v) for v in values):
            raise TemplateError(source, f"line {lineno}: non-finite value in {short_repr(raw)}")
        x, y, theta = values[:3]
        quality_value = values[3] if len(values) == 4 else 0.0
        if quality_value != int(quality_value) or not 0 <= quality_value <= 100:
            raise TemplateError(source, f"line {lineno}: quality {short_repr(tokens[3])} is not a whole number 0..100")
        if conv.origin == "bottom-left":
            y = height - y
        degrees = theta * conv.angle_unit_deg - conv.angle_offset_deg
        if not math.isfinite(degrees):
            raise TemplateError(source, f"line {lineno}: angle {tokens[2]!r} is out of range")
        minutiae.append(
            Minutia(x=x, y=y, angle=wrap_angle(math.radians(degrees)), kind=kind, quality=int(quality_value))
        )
    template = MinutiaeTemplate(minutiae=minutiae, width=width, height=height, dpi=dpi)
    validate_template(template, source=source)
    return template


def read_xyt(
    path: str | os.PathLike[str],
    *,
    convention: str | XytConvention = "nist",
    width: int = 0,
    height: int = 0,
    dpi: int = DEFAULT_DPI,
) -> MinutiaeTemplate:
    """Read an .xyt file (see `parse_xyt`)."""
    data = read_template_bytes(path, ".xyt")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise TemplateError(str(path), "not an ASCII .xyt text file") from exc
    return parse_xyt(text, convention=convention, width=width, height=height, dpi=dpi, source=str(path))


def write_xyt(
    template: MinutiaeTemplate,
    path: str | os.PathLike[str],
    *,
    convention: str | XytConvention = "nist",
    with_kind: bool = False,
) -> None:
    """Write an .xyt file (see `format_xyt`)."""
    text = format_xyt(template, convention=convention, with_kind=with_kind, source=str(path))
    atomic_write_bytes(path, text.encode("ascii"))


# --------------------------------------------------------------------------
# dispatch


def detect_format(path: str | os.PathLike[str]) -> TemplateFormat:
    """Format of an existing file: by magic bytes first, then by extension, then by content.

    A `.json` file, or one whose text starts with `{` or `[` (after an optional
    byte-order mark), is JSON; ISO/ANSI extensions need the record magic; the
    rest is read as .xyt.
    """
    source = str(path)
    data = read_template_bytes(path, "template")
    if data.startswith(MAGIC):
        return sniff_standard(data, source=source)
    by_ext = _EXTENSIONS.get(Path(path).suffix.lower())
    if by_ext == "json" or data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] in (b"{", b"["):
        return "json"
    if by_ext in ("iso19794-2", "ansi378"):
        raise TemplateError(source, f"wrong magic {data[:4]!r}, expected b'FMR\\x00'")
    return "xyt"


def format_from_path(path: str | os.PathLike[str]) -> TemplateFormat:
    """Format implied by a file name's extension (for writing)."""
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise InputError(
            f"{path}: cannot tell the template format from extension {suffix!r}; "
            f"use one of {sorted(_EXTENSIONS)} or pass fmt="
        )
    return _EXTENSIONS[suffix]


def read_template(
    path: str | os.PathLike[str],
    fmt: TemplateFormat | None = None,
    *,
    xyt_convention: str | XytConvention = "nist",
    width: int = 0,
    height: int = 0,
    dpi: int = DEFAULT_DPI,
) -> MinutiaeTemplate:
    """Read a template of any supported format (detected when fmt is None).

    For ISO/ANSI records with several finger views this returns the first
    view; `iso19794.read_fmr` returns all of them. width/height/dpi are
    used only for .xyt, which does not store them.
    """
    fmt = fmt or detect_format(path)
    if fmt == "json":
        return read_json(path)
    if fmt == "xyt":
        return read_xyt(path, convention=xyt_convention, width=width, height=height, dpi=dpi)
    if fmt in ("iso19794-2", "ansi378"):
        record = read_fmr(path, standard=fmt)
        if not record.views:
            raise TemplateError(str(path), "the record holds no finger view")
        return record.views[0].template
    raise InputError(f"unknown template format {fmt!r}; expected one of {get_args(TemplateFormat)}")


def write_template(
    template: MinutiaeTemplate,
    path: str | os.PathLike[str],
    fmt: TemplateFormat | None = None,
    *,
    xyt_convention: str | XytConvention = "nist",
    keep_best: bool = False,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a template; the format comes from fmt or the file extension.

    keep_best: for ISO/ANSI, keep the best 255 minutiae instead of raising
    when there are more. metadata: JSON only (e.g. {"finger_class": "whorl"}).
    """
    fmt = fmt or format_from_path(path)
    if fmt == "json":
        write_json(template, path, metadata=metadata)
    elif fmt == "xyt":
        write_xyt(template, path, convention=xyt_convention)
    elif fmt in ("iso19794-2", "ansi378"):
        write_fmr(template, path, standard=fmt, keep_best=keep_best)
    else:
        raise InputError(f"unknown template format {fmt!r}; expected one of {get_args(TemplateFormat)}")
