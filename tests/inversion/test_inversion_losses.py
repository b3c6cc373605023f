"""Reconstruction losses: hand values, scikit-image / numpy references, gradients, batch independence, specs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import binary_erosion
from scipy.signal import correlate2d
from skimage.metrics import structural_similarity
from torch import nn

from synthbio.errors import InputError, ModelNotFoundError
from synthbio.fingerprints.master import MasterConfig, generate_master
from synthbio.inversion.losses import (
    MS_SSIM_WEIGHTS,
    IdentityLoss,
    MSSSIMLoss,
    OrientationFieldLoss,
    PixelLoss,
    ReconstructionLoss,
    VGGPerceptualLoss,
    WeightedSum,
    build_reconstruction_loss,
    ms_ssim,
    ms_ssim_scales,
    parse_loss_spec,
    ridge_orientation,
    ssim,
)
from synthbio.nn.vgg import LPIPSHeads, VGG16Features

_TINY_WIDTHS = (4, 8, 8, 16, 16)


def _images(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _smooth_images(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Images with structure at several scales (SSIM of pure noise says little)."""
    x = _images(seed, shape)
    x = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
    return (x / x.abs().amax()).clamp(-1, 1)


def _tiny_vgg(seed: int = 0) -> VGG16Features:
    vgg = VGG16Features(widths=_TINY_WIDTHS)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in vgg.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=g) * (2 / fan_in) ** 0.5)
    return vgg.requires_grad_(False).eval()


class _TinyEmbedder(nn.Module):
    """A differentiable stand-in identity model: conv, pool, linear -> [N, 8]."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(5)
        self.conv = nn.Conv2d(3, 6, 3, stride=2)
        self.fc = nn.Linear(6 * 4 * 4, 8)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        h = F.adaptive_avg_pool2d(torch.tanh(self.conv(images)), 4)
        return self.fc(h.flatten(1))


# --- pixel ----------------------------------------------------------------------------------


def test_pixel_losses_equal_hand_values() -> None:
    x = torch.tensor([[[[0.0, 0.5], [-1.0, 1.0]]], [[[0.2, 0.2], [0.2, 0.2]]]])
    y = torch.tensor([[[[0.5, 0.5], [0.0, -1.0]]], [[[0.2, 0.2], [0.2, -0.2]]]])
    # sample 0: diffs -0.5, 0, -1, 2 -> l2 (0.25 + 0 + 1 + 4) / 4, l1 3.5 / 4; sample 1: one diff 0.4
    torch.testing.assert_close(PixelLoss("l2").distance(x, y), torch.tensor([5.25 / 4, 0.16 / 4]))
    torch.testing.assert_close(PixelLoss("l1").distance(x, y), torch.tensor([3.5 / 4, 0.4 / 4]))
    with pytest.raises(InputError, match="'l3'"):
        PixelLoss("l3")
    with pytest.raises(InputError, match="differ in shape"):
        PixelLoss().distance(x, y[:, :, :1])


# --- SSIM / MS-SSIM -------------------------------------------------------------------------


def test_ssim_matches_scikit_image() -> None:
    x = _smooth_images(1, (1, 3, 40, 36)).double()
    y = (x + 0.3 * _images(2, (1, 3, 40, 36)).double()).clamp(-1, 1)
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=2.0)
    for c in range(3):  # gray
        want = structural_similarity(x[0, c].numpy(), y[0, c].numpy(), **kwargs)
        assert float(ssim(x[:, c:c + 1], y[:, c:c + 1])) == pytest.approx(want, abs=1e-10)
    want = structural_similarity(x[0].numpy(), y[0].numpy(), channel_axis=0, **kwargs)
    assert float(ssim(x, y)) == pytest.approx(want, abs=1e-10)


def _np_ms_ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Independent 5-scale MS-SSIM of two 2-D arrays (Wang et al. 2003) with scipy correlation."""
    t = np.arange(11) - 5.0
    g = np.exp(-t**2 / (2 * 1.5**2))
    win = np.outer(g, g) / g.sum() ** 2
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    value = 1.0
    for j, w in enumerate(MS_SSIM_WEIGHTS):
        mx, my = correlate2d(x, win, "valid"), correlate2d(y, win, "valid")
        vx = correlate2d(x * x, win, "valid") - mx**2
        vy = correlate2d(y * y, win, "valid") - my**2
        cxy = correlate2d(x * y, win, "valid") - mx * my
        cs = ((2 * cxy + c2) / (vx + vy + c2)).mean()
        if j == len(MS_SSIM_WEIGHTS) - 1:
            value *= (((2 * mx * my + c1) / (mx**2 + my**2 + c1)) * (2 * cxy + c2) / (vx + vy + c2)).mean() ** w
        else:
            value *= cs**w
            x = (x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]) / 4
            y = (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2]) / 4
    return float(value)


