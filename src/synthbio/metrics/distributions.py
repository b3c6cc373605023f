"""Score distributions: shared histogram bins, summaries and separability.

Pure numpy. Matchers such as Bozorth3 give integer scores; `histogram_edges`
then puts one bin per integer (or per run of integers when the range is wide)
so that no bin mixes scores at its edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synthbio.errors import InputError


def _values(scores: object, what: str) -> np.ndarray:
    a = np.asarray(scores, dtype=np.float64).ravel()
    if a.size and not np.all(np.isfinite(a)):
        raise InputError(f"{what} contain NaN or infinity")
    return a


def histogram_edges(*score_sets: object, max_bins: int = 60) -> np.ndarray:
    """Bin edges shared by several score sets: float64 [B + 1].

    Integer-valued scores get edges at k - 0.5 with a whole-number bin width
    (so each integer falls inside one bin); other scores get `max_bins` equal
    bins over their joint range.
    """
    if max_bins < 1:
        raise InputError(f"max_bins must be >= 1, got {max_bins}")
    allv = np.concatenate([_values(s, "scores") for s in score_sets]) if score_sets else np.zeros(0)
    if allv.size == 0:
        return np.array([-0.5, 0.5])
    lo, hi = float(allv.min()), float(allv.max())
    if np.all(allv == np.round(allv)):
        width = max(1, math.ceil((hi - lo + 1) / max_bins))
        n = math.ceil((hi - lo + 1) / width)
        return lo - 0.5 + width * np.arange(n + 1, dtype=np.float64)
    if hi == lo:
        return np.array([lo - 0.5, lo + 0.5])
    return np.linspace(lo, hi, max_bins + 1)


def histogram(scores: object, edges: np.ndarray, *, density: bool = False) -> np.ndarray:
    """Counts (or fractions of the set when density=True) per bin: float64 [B]."""
    a = _values(scores, "scores")
    counts, _ = np.histogram(a, bins=np.asarray(edges, dtype=np.float64))
    counts = counts.astype(np.float64)
    if density and a.size:
        counts /= a.size
    return counts


@dataclass(frozen=True)
class ScoreSummary:
    n: int
    mean: float
    std: float
    min: float
    q05: float
    median: float
    q95: float
    max: float

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def summarize_scores(scores: object) -> ScoreSummary:
    """Count, mean, population std, min, 5/50/95% quantiles and max (NaN when empty)."""
    a = _values(scores, "scores")
    if a.size == 0:
        nan = float("nan")
        return ScoreSummary(0, nan, nan, nan, nan, nan, nan, nan)
    q05, med, q95 = np.quantile(a, [0.05, 0.5, 0.95])
    return ScoreSummary(
        n=int(a.size),
        mean=float(a.mean()),
        std=float(a.std()),
        min=float(a.min()),
        q05=float(q05),
        median=float(med),
        q95=float(q95),
        max=float(a.max()),
    )


def decidability(genuine: object, impostor: object) -> float:
    """Daugman's d' = |mu_g - mu_i| / sqrt((var_g + var_i) / 2); inf when both variances are 0."""
    g, i = _values(genuine, "genuine scores"), _values(impostor, "impostor scores")
    if g.size == 0 or i.size == 0:
        raise InputError("decidability needs genuine and impostor scores")
    spread = math.sqrt((g.var() + i.var()) / 2.0)
    diff = abs(float(g.mean() - i.mean()))
    if spread == 0.0:
        return math.inf if diff > 0 else 0.0
    return diff / spread
