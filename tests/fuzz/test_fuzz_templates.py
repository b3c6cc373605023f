"""Fuzzing the template readers: ISO/IEC 19794-2 and ANSI 378 records, NIST .xyt text, synthbio JSON.

Each input either decodes to a template that passes `validate_template` or
raises a TemplateError naming the source; decoding a record synthbio wrote
gives back exactly what was written.
"""

from __future__ import annotations

import json
import math
import struct

from hypothesis import strategies as st

from fuzzing import JSON_VALUES, NUMBER_TEXT, fuzz, mutated, scratch_dir
from synthbio.fingerprints.iso19794 import decode_fmr, encode_fmr
from synthbio.fingerprints.minutiae import (
    parse_json_text,
    parse_xyt,
    read_template,
    template_from_dict,
    template_to_dict,
)
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, Singularity
from synthbio.fingerprints.validation import TemplateError, check_drawable, validate_template

SOURCE = "fuzzed-input"

# --- valid templates, the seeds of the structured strategies -------------------------------------------------------


@st.composite
def templates(draw: st.DrawFn, *, max_coordinate: int = 16383) -> MinutiaeTemplate:
    width = draw(st.sampled_from([0, draw(st.integers(1, max_coordinate))]))
    height = draw(st.sampled_from([0, draw(st.integers(1, max_coordinate))]))

    def coordinate(limit: int) -> float:
        return float(draw(st.integers(0, (limit or max_coordinate) - 1)))

    minutiae = [Minutia(coordinate(width), coordinate(height), draw(st.floats(0, 2 * math.pi, exclude_max=True)),
                        draw(st.sampled_from(["ending", "bifurcation", "other"])), draw(st.integers(0, 100)))
                for _ in range(draw(st.integers(0, 12)))]
    singularities = [Singularity(coordinate(width), coordinate(height), draw(st.sampled_from(["core", "delta"])),
                                 draw(st.none() | st.floats(0, 2 * math.pi, exclude_max=True)))
                     for _ in range(draw(st.integers(0, 3)))]
    return MinutiaeTemplate(minutiae=minutiae, width=width, height=height,
                            dpi=draw(st.sampled_from([250, 500, 1000, 96, 2000])), singularities=singularities,
                            finger_position=draw(st.integers(0, 10)), impression_type=draw(st.integers(0, 15)),
                            quality=draw(st.integers(0, 100)))


def _accept_template(template: MinutiaeTemplate) -> None:
    validate_template(template, source=SOURCE)  # whatever a reader returns is a valid template
    try:  # and the drawing limits answer with a TemplateError or nothing, before any pixel exists
        check_drawable(template, source=SOURCE)
    except TemplateError as exc:
        assert SOURCE in str(exc)


# --- ISO / ANSI ----------------------------------------------------------------------------------------------------


@st.composite
def fmr_bytes(draw: st.DrawFn) -> bytes:
    """Records synthbio writes, then edited; the length field is often patched so decoding goes deep."""
    standard = draw(st.sampled_from(["iso19794-2", "ansi378"]))
    data = encode_fmr(draw(templates()), standard=standard)
    data = draw(mutated(data, max_edits=3))
    if draw(st.booleans()) and len(data) >= 14:
        patched = bytearray(data)
        if standard == "iso19794-2" or draw(st.booleans()):
            patched[8:12] = struct.pack(">I", len(patched))
        else:
            patched[8:10] = struct.pack(">H", len(patched) & 0xFFFF)
        data = bytes(patched)
    return data


RECORDS = st.one_of(fmr_bytes(), st.binary(max_size=80), st.binary(max_size=60).map(lambda b: b"FMR\x00 20\x00" + b))


def _decode(data: bytes, strict: bool) -> None:
    try:
        record = decode_fmr(data, strict=strict, source=SOURCE)
    except TemplateError as exc:
        assert SOURCE in str(exc)
        return
    for view in record.views:
        _accept_template(view.template)


@fuzz("iso-ansi records", RECORDS, examples=250, mutations=4000)
def test_fuzz_iso_ansi_strict(data: bytes) -> None:
    _decode(data, strict=True)


