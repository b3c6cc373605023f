import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import InputError
from synthbio.training.augment import (
    AdaController,
    AugmentConfig,
    AugmentPipe,
    apply_blit,
    apply_color,
    apply_resample,
    is_identity,
    sample_color,
    sample_geometry,
)

OFF = AugmentConfig(**{f.name: 0.0 for f in dataclasses.fields(AugmentConfig)
                       if not f.name.endswith(("_std", "_max"))})


def only(**ops) -> AugmentConfig:
    return dataclasses.replace(OFF, **ops)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _smooth(n=1, c=3, size=32):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    planes = [torch.sin(3 * xx + 2 * yy), torch.cos(2 * xx - yy), yy * xx][:c]
    return torch.stack([torch.stack(planes) * (1 - 0.1 * i) for i in range(n)])


def test_p_zero_is_exact_noop():
    x = torch.randn(4, 3, 16, 16)
    pipe = AugmentPipe()  # all ops on, p = 0
    assert float(pipe.p) == 0.0
    assert pipe(x) is x
    d = {"rgb": x, "nir": x[:, :1]}
    out = pipe(d)
    assert out["rgb"] is d["rgb"] and out["nir"] is d["nir"]


def test_xflip_equals_torch_flip():
    x = torch.randn(32, 3, 8, 8)
    y = AugmentPipe(only(xflip=1), p=1.0)(x, generator=_gen())
    flipped = [torch.equal(y[i], x[i].flip(-1)) for i in range(32)]
    kept = [torch.equal(y[i], x[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_rotate90_equals_torch_rot90():
    x = torch.randn(32, 2, 8, 8)
    y = AugmentPipe(only(rotate90=1), p=1.0)(x, generator=_gen(1))
    ks = [[k for k in range(4) if torch.equal(y[i], torch.rot90(x[i], k, dims=(1, 2)))] for i in range(32)]
    assert all(len(k) == 1 for k in ks)
    assert {k[0] for k in ks} == {0, 1, 2, 3}


def test_integer_translation_is_exact_reflect_shift():
    x = torch.randn(1, 2, 16, 16)
    m = torch.eye(3)[None].clone()
    m[0, 0, 2], m[0, 1, 2] = -3.0, 2.0  # out(x, y) = in(x - 3, y + 2): right by 3, up by 2
    y = apply_blit(x, m)
    ref = F.pad(x, [3, 0, 0, 2], mode="reflect")[:, :, 2:, :16]
    assert torch.equal(y, ref)
    # Through the pipe: every output is a reflect-padded shift within xint_max * size = 2 pixels.
    xs = torch.randn(16, 1, 16, 16)
    ys = AugmentPipe(only(xint=1, xint_max=0.125), p=1.0)(xs, generator=_gen(2))
    big = F.pad(xs, [2, 2, 2, 2], mode="reflect")
    shifts = set()
    for i in range(16):
        found = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)
                 if torch.equal(ys[i], big[i, :, 2 - dy : 18 - dy, 2 - dx : 18 - dx])]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 3


def test_resampler_is_exact_on_the_pixel_grid():
    # The orthogonal (symlet-6) low-pass makes 2x up- then down-sampling an identity, so the
    # identity and integer shifts through the resampler equal the input / the exact blit.
    x = torch.randn(2, 3, 16, 16)
    m = torch.eye(3)[None].repeat(2, 1, 1)
    m[1, 0, 2], m[1, 1, 2] = -2.0, 3.0
    out = apply_resample(x, m)
    torch.testing.assert_close(out[0], x[0], rtol=0, atol=2e-5)
    torch.testing.assert_close(out[1], apply_blit(x[1:], m[1:])[0], rtol=0, atol=2e-5)


def test_resampling_matches_analytic_half_pixel_shift():
    img = _smooth()
    m = torch.eye(3)[None].clone()
    m[0, 0, 2] = 0.5  # sample half a pixel to the right
    out = apply_resample(img, m)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    xs = xx + 0.5 * 2 / 31
    shifted = torch.stack([torch.sin(3 * xs + 2 * yy), torch.cos(2 * xs - yy), yy * xs])
    assert (out[0] - shifted)[:, 6:-6, 6:-6].abs().max() < 1e-3


def test_resampling_matches_official_stylegan2_ada():
    # Reference: NVlabs stylegan2-ada-pytorch AugmentPipe(scale=1, rotate=1, aniso=1, xfrac=1), p=1,
    # debug_percentile=0.6 on this input (run outside the repository; slices stored below).
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    img = torch.stack([torch.sin(0.9 * xx + 0.4 * yy) + 0.3 * torch.cos(1.7 * yy), torch.cos(0.5 * xx * yy / 4)])[None]
    e = float(torch.erfinv(torch.tensor(0.2)))
    s, t, th = 2 ** (e * 0.2), e * 0.125 * 16, 0.2 * math.pi
    scale = torch.diag(torch.tensor([1 / s, 1 / s, 1.0], dtype=torch.float64))
    rot = torch.tensor([[math.cos(th), -math.sin(th), 0], [math.sin(th), math.cos(th), 0], [0, 0, 1]],
                       dtype=torch.float64)
    aniso = torch.diag(torch.tensor([1 / s, s, 1.0], dtype=torch.float64))
    shift = torch.eye(3, dtype=torch.float64)
    shift[0, 2] = shift[1, 2] = -t
    out = apply_resample(img, (scale @ rot @ aniso @ shift).float()[None])
    row = [0.0925, -0.96929, -1.23204, -0.528, 0.60093, 1.24348, 0.90751, -0.15978,
           -1.09062, -1.1543, -0.30889, 0.79375, 1.24624, 0.72942, -0.37367, -1.23127]
    col = [-0.04757, 0.74285, 0.98456, 0.74069, 0.30116, -0.10894, -0.39499, -0.55201,
           -0.60274, -0.55994, -0.4158, -0.149, 0.23758, 0.66506, 0.93851, 0.79176]
    torch.testing.assert_close(out[0, 0, 5, :], torch.tensor(row), rtol=0, atol=1e-4)
    torch.testing.assert_close(out[0, 1, :, 3], torch.tensor(col), rtol=0, atol=1e-4)


def test_general_geometry_and_colour_run_and_stay_finite():
    x = _smooth(8)
    y = AugmentPipe(p=1.0)(x, generator=_gen(3))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert not torch.equal(y, x)


def test_same_generator_seed_same_output():
    x = torch.randn(6, 3, 16, 16)
    pipe = AugmentPipe(p=0.8)
    a, b = pipe(x, generator=_gen(5)), pipe(x, generator=_gen(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, pipe(x, generator=_gen(6)))
    # The global RNG is neither used nor advanced.
    torch.manual_seed(0)
    before = torch.get_rng_state()
    pipe(x)
    assert torch.equal(before, torch.get_rng_state())


def test_gradients_flow_and_gradcheck():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    pipe = AugmentPipe(p=1.0)

    def f(t):
        return pipe(t, generator=_gen(4))

    assert not is_identity(sample_geometry(2, config=pipe.config, p=pipe.p, width=8, height=8, generator=_gen(4),
                                           device=torch.device("cpu"))[1]).all()  # the resampler runs
    # fast_mode: checks random projections of the Jacobian (few evaluations instead of one per input).
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, fast_mode=True)
    # Second order (R1 through augmented reals): the gradient of the gradient exists.
    y = f(x)
    (g,) = torch.autograd.grad((y * y).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.square().sum(), x)
    assert torch.isfinite(gg).all() and gg.abs().sum() > 0


def test_dict_branches_stay_aligned():
    rgb = _smooth(6)
    grey = rgb.mean(dim=1, keepdim=True)
    geometry = only(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1)
    pipe = AugmentPipe(geometry, p=1.0)
    out = pipe({"rgb": rgb, "nir": grey}, generator=_gen(7))
    # Geometry is linear and per channel, so the grey of the augmented RGB is the augmented grey.
    torch.testing.assert_close(out["rgb"].mean(dim=1, keepdim=True), out["nir"], rtol=0, atol=1e-5)
    alone = pipe(rgb, generator=_gen(7))
    assert not torch.equal(alone, rgb)
    # Colour ops: luma ops shared per sample, hue/saturation only on RGB.
    full = AugmentPipe(p=1.0)({"rgb": rgb, "nir": grey}, generator=_gen(8))
    assert full["nir"].shape == grey.shape and torch.isfinite(full["nir"]).all()


def test_colour_on_grey_is_the_luma_part():
    n = 16
    color = sample_color(n, config=AugmentConfig(), p=torch.tensor(1.0), rgb=True, generator=_gen(9),
                         device=torch.device("cpu"))
    grey = torch.rand(n, 1, 4, 4) * 2 - 1
    rgb = grey.expand(n, 3, 4, 4)
    # Hue and saturation leave grey pixels grey, so colour-then-grey equals grey-then-luma-part.
    torch.testing.assert_close(apply_color(rgb, color), apply_color(grey, color).expand(n, 3, 4, 4),
                               rtol=0, atol=1e-5)
    lumaflip = sample_color(64, config=only(lumaflip=1), p=torch.tensor(1.0), rgb=False, generator=_gen(10),
                            device=torch.device("cpu"))
    y = apply_color(torch.full((64, 1, 1, 1), 0.3), lumaflip).flatten()
    flipped = (y + 0.3).abs() < 1e-6
    assert (flipped | ((y - 0.3).abs() < 1e-6)).all() and 0 < int(flipped.sum()) < 64


def test_config_and_input_errors():
    with pytest.raises(InputError, match="xflip"):
        AugmentConfig(xflip=-1)
    with pytest.raises(InputError):
        AugmentPipe(p=1.0)(torch.zeros(2, 3, 8))
    with pytest.raises(InputError):
        AugmentPipe(p=1.0)({"rgb": torch.zeros(2, 3, 8, 8), "nir": torch.zeros(2, 1, 16, 16)})


def test_ada_controller_moves_p_by_documented_step():
    pipe = AugmentPipe()
    ada = AdaController(target=0.6, interval=4, adjust_kimg=500, batch_size=32)
    step = 32 * 4 / (500 * 1000)
    assert math.isclose(ada.step_size, step)
    overconfident = torch.tensor([3.0, 2.0, 1.0, 0.5])  # sign mean 1 > 0.6
    results = []
    for _ in range(8):
        ada.accumulate(overconfident)
        results.append(ada.update(pipe))
    assert results[:3] == [None] * 3 and results[3] == 1.0 and results[7] == 1.0
    assert math.isclose(float(pipe.p), 2 * step, rel_tol=1e-6)
    balanced = torch.tensor([1.0, -1.0, 1.0, -1.0])  # sign mean 0 < 0.6
    for _ in range(4):
        ada.accumulate(balanced)
        ada.update(pipe)
    assert math.isclose(float(pipe.p), step, rel_tol=1e-6)
    for _ in range(12):  # never below zero
        ada.accumulate(balanced)
        ada.update(pipe)
    assert float(pipe.p) == 0.0


def test_ada_state_dict_round_trip_and_all_reduce():
    calls = []

    def fake_all_reduce(t):  # another rank reported all-negative logits
        calls.append(t.clone())
        return t + torch.tensor([-4.0, 4.0], dtype=t.dtype)

    pipe = AugmentPipe(p=0.5)
    ada = AdaController(interval=2, batch_size=8, all_reduce=fake_all_reduce)
    ada.accumulate(torch.ones(4))
    ada.update(pipe)
    ada.accumulate(torch.tensor([1.0, 1.0, 1.0, -1.0]))
    state = ada.state_dict()  # mid-interval: one step counted, partial sums pending
    restored = AdaController(interval=2, batch_size=8, all_reduce=fake_all_reduce)
    restored.load_state_dict(state)
    other_pipe = AugmentPipe()
    other_pipe.load_state_dict(pipe.state_dict())
    r1, r2 = ada.update(pipe), restored.update(other_pipe)
    # (4 + 2 - 4) / (8 + 4) = 1/6 < 0.6: both step down identically.
    assert r1 == r2 and math.isclose(r1, 1 / 6)
    assert float(pipe.p) == float(other_pipe.p) and math.isclose(float(pipe.p), 0.5 - ada.step_size, rel_tol=1e-6)
    assert len(calls) == 2 and calls[0].tolist() == [6.0, 8.0]
