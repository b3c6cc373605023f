"""StyleGAN2 loss terms, EMA and the lazy-regularisation Adam correction against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from synthbio.nn.config import DiscriminatorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.training import losses
from synthbio.training.configs import TrainConfig, lazy_regularization_adam, resolve_plan
from synthbio.training.ema import ema_beta, update_ema
from synthbio.training.loop import build_networks, build_optimizers


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_logistic_losses_equal_log_sigmoid_forms() -> None:
    real = torch.tensor([[2.0], [-0.5], [0.0]])
    fake = torch.tensor([[-1.0], [3.0], [0.25]])
    g = losses.g_nonsaturating_loss(fake)
    d = losses.d_logistic_loss(real, fake)
    for i in range(3):
        r, f = float(real[i]), float(fake[i])
        assert float(g[i]) == pytest.approx(-math.log(_sigmoid(f)), rel=1e-6)
        assert float(d[i]) == pytest.approx(-math.log(_sigmoid(r)) - math.log(1 - _sigmoid(f)), rel=1e-6)
    assert g.shape == d.shape == (3,)
    assert torch.allclose(losses.d_real_loss(real) + losses.d_fake_loss(fake), d)


def test_r1_penalty_of_a_quadratic_critic_is_analytic() -> None:
    # D(x) = sum(a * x^2) per sample -> dD/dx = 2 a x -> penalty = sum((2 a x)^2).
    x = torch.randn([3, 2, 4, 4], generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    a = torch.linspace(0.1, 1.0, 32).reshape(1, 2, 4, 4)
    logits = (a * x.square()).sum(dim=[1, 2, 3]).unsqueeze(1)
    penalty = losses.d_r1_penalty(logits, x)
    expected = (2 * a * x.detach()).square().sum(dim=[1, 2, 3])
    torch.testing.assert_close(penalty, expected)
    penalty.sum().backward()  # create_graph: the penalty is differentiable
    torch.testing.assert_close(x.grad, (8 * a.square() * x.detach()))


def test_r1_penalty_matches_explicit_autograd_on_a_discriminator() -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        D = Discriminator(DiscriminatorConfig(img_resolution=8, img_channels=1, channel_base=64, channel_max=8,
                                              mbstd_num_channels=0))
    x = torch.randn([4, 1, 8, 8], generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    penalty = losses.d_r1_penalty(D(x), x)
    # Without minibatch-stddev the samples are independent: one grad per sample.
    for i in range(4):
        xi = x.detach()[i:i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(xi).sum(), xi)
        assert float(penalty[i].detach()) == pytest.approx(float(g.square().sum()), rel=1e-5)
    # Loss scaling (fp16) leaves the value unchanged.
    torch.testing.assert_close(losses.d_r1_penalty(D(x), x, grad_scale=1024.0), penalty, rtol=1e-5, atol=1e-7)


def test_path_length_of_a_linear_generator_and_branch_sum() -> None:
    gen = torch.Generator().manual_seed(3)
    n, num_ws, w_dim, res = 2, 3, 5, 4
    A = torch.randn([w_dim, res * res], generator=gen)
    B = torch.randn([w_dim, res * res], generator=gen)
    ws = torch.randn([n, num_ws, w_dim], generator=gen).requires_grad_(True)
    rgb = (ws.sum(dim=1) @ A).reshape(n, 1, res, res)  # every layer feeds the image equally
    nir = (ws[:, 0] @ B).reshape(n, 1, res, res)  # only layer 0 feeds NIR
    noise = losses.path_length_noise({"rgb": rgb, "nir": nir}, generator=torch.Generator().manual_seed(4))
    lengths = losses.path_lengths({"rgb": rgb, "nir": nir}, ws, noise)
    ga = noise["rgb"].reshape(n, -1) @ A.t()  # d<rgb, y>/dw_l, same for every layer l  [N, w_dim]
    gb = noise["nir"].reshape(n, -1) @ B.t()  # only layer 0
    per_layer = torch.stack([(ga + gb).square().sum(1), ga.square().sum(1), ga.square().sum(1)], dim=1)
    torch.testing.assert_close(lengths, per_layer.mean(1).sqrt())
    assert float(noise["rgb"].std()) == pytest.approx(1 / res, rel=0.6)  # N(0,1)/sqrt(H W)


def test_path_length_penalty_updates_the_running_mean_first() -> None:
    lengths = torch.tensor([1.0, 3.0])
    penalty, new_mean = losses.g_path_length_penalty(lengths, torch.tensor(0.5), decay=0.01)
    assert float(new_mean) == pytest.approx(0.5 + 0.01 * (2.0 - 0.5))
    torch.testing.assert_close(penalty, (lengths - float(new_mean)).square())
    assert not new_mean.requires_grad


def test_style_mixing_cutoff_range_and_probability() -> None:
    gen = torch.Generator().manual_seed(5)
    cuts = [losses.style_mixing_cutoff(8, prob=0.9, generator=gen) for _ in range(2000)]
    assert min(cuts) == 1 and max(cuts) == 8
    mixed = sum(c < 8 for c in cuts) / len(cuts)
    assert 0.85 < mixed < 0.92  # 0.9 * (7/7), cutoff 8 never drawn by randint(1, 8)
    assert all(losses.style_mixing_cutoff(8, prob=0.0, generator=gen) == 8 for _ in range(50))
    a, b = torch.zeros([2, 8, 3]), torch.ones([2, 8, 3])
    m = losses.mix_styles(a, b, 5)
    assert m[:, :5].eq(0).all() and m[:, 5:].eq(1).all()


def test_ema_beta_formula_and_rampup() -> None:
    assert ema_beta(batch_size=32, ema_kimg=10, cur_nimg=0, ema_rampup=0.05) == 0.0  # G_ema = G at start
    assert ema_beta(batch_size=32, ema_kimg=10, cur_nimg=10**9) == pytest.approx(0.5 ** (32 / 10000))
    # Ramp-up: half-life min(10000, 0.05 * 4000 = 200) images.
    assert ema_beta(batch_size=32, ema_kimg=10, cur_nimg=4000, ema_rampup=0.05) == pytest.approx(0.5 ** (32 / 200))
    assert ema_beta(batch_size=32, ema_kimg=10, cur_nimg=10**7, ema_rampup=0.05) == pytest.approx(0.5 ** (32 / 10000))


def test_update_ema_lerps_parameters_and_copies_buffers() -> None:
    src, ema = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        src.weight.fill_(2.0)
        ema.weight.fill_(1.0)
        src.running_mean.fill_(7.0)
    update_ema(ema, src, 0.25)
    torch.testing.assert_close(ema.weight, torch.full([3], 2.0 + 0.25 * (1.0 - 2.0)))
    torch.testing.assert_close(ema.running_mean, torch.full([3], 7.0))


def test_lazy_regularization_adam_correction() -> None:
    lr, betas = lazy_regularization_adam(lr=0.0025, betas=(0.0, 0.99), interval=16)
    assert lr == pytest.approx(0.0025 * 16 / 17)
    assert betas == (0.0, pytest.approx(0.99 ** (16 / 17)))
    cfg = TrainConfig(data="unused", outdir="unused", config="tiny")
    plan = resolve_plan(cfg, resolution=16, branches=(("img", 1),), c_dim=0)
    G, D, _ = build_networks(plan, seed=0, device=torch.device("cpu"))
    G_opt, D_opt = build_optimizers(plan, cfg, G, D)
    g_group, d_group = G_opt.param_groups[0], D_opt.param_groups[0]
    assert g_group["lr"] == pytest.approx(0.0025 * 4 / 5) and g_group["betas"][1] == pytest.approx(0.99 ** 0.8)
    assert d_group["lr"] == pytest.approx(0.0025 * 16 / 17) and g_group["eps"] == 1e-8
