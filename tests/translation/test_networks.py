"""Translator networks: shapes, sizes, initialisation, spectral norm, self-attention, config round trip."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from translation_helpers import tiny_config

from synthbio.errors import InputError
from synthbio.translation.config import TranslatorConfig
from synthbio.translation.layers import (
    SelfAttention,
    SpectralNorm,
    maybe_spectral,
    self_attention,
)
from synthbio.translation.networks import build_discriminators, build_generators

pytestmark = pytest.mark.usefixtures("one_thread")


def test_generator_shapes_and_style_dependence() -> None:
    cfg = tiny_config(channels_a=1, channels_b=3)
    G = build_generators(cfg, seed=0).eval()
    x = torch.rand(2, 1, 32, 48) * 2 - 1
    c, s = G["a"].encode(x)
    assert c.shape == (2, cfg.content_channels, 8, 12) and s.shape == (2, cfg.style_dim)
    y1 = G["b"].decode(c, torch.zeros(2, cfg.style_dim))
    y2 = G["b"].decode(c, torch.ones(2, cfg.style_dim))
    assert y1.shape == (2, 3, 32, 48)
    assert float(y1.detach().abs().max()) <= 1.0  # tanh output
    assert not torch.allclose(y1, y2)  # AdaIN carries the style


def test_discriminator_scales() -> None:
    cfg = tiny_config()
    D = build_discriminators(cfg)
    outs = D["a"](torch.zeros(3, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(3, 1, 8, 8), (3, 1, 4, 4)]


def test_initialisation_is_seeded_and_leaves_global_rng_alone() -> None:
    cfg = tiny_config()
    before = torch.random.get_rng_state()
    a = build_generators(cfg, seed=3).state_dict()
    assert torch.equal(before, torch.random.get_rng_state())
    b = build_generators(cfg, seed=3).state_dict()
    c = build_generators(cfg, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() and a[k].numel() > 1)


def test_too_small_or_wrong_channel_images_are_refused() -> None:
    cfg = tiny_config(channels_a=1)
    G = build_generators(cfg)
    with pytest.raises(InputError, match="too small"):
        G["a"].encode(torch.zeros(1, 1, 8, 8))
    with pytest.raises(InputError, match=r"\[N, 1, H, W\]"):
        G["a"].encode(torch.zeros(1, 3, 32, 32))
    D = build_discriminators(cfg)
    with pytest.raises(InputError, match="too small"):
        D["a"](torch.zeros(1, 1, 4, 4))


def test_config_checks_and_round_trip() -> None:
    cfg = TranslatorConfig(channels_a=1, g_attention=("decoder",), d_spectral_norm=False)
    assert TranslatorConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.min_train_size == 64 and cfg.min_generator_size == 16 and cfg.size_multiple == 4
    with pytest.raises(InputError, match="channels_b"):
        TranslatorConfig(channels_b=2)
    with pytest.raises(InputError, match="g_attention"):
        TranslatorConfig(g_attention=("encoder",))
    with pytest.raises(InputError, match="unknown translator config fields"):
        TranslatorConfig.from_dict({"dim": 8, "depth": 3})


@pytest.mark.parametrize("overrides", [{}, {"channels_a": 1, "n_downsample": 3, "style_downsample": 5},
                                       {"g_attention": (), "d_attention": False, "attention_blocks": 3}])
def test_parameter_count_bounds_the_real_networks(overrides: dict) -> None:
    """The size check counts the weight tensors of both G and D to within a few percent (never under)."""
    cfg = TranslatorConfig(**{"dim": 16, "mlp_dim": 32, "d_dim": 16, **overrides})
    real = sum(p.numel() for nets in (build_generators(cfg), build_discriminators(cfg))
               for p in nets.parameters() if p.ndim > 1)
    assert real <= cfg.parameter_count() <= 1.05 * real


def test_spectral_norm_reaches_unit_largest_singular_value() -> None:
    gen = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(6, 5, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 3)
    maybe_spectral(conv, True)
    sn = conv.parametrizations.weight[0]
    assert isinstance(sn, SpectralNorm)
    sn.reset(conv.parametrizations.weight.original, generator=gen, iterations=50)
    conv.eval()
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert abs(float(sigma) - 1.0) < 1e-4
    # eval mode: u and v stay put; training mode: one power step per forward
    u = sn.u.clone()
    conv(torch.zeros(1, 6, 5, 5))
    assert torch.equal(u, sn.u)
    conv.train()
    with torch.no_grad():
        conv.parametrizations.weight.original.mul_(-1).add_(torch.randn(5, 6, 3, 3, generator=gen))
    conv(torch.zeros(1, 6, 5, 5))
    assert not torch.equal(u, sn.u)


def test_self_attention_matches_the_sagan_formula() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, 5, 6, generator=gen)
    q, k = torch.randn(2, 2, 5, 6, generator=gen), torch.randn(2, 2, 5, 6, generator=gen)
    v = torch.randn(2, 16, 5, 6, generator=gen)
    gamma = torch.tensor(0.7)
    # SAGAN eq. 1-3: beta_{j,i} = softmax_i(q_j . k_i); o_j = sum_i beta_{j,i} v_i; y = x + gamma o
    beta = F.softmax(torch.einsum("ncj,nci->nji", q.flatten(2), k.flatten(2)), dim=-1)
    o = torch.einsum("nji,nci->ncj", beta, v.flatten(2)).reshape(x.shape)
    torch.testing.assert_close(self_attention(x, q, k, v, gamma), x + gamma * o, atol=1e-5, rtol=1e-5)
    block = SelfAttention(16, spectral=True)
    torch.testing.assert_close(block(x), x)  # gamma starts at 0: the block starts as the identity


def test_fused_attention_path_matches_the_plain_one() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 16, 48, 48, generator=gen)  # 2304 positions: the fused (padded) path
    q, k = torch.randn(1, 2, 48, 48, generator=gen), torch.randn(1, 2, 48, 48, generator=gen)
    v = torch.randn(1, 16, 48, 48, generator=gen)
    beta = F.softmax(torch.einsum("ncj,nci->nji", q.flatten(2), k.flatten(2)), dim=-1)
    o = torch.einsum("nji,nci->ncj", beta, v.flatten(2)).reshape(x.shape)
    torch.testing.assert_close(self_attention(x, q, k, v, torch.tensor(1.0)), x + o, atol=1e-4, rtol=1e-4)
