"""IdentityModel protocol: pixel-random, nbis-bozorth3, the factory and its errors."""

from __future__ import annotations

import math

import pytest
import torch

from synthbio.errors import InputError, ModelNotFoundError
from synthbio.identity.models import (
    IDENTITY_MODELS,
    IdentityModel,
    angle_distance,
    build_identity_model,
    cosine_similarity_matrix,
)


def _images(n: int, size: int = 32, channels: int = 3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=gen) * 2 - 1


def test_pixel_random_follows_the_protocol() -> None:
    m = build_identity_model("pixel-random")
    assert isinstance(m, IdentityModel)
    assert (m.name, m.embedding_dim, m.differentiable, m.kind) == ("pixel-random", 128, True, "vector")
    e = m.embed(_images(3))
    assert e.shape == (3, 128) and e.dtype == torch.float32
    s = m.similarity(e, e[:2])
    assert s.shape == (3, 2) and s.dtype == torch.float32
    torch.testing.assert_close(s.diagonal(), torch.ones(2), atol=1e-5, rtol=0)
    # distinct images must not collapse onto one embedding
    assert float(s[2].max()) < 0.95


def test_pixel_random_is_fixed_and_batch_independent() -> None:
    x = _images(4, size=48)
    a = build_identity_model("pixel-random").embed(x)
    b = build_identity_model("pixel-random").embed(x[2:3])
    torch.testing.assert_close(a[2:3], b, atol=1e-5, rtol=1e-5)
    # grayscale input is repeated to RGB
    g = _images(1, channels=1)
    m = build_identity_model("pixel-random")
    torch.testing.assert_close(m.embed(g), m.embed(g.expand(-1, 3, -1, -1)))


def test_pixel_random_gradient_reaches_the_images() -> None:
    m = build_identity_model("pixel-random")
    x = _images(2, size=64).requires_grad_(True)
    loss = 1 - m.similarity(m.embed(x[:1]), m.embed(x[1:])).sum()
    loss.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(not p.requires_grad for p in m.parameters())


def test_pixel_random_gradient_matches_finite_difference() -> None:
    # directional derivative (float64): autograd grad . v == central difference along v
    m = build_identity_model("pixel-random").double()
    x = _images(1, size=64).double().requires_grad_(True)
    v = _images(1, size=64, seed=1).double()
    f = lambda t: m.embed(t)[0, :8].sum()  # noqa: E731
    (grad,) = torch.autograd.grad(f(x), x)
    eps = 1e-5
    with torch.no_grad():
        numeric = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)
    assert abs(float((grad * v).sum()) - float(numeric)) <= 1e-6 * max(1.0, abs(float(numeric)))


def test_angle_distance() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[1.0, 1.0]])
    cos = cosine_similarity_matrix(a, b)
    torch.testing.assert_close(angle_distance(cos), torch.full((2, 1), math.pi / 4))
    # rounding above 1 must not give NaN
    assert float(angle_distance(torch.tensor(1.0000001))) == 0.0


def test_bad_inputs_raise_input_error() -> None:
    m = build_identity_model("pixel-random")
    with pytest.raises(InputError, match="channels"):
        m.embed(torch.zeros(1, 2, 16, 16))
    with pytest.raises(InputError, match=r"\[N, C, H, W\]"):
        m.embed(torch.zeros(3, 16, 16))
    with pytest.raises(InputError, match="floating"):
        m.embed(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
    with pytest.raises(InputError, match="same D"):
        m.similarity(torch.zeros(1, 4), torch.zeros(1, 5))


def test_unknown_name_lists_the_models() -> None:
    with pytest.raises(ModelNotFoundError) as info:
        build_identity_model("facenet")
    msg = str(info.value)
    assert "facenet" in msg and all(name in msg for name in IDENTITY_MODELS)


def test_iresnet_models_need_weights() -> None:
    with pytest.raises(ModelNotFoundError, match="weights"):
        build_identity_model("arcface-r100")


def _fingerprint(seed: int, shift: int = 0) -> torch.Tensor:
    from synthbio.fingerprints.master import MasterConfig, generate_master

    m = generate_master(seed, MasterConfig(width=256, height=320, fp_class="left_loop"))
    ridges = torch.from_numpy(m.ridges).float()
    ridges = torch.roll(ridges, shifts=(shift, shift), dims=(0, 1))
    return (1 - 2 * ridges)[None, None]  # dark ridges on light background, [-1, 1]


def test_bozorth3_genuine_above_threshold_impostor_below() -> None:
    from synthbio.fingerprints.matching import NbisLibraryError, nbis_library

    try:
        nbis_library()
    except NbisLibraryError as exc:
        pytest.skip(f"native NBIS library not built: {exc}")
    m = build_identity_model("nbis-bozorth3")
    assert isinstance(m, IdentityModel)
    assert (m.kind, m.embedding_dim, m.differentiable, m.threshold) == ("template", None, False, 40.0)
    templates = m.embed(torch.cat([_fingerprint(1), _fingerprint(1, shift=6), _fingerprint(2)]))
    assert len(templates) == 3 and all(len(t.minutiae) >= 10 for t in templates)
    s = m.similarity(templates[:1], templates)
    assert s.shape == (1, 3) and s.dtype == torch.float32
    assert float(s[0, 1]) >= m.threshold > float(s[0, 2])
    assert float(s[0, 0]) >= float(s[0, 1])
