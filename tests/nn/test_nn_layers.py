"""Tests of the pure StyleGAN2 ops and small layers against direct definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthbio.nn.layers import (
    Conv2dLayer,
    FilterTaps,
    FullyConnectedLayer,
    MinibatchStdLayer,
    SynthesisLayer,
    ToRGBLayer,
    bias_act,
    downsample2d,
    filter_taps,
    modulated_conv2d,
    normalize_2nd_moment,
    setup_filter,
    upfirdn2d,
    upsample2d,
)


def upfirdn_numpy(x: np.ndarray, f: np.ndarray, *, up: int, down: int, pad: tuple[int, int, int, int],
                  gain: float = 1.0) -> np.ndarray:
    """The definition for one [H,W] plane: zero-insert, pad/crop, convolve (flipped filter), decimate."""
    h, w = x.shape
    u = np.zeros((h * up, w * up))
    u[::up, ::up] = x
    px0, px1, py0, py1 = pad
    u = np.pad(u, ((max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
    u = u[max(-py0, 0): u.shape[0] - max(-py1, 0), max(-px0, 0): u.shape[1] - max(-px1, 0)]
    k = np.asarray(f, dtype=np.float64)[::-1, ::-1] * gain
    fh, fw = k.shape
    out = np.array([[np.sum(u[i:i + fh, j:j + fw] * k) for j in range(u.shape[1] - fw + 1)]
                    for i in range(u.shape[0] - fh + 1)])
    return out[::down, ::down]


@pytest.mark.parametrize("up,down,pad", [
    (1, 1, (1, 2, 2, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 2, (1, 2, 0, 3)),
    (3, 1, (2, 2, 1, 3)), (1, 3, (0, 0, 2, 2)), (2, 1, (-1, 0, 1, -2)), (1, 1, (-1, -1, 0, 0)),
])
@pytest.mark.parametrize("kind", ["2d", "1d", "taps", "nonsep"])
def test_upfirdn2d_matches_definition(up: int, down: int, pad: tuple[int, int, int, int], kind: str) -> None:
    gen = torch.Generator().manual_seed(up * 7 + down)
    x = torch.randn([2, 3, 7, 6], generator=gen, dtype=torch.float64)
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) if kind != "nonsep" else None
    if kind == "nonsep":
        f = torch.randn([3, 4], generator=gen)
        f2d = f.double().numpy()
    else:
        f = setup_filter(taps)  # [4,4]
        f2d = f.double().numpy()
        if kind == "1d":
            f = setup_filter(taps, separable=True)
        elif kind == "taps":
            f = filter_taps(f)
            assert isinstance(f, FilterTaps)
    y = upfirdn2d(x, f, up=up, down=down, padding=pad, gain=2.0)
    for n in range(2):
        for c in range(3):
            ref = upfirdn_numpy(x[n, c].numpy(), f2d, up=up, down=down, pad=pad, gain=2.0)
            assert y.shape[2:] == ref.shape
            np.testing.assert_allclose(y[n, c].numpy(), ref, rtol=1e-6, atol=1e-6)


def test_upfirdn2d_flip_filter_correlates() -> None:
    x = torch.randn([1, 1, 5, 5], dtype=torch.float64)
    f = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    y_corr = upfirdn2d(x, f, flip_filter=True)
    np.testing.assert_allclose(y_corr[0, 0].numpy(), (x[0, 0, :-1, :-1] + 2 * x[0, 0, :-1, 1:]).numpy())


def test_setup_filter_and_taps() -> None:
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    assert float(f.sum()) == pytest.approx(1.0)
    taps = filter_taps(f)
    assert taps == FilterTaps((0.125, 0.375, 0.375, 0.125), (0.125, 0.375, 0.375, 0.125))
    assert filter_taps(torch.tensor([[1.0, 0.0], [0.0, 1.0]])) is None  # rank 2: not separable
    assert setup_filter([1] * 8).shape == (8,)  # long filters stay separable, as official


def test_upsample_downsample_keep_constants() -> None:
    f = setup_filter([1, 3, 3, 1])
    x = torch.full([1, 2, 8, 8], 3.0)
    up = upsample2d(x, f)
    assert up.shape == (1, 2, 16, 16)
    torch.testing.assert_close(up[:, :, 2:-2, 2:-2], torch.full_like(up[:, :, 2:-2, 2:-2], 3.0))
    down = downsample2d(x, f)
    assert down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(down[:, :, 1:-1, 1:-1], torch.full_like(down[:, :, 1:-1, 1:-1], 3.0))


def test_bias_act() -> None:
    x = torch.randn([3, 4, 2, 2])
    b = torch.randn([4])
    ref = F.leaky_relu(x + b[None, :, None, None], 0.2) * math.sqrt(2)
    torch.testing.assert_close(bias_act(x, b, act="lrelu"), ref)
    torch.testing.assert_close(bias_act(x, b, act="lrelu", clamp=0.5), ref.clamp(-0.5, 0.5))
    torch.testing.assert_close(bias_act(x), x)
    torch.testing.assert_close(bias_act(x, act="linear", gain=3.0), 3 * x)
    x2 = torch.randn([5, 4])
    torch.testing.assert_close(bias_act(x2, b, act="relu"), F.relu(x2 + b) * math.sqrt(2))
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, act="gelu")


def test_normalize_2nd_moment() -> None:
    x = torch.randn([4, 16]) * 5
    y = normalize_2nd_moment(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y / y.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True))


def explicit_modconv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool,
                     padding: int) -> torch.Tensor:
    """Per-sample loop of eqs. 1-3 of the StyleGAN2 paper."""
    outs = []
    for i in range(x.shape[0]):
        w = weight * styles[i].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt((w**2).sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        outs.append(F.conv2d(x[i:i + 1], w, padding=padding))
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_fused_equals_nonfused_and_explicit(demodulate: bool) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn([3, 4, 6, 6], generator=gen, dtype=torch.float64)
    weight = torch.randn([5, 4, 3, 3], generator=gen, dtype=torch.float64)
    styles = torch.randn([3, 4], generator=gen, dtype=torch.float64)
    ref = explicit_modconv(x, weight, styles, demodulate=demodulate, padding=1)
    for fused in (True, False):
        y = modulated_conv2d(x, weight, styles, padding=1, demodulate=demodulate, fused_modconv=fused)
        torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)


def test_modulated_conv2d_upsampling_fused_equals_nonfused_and_noise() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn([2, 4, 5, 5], generator=gen, dtype=torch.float64)
    weight = torch.randn([3, 4, 3, 3], generator=gen, dtype=torch.float64)
    styles = torch.randn([2, 4], generator=gen, dtype=torch.float64)
    noise = torch.randn([2, 1, 10, 10], generator=gen, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1])
    kw = dict(noise=noise, up=2, padding=1, resample_filter=f, flip_weight=False)
    a = modulated_conv2d(x, weight, styles, fused_modconv=True, **kw)
    b = modulated_conv2d(x, weight, styles, fused_modconv=False, **kw)
    c = modulated_conv2d(x, weight, styles, fused_modconv=True, **{**kw, "resample_filter": filter_taps(f)})
    assert a.shape == (2, 3, 10, 10)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(a, c, rtol=1e-10, atol=1e-10)
    without = modulated_conv2d(x, weight, styles, **{**kw, "noise": None})
    torch.testing.assert_close(a - without, noise.expand_as(a))


def test_modulated_conv2d_rejects_bad_styles() -> None:
    with pytest.raises(ValueError, match="styles"):
        modulated_conv2d(torch.randn([2, 4, 5, 5]), torch.randn([3, 4, 3, 3]), torch.randn([2, 5]))


def test_gradcheck_modulated_conv2d_and_upfirdn2d() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn([2, 2, 4, 4], generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn([2, 2, 3, 3], generator=gen, dtype=torch.float64, requires_grad=True)
    styles = torch.randn([2, 2], generator=gen, dtype=torch.float64, requires_grad=True)
    taps = filter_taps(setup_filter([1, 3, 3, 1]))
    for fused in (True, False):
        assert torch.autograd.gradcheck(
            lambda a, w, s, fused=fused: modulated_conv2d(a, w, s, up=2, padding=1, resample_filter=taps,
                                                          flip_weight=False, fused_modconv=fused),
            (x, weight, styles))
    f2d = setup_filter([1, 3, 3, 1])
    assert torch.autograd.gradcheck(lambda a: upfirdn2d(a, taps, up=2, down=1, padding=(2, 1, 1, 2)), (x,))
    assert torch.autograd.gradcheck(lambda a: upfirdn2d(a, f2d, down=2, padding=1), (x,))


def test_fully_connected_layer_equalized_lr() -> None:
    fc = FullyConnectedLayer(8, 4, lr_multiplier=0.01, bias_init=1, activation="linear")
    x = torch.randn([3, 8])
    # Stored weights are scaled by 1/lr; the runtime gain lr/sqrt(in) undoes it.
    torch.testing.assert_close(fc(x), x @ (fc.weight * 0.01 / math.sqrt(8)).t() + 0.01 * fc.bias)
    assert float(fc.bias.detach()[0]) == 1.0
    assert "in_features=8" in repr(fc)


def test_conv_layer_down_and_layers_repr() -> None:
    conv = Conv2dLayer(3, 5, 3, down=2, activation="lrelu")
    assert conv(torch.randn([2, 3, 8, 8])).shape == (2, 5, 4, 4)
    assert conv.resample_filter.shape == (4, 4)
    for module in (conv, SynthesisLayer(4, 4, w_dim=8, resolution=8), ToRGBLayer(4, 3, w_dim=8),
                   MinibatchStdLayer(2)):
        assert module.extra_repr()


def test_minibatch_std_layer_groups() -> None:
    x = torch.randn([4, 6, 2, 2], dtype=torch.float64)
    y = MinibatchStdLayer(group_size=2, num_channels=1)(x)
    assert y.shape == (4, 7, 2, 2)
    # Groups are samples {0, 2} and {1, 3} (sample i is in group i % (N/G)).
    for i, j in [(0, 2), (1, 3)]:
        pair = torch.stack([x[i], x[j]])
        expect = ((pair - pair.mean(0)).square().mean(0) + 1e-8).sqrt().mean()
        torch.testing.assert_close(y[i, 6], expect.expand(2, 2))
        torch.testing.assert_close(y[j, 6], expect.expand(2, 2))
    whole = MinibatchStdLayer(group_size=None)(x)
    torch.testing.assert_close(whole[:, 6], whole[0, 6].expand(4, 2, 2))
    assert MinibatchStdLayer(group_size=8)(x).shape == (4, 7, 2, 2)  # group clipped to the batch
    with pytest.raises(ValueError, match="does not divide"):
        MinibatchStdLayer(group_size=4)(torch.randn([6, 2, 2, 2]))


def test_small_map_gemm_convolutions_equal_torch() -> None:
    from synthbio.nn._kernels import conv_gemm as _conv_gemm

    gen = torch.Generator().manual_seed(4)
    x = torch.randn([2, 5, 4, 3], generator=gen, dtype=torch.float64)
    w = torch.randn([6, 5, 3, 3], generator=gen, dtype=torch.float64)
    torch.testing.assert_close(_conv_gemm(x, w, stride=1, padding=(1, 1), transpose=False),
                               F.conv2d(x, w, padding=1))
    w1 = torch.randn([3, 5, 1, 1], generator=gen, dtype=torch.float64)
    torch.testing.assert_close(_conv_gemm(x, w1, stride=1, padding=(0, 0), transpose=False), F.conv2d(x, w1))
    wt = torch.randn([5, 6, 3, 3], generator=gen, dtype=torch.float64)
    torch.testing.assert_close(_conv_gemm(x, wt, stride=2, padding=(0, 0), transpose=True),
                               F.conv_transpose2d(x, wt, stride=2))
