"""Intra- and inter-class distances of feature vectors (embeddings or latents), within or across collections.

Within one collection: every unordered pair i < j, intra-class when both
have the same identity, inter-class otherwise. Across two collections A and
B: every pair (a, b); identities are different people unless
`shared_identities` says the two collections label the same people (a real
database and its projections). Pair counts grow as N^2: beyond `max_pairs`
per kind, a uniform sample of pairs (numpy Generator(seed)) is taken.

Metrics: 'angle' (radians between L2-normalised vectors, the distance of
Idiap's synthetics and FACTS.md), 'cosine' (1 - cosine similarity),
'euclidean'.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthbio.errors import InputError

METRICS: tuple[str, ...] = ("angle", "cosine", "euclidean")


@dataclass(frozen=True)
class ClassDistances:
    """Distances [M] of intra-class and inter-class pairs, and how many pairs there were before sampling."""

    intra: np.ndarray
    inter: np.ndarray
    intra_total: int
    inter_total: int


def _features(x: object, ids: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(x, dtype=np.float64)
    if f.ndim != 2 or len(f) < 1:
        raise InputError(f"{what}: features must be [N, D] with N >= 1, got shape {list(f.shape)}")
    if not np.isfinite(f).all():
        raise InputError(f"{what}: features contain NaN or inf values")
    i = np.asarray(ids)
    if i.shape != (len(f),):
        raise InputError(f"{what}: {len(f)} features but {i.size} identities")
    return f, i


def pair_distances(a: np.ndarray, b: np.ndarray, *, metric: str = "angle") -> np.ndarray:
    """Distances of row pairs a[k] <-> b[k]: [M, D] x [M, D] -> [M]."""
    if metric == "euclidean":
        return np.linalg.norm(a - b, axis=1)
    na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    cos = np.clip((na * nb).sum(1), -1.0, 1.0)
    if metric == "cosine":
        return 1.0 - cos
    if metric == "angle":
        return np.arccos(cos)
    raise InputError(f"unknown distance metric {metric!r}: use one of {', '.join(METRICS)}")


def _sample(i: np.ndarray, j: np.ndarray, max_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if len(i) <= max_pairs:
        return i, j
    pick = np.sort(rng.choice(len(i), size=max_pairs, replace=False))
    return i[pick], j[pick]


def class_distances(features: object, identities: object, other: object = None, other_identities: object = None, *,
                    metric: str = "angle", shared_identities: bool = False, max_pairs: int = 200_000,
                    seed: int = 0) -> ClassDistances:
    """Intra / inter-class distances of one collection ([N, D] + [N] identities) or between two (module doc)."""
    if metric not in METRICS:
        raise InputError(f"unknown distance metric {metric!r}: use one of {', '.join(METRICS)}")
    if max_pairs < 1:
        raise InputError(f"max_pairs must be >= 1, got {max_pairs}")
    fa, ia = _features(features, identities, "collection")
    rng = np.random.default_rng(seed)
    if other is None:
        i, j = np.triu_indices(len(fa), k=1)
        fb, ib = fa, ia
        same = ia[i] == ia[j]
    else:
        fb, ib = _features(other, other_identities, "second collection")
        if fb.shape[1] != fa.shape[1]:
            raise InputError(f"collections have features of width {fa.shape[1]} and {fb.shape[1]}")
        i, j = (g.ravel() for g in np.meshgrid(np.arange(len(fa)), np.arange(len(fb)), indexing="ij"))
        same = (ia[i] == ib[j]) if shared_identities else np.zeros(len(i), dtype=bool)
    out = {}
    for kind, mask in (("intra", same), ("inter", ~same)):
        si, sj = _sample(i[mask], j[mask], max_pairs, rng)
        out[kind] = (pair_distances(fa[si], fb[sj], metric=metric), int(mask.sum()))
    return ClassDistances(intra=out["intra"][0], inter=out["inter"][0], intra_total=out["intra"][1],
                          inter_total=out["inter"][1])