def test_ms_ssim_matches_numpy_reference_at_five_scales() -> None:
    assert ms_ssim_scales(176, 180) == 5 and ms_ssim_scales(175, 400) == 4
    x = _smooth_images(3, (2, 1, 176, 176)).double()
    y = (x + 0.2 * _images(4, (2, 1, 176, 176)).double()).clamp(-1, 1)
    got = ms_ssim(x, y)
    for i in range(2):
        assert float(got[i]) == pytest.approx(_np_ms_ssim(x[i, 0].numpy(), y[i, 0].numpy(), 2.0), abs=1e-9)


def test_ms_ssim_loss_is_zero_for_identical_images_and_grows_with_noise() -> None:
    loss = MSSSIMLoss()
    x = _smooth_images(5, (1, 3, 64, 64))
    torch.testing.assert_close(loss.distance(x, x), torch.zeros(1), atol=1e-6, rtol=0)
    noise = _images(6, (1, 3, 64, 64))
    values = [float(loss.distance((x + s * noise).clamp(-1, 1), x)) for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert 0 < values[0] and values[-1] < 1


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (8, 8), (12, 30), (24, 24)])
def test_ms_ssim_small_images_use_fewer_scales(size: tuple[int, int]) -> None:
    x = _images(7, (2, 1, *size))
    y = (x + 0.5 * _images(8, (2, 1, *size))).clamp(-1, 1)  # correlated: SSIM > 0, no clamping
    value = MSSSIMLoss().distance(x, y)
    assert value.shape == (2,) and bool(torch.isfinite(value).all())
    torch.testing.assert_close(MSSSIMLoss().distance(x, x), torch.zeros(2), atol=1e-6, rtol=0)
    if min(size) < 22:  # one scale: plain SSIM
        torch.testing.assert_close(value, 1 - ssim(x, y))


# --- VGG ------------------------------------------------------------------------------------


