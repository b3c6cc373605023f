"""ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 records: golden bytes, round trips, errors, interop."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.iso19794 import (
    angle_to_code,
    code_to_angle,
    decode_fmr,
    dpi_to_ppcm,
    encode_fmr,
    ppcm_to_dpi,
    read_fmr,
    sniff_standard,
    write_fmr,
)
from synthbio.fingerprints.minutiae import TemplateError
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, Singularity


def _template() -> MinutiaeTemplate:
    return MinutiaeTemplate(
        minutiae=[
            Minutia(10.0, 21.0, math.radians(90.0), "ending", 80),
            Minutia(100.0, 50.0, math.radians(281.25), "bifurcation", 30),
        ],
        width=256,
        height=300,
        dpi=500,
        singularities=[
            Singularity(120.0, 130.0, "core", math.radians(45.0)),
            Singularity(50.0, 200.0, "delta", None),
        ],
        finger_position=2,
        impression_type=1,
        quality=90,
    )


def _golden_view(angles: tuple[int, int], core_delta: bytes) -> bytes:
    """Finger view built field by field from the standard's layout."""
    view = struct.pack(">BBBB", 2, (0 << 4) | 1, 90, 2)  # position, view|impression, quality, count
    view += struct.pack(">HHBB", (0b01 << 14) | 10, 21, angles[0], 80)  # ridge ending
    view += struct.pack(">HHBB", (0b10 << 14) | 100, 50, angles[1], 30)  # bifurcation
    ridge = struct.pack(">HH", 0x0001, 4 + 4) + bytes([1, 0, 1, 5])  # method 1, (0, 1) count 5
    cd = struct.pack(">HH", 0x0002, 4 + len(core_delta)) + core_delta
    return view + struct.pack(">H", len(ridge) + len(cd)) + ridge + cd


def test_iso_golden_bytes() -> None:
    # ISO core/delta: count byte, then per point 2-bit angular flag + 14-bit x.
    core_delta = bytes([1]) + struct.pack(">HHB", (1 << 14) | 120, 130, 32)
    core_delta += bytes([1]) + struct.pack(">HH", 50, 200)
    view = _golden_view((64, 200), core_delta)  # 90 deg / 1.40625, 281.25 / 1.40625
    length = 24 + len(view)
    header = b"FMR\x00" + b" 20\x00" + struct.pack(">I", length)
    header += struct.pack(">HHHHHBB", 0, 256, 300, 197, 197, 1, 0)
    expected = header + view
    got = encode_fmr(_template(), standard="iso19794-2", ridge_counts=[(0, 1, 5)], ridge_count_method=1)
    assert got == expected
    assert got[4:8] == bytes([0x20, 0x32, 0x30, 0x00])  # space, '2', '0', NUL


def test_ansi_golden_bytes() -> None:
    # ANSI core/delta: 2-bit angular flag + 4/6-bit count in one byte; 2-degree angles.
    core_delta = bytes([(1 << 6) | 1]) + struct.pack(">HHB", 120, 130, 23)  # 45/2 = 22.5 -> 23
    core_delta += bytes([(0 << 6) | 1]) + struct.pack(">HH", 50, 200)
    view = _golden_view((45, 141), core_delta)  # 90/2, 281.25/2 = 140.625 -> 141
    length = 26 + len(view)
    header = b"FMR\x00" + b" 20\x00" + struct.pack(">H", length)
    header += struct.pack(">HH", 0x1234, 0x0005)  # CBEFF product owner, type
    header += struct.pack(">HHHHHBB", (1 << 12) | 7, 256, 300, 197, 197, 1, 0)
    expected = header + view
    got = encode_fmr(
        _template(),
        standard="ansi378",
        product_owner=0x1234,
        product_type=0x0005,
        equipment_compliance=1,
        capture_device_id=7,
        ridge_counts=[(0, 1, 5)],
        ridge_count_method=1,
    )
    assert got == expected


@pytest.mark.parametrize("standard", ["iso19794-2", "ansi378"])
def test_read_write_read_is_exact(standard: str, tmp_path) -> None:
    path = tmp_path / "t.fmr"
    write_fmr(_template(), path, standard=standard)
    first = read_fmr(path)  # standard sniffed from the length field
    assert first.standard == standard
    t1 = first.views[0].template
    assert [(m.x, m.y, m.kind, m.quality) for m in t1.minutiae] == [
        (10.0, 21.0, "ending", 80),
        (100.0, 50.0, "bifurcation", 30),
    ]
    assert (t1.width, t1.height, t1.dpi, t1.finger_position, t1.impression_type, t1.quality) == (
        256, 300, 500, 2, 1, 90,
    )
    assert [(s.kind, s.x, s.y, s.angle is None) for s in t1.singularities] == [
        ("core", 120.0, 130.0, False),
        ("delta", 50.0, 200.0, True),
    ]
    again = decode_fmr(encode_fmr(t1, standard=standard)).views[0].template
    assert again == t1  # quantised values survive exactly


