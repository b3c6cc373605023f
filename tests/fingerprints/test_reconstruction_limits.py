"""Drawing limits: templates that pass validation but would need gigabytes are refused before any pixel."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from synthbio.fingerprints import ridge_reconstruction
from synthbio.fingerprints.iso19794 import encode_fmr
from synthbio.fingerprints.minutiae_map import output_size
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate
from synthbio.fingerprints.validation import (
    MAX_DRAW_DPI,
    MAX_DRAW_POINTS,
    MAX_DRAW_SIDE,
    MIN_DRAW_DPI,
    TemplateError,
    check_drawable,
)

Run = Callable[..., tuple[int, str, str]]


def _t(**kw: object) -> MinutiaeTemplate:
    base: dict = dict(minutiae=[Minutia(20.0, 30.0, 0.5, "ending", 50)], width=100, height=120, dpi=500)
    base.update(kw)
    return MinutiaeTemplate(**base)


@pytest.mark.parametrize("template, dpi_out, message", [
    (_t(width=65535, height=65535), None, "65535x65535 px; the limit is 4096"),
    (_t(width=0, height=0, minutiae=[Minutia(60000.0, 10.0, 0.5)]), None, "no size"),
    (_t(dpi=1_000_000 // 10), None, "dpi 100000 is outside"),
    (_t(dpi=50), None, "dpi 50 is outside"),
    (_t(width=40000, height=20), None, "40000x20"),
    (_t(), 100_000, "output dpi 100000"),
    (_t(width=4000, height=4000), 1000, "8000x8000"),
    (_t(width=8, height=8, minutiae=[Minutia(2.0, 2.0, 0.5)]), None, "at least 16 px"),
    (_t(minutiae=[Minutia(1.0 + i % 90, 1.0 + i % 100, 0.1) for i in range(MAX_DRAW_POINTS + 1)]), None,
     "exceed the 1000"),
])
def test_limits_refuse_before_drawing(template: MinutiaeTemplate, dpi_out: int | None, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(")):
        check_drawable(template, dpi_out=dpi_out, source="t.iso")
    with pytest.raises(TemplateError):
        output_size(template, dpi_out=dpi_out)


def test_limits_admit_real_templates() -> None:
    check_drawable(_t(width=MAX_DRAW_SIDE, height=MAX_DRAW_SIDE, dpi=MIN_DRAW_DPI))
    check_drawable(_t(dpi=MAX_DRAW_DPI))
    check_drawable(_t(width=416, height=560), dpi_out=1000)
    assert output_size(_t(width=416, height=560), dpi_out=250) == (280, 208)


@pytest.fixture
def no_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to grow ridges fails the test: the refusal must come first."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a drawing was started for a template beyond the limits")

    monkeypatch.setattr(ridge_reconstruction, "ridge_field", refuse)
    monkeypatch.setattr(ridge_reconstruction, "orientation_from_minutiae", refuse)


def test_cli_refuses_a_36_byte_record_declaring_65535_squared(run_cli: Run, tmp_path: Path, no_drawing: None) -> None:
    record = encode_fmr(MinutiaeTemplate(minutiae=[Minutia(10.0, 10.0, 0.5, "ending", 50)], width=65535,
                                         height=65535))
    assert len(record) == 36
    src = tmp_path / "huge.iso"
    src.write_bytes(record)
    code, out, err = run_cli("fingerprints", "reconstruct", str(src), "-o", str(tmp_path / "out.png"))
    assert code == 2, err
    assert "huge.iso" in err and "4096" in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("name, content, extra", [
    ("far.xyt", "1000000000 10 30 50\n", ["--xyt-width", "0", "--xyt-height", "0"]),
    ("far2.xyt", "60000 10 30 50\n", []),
    ("dpi.json", None, []),
])
def test_cli_refuses_sizeless_far_minutiae_and_huge_dpi(run_cli: Run, tmp_path: Path, no_drawing: None, name: str,
                                                        content: str | None, extra: list[str]) -> None:
    src = tmp_path / name
    if content is None:
        content = json.dumps({"format": "synthbio.minutiae_template", "schema_version": 1, "width": 300,
                              "height": 400, "dpi": 1_000_000,
                              "minutiae": [{"x": 10.0, "y": 10.0, "angle": 0.5, "kind": "ending", "quality": 50}]})
    src.write_text(content)
    code, out, err = run_cli("fingerprints", "reconstruct", str(src), "-o", str(tmp_path / "o.png"),
                             "--xyt-height", "400", *extra)
    assert code == 2, err
    assert name in err and "Traceback" not in err


@pytest.mark.parametrize("flag, value", [("--dpi-out", "1000000"), ("--dpi-out", "0"), ("--xyt-dpi", "5"),
                                         ("--xyt-width", "100000")])
def test_cli_refuses_out_of_range_geometry_flags(run_cli: Run, tmp_path: Path, flag: str, value: str) -> None:
    src = tmp_path / "t.xyt"
    src.write_text("10 10 30 50\n")
    code, out, err = run_cli("fingerprints", "reconstruct", str(src), "-o", str(tmp_path / "o.png"),
                             "--xyt-width", "100", "--xyt-height", "100", flag, value)
    assert code == 2 and flag in err, err
