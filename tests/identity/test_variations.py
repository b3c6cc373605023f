"""Variations: dispersion, DisCo, style mixing, the ArcBiFaceGAN check (tiny G, tiny embedder)."""

from __future__ import annotations

import pytest
import torch
from test_references import TinyEmbedder, TinyMatcher, tiny_generator

from synthbio.errors import InputError
from synthbio.generation.sampling import map_seeds
from synthbio.identity.references import angles, embed_latents, latent_distances, normalize_embeddings
from synthbio.identity.variations import (
    check_variations,
    disco_variations,
    dispersion_variations,
    latent_repulsion_energy,
    style_mixing_variations,
)


@pytest.fixture(scope="module")
def G() -> torch.nn.Module:
    return tiny_generator()


@pytest.fixture(scope="module")
def model() -> TinyEmbedder:
    return TinyEmbedder()


@pytest.fixture(scope="module")
def latents(G):
    return map_seeds(G, list(range(24)))[1]


def test_latent_repulsion_energy_values():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [30.0, 0.0]])  # distances 5, 30, ~26.9
    assert float(latent_repulsion_energy(x, k_w=2.0, r=12.0)) == pytest.approx(2.0 * 0.25 * 7.0 ** 2)


def test_dispersion_keeps_identity_and_spreads_latents(G, model, latents):
    ref = latents[0]
    v = dispersion_variations(G, model, ref, num=6, iterations=12, generator=torch.Generator().manual_seed(3),
                              batch_size=4)
    assert v.ws.shape == (6, G.num_ws, G.w_dim) and len(v) == 6
    e_ref = normalize_embeddings(v.reference_embedding)
    to_ref = angles(normalize_embeddings(v.embeddings), e_ref)
    random_to_ref = angles(normalize_embeddings(embed_latents(G, model, latents[1:])), e_ref)
    assert float(to_ref.mean()) < 0.7 * float(random_to_ref.mean())
    # The latents spread: farther apart than the initial noise puts them, and than random identities are.
    spread = latent_distances(v.ws[:, 0])[torch.triu_indices(6, 6, 1).unbind()]
    random_spread = latent_distances(latents[1:, 0])[torch.triu_indices(23, 23, 1).unbind()]
    assert float(spread.mean()) > float(random_spread.mean())
    again = dispersion_variations(G, model, ref, num=6, iterations=12, generator=torch.Generator().manual_seed(3),
                                  batch_size=16)
    torch.testing.assert_close(again.ws, v.ws, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(v.embeddings, embed_latents(G, model, v.ws))


def test_dispersion_errors(G, model, latents):
    with pytest.raises(InputError, match="differentiable"):
        dispersion_variations(G, TinyMatcher(), latents[0], generator=torch.Generator())
    with pytest.raises(InputError, match="generator"):
        dispersion_variations(G, model, latents[0], generator=None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="reference_w must be one latent"):
        dispersion_variations(G, model, latents[:2], generator=torch.Generator())


def test_disco_applies_direction_weights_then_disperses(G, model, latents):
    directions = torch.eye(G.w_dim)[:3] * 4.0
    v = disco_variations(G, model, latents[0], directions, num=4, iterations=0, init_noise=0.0,
                         generator=torch.Generator().manual_seed(5))
    w = v.direction_weights
    assert w is not None and w.shape == (4, 3) and float(w.abs().max()) <= 0.5
    # With no dispersion steps the variations are the reference moved along the directions.
    torch.testing.assert_close(v.ws[:, 0], latents[0, 0] + w @ directions)
    v2 = disco_variations(G, model, latents[0], directions, num=4, iterations=3,
                          generator=torch.Generator().manual_seed(5))
    assert torch.equal(v2.direction_weights, w) and not torch.allclose(v2.ws, v.ws)
    with pytest.raises(InputError, match="directions must be"):
        disco_variations(G, model, latents[0], torch.zeros(3, 5), generator=torch.Generator())


def test_style_mixing_replaces_fine_layers_only(G, latents):
    v = style_mixing_variations(G, latents[0], num=3, generator=torch.Generator().manual_seed(1))
    half = G.num_ws // 2
    assert torch.equal(v.ws[:, :half], latents[0:1, :half].expand(3, -1, -1))
    assert not torch.equal(v.ws[:, half:], latents[0:1, half:].expand(3, -1, -1))
    assert bool((v.ws[:, half:] == v.ws[:, -1:]).all())  # one random w per variation on every mixed layer
    same = style_mixing_variations(G, latents[0], num=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(same.ws, v.ws)
    only = style_mixing_variations(G, latents[0], num=2, mix_layers=[1], generator=torch.Generator())
    assert torch.equal(only.ws[:, 0], latents[0:1, 0].expand(2, -1))
    assert torch.equal(only.ws[:, 2:], latents[0:1, 2:].expand(2, -1, -1))
    assert not torch.equal(only.ws[:, 1], latents[0:1, 1].expand(2, -1))
    with pytest.raises(InputError, match="style layers"):
        style_mixing_variations(G, latents[0], num=1, mix_layers=[G.num_ws], generator=torch.Generator())


def test_check_variations_rule(model):
    ref = torch.tensor([1.0, 0.0])
    c = torch.cos(torch.tensor([0.3, 1.2, 0.31, 0.6]))
    s = torch.sin(torch.tensor([0.3, 1.2, 0.31, 0.6]))
    embs = torch.stack([c, s], dim=1)  # angles to ref: 0.3, 1.2 (too far), 0.31 (duplicate of #0), 0.6
    keep = check_variations(model, ref, embs, min_similarity=0.5, max_similarity=0.99)
    assert keep.tolist() == [True, False, False, True]
    loose = check_variations(model, ref, embs, min_similarity=0.5, max_similarity=1.0)
    assert loose.tolist() == [True, False, True, True]
    matcher = TinyMatcher()
    templates = [tuple(r.tolist()) for r in embs]
    keep_t = check_variations(matcher, [(1.0, 0.0)], templates, min_similarity=50.0, max_similarity=99.0)
    assert keep_t.tolist() == [True, False, False, True]
