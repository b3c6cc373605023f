"""Finger minutiae records: ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004.

Both standards share the magic "FMR\\0" and the version " 20\\0" (space,
'2', '0', NUL) and store big-endian fields:

General header
    ISO 2005 (24 bytes)                 ANSI 378-2004 (26 or 30 bytes)
    format id "FMR\\0"        4          format id "FMR\\0"          4
    version " 20\\0"          4          version " 20\\0"            4
    record length            4          record length 2; if it does not
                                        fit, 2 zero bytes + 4-byte length
    --                                  CBEFF product id owner, type  2+2
    equipment: 4-bit compliance + 12-bit capture device id           2
    image width, height in pixels                                   2+2
    x, y resolution in pixels per centimetre                        2+2
    number of finger views                                            1
    reserved (0)                                                      1

Finger view (per view): finger position 1, view number (high nibble) |
impression type (low nibble) 1, finger quality 0..100 1, minutiae count 1
(so at most 255), then 6 bytes per minutia:
    2 bits type (01 ridge ending, 10 bifurcation, 00 other) + 14 bits x
    2 bits reserved + 14 bits y
    angle: ISO units of 360/256 deg (0..255); ANSI units of 2 deg (0..179)
    quality 0..100 (0 = not reported)
then the extended data block: 2-byte length of the areas that follow
(0 = none); each area is type id 2 + area length 2 (header included) +
data. Type 0x0001 = ridge counts (method byte + (index1, index2, count)
triples), 0x0002 = cores and deltas; other types are kept as raw bytes
and skipped. Core/delta layout (as NBIS biomdi libfmr reads it):
    ISO:  count byte (6 bits); per core: 2 bits angular-flag + 14 bits x,
          2 reserved + 14 bits y, angle byte if angular. Then the same for
          deltas, whose angular form has three angle bytes.
    ANSI: count byte = 2 bits angular-flag (whole list) + 4 bits cores
          (6 bits for deltas); coordinates without flags.
synthbio keeps one direction per delta: it writes it as the first angle and
repeats it in the other two, and reads back the first.

Conventions: angles are quantised with round-half-up to the nearest unit
and wrap (256 -> 0 for ISO, 180 -> 0 for ANSI); read -> write -> read is
exact. Coordinates round half up to whole pixels. Resolution is stored in
pixels per cm: dpi -> round(dpi / 2.54) (500 dpi -> 197); reading maps
back to a common dpi (250, 300, 333, 500, 600, 1000, ...) whose cm value
matches, else round(ppcm * 2.54), so templates always carry dpi.
ISO and ANSI records begin identically; when no standard is given, the
reader picks the one whose length field matches the data size.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field, replace
from typing import Literal, Sequence

from synthbio.errors import InputError
from synthbio.fingerprints.validation import (
    TemplateError,
    read_template_bytes,
    round_half_up,
    select_best_minutiae,
    validate_template,
    wrap_angle,
)
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, MinutiaKind, Singularity
from synthbio.utils.hashing import atomic_write_bytes

Standard = Literal["iso19794-2", "ansi378"]

MAGIC = b"FMR\x00"
VERSION_2005 = b" 20\x00"
MAX_MINUTIAE = 255  # the count field is one byte
MAX_COORDINATE = (1 << 14) - 1  # 14-bit x / y fields

ISO_HEADER_LENGTH = 24
ANSI_SHORT_HEADER_LENGTH = 26
ANSI_LONG_HEADER_LENGTH = 30

EXT_RIDGE_COUNT = 0x0001
EXT_CORE_DELTA = 0x0002

_TYPE_CODE: dict[str, int] = {"other": 0, "ending": 1, "bifurcation": 2}
_CODE_TYPE: dict[int, MinutiaKind] = {0: "other", 1: "ending", 2: "bifurcation"}

# Angle units per full turn.
_ANGLE_STEPS: dict[Standard, int] = {"iso19794-2": 256, "ansi378": 180}

_COMMON_DPI = (250, 300, 333, 400, 500, 600, 700, 750, 800, 1000, 1200, 1500, 2000, 4000)


def dpi_to_ppcm(dpi: int) -> int:
    """Pixels per centimetre stored for a resolution in dpi (500 -> 197)."""
    return round_half_up(dpi / 2.54)


def ppcm_to_dpi(ppcm: int) -> int:
    """Resolution in dpi for a stored pixels-per-cm value (197 -> 500)."""
    for dpi in _COMMON_DPI:
        if dpi_to_ppcm(dpi) == ppcm:
            return dpi
    return round_half_up(ppcm * 2.54)


def angle_to_code(angle: float, standard: Standard) -> int:
    """Quantise radians to the record's angle unit (round half up, wrapped)."""
    steps = _ANGLE_STEPS[standard]
    return round_half_up(wrap_angle(angle) * steps / (2.0 * 3.141592653589793)) % steps


