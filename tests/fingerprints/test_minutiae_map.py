"""Minutiae maps: peak values, channels, line direction, frame mapping, sizes, batching."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import InputError
from synthbio.fingerprints.minutiae_map import (
    MinutiaeMapConfig,
    render_minutiae_map,
    render_minutiae_maps,
    template_to_canvas,
)
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, Singularity


def _one(kind: str = "ending", angle: float = 0.0, x: float = 255.0, y: float = 255.0) -> MinutiaeTemplate:
    return MinutiaeTemplate(minutiae=[Minutia(x, y, angle, kind)], width=512, height=512)


def _line_integral(gain: float, sigma: float, length: float) -> float:
    # Continuous segment [0, length] of unit intensity blurred by a 2-D Gaussian, at its start.
    return gain / (2 * math.pi * sigma**2) * sigma * math.sqrt(math.pi / 2) * math.erf(length / (sigma * math.sqrt(2)))


def test_single_minutia_peak_value_and_location() -> None:
    m = render_minutiae_map(_one(), size=512)  # canvas resolution, identity frame
    assert m.shape == (3, 512, 512) and m.dtype == torch.float32
    expected = 60 / (2 * math.pi * 9) + _line_integral(3.0, math.sqrt(3.0), 15.0)
    assert float(m[1, 255, 255]) == pytest.approx(expected, rel=2e-3)
    # The peak sits on the minutia, pulled at most ~1.5 px along its direction (+x) by the line.
    iy, ix = divmod(int(m[1].argmax()), 512)
    assert iy == 255 and 255 <= ix <= 257
    # There the line adds more than the impulse loses: ~6% above the value on the minutia.
    assert expected <= float(m[1].max()) < expected * 1.08
    assert float(m[0].abs().max()) == 0.0 and float(m[2].abs().max()) == 0.0
    # Far from the point and its line the map is (numerically) zero.
    assert float(m[1, 255, 300:].max()) < 1e-6


def test_channel_assignment() -> None:
    t = MinutiaeTemplate(
        minutiae=[Minutia(100.0, 100.0, 0.0, "bifurcation"), Minutia(400.0, 100.0, 0.0, "ending")],
        width=512,
        height=512,
        singularities=[Singularity(250.0, 400.0, "core", None), Singularity(100.0, 400.0, "delta", 1.0)],
    )
    m = render_minutiae_map(t, size=512)
    assert float(m[0, 100, 100]) > 1.0 and float(m[0, 100, 400]) < 1e-6
    assert float(m[1, 100, 400]) > 1.0 and float(m[1, 100, 100]) < 1e-6
    # Core without angle: impulse only, sigma 5 and triple gain.
    assert float(m[2, 400, 250]) == pytest.approx(180 / (2 * math.pi * 25), rel=1e-4)
    assert float(m[2, 400, 100]) > float(m[2, 400, 250])  # delta has a (triple-gain) line too
    assert float(m[:2, 380:420, :].abs().max()) < 1e-6
    other = MinutiaeTemplate(minutiae=[Minutia(255.0, 255.0, 0.0, "other")], width=512, height=512)
    both = render_minutiae_map(other, size=512)
    assert torch.equal(both[0], both[1]) and float(both[0, 255, 255]) > 1.0
    skipped = render_minutiae_map(other, size=512, config=MinutiaeMapConfig(other_as="skip"))
    assert float(skipped.abs().max()) == 0.0


@pytest.mark.parametrize("degrees", [0.0, 90.0, 135.0, 200.0, 300.0])
def test_line_runs_along_the_direction(degrees: float) -> None:
    a = math.radians(degrees)
    m = render_minutiae_map(_one("bifurcation", a), size=512)[0]

    def sample(t: float) -> float:
        # Direction (cos a, -sin a) in (x, y): counter-clockwise as seen, y down.
        x, y = 255 + t * math.cos(a), 255 - t * math.sin(a)
        return float(m[round(y), round(x)])

    for t in (8.0, 12.0):
        assert sample(t) > 0.3
        assert sample(t) > 20 * sample(-t)


def test_frame_mapping_centre_pads_to_square() -> None:
    t = MinutiaeTemplate(minutiae=[Minutia(149.5, 299.5, 0.0)], width=300, height=600)
    scale, off_x, off_y = template_to_canvas(t, 512)
    assert scale == pytest.approx(512 / 600)
    assert 149.5 * scale + off_x == pytest.approx(255.5)  # image centre -> canvas centre
    assert 299.5 * scale + off_y == pytest.approx(255.5)
    assert -0.5 * scale + off_y == pytest.approx(-0.5)  # top edge -> canvas top edge
    assert -0.5 * scale + off_x == pytest.approx(150 * scale - 0.5)  # left edge after padding


def test_template_scale_does_not_change_the_map() -> None:
    small = MinutiaeTemplate([Minutia(100.0, 60.0, 1.0, "ending")], width=256, height=256)
    big = MinutiaeTemplate([Minutia(200.5, 120.5, 1.0, "ending")], width=512, height=512)
    # Pixel centres: x_small = 100 covers [100, 101) -> [200, 202) at twice the size, centre 200.5.
    torch.testing.assert_close(render_minutiae_map(small, size=128), render_minutiae_map(big, size=128))


def test_output_size_consistency() -> None:
    t = MinutiaeTemplate(
        [Minutia(30.0, 40.0, 0.5, "ending"), Minutia(200.0, 90.0, 3.0, "bifurcation")],
        width=256,
        height=200,
        singularities=[Singularity(128.0, 100.0, "core", 2.0)],
    )
    m256 = render_minutiae_map(t, size=256)
    m128 = render_minutiae_map(t, size=128)
    torch.testing.assert_close(F.interpolate(m256[None], size=128, mode="area")[0], m128, atol=1e-5, rtol=1e-5)
    odd = render_minutiae_map(t, size=(100, 100))  # not a divisor of the canvas
    assert odd.shape == (3, 100, 100)
    assert float(odd.sum()) * (512 / 100) ** 2 == pytest.approx(float(m256.sum()) * 4, rel=0.02)


def test_batch_matches_single_and_empty_template() -> None:
    a = _one("ending", 1.0, 100.0, 50.0)
    b = MinutiaeTemplate(
        minutiae=[Minutia(float(10 * i), float(5 * i), 0.1 * i, "bifurcation") for i in range(1, 40)],
        width=512,
        height=512,
    )
    empty = MinutiaeTemplate(minutiae=[], width=400, height=300)
    batch = render_minutiae_maps([a, b, empty], size=64)
    assert batch.shape == (3, 3, 64, 64)
    torch.testing.assert_close(batch[0], render_minutiae_map(a, size=64))
    torch.testing.assert_close(batch[1], render_minutiae_map(b, size=64))
    assert float(batch[2].abs().max()) == 0.0


def test_bad_arguments() -> None:
    with pytest.raises(InputError):
        MinutiaeMapConfig(sigma=0.0)
    with pytest.raises(InputError):
        render_minutiae_map(_one(), size=0)
    with pytest.raises(InputError):
        render_minutiae_map(_one(angle=float("nan")))