def test_angle_codes_round_trip_and_round_half_up() -> None:
    for code in range(256):
        assert angle_to_code(code_to_angle(code, "iso19794-2"), "iso19794-2") == code
    for code in range(180):
        assert angle_to_code(code_to_angle(code, "ansi378"), "ansi378") == code
    assert angle_to_code(math.radians(359.5), "iso19794-2") == 0  # wraps
    assert angle_to_code(math.radians(3.0), "ansi378") == 2  # 1.5 units -> 2 (half up)
    assert angle_to_code(math.radians(5.0), "ansi378") == 3  # 2.5 units -> 3 (not banker's 2)
    assert angle_to_code(-math.pi / 2, "iso19794-2") == 192


def test_resolution_conversion() -> None:
    assert dpi_to_ppcm(500) == 197
    assert ppcm_to_dpi(197) == 500
    for dpi in (250, 300, 500, 600, 1000):
        assert ppcm_to_dpi(dpi_to_ppcm(dpi)) == dpi
    assert ppcm_to_dpi(100) == 254


def test_reads_all_finger_views() -> None:
    def view(position: int, number: int, xs: list[int]) -> bytes:
        out = struct.pack(">BBBB", position, (number << 4) | 0, 70, len(xs))
        for x in xs:
            out += struct.pack(">HHBB", (1 << 14) | x, 10, 0, 50)
        return out + struct.pack(">H", 0)

    body = view(1, 0, [5, 6]) + view(1, 1, [7]) + view(6, 0, [])
    header = b"FMR\x00 20\x00" + struct.pack(">I", 24 + len(body))
    header += struct.pack(">HHHHHBB", 0, 64, 64, 197, 197, 3, 0)
    record = decode_fmr(header + body, standard="iso19794-2")
    assert [v.template.finger_position for v in record.views] == [1, 1, 6]
    assert [v.view_number for v in record.views] == [0, 1, 0]
    assert [[m.x for m in v.template.minutiae] for v in record.views] == [[5.0, 6.0], [7.0], []]


def test_unknown_extended_area_is_skipped() -> None:
    data = bytearray(encode_fmr(_template()))
    # Append a vendor area (type 0x0100, 3 data bytes) to the view's extended block.
    ext_len_at = 24 + 4 + 2 * 6
    (ext_len,) = struct.unpack_from(">H", data, ext_len_at)
    vendor = struct.pack(">HH", 0x0100, 7) + b"abc"
    data += vendor
    struct.pack_into(">H", data, ext_len_at, ext_len + len(vendor))
    struct.pack_into(">I", data, 8, len(data))
    view = decode_fmr(bytes(data)).views[0]
    assert view.unknown_extended == [(0x0100, b"abc")]
    assert len(view.template.minutiae) == 2 and len(view.template.singularities) == 2