def code_to_angle(code: int, standard: Standard) -> float:
    """Radians in [0, 2*pi) of a stored angle code."""
    return wrap_angle(code * 2.0 * 3.141592653589793 / _ANGLE_STEPS[standard])


@dataclass
class FingerView:
    """One finger view of a record: its template plus the view's extras.

    ridge_counts: (index1, index2, count) triples (minutia indices as stored).
    unknown_extended: (type id, raw data) of extended areas synthbio skipped.
    """

    template: MinutiaeTemplate
    view_number: int = 0
    ridge_count_method: int = 0
    ridge_counts: list[tuple[int, int, int]] = field(default_factory=list)
    unknown_extended: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass
class FingerMinutiaeRecord:
    """A decoded record: header fields and all finger views."""

    standard: Standard
    views: list[FingerView]
    capture_device_id: int = 0
    equipment_compliance: int = 0
    product_owner: int = 0  # ANSI only
    product_type: int = 0  # ANSI only


# --------------------------------------------------------------------------
# decoding


class _Cursor:
    """Bounds-checked big-endian reader that names the input in its errors."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source

    def take(self, fmt: str, what: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise TemplateError(
                self.source,
                f"truncated record: {what} needs {size} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left",
            )
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def raw(self, size: int, what: str) -> bytes:
        if self.pos + size > len(self.data):
            raise TemplateError(
                self.source,
                f"truncated record: {what} needs {size} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left",
            )
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out


def sniff_standard(data: bytes, *, source: str = "<bytes>") -> Standard:
    """Tell ISO 2005 from ANSI 2004 by which length field matches len(data)."""
    if len(data) < 14:
        raise TemplateError(source, f"truncated record: {len(data)} bytes is shorter than any header")
    (iso_len,) = struct.unpack_from(">I", data, 8)
    (ansi_short,) = struct.unpack_from(">H", data, 8)
    (ansi_long,) = struct.unpack_from(">I", data, 10)
    if iso_len == len(data):
        return "iso19794-2"
    if ansi_short == len(data) or (ansi_short == 0 and ansi_long == len(data)):
        return "ansi378"
    raise TemplateError(
        source,
        f"record-length mismatch: the file has {len(data)} bytes but its header says "
        f"{iso_len} (as ISO 19794-2) or {ansi_short or ansi_long} (as ANSI 378)",
    )


def _check_version(version: bytes, *, strict: bool, source: str) -> None:
    if version == VERSION_2005:
        return
    if version == b"030\x00":
        raise TemplateError(
            source,
            "version '030' (ISO/IEC 19794-2:2011 or ANSI 378-2009) is not supported; "
            "expected the 2005/2004 version b' 20\\x00'",
        )
    if not strict and version[3:4] == b"\x00" and version[:3].strip().isdigit():
        return  # e.g. afis' b"020\0": 2005 layout, wrong version bytes
    raise TemplateError(source, f"wrong version {version!r}, expected b' 20\\x00'")


def _read_core_delta(
    data: bytes, standard: Standard, source: str
) -> list[Singularity]:
    cur = _Cursor(data, source)
    out: list[Singularity] = []
    for kind, n_angles in (("core", 1), ("delta", 3)):
        (head,) = cur.take(">B", f"{kind} count")
        if standard == "ansi378":
            block_angular = head >> 6 == 1
            count = head & (0x0F if kind == "core" else 0x3F)
        else:
            block_angular = False
            count = head & 0x3F
        for i in range(count):
            xw, yw = cur.take(">HH", f"{kind} {i} position")
            angular = (xw >> 14 == 1) if standard == "iso19794-2" else block_angular
            angle = None
            if angular:
                codes = cur.take(">" + "B" * n_angles, f"{kind} {i} angle")
                steps = _ANGLE_STEPS[standard]
                bad = [c for c in codes if c >= steps]
                if bad:  # as for minutiae: a code past the last unit would not survive a round trip
                    raise TemplateError(source, f"{kind} {i}: {standard} angle {bad[0]} > {steps - 1}")
                angle = code_to_angle(codes[0], standard)
            out.append(Singularity(x=float(xw & 0x3FFF), y=float(yw & 0x3FFF), kind=kind, angle=angle))
    if cur.pos != len(data):
        raise TemplateError(
            source, f"core/delta area has {len(data) - cur.pos} bytes beyond its cores and deltas"
        )
    return out


def _read_view(
    cur: _Cursor, header: dict[str, int], standard: Standard, index: int, strict: bool
) -> FingerView:
    source = cur.source
    position, view_imp, quality, count = cur.take(">BBBB", f"finger view {index} header")
    minutiae = []
    for i in range(count):
        xw, yw, angle_code, m_quality = cur.take(">HHBB", f"view {index} minutia {i}")
        code = xw >> 14
        if code == 3:
            raise TemplateError(source, f"view {index} minutia {i} has reserved type code 3")
        if standard == "ansi378" and angle_code >= 180:
            raise TemplateError(source, f"view {index} minutia {i}: ANSI angle {angle_code} > 179")
        minutiae.append(
            Minutia(
                x=float(xw & 0x3FFF),
                y=float(yw & 0x3FFF),
                angle=code_to_angle(angle_code, standard),
                kind=_CODE_TYPE[code],
                quality=m_quality if strict else min(m_quality, 100),
            )
        )
    (ext_len,) = cur.take(">H", f"view {index} extended data length")
    end = cur.pos + ext_len
    if end > len(cur.data):
        raise TemplateError(source, f"truncated record: view {index} extended data needs {ext_len} bytes")
    view = FingerView(template=MinutiaeTemplate(minutiae=[], width=0, height=0), view_number=view_imp >> 4)
    singularities: list[Singularity] = []
    while cur.pos < end:
        type_id, area_len = cur.take(">HH", f"view {index} extended area header")
        if area_len < 4 or cur.pos - 4 + area_len > end:
            raise TemplateError(
                source, f"view {index}: extended area 0x{type_id:04x} has bad length {area_len}"
            )
        body = cur.raw(area_len - 4, f"view {index} extended area 0x{type_id:04x}")
        if type_id == EXT_RIDGE_COUNT:
            if not body or (len(body) - 1) % 3:
                raise TemplateError(source, f"view {index}: ridge-count area of {len(body)} bytes")
            view.ridge_count_method = body[0]
            view.ridge_counts.extend(
                (body[k], body[k + 1], body[k + 2]) for k in range(1, len(body), 3)
            )
        elif type_id == EXT_CORE_DELTA:
            singularities.extend(_read_core_delta(body, standard, source))
        else:
            view.unknown_extended.append((type_id, body))
    view.template = MinutiaeTemplate(
        minutiae=minutiae,
        width=header["width"],
        height=header["height"],
        dpi=header["dpi"],
        singularities=singularities,
        finger_position=position,
        impression_type=view_imp & 0x0F,
        quality=quality if strict else min(quality, 100),
    )
    validate_template(view.template, source=f"{source} (view {index})")
    return view


def decode_fmr(
    data: bytes,
    *,
    standard: Standard | None = None,
    strict: bool = True,
    source: str = "<bytes>",
) -> FingerMinutiaeRecord:
    """Decode an ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004 record.

    standard: None picks the one whose length field matches the data.
    strict: False reads non-conforming writers' records: it also accepts
    other 3-digit versions (such as afis' b"020\\0"), decoded with the 2005
    layout, and clips minutia/finger qualities above 100 (afis writes
    0..255) to 100. Strict reading raises TemplateError on both.
    """
    cur = _Cursor(data, source)
    (magic,) = cur.take("4s", "format identifier")
    if magic != MAGIC:
        raise TemplateError(source, f"wrong magic {magic!r}, expected b'FMR\\x00'")
    (version,) = cur.take("4s", "version")
    _check_version(version, strict=strict, source=source)
    standard = standard or sniff_standard(data, source=source)
    if standard not in _ANGLE_STEPS:
        raise InputError(f"standard must be 'iso19794-2' or 'ansi378', got {standard!r}")
    owner = ptype = 0
    if standard == "iso19794-2":
        (length,) = cur.take(">I", "record length")
    else:
        (length,) = cur.take(">H", "record length")
        if length == 0:
            (length,) = cur.take(">I", "long record length")
        owner, ptype = cur.take(">HH", "CBEFF product identifier")
    if length != len(data):
        raise TemplateError(
            source, f"record-length mismatch: header says {length} bytes, the data has {len(data)}"
        )
    equipment, width, height, xres, yres, n_views, _reserved = cur.take(">HHHHHBB", "general header")
    if xres == 0 or yres == 0:
        raise TemplateError(source, f"resolution is zero ({xres}x{yres} px/cm)")
    if xres != yres:
        raise TemplateError(source, f"anisotropic resolution {xres}x{yres} px/cm is not supported")
    header = {"width": width, "height": height, "dpi": ppcm_to_dpi(xres)}
    views = [_read_view(cur, header, standard, i, strict) for i in range(n_views)]
    if cur.pos != len(data):
        raise TemplateError(
            source, f"record-length mismatch: {len(data) - cur.pos} bytes follow the last finger view"
        )
    return FingerMinutiaeRecord(
        standard=standard,
        views=views,
        capture_device_id=equipment & 0x0FFF,
        equipment_compliance=equipment >> 12,
        product_owner=owner,
        product_type=ptype,
    )


def read_fmr(
    path: str | os.PathLike[str],
    *,
    standard: Standard | None = None,
    strict: bool = True,
) -> FingerMinutiaeRecord:
    """Read an ISO 19794-2:2005 / ANSI 378-2004 file with all its finger views."""
    data = read_template_bytes(path, "finger minutiae record")
    return decode_fmr(data, standard=standard, strict=strict, source=str(path))


# --------------------------------------------------------------------------
# encoding


def _point_words(x: float, y: float, flags: int, what: str, source: str) -> bytes:
    xi, yi = round_half_up(x), round_half_up(y)
    if xi > MAX_COORDINATE or yi > MAX_COORDINATE:
        raise TemplateError(source, f"{what} at ({xi}, {yi}) does not fit the 14-bit coordinate fields")
    return struct.pack(">HH", (flags << 14) | xi, yi)


def _core_delta_area(
    singularities: Sequence[Singularity], standard: Standard, source: str
) -> bytes:
    out = bytearray()
    for kind, n_angles in (("core", 1), ("delta", 3)):
        items = [s for s in singularities if s.kind == kind]
        limit = 15 if (standard == "ansi378" and kind == "core") else 63
        if len(items) > limit:
            raise TemplateError(source, f"{len(items)} {kind}s exceed the format's limit of {limit}")
        if standard == "ansi378":
            # One angular flag for the whole list: angles only if all have one.
            block_angular = bool(items) and all(s.angle is not None for s in items)
            out.append((int(block_angular) << 6) | len(items))
        else:
            block_angular = False  # ISO flags each point on its own
            out.append(len(items))
        for i, s in enumerate(items):
            angular = block_angular if standard == "ansi378" else s.angle is not None
            flag = int(angular) if standard == "iso19794-2" else 0
            out += _point_words(s.x, s.y, flag, f"{kind} {i}", source)
            if angular:
                assert s.angle is not None
                out += bytes([angle_to_code(s.angle, standard)] * n_angles)
    return bytes(out)


def _view_bytes(
    template: MinutiaeTemplate,
    standard: Standard,
    *,
    view_number: int,
    ridge_counts: Sequence[tuple[int, int, int]],
    ridge_count_method: int,
    source: str,
) -> bytes:
    out = bytearray()
    out += struct.pack(
        ">BBBB",
        template.finger_position,
        (view_number << 4) | template.impression_type,
        template.quality,
        len(template.minutiae),
    )
    for i, m in enumerate(template.minutiae):
        out += _point_words(m.x, m.y, _TYPE_CODE[m.kind], f"minutia {i}", source)
        out += struct.pack(">BB", angle_to_code(m.angle, standard), m.quality)
    ext = bytearray()
    if ridge_counts:
        body = bytes([ridge_count_method]) + b"".join(bytes(t) for t in ridge_counts)
        ext += struct.pack(">HH", EXT_RIDGE_COUNT, 4 + len(body)) + body
    if template.singularities:
        body = _core_delta_area(template.singularities, standard, source)
        ext += struct.pack(">HH", EXT_CORE_DELTA, 4 + len(body)) + body
    if len(ext) > 0xFFFF:
        raise TemplateError(source, f"extended data of {len(ext)} bytes exceeds 65535")
    out += struct.pack(">H", len(ext)) + ext
    return bytes(out)


def encode_fmr(
    template: MinutiaeTemplate,
    *,
    standard: Standard = "iso19794-2",
    keep_best: bool = False,
    capture_device_id: int = 0,
    equipment_compliance: int = 0,
    product_owner: int = 0,
    product_type: int = 0,
    view_number: int = 0,
    ridge_counts: Sequence[tuple[int, int, int]] = (),
    ridge_count_method: int = 0,
    source: str = "<template>",
) -> bytes:
    """Encode one finger view as an ISO 19794-2:2005 or ANSI 378-2004 record.

    keep_best: with more than 255 minutiae, keep the best 255
    (`select_best_minutiae`) instead of raising. Ridge counts refer to
    minutia indices as written, so they cannot be combined with keep_best
    truncation. product_owner/product_type: ANSI CBEFF product id only.
    """
    if standard not in _ANGLE_STEPS:
        raise InputError(f"standard must be 'iso19794-2' or 'ansi378', got {standard!r}")
    validate_template(template, source=source)
    if len(template.minutiae) > MAX_MINUTIAE:
        if not keep_best:
            raise TemplateError(
                source,
                f"{len(template.minutiae)} minutiae exceed the {MAX_MINUTIAE} a finger view can hold "
                "(1-byte count); pass keep_best=True to keep the best 255",
            )
        if ridge_counts:
            raise InputError(f"{source}: ridge_counts cannot be combined with keep_best truncation")
        template = replace(template, minutiae=select_best_minutiae(template.minutiae, MAX_MINUTIAE))
    if not 0 <= template.finger_position <= 10:
        raise TemplateError(source, f"finger_position {template.finger_position} not in 0..10")
    for name, value, top in (
        ("capture_device_id", capture_device_id, 0x0FFF),
        ("equipment_compliance", equipment_compliance, 0x0F),
        ("view_number", view_number, 0x0F),
        ("product_owner", product_owner, 0xFFFF),
        ("product_type", product_type, 0xFFFF),
        ("ridge_count_method", ridge_count_method, 0xFF),
    ):
        if not 0 <= value <= top:
            raise InputError(f"{source}: {name} {value} not in 0..{top}")
    for triple in ridge_counts:
        if len(triple) != 3 or not all(0 <= v <= 255 for v in triple):
            raise InputError(f"{source}: ridge count {triple!r} is not three bytes")
    for name in ("width", "height"):
        if getattr(template, name) > 0xFFFF:
            raise TemplateError(source, f"image {name} {getattr(template, name)} exceeds 65535")
    ppcm = dpi_to_ppcm(template.dpi)
    if not 0 < ppcm <= 0xFFFF:
        raise TemplateError(source, f"dpi {template.dpi} does not fit the pixels-per-cm field")

    view = _view_bytes(
        template,
        standard,
        view_number=view_number,
        ridge_counts=ridge_counts,
        ridge_count_method=ridge_count_method,
        source=source,
    )
    tail = struct.pack(
        ">HHHHHBB",
        (equipment_compliance << 12) | capture_device_id,
        template.width,
        template.height,
        ppcm,
        ppcm,
        1,  # number of finger views
        0,  # reserved
    )
    if standard == "iso19794-2":
        length = ISO_HEADER_LENGTH + len(view)
        head = MAGIC + VERSION_2005 + struct.pack(">I", length)
    else:
        length = ANSI_SHORT_HEADER_LENGTH + len(view)
        if length <= 0xFFFF:
            head = MAGIC + VERSION_2005 + struct.pack(">H", length)
        else:  # 2 zero bytes announce the 4-byte length
            length = ANSI_LONG_HEADER_LENGTH + len(view)
            head = MAGIC + VERSION_2005 + struct.pack(">HI", 0, length)
        head += struct.pack(">HH", product_owner, product_type)
    record = head + tail + view
    assert len(record) == length
    return record


def write_fmr(
    template: MinutiaeTemplate,
    path: str | os.PathLike[str],
    *,
    standard: Standard = "iso19794-2",
    keep_best: bool = False,
) -> None:
    """Write one finger view as an ISO 19794-2:2005 / ANSI 378-2004 file."""
    data = encode_fmr(template, standard=standard, keep_best=keep_best, source=str(path))
    atomic_write_bytes(path, data)
