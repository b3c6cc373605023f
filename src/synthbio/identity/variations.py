"""Variations of one identity: latents around a reference that keep its identity.

- `dispersion_variations` (Geissbühler et al. 2024): Langevin dynamics of
  `num` latents started near the reference w, under an embedding pull to the
  reference identity k_e d^2 / 2 (d = angle to the reference embedding), a
  latent repulsion between variations k_w (r - |dw|)^2 / 4 for |dw| < r, a
  pull k_l (w_avg - w) and noise. The pull holds the identity, the repulsion
  spreads pose, light and expression.
- `disco_variations`: random weights in [-weight_range, weight_range] on
  semantic directions (pose, illumination, expression) first, then dispersion.
- `style_mixing_variations`: the fine layers of random latents replace those
  of the reference (colour and texture change, coarse geometry stays).
- `check_variations`: the ArcBiFaceGAN acceptance rule.

Latent state: W when the reference (and the directions) are one w per
identity, W+ otherwise; see `synthbio.identity.references` for the rules.
Randomness: one torch.Generator per identity (seed it with the identity's
seed), passed as `generator`; the global RNG is never used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from synthbio.errors import InputError
from synthbio.generation.sampling import conditioning, parse_styles
from synthbio.identity.references import (
    angles,
    embed_latents,
    embedding_energy_grad,
    gaussian_noise,
    latent_distances,
    latent_state,
    normalize_embeddings,
    state_to_ws,
    step_size,
    w_avg_of,
)

if TYPE_CHECKING:
    from synthbio.identity.models import IdentityModel


@dataclass(frozen=True)
class Variations:
    """Variations of one identity.

    ws: [num, num_ws, w_dim]. embeddings: the model's embeddings of ws
    (Tensor [num, D] or templates), None when not computed (style mixing).
    reference_embedding: the model's embedding of the reference [1, D]
    (or [template]), None when not computed. direction_weights: [num, K]
    weights put on the semantic directions (DisCo), else None.
    """

    ws: Tensor
    embeddings: Any = None
    reference_embedding: Any = None
    direction_weights: Tensor | None = None

    def __len__(self) -> int:
        return int(self.ws.shape[0])


def _reference_state(G: Any, reference_w: Tensor) -> Tensor:
    """Reference w [w_dim] / [num_ws, w_dim] / [1, num_ws, w_dim] -> state [1, w_dim] or [1, num_ws, w_dim]."""
    r = reference_w.detach()
    if r.ndim == 1 or (r.ndim == 2 and r.shape[0] == G.num_ws and r.shape[1] == G.w_dim):
        r = r.unsqueeze(0)
    if r.ndim == 3 and r.shape[0] != 1 or r.ndim == 2 and r.shape[0] != 1:
        raise InputError(f"reference_w must be one latent ([{G.w_dim}], [{G.num_ws}, {G.w_dim}] "
                         f"or [1, {G.num_ws}, {G.w_dim}]), got {list(reference_w.shape)}")
    return latent_state(r, G.num_ws, G.w_dim)


def _match_state(a: Tensor, b: Tensor, num_ws: int) -> tuple[Tensor, Tensor]:
    """Bring two states to the same space (W+ if either is W+)."""
    if a.ndim == b.ndim:
        return a, b
    return state_to_ws(a, num_ws), state_to_ws(b, num_ws)


def latent_repulsion_energy(x: Tensor, *, k_w: float, r: float) -> Tensor:
    """E = sum over pairs i<j with |dw_ij| < r of k_w (r - |dw_ij|)^2 / 4; x: state [N, ...]."""
    d = latent_distances(x)
    pairs = torch.ones_like(d, dtype=torch.bool).triu(diagonal=1) & (d < r)
    return (k_w * 0.25 * torch.where(pairs, r - d, torch.zeros_like(d)) ** 2).sum()


def _latent_repulsion_grad(x: Tensor, *, k_w: float, r: float) -> Tensor:
    if k_w == 0 or x.shape[0] < 2:
        return torch.zeros_like(x)
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(latent_repulsion_energy(xg, k_w=k_w, r=r), xg)
    return g


def dispersion_variations(
    G: Any,
    model: IdentityModel,
    reference_w: Tensor,
    *,
    num: int = 16,
    k_e: float = 20.0,
    r: float = 12.0,
    k_w: float = 1.0,
    k_l: float = 1.0,
    noise: float = 0.05,
    dt: float = 0.05,
    init_noise: float = 0.2,
    iterations: int = 20,
    generator: torch.Generator,
    start: Tensor | None = None,
    batch_size: int = 16,
    noise_mode: str = "const",
) -> Variations:
    """`num` variations of one identity by dispersion (Geissbühler et al. 2024).

    reference_w: [w_dim], [num_ws, w_dim] or [1, num_ws, w_dim]. start:
    starting latents [num, w_dim] / [num, num_ws, w_dim] (default: the
    reference repeated); init_noise * N(0, 1) is added to them. Per iteration:
    F = -k_e d(e_i, e_ref) grad d - grad E_w + k_l (w_avg - w) with
    E_w = sum_{|dw|<r} k_w (r - |dw|)^2 / 4, then
    w += dt F + sqrt(|dt|) noise N(0, 1) (dt < 0: adaptive step as in
    `references.step_size`). k_w is our default (the paper gives r, not k_w).
    Needs a differentiable vector model. Returns ws [num, num_ws, w_dim] with
    their embeddings and the reference's.
    """
    if int(num) < 1 or iterations < 0:
        raise InputError(f"dispersion needs num >= 1 and iterations >= 0, got {num}, {iterations}")
    if not isinstance(generator, torch.Generator):
        raise InputError("dispersion needs generator= (one torch.Generator for this identity)")
    if model.kind != "vector" or not model.differentiable:
        raise InputError(f"dispersion needs a differentiable embedding model; {model.name!r} is not "
                         "(use style_mixing_variations)")
    ref = _reference_state(G, reference_w)
    if start is None:
        x = ref.expand(num, *ref.shape[1:]).clone()
    else:
        x = latent_state(start, G.num_ws, G.w_dim)
        if x.shape[0] != num:
            raise InputError(f"{x.shape[0]} starting latents for {num} variations")
    ref, x = _match_state(ref, x, G.num_ws)
    ref_emb = embed_latents(G, model, state_to_ws(ref, G.num_ws), noise_mode=noise_mode)
    e_ref = normalize_embeddings(ref_emb)
    w_avg = w_avg_of(G).to(x.device)
    w_avg = w_avg if x.ndim == 2 else w_avg.expand(G.num_ws, -1)
    x = x + init_noise * gaussian_noise(x.shape, generator, device=x.device)

    def identity_energy(e: Tensor) -> Tensor:
        return (k_e * 0.5 * angles(e, e_ref) ** 2).sum()  # sum_i k_e d(e_i, e_ref)^2 / 2

    for _ in range(iterations):
        grad_e, _ = embedding_energy_grad(G, model, x, identity_energy, batch_size=batch_size, noise_mode=noise_mode)
        force = -grad_e - _latent_repulsion_grad(x, k_w=k_w, r=r) + k_l * (w_avg - x)
        h = step_size(dt, force)
        x = x + h * force + math.sqrt(h) * noise * gaussian_noise(x.shape, generator, device=x.device)
    ws = state_to_ws(x, G.num_ws).contiguous()
    emb = embed_latents(G, model, ws, batch_size=batch_size, noise_mode=noise_mode)
    return Variations(ws=ws, embeddings=emb, reference_embedding=ref_emb)


def disco_variations(
    G: Any,
    model: IdentityModel,
    reference_w: Tensor,
    directions: Tensor,
    *,
    weight_range: float = 0.5,
    num: int = 16,
    generator: torch.Generator,
    **dispersion: Any,
) -> Variations:
    """DisCo: random weights in [-weight_range, weight_range] on semantic directions, then dispersion.

    directions: [K, w_dim] or [K, num_ws, w_dim] (e.g. `load_direction` files
    stacked), used as given: their norm sets the size of a unit weight. The
    weights [num, K] come from `generator` first, then the same generator
    drives `dispersion_variations` (other keyword arguments go there).
    """
    ref = _reference_state(G, reference_w)
    d = directions.detach().float()
    if d.ndim == 3 and d.shape[1:] == (G.num_ws, G.w_dim):
        pass
    elif not (d.ndim == 2 and d.shape[1] == G.w_dim):
        raise InputError(f"directions must be [K, {G.w_dim}] or [K, {G.num_ws}, {G.w_dim}], got {list(d.shape)}")
    if d.shape[0] < 1 or not bool(torch.isfinite(d).all()):
        raise InputError("directions must hold at least one finite direction")
    if weight_range < 0:
        raise InputError(f"weight range must be >= 0, got {weight_range}")
    weights = (torch.rand([num, d.shape[0]], generator=generator) * 2 - 1) * weight_range  # U[-range, range]
    offsets = torch.einsum("nk,k...->n...", weights, d)
    ref, offsets = _match_state(ref, offsets, G.num_ws)
    start = state_to_ws(ref + offsets, G.num_ws)
    out = dispersion_variations(G, model, state_to_ws(ref, G.num_ws), num=num, generator=generator, start=start,
                                **dispersion)
    return Variations(ws=out.ws, embeddings=out.embeddings, reference_embedding=out.reference_embedding,
                      direction_weights=weights)


def style_mixing_variations(
    G: Any,
    reference_w: Tensor,
    *,
    num: int,
    mix_layers: list[int] | None = None,
    generator: torch.Generator,
    truncation_psi: float = 1.0,
    class_idx: int | None = None,
) -> Variations:
    """`num` variations whose `mix_layers` come from random latents (default: the last half of the layers).

    The random z come from `generator` ([num, z_dim] normal), mapped with
    `truncation_psi`. Returns ws [num, num_ws, w_dim] (no embeddings).
    """
    if int(num) < 1:
        raise InputError(f"number of variations must be >= 1, got {num}")
    layers = parse_styles(list(range(G.num_ws // 2, G.num_ws)) if mix_layers is None else list(mix_layers), G.num_ws)
    ref = state_to_ws(_reference_state(G, reference_w), G.num_ws)
    z = torch.randn([num, G.z_dim], generator=generator).to(ref.device)
    c = conditioning(G, class_idx, n=num, device=ref.device)
    with torch.no_grad():
        other = G.mapping(z, c, truncation_psi=truncation_psi)
    ws = ref.expand(num, -1, -1).clone()
    ws[:, layers] = other[:, layers]
    return Variations(ws=ws)


def check_variations(
    model: IdentityModel,
    reference_emb: Any,
    variation_embs: Any,
    *,
    min_similarity: float,
    max_similarity: float,
) -> Tensor:
    """ArcBiFaceGAN rule -> keep mask [num] (bool).

    A variation is kept when its similarity to the reference (the identity's
    first sample) is >= min_similarity and its similarity to every variation
    kept before it is <= max_similarity (greedy in order, so near-duplicates
    are dropped). reference_emb: [D], [1, D], one template, or a list holding one template.
    """
    if isinstance(reference_emb, Tensor):
        ref = reference_emb.reshape(1, -1)
    else:
        ref = reference_emb if isinstance(reference_emb, list) else [reference_emb]
    n = variation_embs.shape[0] if isinstance(variation_embs, Tensor) else len(variation_embs)
    keep = torch.zeros(n, dtype=torch.bool)
    if n == 0:
        return keep
    with torch.no_grad():
        to_ref = model.similarity(variation_embs, ref).float().cpu()[:, 0]
        mutual = model.similarity(variation_embs, variation_embs).float().cpu()
    kept: list[int] = []
    for i in range(n):
        if float(to_ref[i]) >= min_similarity and all(float(mutual[i, j]) <= max_similarity for j in kept):
            kept.append(i)
            keep[i] = True
    return keep