@fuzz("iso-ansi records", RECORDS, examples=60, mutations=1000)
def test_fuzz_iso_ansi_lenient(data: bytes) -> None:
    _decode(data, strict=False)


@fuzz("iso-ansi records", st.tuples(templates(), st.sampled_from(["iso19794-2", "ansi378"])), examples=60)
def test_fuzz_iso_ansi_round_trip(case: tuple[MinutiaeTemplate, str]) -> None:
    template, standard = case
    data = encode_fmr(template, standard=standard)
    decoded = decode_fmr(data, standard=standard).views[0].template  # type: ignore[arg-type]
    assert encode_fmr(decoded, standard=standard) == data  # read -> write is exact
    assert len(decoded.minutiae) == len(template.minutiae)


# --- .xyt -----------------------------------------------------------------------------------------------------------

_XYT_TOKEN = st.one_of(NUMBER_TEXT, st.sampled_from(["E", "B", "O", "e", "#", "#x", "\x00", "\t"]), st.text(max_size=4))
XYT_TEXT = st.lists(st.lists(_XYT_TOKEN, max_size=6).map(" ".join), max_size=12).map("\n".join)


@fuzz("xyt text", st.tuples(XYT_TEXT, st.sampled_from(["nist", "m1", "iso"]), st.integers(0, 70000),
                            st.integers(0, 70000), st.integers(-5, 200000)), examples=200, mutations=3000)
def test_fuzz_xyt(case: tuple[str, str, int, int, int]) -> None:
    text, convention, width, height, dpi = case
    try:
        template = parse_xyt(text, convention=convention, width=width, height=height, dpi=dpi, source=SOURCE)
    except TemplateError as exc:
        assert SOURCE in str(exc)
        return
    _accept_template(template)


# --- JSON -----------------------------------------------------------------------------------------------------------


@st.composite
def json_template_text(draw: st.DrawFn) -> bytes:
    """A synthbio JSON template with some fields replaced by any JSON value, as text (NaN/Infinity allowed)."""
    obj = template_to_dict(draw(templates()))
    for _ in range(draw(st.integers(0, 3))):
        target = obj
        items = obj.get("minutiae")
        if isinstance(items, list) and items and draw(st.booleans()):
            picked = items[draw(st.integers(0, len(items) - 1))]
            target = picked if isinstance(picked, dict) else obj
        key = draw(st.sampled_from(sorted(target) + ["extra"]))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(JSON_VALUES)
    text = json.dumps(obj, allow_nan=True)
    if draw(st.integers(0, 9)) == 0:
        text = "\ufeff" + text
    return draw(mutated(text.encode("utf-8"), max_edits=2)) if draw(st.integers(0, 3)) == 0 else text.encode("utf-8")


JSON_INPUTS = st.one_of(
    json_template_text(),
    st.text(max_size=60).map(lambda t: t.encode("utf-8")),
    st.integers(0, 3000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(0, 3000).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    st.binary(max_size=40),
)


@fuzz("template json", JSON_INPUTS, examples=200, mutations=3000)
def test_fuzz_json_template(data: bytes) -> None:
    try:
        template = template_from_dict(parse_json_text(data, source=SOURCE), source=SOURCE)
    except TemplateError as exc:
        assert SOURCE in str(exc)
        return
    _accept_template(template)


# --- files: format detection and dispatch (read_template) ----------------------------------------------------------

_WORK = scratch_dir("synthbio-fuzz-templates-")
_SUFFIXES = [".iso", ".ansi", ".fmr", ".json", ".xyt", ".txt", ""]

TEMPLATE_FILES = st.tuples(st.one_of(RECORDS, JSON_INPUTS, XYT_TEXT.map(lambda t: t.encode("utf-8", "replace"))),
                           st.sampled_from(_SUFFIXES))


@fuzz("template files", TEMPLATE_FILES, examples=150, mutations=2000)
def test_fuzz_read_template_files(case: tuple[bytes, str]) -> None:
    data, suffix = case
    path = _WORK / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        template = read_template(path, xyt_convention="iso", width=500, height=500)
    except TemplateError as exc:
        assert str(path) in str(exc)
        return
    _accept_template(template)