def test_ansi_long_length_field() -> None:
    t = MinutiaeTemplate(
        minutiae=[Minutia(float(i % 200), float(i // 200), 0.0, "ending", 50) for i in range(255)],
        width=256,
        height=256,
    )
    counts = [(i % 255, (i + 1) % 255, i % 7) for i in range(21_500)]
    data = encode_fmr(t, standard="ansi378", ridge_counts=counts)
    assert len(data) > 0xFFFF
    assert data[8:10] == b"\x00\x00" and struct.unpack(">I", data[10:14])[0] == len(data)
    view = decode_fmr(data).views[0]
    assert view.ridge_counts == counts and len(view.template.minutiae) == 255


def test_too_many_minutiae_error_and_keep_best() -> None:
    minutiae = [Minutia(float(i), float(i), 0.0, "ending", 50) for i in range(300)]
    minutiae[299] = Minutia(299.0, 299.0, 0.0, "ending", 99)  # best quality, far from centre
    t = MinutiaeTemplate(minutiae=minutiae, width=400, height=400)
    with pytest.raises(TemplateError, match="300 minutiae exceed the 255"):
        encode_fmr(t)
    kept = decode_fmr(encode_fmr(t, keep_best=True)).views[0].template.minutiae
    assert len(kept) == 255
    xs = [m.x for m in kept]
    assert 299.0 in xs  # kept for its quality
    # Among equal qualities the 44 farthest from the centre of mass (149.5) go.
    assert 0.0 not in xs and 149.0 in xs and 298.0 not in xs


@pytest.mark.parametrize(
    "bad, message",
    [
        (Minutia(-1.0, 5.0, 0.0), "negative coordinate"),
        (Minutia(256.0, 5.0, 0.0), "outside the 256x300 image"),
        (Minutia(5.0, 5.0, float("nan")), "non-finite angle"),
        (Minutia(5.0, 5.0, 0.0, "ending", 101), "quality 101"),
    ],
)
def test_invalid_minutiae_rejected_with_file_name(bad: Minutia, message: str, tmp_path) -> None:
    t = _template()
    t.minutiae.append(bad)
    path = tmp_path / "bad.iso"
    with pytest.raises(TemplateError, match=message) as info:
        write_fmr(t, path)
    assert str(path) in str(info.value)
    assert not path.exists()


def test_decode_errors_name_the_problem() -> None:
    good = encode_fmr(_template())
    with pytest.raises(TemplateError, match="wrong magic"):
        decode_fmr(b"FIR\x00" + good[4:], source="x.iso")
    with pytest.raises(TemplateError, match="wrong version"):
        decode_fmr(good[:4] + b" 21\x00" + good[8:])
    with pytest.raises(TemplateError, match="2011"):
        decode_fmr(good[:4] + b"030\x00" + good[8:])
    with pytest.raises(TemplateError, match="record-length mismatch"):
        decode_fmr(good + b"\x00")
    with pytest.raises(TemplateError, match="record-length mismatch"):
        decode_fmr(good[:-1])
    # Truncations with a header that agrees with the data size.
    for cut in (3, 10, 20, 26, 30, 40, len(good) - 1):
        short = bytearray(good[:cut])
        if cut >= 12:
            struct.pack_into(">I", short, 8, cut)
        with pytest.raises(TemplateError) as info:
            decode_fmr(bytes(short), standard="iso19794-2", source="cut.iso")
        assert "cut.iso" in str(info.value)
        assert "truncated" in str(info.value) or "length" in str(info.value)


def test_sniff_standard() -> None:
    assert sniff_standard(encode_fmr(_template(), standard="iso19794-2")) == "iso19794-2"
    assert sniff_standard(encode_fmr(_template(), standard="ansi378")) == "ansi378"


# ---------------------------------------------------------------------- interop


def test_pyfing_reads_synthbio_iso(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "torch")  # pyfing imports keras; no TensorFlow here
    iso_format = pytest.importorskip(
        "pyfing.utils.iso_format", reason="pyfing (+ keras) not installed: independent ISO reader"
    )
    path = tmp_path / "t.iso"
    write_fmr(_template(), path)
    got = iso_format.load_minutiae_from_iso_template_file(str(path))
    assert [(m.x, m.y, m.type, m.quality) for m in got] == [(10, 21, "E", 80), (100, 50, "B", 30)]
    assert [round(math.degrees(m.direction), 4) for m in got] == [90.0, 281.25]


def test_afis_reads_synthbio_iso() -> None:
    templates = pytest.importorskip("afis.algorithms.templates", reason="afis not installed")
    header, rows = templates.decode_iso19794_2(encode_fmr(_template()))
    assert (header.width, header.height) == (256, 300)
    np.testing.assert_allclose(rows[:, :2], [[10, 21], [100, 50]])
    np.testing.assert_allclose(np.degrees(rows[:, 2]), [90.0, 281.25])
    assert rows[:, 3].tolist() == [0, 1]  # afis kinds: 0 ending, 1 bifurcation


def test_afis_written_iso_is_read_with_relaxed_version() -> None:
    templates = pytest.importorskip("afis.algorithms.templates", reason="afis not installed")
    rows = np.array([[30.0, 40.0, 1.0, 0, 0.5], [70.0, 20.0, 5.0, 1, 0.9]])
    header = templates.FingerprintTemplateHeader(width=128, height=96)
    data = templates.encode_iso19794_2(header, rows)
    with pytest.raises(TemplateError, match="wrong version b'020"):
        decode_fmr(data)  # afis writes b"020\0", not the standard b" 20\0"
    # afis stores resolution in ppi (500) where ISO wants px/cm, and qualities 0..255;
    # the layout is otherwise 2005, which strict=False reads.
    view = decode_fmr(data, standard="iso19794-2", strict=False).views[0].template
    ref_header, ref = templates.decode_iso19794_2(data)
    assert [(m.x, m.y, m.kind) for m in view.minutiae] == [
        (30.0, 40.0, "ending"),
        (70.0, 20.0, "bifurcation"),
    ]
    np.testing.assert_allclose([m.angle for m in view.minutiae], ref[:, 2])
    with pytest.raises(TemplateError, match="not supported"):
        decode_fmr(templates.encode_iso19794_2_2011(header, rows))


def test_bad_standard_argument() -> None:
    with pytest.raises(InputError):
        encode_fmr(_template(), standard="iso2011")  # type: ignore[arg-type]
