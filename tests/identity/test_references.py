"""References: rejection sampling, Langevin repulsion, derivative-free search (tiny G, tiny embedder)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import InputError
from synthbio.generation.sampling import map_seeds
from synthbio.identity.references import (
    References,
    angles,
    derivative_free_references,
    embed_latents,
    embedding_energy_grad,
    langevin_references,
    latent_state,
    min_pairwise_angle,
    normalize_embeddings,
    repulsion_energy,
    sample_references_rejection,
    step_size,
)
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.utils.seeds import generators_from_seeds

TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)


def tiny_generator() -> torch.nn.Module:
    return build_demo_generator(GeneratorConfig(**TINY), seed=1)


class TinyEmbedder(torch.nn.Module):
    """Differentiable stand-in for an IdentityModel (vector kind): pooled pixels -> 2-layer MLP -> 16-d."""

    name = "tiny-embedder"
    embedding_dim = 16
    differentiable = True
    threshold = 0.5
    kind = "vector"

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w1 = torch.randn(192, 32, generator=g) / math.sqrt(192)
        self.b1 = torch.randn(32, generator=g) * 0.5
        self.w2 = torch.randn(32, 16, generator=g) / math.sqrt(32)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(images, 8)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        h = self.preprocess(images).flatten(1)
        h = (h - h.mean(1, keepdim=True)) / (h.std(1, keepdim=True) + 1e-6)
        return F.leaky_relu(h @ self.w1 + self.b1, 0.2) @ self.w2

    def similarity(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return F.normalize(a.float(), dim=1) @ F.normalize(b.float(), dim=1).T


class TinyMatcher:
    """Template-kind stand-in: templates are opaque per-image objects, scores = 100 * cosine, no gradients."""

    name = "tiny-matcher"
    embedding_dim = None
    differentiable = False
    threshold = 50.0
    kind = "template"

    def __init__(self) -> None:
        self.inner = TinyEmbedder()

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def embed(self, images: torch.Tensor) -> list[tuple[float, ...]]:
        return [tuple(row.tolist()) for row in self.inner.embed(images).detach()]

    def similarity(self, a: list, b: list) -> torch.Tensor:
        return 100 * self.inner.similarity(torch.tensor(list(a)), torch.tensor(list(b)))


@pytest.fixture(scope="module")
def G() -> torch.nn.Module:
    return tiny_generator()


@pytest.fixture(scope="module")
def model() -> TinyEmbedder:
    return TinyEmbedder()


def pairwise_min_angle(model, ws, G) -> float:
    return min_pairwise_angle(normalize_embeddings(embed_latents(G, model, ws)))


def test_rejection_satisfies_threshold_and_is_batch_size_independent(G, model):
    a = sample_references_rejection(G, model, num=6, threshold_angle=0.9, batch_size=3)
    b = sample_references_rejection(G, model, num=6, threshold_angle=0.9, batch_size=7)
    assert a.seeds == b.seeds and a.attempts == b.attempts
    assert torch.equal(a.ws, b.ws) and torch.equal(a.z, b.z)
    torch.testing.assert_close(a.embeddings, b.embeddings)
    assert a.ws.shape == (6, G.num_ws, G.w_dim) and len(a) == 6
    assert a.rejected == a.attempts - 6 > 0  # this threshold rejects some candidates
    e = normalize_embeddings(a.embeddings)
    assert min_pairwise_angle(e) > 0.9
    # The kept seeds are exactly the greedy choice in seed order.
    _, ws = map_seeds(G, list(range(a.attempts)))
    ee = normalize_embeddings(embed_latents(G, model, ws))
    kept: list[int] = []
    for i in range(a.attempts):
        if all(float(angles(ee[i:i + 1], ee[j:j + 1])) > 0.9 for j in kept):
            kept.append(i)
    assert kept[:6] == a.seeds
    # The embeddings returned are the model's embeddings of the returned ws.
    torch.testing.assert_close(a.embeddings, embed_latents(G, model, a.ws))


def test_rejection_template_kind_uses_scores(G):
    matcher = TinyMatcher()
    refs = sample_references_rejection(G, matcher, num=4, score_threshold=60.0, seeds=range(100, 160), batch_size=5)
    assert len(refs.embeddings) == 4 and refs.seeds[0] == 100
    s = matcher.similarity(refs.embeddings, refs.embeddings)
    assert float((s - 1000 * torch.eye(4)).max()) < 60.0


def test_rejection_errors(G, model):
    with pytest.raises(InputError, match="only .* of 50 references"):
        sample_references_rejection(G, model, num=50, threshold_angle=1.5, max_attempts=20)
    with pytest.raises(InputError, match="threshold angle"):
        sample_references_rejection(G, model, num=2, threshold_angle=0.0)
    with pytest.raises(InputError, match="repeat"):
        sample_references_rejection(G, model, num=2, seeds=[1, 1, 2])
    with pytest.raises(InputError, match="noise mode"):
        sample_references_rejection(G, model, num=2, noise_mode="random")


def test_repulsion_energy_values():
    e = torch.tensor([[1.0, 0.0], [math.cos(0.5), math.sin(0.5)], [0.0, 1.0]])
    # Pairs: 0.5, pi/2 - 0.5, pi/2 rad; only those below d0 = 1.4 count.
    expected = 0.5 * 2.0 * ((1.4 - 0.5) ** 2 + (1.4 - (math.pi / 2 - 0.5)) ** 2)
    assert float(repulsion_energy(e, k=2.0, d0=1.4)) == pytest.approx(expected, rel=1e-5)
    assert min_pairwise_angle(e) == pytest.approx(0.5, abs=1e-5)


def test_chunked_gradient_equals_single_pass(G, model):
    _, ws = map_seeds(G, list(range(7)))
    x = latent_state(ws, G.num_ws, G.w_dim)
    assert x.shape == (7, G.w_dim)  # broadcast ws collapse to W

    def energy(e):
        return repulsion_energy(e, k=1.0, d0=1.4)

    g_one, e_one = embedding_energy_grad(G, model, x, energy, batch_size=16)
    g_chunk, e_chunk = embedding_energy_grad(G, model, x, energy, batch_size=3)
    assert g_one.abs().max() > 0
    torch.testing.assert_close(g_chunk, g_one, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(e_chunk, e_one, rtol=1e-5, atol=1e-6)


def test_adaptive_step_bounds_the_largest_update():
    force = torch.tensor([[30.0, 40.0], [0.3, 0.4]])  # norms 50 and 0.5, sqrt(P) = sqrt(2)
    assert step_size(0.3, force) == 0.3
    assert step_size(-0.3, force) == pytest.approx(0.3 * math.sqrt(2) / 50)
    assert step_size(-0.3, force[1:]) == pytest.approx(0.3)


def test_langevin_increases_min_angle(G, model):
    _, ws = map_seeds(G, list(range(6)))
    before = pairwise_min_angle(model, ws, G)
    refs = langevin_references(G, model, ws, iterations=8, k=1.0, d0=1.4, dt=-0.3, k_l=0.1, eta=0.01,
                               generator=generators_from_seeds(range(6)), batch_size=4)
    after = pairwise_min_angle(model, refs.ws, G)
    assert after > before + 0.1
    assert refs.attempts == 8 and len(refs.trace) == 8 and refs.trace[0] == pytest.approx(before, abs=1e-4)
    assert refs.ws.shape == ws.shape and bool((refs.ws == refs.ws[:, :1]).all())  # moved in W
    again = langevin_references(G, model, ws, iterations=8, dt=-0.3, generator=generators_from_seeds(range(6)),
                                batch_size=16)
    torch.testing.assert_close(again.ws, refs.ws, rtol=1e-4, atol=1e-5)  # same seeds -> same result


def test_langevin_needs_a_differentiable_model_and_a_generator(G, model):
    _, ws = map_seeds(G, [0, 1])
    with pytest.raises(InputError, match="differentiable"):
        langevin_references(G, TinyMatcher(), ws, iterations=1, generator=torch.Generator())
    with pytest.raises(InputError, match="generator"):
        langevin_references(G, model, ws, iterations=1)
    with pytest.raises(InputError, match="latents must be"):
        langevin_references(G, model, ws[:, :2], iterations=1, eta=0)


def test_derivative_free_resolves_conflicts_deterministically(G):
    matcher = TinyMatcher()
    z, ws = map_seeds(G, list(range(6)))
    init = References(ws=ws, z=z, seeds=list(range(6)), embeddings=None, attempts=6)
    s0 = matcher.similarity(embed_latents(G, matcher, ws), embed_latents(G, matcher, ws)) - 1000 * torch.eye(6)
    assert float(s0.max()) >= 70.0  # some pairs conflict at the start
    out = derivative_free_references(G, matcher, init, score_threshold=70.0, max_proposals=200)
    s = matcher.similarity(out.embeddings, out.embeddings) - 1000 * torch.eye(6)
    assert float(s.max()) < 70.0 and out.trace[-1] == 0 and out.trace[0] > 0
    again = derivative_free_references(G, matcher, init, score_threshold=70.0, max_proposals=200)
    assert torch.equal(again.ws, out.ws) and again.attempts == out.attempts
    # z still maps to ws.
    torch.testing.assert_close(G.mapping(out.z, None), out.ws)
    with pytest.raises(InputError, match="carry z"):
        derivative_free_references(G, matcher, References(ws=ws, z=None, seeds=list(range(6)),
                                                          embeddings=None, attempts=0))
