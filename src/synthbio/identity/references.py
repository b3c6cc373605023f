"""Identity references: latents whose identities lie far apart for a recogniser.

Three algorithms, all deterministic for fixed seeds / generators:

- `sample_references_rejection`: draw candidates seed after seed and keep a
  candidate only if it is farther than the inter-class threshold (ICT) from
  every identity kept so far (Geissbühler et al. 2024: ICT = 1.4 rad between
  L2-normalised embeddings). Works for every model kind.
- `langevin_references`: move the latents of a set of identities by Langevin
  dynamics under a repulsion potential in embedding space, a pull to w_avg and
  noise (needs a differentiable vector model).
- `derivative_free_references`: for matchers without gradients (fingerprint
  templates): perturb the z of the identity with the most conflicts until no
  pair scores at or above the threshold, or the proposal budget is spent.

Distances: for vector models the angle `arccos(clamp(cosine, -1, 1))`; for
template models the matcher score (higher = same identity). "Accept" means
angle > ICT (cosine < cos(ICT)), or score < score threshold.

Latent state of the dynamics: when every layer of the given ws holds the same
w (the mapping's output), the dynamics move that single w [N, w_dim] (the
gradient through G is the sum over layers); otherwise they move ws in W+
[N, num_ws, w_dim], and latent distances are the Frobenius norm over layers
divided by sqrt(num_ws) (so W and W+ distances agree for broadcast ws).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.generation.sampling import as_branches, conditioning, is_camera_conditioned, map_seeds
from synthbio.utils.seeds import check_seed, generators_from_seeds

if TYPE_CHECKING:
    from synthbio.identity.models import IdentityModel

ICT_ANGLE = 1.4  # inter-class threshold in radians (Geissbühler et al. 2024)
DYNAMICS_NOISE_MODES = ("const", "none")
# Cosine clamp before arccos: d(arccos)/dx is infinite at +-1, so keep a margin.
_COS_EPS = 1e-6

EnergyFn = Callable[[Tensor], Tensor]
Generators = torch.Generator | Sequence[torch.Generator]


@dataclass(frozen=True)
class References:
    """A set of reference identities.

    ws: [N, num_ws, w_dim] latents. z: [N, z_dim] latents that map to ws
        (None when the ws were moved off the mapping's output, e.g. by Langevin;
        then it is the z they started from, if known). seeds: one per identity
        (the candidate seed, kept as the identity's seed after the latent moves).
    embeddings: Tensor [N, D] (vector kinds, as the model returns them) or a
        list of templates (template kinds), of the final ws.
    attempts: candidates drawn (rejection), proposals tried (derivative-free)
        or iterations run (Langevin).
    trace: per iteration, the minimum pairwise angle (Langevin) or the number
        of conflicting pairs (derivative-free); empty for rejection sampling.
    """

    ws: Tensor
    z: Tensor | None
    seeds: list[int]
    embeddings: Any
    attempts: int
    trace: tuple[float, ...] = ()

    @property
    def rejected(self) -> int:
        """Candidates drawn but not kept (rejection sampling)."""
        return self.attempts - len(self.seeds)

    def __len__(self) -> int:
        return int(self.ws.shape[0])


# --- shared helpers (also used by synthbio.identity.variations) ---------------------------


def normalize_embeddings(e: Tensor) -> Tensor:
    """[N, D] -> unit rows (float32)."""
    return F.normalize(e.float(), dim=1, eps=1e-12)


def angles(a: Tensor, b: Tensor) -> Tensor:
    """Angle in radians between unit rows of a [N, D] and b [M, D] -> [N, M] (differentiable)."""
    return torch.arccos((a @ b.T).clamp(-1 + _COS_EPS, 1 - _COS_EPS))


def similarity_limit(model: IdentityModel, *, threshold_angle: float, score_threshold: float | None) -> float:
    """The similarity below which two identities count as different.

    Vector kinds: cos(threshold_angle). Template kinds: score_threshold, or the
    model's own decision threshold when None.
    """
    if model.kind == "vector":
        if not 0 < threshold_angle <= math.pi:
            raise InputError(f"threshold angle must be in (0, pi] radians, got {threshold_angle}")
        return math.cos(threshold_angle)
    return float(model.threshold if score_threshold is None else score_threshold)


def render(G: Any, ws: Tensor, *, noise_mode: str = "const") -> Tensor:
    """ws [N, num_ws, w_dim] -> images of G's first branch [N, C, R, R] in [-1, 1] (keeps autograd).

    EG3D renders from its front camera with deterministic depth samples: the identity dynamics
    need the same image for the same latent on every pass.
    """
    kwargs = {"deterministic": True} if is_camera_conditioned(G) else {}
    out = G.synthesis(ws, noise_mode=noise_mode, **kwargs)
    return as_branches(G, out)[G.branch_names[0]]


def _check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in DYNAMICS_NOISE_MODES:
        raise InputError(f"noise mode {noise_mode!r}: identity algorithms use one of {DYNAMICS_NOISE_MODES} "
                         "(per-pixel random noise would change the identity from pass to pass)")


def _check_batch_size(batch_size: int) -> None:
    if int(batch_size) < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")


def _concat(parts: list[Any]) -> Any:
    """Join per-batch embeddings: tensors along dim 0, template lists by extension."""
    if parts and isinstance(parts[0], Tensor):
        return torch.cat(parts)
    return [t for p in parts for t in p]


def embed_latents(G: Any, model: IdentityModel, ws: Tensor, *, batch_size: int = 16,
                  noise_mode: str = "const") -> Any:
    """ws [N, num_ws, w_dim] -> model embeddings of G's images (no gradient), in batches.

    Returns Tensor [N, D] for vector kinds, list of N templates for template kinds.
    """
    _check_batch_size(batch_size)
    _check_noise_mode(noise_mode)
    parts = []
    with torch.no_grad():
        for s in range(0, ws.shape[0], batch_size):
            e = model.embed(render(G, ws[s:s + batch_size], noise_mode=noise_mode))
            parts.append(e.detach() if isinstance(e, Tensor) else list(e))
    return _concat(parts)


def latent_state(ws: Tensor, num_ws: int, w_dim: int) -> Tensor:
    """ws [N, num_ws, w_dim] or w [N, w_dim] -> the state the dynamics move (see module docstring)."""
    if ws.ndim == 2 and ws.shape[1] == w_dim:
        return ws.detach().float().clone()
    if ws.ndim != 3 or ws.shape[1:] != (num_ws, w_dim):
        raise InputError(f"latents must be [N, {w_dim}] or [N, {num_ws}, {w_dim}], got {list(ws.shape)}")
    if not bool(torch.isfinite(ws).all()):
        raise InputError("latents contain NaN or inf values")
    if bool((ws == ws[:, :1]).all()):
        return ws[:, 0].detach().float().clone()
    return ws.detach().float().clone()


def state_to_ws(x: Tensor, num_ws: int) -> Tensor:
    """State [N, w_dim] (broadcast to every layer) or [N, num_ws, w_dim] -> ws [N, num_ws, w_dim]."""
    return x.unsqueeze(1).expand(-1, num_ws, -1) if x.ndim == 2 else x


def latent_distances(x: Tensor) -> Tensor:
    """Pairwise latent distances [N, N] of a state [N, w_dim] or [N, L, w_dim] (W+: / sqrt(L))."""
    flat = x.flatten(1)
    scale = 1.0 if x.ndim == 2 else math.sqrt(x.shape[1])
    diff = flat.unsqueeze(1) - flat.unsqueeze(0)
    # The epsilon keeps the gradient finite on the diagonal (distance 0 to itself).
    return torch.sqrt((diff * diff).sum(-1) + 1e-12) / scale


def embedding_energy_grad(G: Any, model: IdentityModel, x: Tensor, energy: EnergyFn, *,
                          batch_size: int = 16, noise_mode: str = "const") -> tuple[Tensor, Tensor]:
    """dE/dx of an energy of the unit embeddings of G's images, by backpropagation.

    x: latent state [N, w_dim] or [N, num_ws, w_dim]; energy: unit embeddings
    [N, D] -> scalar. Returns (dE/dx shaped like x, unit embeddings [N, D]).

    Memory stays bounded by `batch_size`: for N > batch_size, a first pass
    embeds every batch without a graph, dE/de is taken on those embeddings,
    and a second pass re-renders each batch with a graph and backpropagates
    its slice of dE/de (a vector-Jacobian product), so N = 1000 fits.
    """
    if model.kind != "vector" or not model.differentiable:
        raise InputError(f"identity model {model.name!r} is not a differentiable embedding model: "
                         "gradient-based identity algorithms need one (use rejection or derivative-free sampling)")
    _check_batch_size(batch_size)
    _check_noise_mode(noise_mode)
    n, num_ws = x.shape[0], G.num_ws

    def unit_embed(xb: Tensor) -> Tensor:
        return normalize_embeddings(model.embed(render(G, state_to_ws(xb, num_ws), noise_mode=noise_mode)))

    with torch.enable_grad():
        if n <= batch_size:
            xg = x.detach().requires_grad_(True)
            e = unit_embed(xg)
            (grad,) = torch.autograd.grad(energy(e), xg, allow_unused=True)
            return (torch.zeros_like(x) if grad is None else grad), e.detach()
        with torch.no_grad():
            e = torch.cat([unit_embed(x[s:s + batch_size]) for s in range(0, n, batch_size)])
        el = e.clone().requires_grad_(True)
        (grad_e,) = torch.autograd.grad(energy(el), el, allow_unused=True)
        if grad_e is None or not bool(grad_e.any()):
            return torch.zeros_like(x), e
        grads = []
        for s in range(0, n, batch_size):
            xg = x[s:s + batch_size].detach().requires_grad_(True)
            eb = unit_embed(xg)
            (g,) = torch.autograd.grad(eb, xg, grad_outputs=grad_e[s:s + batch_size])
            grads.append(g)
    return torch.cat(grads), e


def step_size(dt: float, force: Tensor) -> float:
    """Time step of one update; dt < 0 selects the adaptive step.

    Our reading of the adaptive step of Geissbühler et al. (2024): the step is
    |dt|, shrunk when forces are large so that the largest deterministic
    update stays bounded: dt_eff = |dt| * min(1, sqrt(P) / max_i |F_i|), with
    P the number of latent coordinates per identity. The identity under the
    largest force then moves at most |dt| (RMS per coordinate, with mu = 1);
    weak forces keep the plain step |dt|.
    """
    if dt >= 0:
        return float(dt)
    fmax = float(force.flatten(1).norm(dim=1).max()) if force.numel() else 0.0
    scale = math.sqrt(force[0].numel()) if force.numel() else 1.0
    return abs(dt) * (min(1.0, scale / fmax) if fmax > 0 else 1.0)


def gaussian_noise(shape: Sequence[int], generator: Generators, *, device: torch.device | str = "cpu") -> Tensor:
    """Standard normal [N, ...]: one generator for all rows, or one generator per row (row i from generator i)."""
    if isinstance(generator, torch.Generator):
        return torch.randn(list(shape), generator=generator, device=device)
    gens = list(generator)
    if len(gens) != shape[0]:
        raise InputError(f"{len(gens)} generators for {shape[0]} latents: give one torch.Generator or one per latent")
    return torch.stack([torch.randn(list(shape[1:]), generator=g, device=device) for g in gens])


def w_avg_of(G: Any) -> Tensor:
    """G.mapping.w_avg [w_dim] (float32); InputError when the generator does not track it."""
    w_avg = getattr(G.mapping, "w_avg", None)
    if w_avg is None:
        raise InputError("the generator's mapping network keeps no w_avg, which the pull term needs")
    return w_avg.detach().float()


# --- rejection sampling -------------------------------------------------------------------


class ReferencesExhausted(InputError):
    """Rejection sampling ran out of candidates before it kept enough references."""



def _candidate_seeds(seeds: Sequence[int] | None, seed_start: int, max_attempts: int) -> list[int]:
    if seeds is None:
        return list(range(check_seed(seed_start), check_seed(seed_start) + max_attempts))
    out = [check_seed(s) for s in seeds]
    if len(set(out)) != len(out):
        raise InputError("candidate seeds repeat: each seed can give only one identity")
    return out


def _accept_batch(sim_prev: Tensor | None, sim_in: Tensor, limit: float, room: int) -> list[int]:
    """Greedy acceptance in seed order: indices of a batch kept against the kept set and each other.

    sim_prev: [B, A] similarity to the A identities kept before (None when A = 0);
    sim_in: [B, B] within the batch; room: how many more identities are wanted.
    """
    ok = torch.ones(sim_in.shape[0], dtype=torch.bool) if sim_prev is None else (sim_prev < limit).all(dim=1)
    kept: list[int] = []
    for i in range(sim_in.shape[0]):
        if len(kept) == room:
            break
        if bool(ok[i]) and all(float(sim_in[i, j]) < limit for j in kept):
            kept.append(i)
    return kept


def sample_references_rejection(
    G: Any,
    model: IdentityModel,
    *,
    num: int,
    threshold_angle: float = ICT_ANGLE,
    score_threshold: float | None = None,
    seeds: Sequence[int] | None = None,
    seed_start: int = 0,
    max_attempts: int | None = None,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    class_idx: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
) -> References:
    """Keep candidates (in seed order) farther than the threshold from every identity kept before.

    Candidates are `seeds` in order, or seed_start, seed_start+1, ... (at most
    `max_attempts`, default 1000 * num). They are rendered and embedded
    `batch_size` at a time; acceptance is vectorised against all kept
    identities, then greedy in seed order within the batch, and stops at the
    `num`-th kept identity, so the result does not depend on batch_size.
    threshold_angle (radians) applies to vector models (accept: angle > it);
    score_threshold to template models (accept: score < it; None = the
    model's threshold). `attempts` counts candidates up to the last kept one.
    Raises InputError when the candidates run out before `num` are kept.
    """
    if int(num) < 1:
        raise InputError(f"number of references must be >= 1, got {num}")
    _check_batch_size(batch_size)
    _check_noise_mode(noise_mode)
    limit = similarity_limit(model, threshold_angle=threshold_angle, score_threshold=score_threshold)
    candidates = _candidate_seeds(seeds, seed_start, 1000 * num if max_attempts is None else int(max_attempts))
    kept_seeds: list[int] = []
    kept_z: list[Tensor] = []
    kept_ws: list[Tensor] = []
    kept_emb: list[Any] = []  # one entry per batch: a [k, D] tensor or a list of k templates
    attempts = 0
    for s in range(0, len(candidates), batch_size):
        batch = candidates[s:s + batch_size]
        z, ws = map_seeds(G, batch, class_idx=class_idx, truncation_psi=truncation_psi,
                          truncation_cutoff=truncation_cutoff)
        emb = embed_latents(G, model, ws, batch_size=batch_size, noise_mode=noise_mode)
        prev = _concat(kept_emb) if kept_emb else None
        with torch.no_grad():
            sim_prev = model.similarity(emb, prev).float().cpu() if prev is not None else None
            sim_in = model.similarity(emb, emb).float().cpu()
        kept = _accept_batch(sim_prev, sim_in, limit, num - len(kept_seeds))
        attempts += len(batch) if len(kept_seeds) + len(kept) < num else kept[-1] + 1
        if kept:
            idx = torch.tensor(kept)
            kept_seeds += [batch[i] for i in kept]
            kept_z.append(z[idx])
            kept_ws.append(ws[idx])
            kept_emb.append(emb[idx] if isinstance(emb, Tensor) else [emb[i] for i in kept])
        if len(kept_seeds) == num:
            return References(ws=torch.cat(kept_ws), z=torch.cat(kept_z), seeds=kept_seeds,
                              embeddings=_concat(kept_emb), attempts=attempts)
    raise ReferencesExhausted(f"only {len(kept_seeds)} of {num} references found in {len(candidates)} candidates "
                              f"(threshold {threshold_angle if model.kind == 'vector' else limit}): lower the "
                              "threshold or allow more candidates (seeds / max_attempts)")


# --- Langevin dynamics --------------------------------------------------------------------


def repulsion_energy(e: Tensor, *, k: float, d0: float) -> Tensor:
    """E = sum over pairs i<j with angle d_ij < d0 of k (d0 - d_ij)^2 / 2; e: unit embeddings [N, D]."""
    d = angles(e, e)
    pairs = torch.ones_like(d, dtype=torch.bool).triu(diagonal=1) & (d < d0)
    return (k * 0.5 * torch.where(pairs, d0 - d, torch.zeros_like(d)) ** 2).sum()


def min_pairwise_angle(e: Tensor) -> float:
    """Smallest angle between distinct rows of unit embeddings [N, D] (pi for N < 2)."""
    if e.shape[0] < 2:
        return math.pi
    d = angles(e, e)
    d = d + torch.diag(torch.full((e.shape[0],), 10.0))
    return float(d.min())


def _init_references(init: References | Tensor) -> tuple[Tensor, Tensor | None, list[int]]:
    if isinstance(init, References):
        return init.ws, init.z, list(init.seeds)
    if not isinstance(init, Tensor):
        raise InputError(f"initial references must be References or a ws tensor, got {type(init).__name__}")
    return init, None, list(range(init.shape[0]))


def langevin_references(
    G: Any,
    model: IdentityModel,
    init: References | Tensor,
    *,
    iterations: int = 100,
    k: float = 1.0,
    d0: float = ICT_ANGLE,
    dt: float = -0.3,
    mu: float = 1.0,
    eta: float = 0.01,
    k_l: float = 0.1,
    generator: Generators | None = None,
    batch_size: int = 16,
    noise_mode: str = "const",
) -> References:
    """Spread identities apart by Langevin dynamics in latent space (Geissbühler et al. 2024).

    init: References (e.g. from rejection sampling) or ws [N, num_ws, w_dim] / w [N, w_dim].
    Per iteration: F = -dE/dw + k_l (w_avg - w), with the repulsion
    E = sum_{d_ij < d0} k (d0 - d_ij)^2 / 2 over embedding angles d_ij
    (backpropagated through G.synthesis and model.embed, in batches), then
    dw = (dt/mu) F + (sqrt(|dt|)/mu) eta N(0, 1). dt < 0: adaptive step (see
    `step_size`). generator: one torch.Generator, or one per identity (e.g.
    `generators_from_seeds(refs.seeds)`), drawing the noise; required when eta > 0.
    Needs a differentiable vector model (InputError otherwise).
    """
    if model.kind != "vector" or not model.differentiable:
        raise InputError(f"Langevin references need a differentiable embedding model; {model.name!r} is not "
                         "(use sample_references_rejection or derivative_free_references)")
    if iterations < 0 or mu <= 0 or d0 <= 0:
        raise InputError(f"Langevin needs iterations >= 0, mu > 0 and d0 > 0, got {iterations}, {mu}, {d0}")
    ws0, z, seeds = _init_references(init)
    x = latent_state(ws0, G.num_ws, G.w_dim)
    if eta > 0 and generator is None:
        raise InputError("Langevin noise needs generator= (one torch.Generator or one per identity); "
                         "synthbio never draws from the global RNG")
    w_avg = w_avg_of(G).to(x.device)
    w_avg = w_avg if x.ndim == 2 else w_avg.expand(G.num_ws, -1)
    trace: list[float] = []

    def energy(e: Tensor) -> Tensor:
        return repulsion_energy(e, k=k, d0=d0)

    for _ in range(iterations):
        grad, e = embedding_energy_grad(G, model, x, energy, batch_size=batch_size, noise_mode=noise_mode)
        trace.append(min_pairwise_angle(e))
        force = -grad + k_l * (w_avg - x)
        h = step_size(dt, force)
        x = x + (h / mu) * force
        if eta > 0:
            assert generator is not None
            x = x + (math.sqrt(h) / mu) * eta * gaussian_noise(x.shape, generator, device=x.device)
    ws = state_to_ws(x, G.num_ws).contiguous()
    emb = embed_latents(G, model, ws, batch_size=batch_size, noise_mode=noise_mode)
    return References(ws=ws, z=z, seeds=seeds, embeddings=emb, attempts=iterations, trace=tuple(trace))


# --- derivative-free search ---------------------------------------------------------------


def _conflicts(sim: Tensor, limit: float) -> Tensor:
    """Off-diagonal pairs [N, N] (bool) whose similarity reaches the limit."""
    c = sim >= limit
    c.fill_diagonal_(False)
    return c


def _worst_identity(sim: Tensor, conflicts: Tensor) -> int:
    """The identity with the most conflicts, ties broken by the highest similarity, then the lowest index."""
    counts = conflicts.sum(dim=1)
    off = sim.clone()
    off.fill_diagonal_(-math.inf)
    top = off.max(dim=1).values
    order = sorted(range(sim.shape[0]), key=lambda i: (-int(counts[i]), -float(top[i]), i))
    return order[0]


def derivative_free_references(
    G: Any,
    model: IdentityModel,
    init: References,
    *,
    threshold_angle: float = ICT_ANGLE,
    score_threshold: float | None = None,
    max_proposals: int = 1000,
    proposals_per_step: int = 4,
    perturbation: float = 0.5,
    truncation_psi: float = 1.0,
    truncation_cutoff: int | None = None,
    class_idx: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
) -> References:
    """Resolve conflicting identities without gradients (template matchers, any model).

    Repeatedly picks the identity with the most pairs at or above the
    similarity limit (same threshold rules as rejection sampling), proposes
    `proposals_per_step` new latents z' = sqrt(1 - s^2) z + s n
    (s = `perturbation`; 1 = a fresh z; n ~ N(0, I) from a torch.Generator
    seeded with that identity's seed, so z' stays standard normal), and keeps
    the best proposal if it lowers (conflict count, highest similarity) of that
    identity. Stops when no pair conflicts or after `max_proposals`.
    init: References with z (e.g. from `sample_references_rejection` with a
    loose threshold). Returns References whose z map to ws.
    """
    if init.z is None:
        raise InputError("derivative-free search perturbs z: the initial references must carry z")
    if not 0 < perturbation <= 1:
        raise InputError(f"perturbation must be in (0, 1], got {perturbation}")
    if proposals_per_step < 1 or max_proposals < 0:
        raise InputError("proposals_per_step must be >= 1 and max_proposals >= 0")
    limit = similarity_limit(model, threshold_angle=threshold_angle, score_threshold=score_threshold)
    z, ws, seeds = init.z.detach().float().clone(), init.ws.detach().clone(), list(init.seeds)
    gens = generators_from_seeds(seeds, device=z.device)
    emb = embed_latents(G, model, ws, batch_size=batch_size, noise_mode=noise_mode)
    with torch.no_grad():
        sim = model.similarity(emb, emb).float().cpu()
    c = conditioning(G, class_idx, n=proposals_per_step, device=z.device)
    used = 0
    trace: list[float] = []
    while True:
        conflicts = _conflicts(sim, limit)
        trace.append(float(conflicts.sum()) / 2)
        if not bool(conflicts.any()) or used >= max_proposals:
            break
        i = _worst_identity(sim, conflicts)
        noise = torch.randn([proposals_per_step, z.shape[1]], generator=gens[i], device=z.device)
        z_new = math.sqrt(1 - perturbation ** 2) * z[i:i + 1] + perturbation * noise
        with torch.no_grad():
            ws_new = G.mapping(z_new, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        emb_new = embed_latents(G, model, ws_new, batch_size=batch_size, noise_mode=noise_mode)
        used += proposals_per_step
        with torch.no_grad():
            sim_new = model.similarity(emb_new, emb).float().cpu()  # [P, N]
        sim_new[:, i] = -math.inf  # the identity it replaces does not count
        cand = [(int((sim_new[p] >= limit).sum()), float(sim_new[p].max()), p) for p in range(proposals_per_step)]
        best = min(cand)
        row = sim[i].clone()
        row[i] = -math.inf
        if (best[0], best[1]) >= (int((row >= limit).sum()), float(row.max())):
            continue
        p = best[2]
        z[i], ws[i] = z_new[p], ws_new[p]
        if isinstance(emb, Tensor):
            emb = emb.clone()
            emb[i] = emb_new[p]
        else:
            emb = [*emb[:i], emb_new[p], *emb[i + 1:]]
        new_row = sim_new[p].clone()
        new_row[i] = sim[i, i]  # the diagonal never counts as a conflict
        sim[i] = new_row
        sim[:, i] = new_row
    return References(ws=ws, z=z, seeds=seeds, embeddings=emb, attempts=used, trace=tuple(trace))
