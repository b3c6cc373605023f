"""StyleGAN3 in plain PyTorch: filter design, filtered leaky ReLU paths, schedule, generator behaviour.

Parity with the official code on the same weights is in bench/stylegan3_parity.py (it needs the
official repository); here each fast path is checked against synthbio's literal reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthbio.errors import InputError
from synthbio.nn.stylegan3 import (
    StyleGAN3Config,
    StyleGAN3Generator,
    filtered_lrelu,
    filtered_lrelu_reference,
    input_transform,
    layer_schedule,
    polyphase,
)
from synthbio.nn.stylegan3.filters import bessel_j1, kaiser_lowpass, radial_lowpass


def tiny(**kw: object) -> StyleGAN3Generator:
    base = dict(z_dim=8, w_dim=8, img_resolution=16, channel_base=256, channel_max=16, num_layers=4,
                num_critical=1, margin_size=2)
    base.update(kw)
    torch.manual_seed(0)
    G = StyleGAN3Generator(StyleGAN3Config(**base)).eval()  # type: ignore[arg-type]
    with torch.no_grad():  # biases, magnitudes and w_avg away from their init so every path matters
        for name, t in G.named_parameters():
            if name.endswith(("bias", "affine.weight")):
                t.add_(0.2 * torch.randn(t.shape))
        for name, b in G.named_buffers():
            if name.endswith("magnitude_ema"):
                b.fill_(0.5 + torch.rand([]).item())
        G.mapping.w_avg.copy_(torch.randn(G.w_dim))
    return G


# ------------------------------------------------------------------ filters


def test_filter_designs_equal_scipy() -> None:
    signal = pytest.importorskip("scipy.signal", reason="SciPy is the reference design (test extra)")
    special = pytest.importorskip("scipy.special")
    for numtaps, fs, cutoff, width in [(12, 32, 2.0, 3.4), (24, 64, 11.3, 9.0), (12, 512, 128.0, 56.0)]:
        ours = kaiser_lowpass(numtaps, cutoff, width, fs)
        ref = torch.as_tensor(signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs), dtype=torch.float32)
        assert torch.equal(ours, ref)
        x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
        r = np.hypot(*np.meshgrid(x, x))
        f = special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
        w = np.kaiser(numtaps, signal.kaiser_beta(signal.kaiser_atten(numtaps, width / (fs / 2))))
        f = f * np.outer(w, w)
        assert torch.equal(radial_lowpass(numtaps, cutoff, width, fs), torch.as_tensor(f / f.sum(), dtype=torch.float32))
    special_x = np.linspace(0.01, 80, 2000)
    assert np.abs(bessel_j1(special_x) - special.j1(special_x)).max() < 1e-13


def test_filters_have_unit_dc_gain_and_identity_for_one_tap() -> None:
    assert kaiser_lowpass(1, 2, 1, 8) is None and radial_lowpass(1, 2, 1, 8) is None
    assert float(kaiser_lowpass(12, 5.0, 4.0, 32).sum()) == pytest.approx(1, abs=1e-6)
    assert float(radial_lowpass(12, 5.0, 4.0, 32).sum()) == pytest.approx(1, abs=1e-6)


# ------------------------------------------------------------------ filtered leaky ReLU

GEOMETRIES = [  # up, down, padding, up taps, down taps, radial, input size (all shapes the generator uses)
    (2, 2, (9, 8, 9, 8), 12, 12, False, 14),
    (4, 2, (-6, -9, -6, -9), 24, 12, False, 14),
    (2, 2, (-11, -12, -11, -12), 12, 12, False, 30),
    (2, 2, (11, 10, 11, 10), 12, 12, True, 12),
    (4, 2, (-2, -5, -2, -5), 24, 12, True, 12),
    (2, 2, (3, 5, 4, 6), 12, 12, False, 9),  # asymmetric padding, odd sizes
    (4, 4, (1, 2, 3, 4), 24, 24, False, 14),
]


def _filters(up_taps: int, down_taps: int, radial: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    return kaiser_lowpass(up_taps, 6.0, 5.0, 64), (radial_lowpass if radial else kaiser_lowpass)(down_taps, 6.0, 5.0, 64)


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("clamp", [None, 3.0])
def test_fast_paths_equal_the_definition(geometry, clamp, one_thread) -> None:
    up, down, padding, ku, kd, radial, size = geometry
    fu, fd = _filters(ku, kd, radial)
    gen = torch.Generator().manual_seed(1)
    x = 15 * torch.randn([1, 20, size, size + 3], generator=gen)  # large enough for the clamp to act
    b = torch.randn([20], generator=gen)
    kw = dict(up=up, down=down, padding=padding, gain=2**0.5, slope=0.2, clamp=clamp)
    ref = filtered_lrelu_reference(x, fu, fd, b, **kw)
    with torch.no_grad():
        simple = filtered_lrelu(x, fu, fd, b, **kw)
        plan = polyphase.make_plan(fu, fd, up=up, down=down, padding=padding, gain=2**0.5, in_size=(size, size + 3))
        poly = polyphase.filtered_lrelu_polyphase(x + b.reshape(1, -1, 1, 1), plan, slope=0.2, clamp=clamp)
    scale = float(ref.abs().max())
    assert simple.shape == ref.shape == poly.shape
    assert float((simple - ref).abs().max()) < 2e-6 * scale
    assert float((poly - ref).abs().max()) < 2e-6 * scale
    if clamp is not None:  # the clamp did act on these inputs
        assert not torch.allclose(ref, filtered_lrelu_reference(x, fu, fd, b, **{**kw, "clamp": None}))


def test_polyphase_bands_do_not_change_the_result(monkeypatch, one_thread) -> None:
    fu, fd = _filters(12, 12, False)
    x = torch.randn([1, 16, 40, 33], generator=torch.Generator().manual_seed(2))
    plan = polyphase.make_plan(fu, fd, up=2, down=2, padding=(9, 8, 9, 8), gain=2**0.5, in_size=(40, 33))
    with torch.no_grad():
        whole = polyphase.filtered_lrelu_polyphase(x, plan, slope=0.2, clamp=None)
        monkeypatch.setattr(polyphase, "_BAND_BYTES", 30_000)  # a few rows per band
        banded = polyphase.filtered_lrelu_polyphase(x, plan, slope=0.2, clamp=None)
    assert float((whole - banded).abs().max()) <= 1e-6 * float(whole.abs().max())


def test_filtered_lrelu_rejects_bad_filters() -> None:
    x = torch.zeros(1, 2, 8, 8)
    with pytest.raises(ValueError, match="separable"):
        filtered_lrelu(x, torch.ones(3, 3), None, up=2)
    with pytest.raises(ValueError, match="bias"):
        filtered_lrelu(x, None, None, torch.zeros(3))


# ------------------------------------------------------------------ schedule and generator


def test_schedule_of_the_official_256_config() -> None:
    # Layer names networks_stylegan3 builds for stylegan3-t at 256x256 with --cbase=16384 (as in the
    # official FFHQ-U 256 snapshots), printed from the official code.
    _, layers = layer_schedule(StyleGAN3Config(img_resolution=256, channel_base=16384))
    assert [s.name for s in layers] == [
        "L0_36_512", "L1_36_512", "L2_36_512", "L3_52_512", "L4_52_512", "L5_84_512", "L6_84_512", "L7_148_362",
        "L8_148_256", "L9_148_181", "L10_276_128", "L11_276_91", "L12_276_64", "L13_256_64", "L14_256_3"]
    G = StyleGAN3Generator(StyleGAN3Config(img_resolution=256, channel_base=32768, channel_max=1024, conv_kernel=1,
                                           use_radial_filters=True))
    assert G.synthesis.L10_276_256.padding == (-2, -5, -2, -5) and G.synthesis.L10_276_256.up_factor == 4
    assert G.synthesis.L11_276_181.down_filter.shape == (12, 12)  # radial below the critical layers
    assert G.synthesis.L12_276_128.down_filter.shape == (12,)
    assert "up_filter" not in dict(G.synthesis.L14_256_3.named_buffers())  # None filters are not registered
    assert G.num_ws == 16 and G.config.config_name == "R"


@pytest.mark.parametrize("kw", [{}, dict(conv_kernel=1, use_radial_filters=True), dict(c_dim=3)])
def test_generator_runs_and_is_batch_invariant(kw, one_thread) -> None:
    G = tiny(**kw)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(3))
    c = torch.eye(3)[[0, 1, 2, 0, 1]] if G.c_dim else None
    with torch.no_grad():
        img = G(z, c, truncation_psi=0.7)
        parts = torch.cat([G(z[i:i + 2], None if c is None else c[i:i + 2], truncation_psi=0.7) for i in (0, 2, 4)])
    assert img.shape == (5, 3, 16, 16) and torch.isfinite(img).all()
    assert torch.equal(img, parts)


def test_autograd_path_equals_inference_path(one_thread) -> None:
    G = tiny(conv_kernel=1, use_radial_filters=True)
    ws = G.mapping(torch.randn(2, 8, generator=torch.Generator().manual_seed(4)), None).detach()
    with torch.no_grad():
        fast = G.synthesis(ws)
    ws.requires_grad_(True)
    slow = G.synthesis(ws)
    slow.square().sum().backward()
    assert float((fast - slow.detach()).abs().max()) < 1e-5 * float(fast.abs().max())
    assert ws.grad is not None and torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0


def test_input_transform_moves_the_image(one_thread) -> None:
    G = tiny()
    ws = G.mapping(torch.randn(1, 8, generator=torch.Generator().manual_seed(5)), None)
    with torch.no_grad():
        base = G.synthesis(ws)
        same = G.synthesis(ws, transform=input_transform())
        moved = G.synthesis(ws, transform=input_transform(translate=(0.25, 0.0), rotate_deg=10.0))
        G.synthesis.input.transform.copy_(input_transform(translate=(0.25, 0.0), rotate_deg=10.0))
        buffered = G.synthesis(ws)
    assert torch.allclose(base, same, atol=1e-6)
    assert float((base - moved).abs().mean()) > 1e-3
    assert torch.allclose(moved, buffered, atol=1e-6)
    assert torch.allclose(input_transform(translate=(0.1, -0.2), rotate_deg=30) @ torch.tensor(
        [[np.cos(np.pi / 6), np.sin(np.pi / 6), 0.1], [-np.sin(np.pi / 6), np.cos(np.pi / 6), -0.2], [0, 0, 1]],
        dtype=torch.float32), torch.eye(3), atol=1e-6)
    with pytest.raises(InputError, match="transform"):
        G.synthesis(ws, transform=torch.eye(2))


def test_magnitude_ema_tracks_inputs_only_when_asked() -> None:
    G = tiny()
    ws = G.mapping(torch.randn(2, 8), None).detach()
    before = {n: b.clone() for n, b in G.named_buffers() if n.endswith("magnitude_ema")}
    G.synthesis(ws)
    assert all(torch.equal(b, dict(G.named_buffers())[n]) for n, b in before.items())
    G.synthesis(ws, update_emas=True)
    assert any(not torch.equal(b, dict(G.named_buffers())[n]) for n, b in before.items())


def test_bad_inputs_name_the_problem() -> None:
    G = tiny()
    with pytest.raises(InputError, match=r"ws must have shape \[N, 6, 8\]"):
        G.synthesis(torch.zeros(1, 5, 8))
    with pytest.raises(InputError, match="NaN"):
        G.synthesis(torch.full([1, 6, 8], float("nan")))
    with pytest.raises(InputError, match="noise_mode"):
        G.synthesis(torch.zeros(1, 6, 8), noise_mode="loud")
    with pytest.raises(InputError, match="num_critical"):
        StyleGAN3Config(num_layers=2, num_critical=2)
