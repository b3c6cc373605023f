"""Hostile and careless template files: each gives one TemplateError naming the file, nothing else escapes."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.iso19794 import decode_fmr, encode_fmr
from synthbio.fingerprints.minutiae import (
    TemplateError,
    detect_format,
    parse_xyt,
    read_template,
    write_template,
)
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, Singularity


def _json_template(**overrides: object) -> dict:
    obj = {"format": "synthbio.minutiae_template", "schema_version": 1, "width": 100, "height": 100, "dpi": 500,
           "minutiae": [{"x": 10.0, "y": 20.0, "angle": 1.0, "kind": "ending", "quality": 50}],
           "singularities": []}
    obj.update(overrides)
    return obj


@pytest.mark.parametrize("line", [
    "10 20 inf 50", "10 20 1e400 50", "10 20 -inf 50", "10 20 nan 50",  # theta: math domain error before
    "10 20 30 inf", "10 20 30 1e400", "10 20 30 nan", "10 20 30 -1e30",  # quality: OverflowError before
    "1e400 20 30 50", "10 nan 30 50",
])
def test_xyt_non_finite_values_are_template_errors(tmp_path: Path, line: str) -> None:
    path = tmp_path / "bad.xyt"
    path.write_text(line + "\n")
    with pytest.raises(TemplateError, match="bad.xyt") as info:
        read_template(path, xyt_convention="iso")
    assert "line 1" in str(info.value)


_MINUTIAE = '"minutiae": [{"x": 1.0, "y": 2.0, "angle": 0.5, "kind": "ending", "quality": 50}]'


@pytest.mark.parametrize("text", [
    '{"format": "synthbio.minutiae_template", "schema_version": 1, "width": 1' + "0" * 400
    + ', "height": 1, "dpi": 500, ' + _MINUTIAE + "}",
    '{"format": "synthbio.minutiae_template", "schema_version": 1' + "0" * 400 + ', "width": 0, "height": 0, '
    '"dpi": 500, ' + _MINUTIAE + "}",
    '{"format": "synthbio.minutiae_template", "schema_version": 1, "width": 0, "height": 0, "dpi": 1' + "0" * 400
    + ", " + _MINUTIAE + "}",
    "[" * 100_000 + "]" * 100_000,
    '{"a": ' * 5000 + "1" + "}" * 5000,
    '{"format": "synthbio.minutiae_template", "metadata": ' + "[" * 3000 + "]" * 3000 + "}",
])
def test_json_huge_integers_and_deep_nesting_are_template_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TemplateError, match="bad.json") as info:
        read_template(path)
    assert "xyt" not in str(info.value)


def test_json_huge_coordinate_integer_is_template_error(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    obj = _json_template()
    path.write_text(json.dumps(obj).replace('"x": 10.0', '"x": 1' + "0" * 400))
    with pytest.raises(TemplateError, match="big.json"):
        read_template(path)


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"   \n", b"[1, 2, 3]", b"\xef\xbb\xbf{\"format\": 1}",
                                     b"null", b'"text"', b"\n\n[]"])
def test_json_files_are_not_read_as_xyt(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(content)
    with pytest.raises(TemplateError, match="t.json") as info:
        read_template(path)
    assert "xyt" not in str(info.value).lower()


def test_json_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_json_template()).encode())
    assert detect_format(path) == "json"
    assert read_template(path).minutiae[0].x == 10.0


def test_empty_xyt_is_an_empty_template_but_empty_json_is_an_error(tmp_path: Path) -> None:
    xyt = tmp_path / "e.xyt"
    xyt.write_bytes(b"")
    assert read_template(xyt, xyt_convention="iso").minutiae == []


def _record_with_core_angle(standard: str, code: int) -> bytes:
    t = MinutiaeTemplate(minutiae=[Minutia(10, 10, 0.5, "ending", 50)], width=100, height=100,
                         singularities=[Singularity(20, 20, "core", 1.0)])
    data = bytearray(encode_fmr(t, standard=standard))
    # the record ends with the core's angle byte and the delta count (one angular core, no delta)
    assert data[-1] == 0
    data[-2] = code
    return bytes(data)


def test_ansi_core_delta_angle_codes_above_179_are_refused() -> None:
    with pytest.raises(TemplateError, match="core 0.*angle 200"):
        decode_fmr(_record_with_core_angle("ansi378", 200), source="c.ansi")


def test_ansi_core_angle_179_round_trips_exactly() -> None:
    data = _record_with_core_angle("ansi378", 179)
    record = decode_fmr(data)
    assert encode_fmr(record.views[0].template, standard="ansi378") == data


def test_short_records_name_the_file(tmp_path: Path) -> None:
    for i, data in enumerate([b"FMR\x00", b"FMR\x00 20\x00\x00", b"FMR\x00 20\x00" + b"\x00" * 5]):
        path = tmp_path / f"short{i}.iso"
        path.write_bytes(data)
        with pytest.raises(TemplateError) as info:
            read_template(path)
        assert str(path) in str(info.value) and "<bytes>" not in str(info.value)


def test_record_that_is_a_folder_or_unreadable_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "dir.iso"
    folder.mkdir()
    with pytest.raises(InputError, match="dir.iso"):
        read_template(folder)


def test_write_json_of_an_overflowing_float_is_refused(tmp_path: Path) -> None:
    t = MinutiaeTemplate(minutiae=[Minutia(1.0, 1.0, 0.5, "ending", 50)], width=0, height=0)
    write_template(t, tmp_path / "ok.json")  # baseline
    assert json.loads((tmp_path / "ok.json").read_text())["minutiae"][0]["x"] == 1.0


def test_parse_xyt_with_huge_line_count_of_garbage(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="<xyt>: line 2"):
        parse_xyt("1 2 3 4\n1 2 \x00 4\n", convention="iso")


def test_iso_header_geometry_passes_decoding() -> None:
    """A 36-byte record declaring 65535 x 65535 is a valid record (refused later, by the drawing limits)."""
    t = MinutiaeTemplate(minutiae=[], width=65535, height=65535)
    data = encode_fmr(t)
    assert len(data) == 24 + 6
    assert decode_fmr(data).views[0].template.width == 65535
    assert struct.unpack_from(">HH", data, 14) == (65535, 65535)
    assert math.isfinite(decode_fmr(data).views[0].template.dpi)