def test_vgg_loss_equals_lpips_formula_and_unit_heads_equal_none() -> None:
    vgg = _tiny_vgg()
    x, y = _images(9, (2, 3, 32, 32)), _images(10, (2, 3, 32, 32))
    heads = LPIPSHeads([torch.rand(c, generator=torch.Generator().manual_seed(k)) for k, c in enumerate(_TINY_WIDTHS)])
    got = VGGPerceptualLoss(vgg, heads=heads).distance(x, y)
    want = torch.zeros(2)
    with torch.no_grad():
        for fx, fy, w in zip(vgg(x), vgg(y), heads.layer_weights()):
            nx = fx / (fx.norm(dim=1, keepdim=True) + 1e-10)
            ny = fy / (fy.norm(dim=1, keepdim=True) + 1e-10)
            want += ((nx - ny) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
    torch.testing.assert_close(got, want)
    ones = LPIPSHeads([torch.ones(c) for c in _TINY_WIDTHS])
    torch.testing.assert_close(VGGPerceptualLoss(vgg, heads=ones).distance(x, y), VGGPerceptualLoss(vgg).distance(x, y))
    torch.testing.assert_close(VGGPerceptualLoss(vgg).distance(x, x), torch.zeros(2))


def test_vgg_loss_area_downsamples_large_images() -> None:
    vgg = _tiny_vgg()
    x, y = _images(11, (1, 1, 64, 64)), _images(12, (1, 1, 64, 64))
    small = VGGPerceptualLoss(vgg, resize=None).distance(F.avg_pool2d(x, 2), F.avg_pool2d(y, 2))
    torch.testing.assert_close(VGGPerceptualLoss(vgg, resize=32).distance(x, y), small)


# --- identity -------------------------------------------------------------------------------


def test_identity_loss_is_one_minus_cosine() -> None:
    model = _TinyEmbedder()
    x, y = _images(13, (3, 3, 16, 16)), _images(14, (3, 3, 16, 16))
    loss = IdentityLoss(model)
    want = 1 - F.cosine_similarity(model.embed(x), model.embed(y), dim=1)
    torch.testing.assert_close(loss.distance(x, y), want.detach())
    torch.testing.assert_close(loss.distance(x, x), torch.zeros(3), atol=1e-6, rtol=0)
    with pytest.raises(InputError, match="embed"):
        IdentityLoss(object())


# --- orientation ----------------------------------------------------------------------------


def _ridges(angle: float, *, period: float = 8.0, phase: float = 0.0, contrast: float = 0.8,
            size: int = 48) -> torch.Tensor:
    """Sinusoidal ridges whose wave vector points at `angle` (radians): [1, 1, size, size]."""
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    t = xx * math.cos(angle) + yy * math.sin(angle)
    return (contrast * torch.cos(2 * math.pi * t / period + phase)).view(1, 1, size, size)


@pytest.mark.parametrize("angle", [0.0, 0.4, 1.1])
def test_orientation_loss_sees_rotation_not_phase_or_contrast(angle: float) -> None:
    loss = OrientationFieldLoss(sigma=4.0)
    target = _ridges(angle)
    same = _ridges(angle, phase=1.9, contrast=0.4)
    turned = _ridges(angle + math.pi / 2, phase=0.7)
    assert float(loss.distance(same, target)) < 0.02
    assert float(loss.distance(turned, target)) > 0.95
    # 45 degrees: cos(2 * 45deg) = 0 -> half the maximum
    assert float(loss.distance(_ridges(angle + math.pi / 4), target)) == pytest.approx(0.5, abs=0.08)


def test_ridge_orientation_recovers_a_synthetic_fingerprint_field() -> None:
    master = generate_master(3, MasterConfig(width=160, height=192, iterations=8))
    image = torch.from_numpy(1 - 2 * master.ridges).float()[None, None]  # ridges dark
    theta, coherence = ridge_orientation(image, sigma=4.0)
    inside = torch.from_numpy(binary_erosion(master.mask, iterations=8))
    truth = torch.from_numpy(master.orientation)
    # undirected angle difference in [0, pi/2]
    err = torch.remainder(theta[0] - truth + math.pi / 2, math.pi) - math.pi / 2
    err_deg = torch.rad2deg(err.abs())[inside]
    assert float(err_deg.median()) < 6 and float(torch.quantile(err_deg, 0.9)) < 15
    assert float(coherence[0][inside].mean()) > 0.8


def test_orientation_loss_of_flat_image_is_finite() -> None:
    flat = torch.zeros(1, 1, 32, 32, requires_grad=True)
    value = OrientationFieldLoss().distance(flat, _ridges(0.3, size=32))
    value.sum().backward()
    assert float(value.detach()) == pytest.approx(0.5, abs=1e-3)
    assert flat.grad is not None and bool(torch.isfinite(flat.grad).all())


# --- shared properties ----------------------------------------------------------------------


def test_msssim_and_orientation_pass_gradcheck() -> None:
    x = _smooth_images(21, (1, 1, 24, 24)).double()
    target = (x + 0.3 * _images(22, (1, 1, 24, 24)).double()).clamp(-1, 1)
    for loss in (MSSSIMLoss(), OrientationFieldLoss(sigma=1.5)):
        prepared = loss.prepare(target)
        probe = x.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(lambda im, lo=loss, p=prepared: lo(im, p), (probe,), eps=1e-6, atol=1e-5,
                                        fast_mode=True)



def _all_losses() -> list[ReconstructionLoss]:
    return [PixelLoss("l2"), PixelLoss("l1"), MSSSIMLoss(), VGGPerceptualLoss(_tiny_vgg()),
            IdentityLoss(_TinyEmbedder()), OrientationFieldLoss(sigma=2.0)]


def test_gradients_flow_to_the_images() -> None:
    target = _smooth_images(15, (2, 3, 32, 32))
    for loss in _all_losses():
        x = _smooth_images(16, (2, 3, 32, 32)).requires_grad_(True)
        value = loss(x, loss.prepare(target))
        assert value.shape == (2,)
        (grad,) = torch.autograd.grad(value.sum(), x)
        assert bool(torch.isfinite(grad).all()), type(loss).__name__
        assert float(grad.abs().sum()) > 0, type(loss).__name__


def test_per_sample_losses_do_not_depend_on_batch_composition() -> None:
    images, targets = _smooth_images(17, (4, 3, 32, 32)), _smooth_images(18, (4, 3, 32, 32))
    for loss in _all_losses():
        batch = loss.distance(images, targets)
        alone = torch.cat([loss.distance(images[i:i + 1], targets[i:i + 1]) for i in range(4)])
        torch.testing.assert_close(batch, alone, rtol=1e-5, atol=1e-6, msg=type(loss).__name__)
        flipped = loss.distance(images.flip(0), targets.flip(0))
        torch.testing.assert_close(flipped.flip(0), batch, rtol=1e-5, atol=1e-6, msg=type(loss).__name__)


# --- specs ----------------------------------------------------------------------------------


def test_spec_builds_the_weighted_sum() -> None:
    vgg = _tiny_vgg()
    loss = build_reconstruction_loss("l2+0.8*vgg+0.1*orientation", vgg_weights=vgg)
    assert isinstance(loss, WeightedSum) and loss.weights == [1.0, 0.8, 0.1]
    x, y = _smooth_images(19, (2, 1, 32, 32)), _smooth_images(20, (2, 1, 32, 32))
    want = (PixelLoss().distance(x, y) + 0.8 * VGGPerceptualLoss(vgg).distance(x, y)
            + 0.1 * OrientationFieldLoss().distance(x, y))
    torch.testing.assert_close(loss.distance(x, y), want)
    assert isinstance(build_reconstruction_loss("L1"), PixelLoss)
    assert isinstance(build_reconstruction_loss("ms-ssim"), MSSSIMLoss)
    assert isinstance(build_reconstruction_loss("2*l2"), WeightedSum)
    ident = build_reconstruction_loss("l2 + 0.1*id", identity_model=_TinyEmbedder())
    assert isinstance(ident, WeightedSum) and isinstance(ident.terms[1], IdentityLoss)
    assert parse_loss_spec("1e-1*l1+lpips") == [(0.1, "l1"), (1.0, "lpips")]
    assert parse_loss_spec("mse+2.5e+1*msssim") == [(1.0, "l2"), (25.0, "msssim")]


@pytest.mark.parametrize(("spec", "match"), [
    ("l2+0.5*perceptual", "unknown reconstruction loss 'perceptual'"),
    ("l2+*vgg", r"cannot parse loss term '\*vgg'"),
    ("", "empty"),
    ("-1*l2", "cannot parse|>= 0"),
    ("1..2*l2", "bad weight"),
    ("l2+0.1*identity", "no identity model"),
])
def test_bad_specs_raise_input_errors(spec: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        build_reconstruction_loss(spec)


def test_vgg_without_weights_offline_names_url_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHBIO_OFFLINE", "1")
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as info:
        build_reconstruction_loss("l2+0.8*vgg")
    assert "vgg16-397923af.pth" in str(info.value) and str(tmp_path) in str(info.value)
    with pytest.raises(ModelNotFoundError, match="lpips-vgg-v0.1.*PerceptualSimilarity"):
        build_reconstruction_loss("lpips", vgg_weights=VGG16Features())
