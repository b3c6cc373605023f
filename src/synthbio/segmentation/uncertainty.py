"""How much the ensemble's members disagree: per pixel, per image, and the filter built on it.

Per pixel, the Jensen-Shannon divergence of the M members' class distributions
p_m: JS = H(mean_m p_m) - mean_m H(p_m) (nats; 0 when all agree, at most
log M). Per image (DatasetGAN): the mean JS of its most uncertain pixels (the
top 10%). Samples whose score is among the highest `drop_fraction` of a run
are dropped, as DatasetGAN drops its most uncertain 10% of generated samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from synthbio.errors import InputError

TOP_FRACTION = 0.1


def entropy(p: Tensor, *, dim: int) -> Tensor:
    """Shannon entropy (nats) of distributions along `dim`; 0 log 0 = 0."""
    return torch.special.entr(p).sum(dim=dim)


def js_divergence(member_probs: Tensor) -> Tensor:
    """Member distributions [M, K, ...] -> per-position Jensen-Shannon divergence [...] (nats)."""
    mean = member_probs.mean(dim=0)
    return (entropy(mean, dim=0) - entropy(member_probs, dim=1).mean(dim=0)).clamp_min(0)


def image_uncertainty(js: Tensor, *, top_fraction: float = TOP_FRACTION) -> float:
    """Mean of the `top_fraction` highest per-pixel JS values of one image (at least one pixel)."""
    if not 0 < top_fraction <= 1:
        raise InputError(f"top fraction must be in (0, 1], got {top_fraction}")
    flat = js.reshape(-1).float()
    k = max(1, math.ceil(top_fraction * flat.numel()))
    return float(torch.topk(flat, k).values.mean())


def uncertainty_threshold(scores: Sequence[float], drop_fraction: float) -> float:
    """The score above which a sample is dropped: the highest `round(drop_fraction * N)` go.

    Returns +inf when nothing is dropped. Ties at the threshold are kept, so
    exactly the samples with score > threshold go (a sorted, deterministic rule).
    """
    if not 0 <= drop_fraction < 1:
        raise InputError(f"drop fraction must be in [0, 1), got {drop_fraction}")
    n_drop = round(drop_fraction * len(scores))
    if n_drop == 0:
        return math.inf
    ordered = sorted(float(s) for s in scores)
    return ordered[len(ordered) - n_drop - 1]
