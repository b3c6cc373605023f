"""Verification error rates from genuine and impostor similarity scores.

Scores are similarities (higher = same identity). A comparison is accepted
when its score is >= the threshold t, so

    FMR(t)  = #{impostor scores >= t} / #impostor   (false match rate)
    FNMR(t) = #{genuine scores  <  t} / #genuine    (false non-match rate)

FMR falls and FNMR rises as t grows. Both only change at observed scores, so
the thresholds at all unique scores plus +inf (reject everything) give every
operating point exactly, ties included: equal genuine and impostor scores are
accepted or rejected together. All functions are pure and use numpy only.

Operating points follow the FVC / ISO 19795-1 reporting habit:
- EER: where the FMR and FNMR curves cross. Between the two operating points
  that bracket the crossing (FNMR - FMR changes sign) the ROC is taken as the
  straight segment joining them, and the EER is where that segment meets
  FMR = FNMR (as in the FVC reports' EER estimate, without their [low, high]
  interval).
- FMR100 / FMR1000: the lowest FNMR at a threshold with FMR <= 1% / 0.1%.
  With fewer than 1 / FMR impostor scores this means no impostor accepted:
  an FMR of 1 / n needs at least n impostor scores to be observed, so
  `summarize` leaves FMR100 out below 100 impostor scores and FMR1000 below
  1,000 (None, with the counts that stand behind every rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from synthbio.errors import InputError


def _scores(values: object, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 0:
        raise InputError(f"no {what} scores")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{what} scores contain NaN or infinity")
    return np.sort(a)


def _rates_at(gen_sorted: np.ndarray, imp_sorted: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FMR, FNMR) at each threshold, from sorted score arrays."""
    n_accepted_imp = imp_sorted.size - np.searchsorted(imp_sorted, thresholds, side="left")
    n_rejected_gen = np.searchsorted(gen_sorted, thresholds, side="left")
    return n_accepted_imp / imp_sorted.size, n_rejected_gen / gen_sorted.size


@dataclass(frozen=True)
class RocCurve:
    """All operating points, thresholds ascending (the last is +inf).

    thresholds, fmr, fnmr: float64 [T]. fmr[0] = 1 and fnmr[0] = 0 at the lowest
    score; fmr[-1] = 0 and fnmr[-1] = 1 at +inf.
    """

    thresholds: np.ndarray
    fmr: np.ndarray
    fnmr: np.ndarray

    @property
    def tmr(self) -> np.ndarray:
        """True match rate 1 - FNMR (the ROC's y axis)."""
        return 1.0 - self.fnmr


def roc_curve(genuine: object, impostor: object) -> RocCurve:
    """Operating points at every unique score and at +inf (module docstring)."""
    g = _scores(genuine, "genuine")
    i = _scores(impostor, "impostor")
    thresholds = np.append(np.unique(np.concatenate([g, i])), np.inf)
    fmr, fnmr = _rates_at(g, i, thresholds)
    return RocCurve(thresholds=thresholds, fmr=fmr, fnmr=fnmr)


def error_rates(genuine: object, impostor: object, threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) when scores >= threshold are accepted."""
    g = _scores(genuine, "genuine")
    i = _scores(impostor, "impostor")
    fmr, fnmr = _rates_at(g, i, np.asarray([threshold], dtype=np.float64))
    return float(fmr[0]), float(fnmr[0])


@dataclass(frozen=True)
class EqualErrorRate:
    """eer: the rate at the crossing; threshold: the score threshold of the
    bracketing operating point nearer the crossing (accept >= threshold)."""

    eer: float
    threshold: float


def equal_error_rate(genuine: object, impostor: object) -> EqualErrorRate:
    """EER by linear interpolation between the two operating points around the crossing."""
    roc = roc_curve(genuine, impostor)
    d = roc.fnmr - roc.fmr  # rises from -1 (lowest score) to +1 (+inf)
    k = int(np.flatnonzero(d >= 0)[0])  # first point at or past the crossing
    if d[k] == 0 or k == 0:
        return EqualErrorRate(eer=float(roc.fmr[k]), threshold=float(roc.thresholds[k]))
    # Segment P(a) = (1 - a) * point[k-1] + a * point[k]; FNMR - FMR is linear in a
    # and is zero at a = -d[k-1] / (d[k] - d[k-1]).
    a = -d[k - 1] / (d[k] - d[k - 1])
    eer = roc.fmr[k - 1] + a * (roc.fmr[k] - roc.fmr[k - 1])
    nearer = k if a >= 0.5 else k - 1
    return EqualErrorRate(eer=float(eer), threshold=float(roc.thresholds[nearer]))


def eer(genuine: object, impostor: object) -> float:
    """Equal error rate in [0, 1] (see `equal_error_rate`)."""
    return equal_error_rate(genuine, impostor).eer


def _check_target(target_fmr: float) -> float:
    if not 0.0 <= target_fmr <= 1.0 or math.isnan(target_fmr):
        raise InputError(f"target FMR must be in [0, 1], got {target_fmr}")
    return float(target_fmr)


def threshold_at_fmr(genuine: object, impostor: object, target_fmr: float) -> float:
    """Lowest threshold (an observed score, or +inf) whose FMR is <= target_fmr.

    FNMR is lowest at the lowest admissible threshold, and any threshold
    between two consecutive observed scores behaves as the upper one.
    """
    target = _check_target(target_fmr)
    roc = roc_curve(genuine, impostor)
    # FMR is non-increasing in the threshold; tiny slack absorbs k/n rounding.
    k = int(np.flatnonzero(roc.fmr <= target + 1e-12)[0])
    return float(roc.thresholds[k])


def fnmr_at_fmr(genuine: object, impostor: object, target_fmr: float) -> float:
    """Lowest FNMR over the thresholds with FMR <= target_fmr."""
    t = threshold_at_fmr(genuine, impostor, target_fmr)
    return error_rates(genuine, impostor, t)[1]


def fmr100(genuine: object, impostor: object) -> float:
    """FNMR at FMR <= 1% (FVC's FMR100)."""
    return fnmr_at_fmr(genuine, impostor, 0.01)


def fmr1000(genuine: object, impostor: object) -> float:
    """FNMR at FMR <= 0.1% (FVC's FMR1000)."""
    return fnmr_at_fmr(genuine, impostor, 0.001)


@dataclass(frozen=True)
class DetCurve:
    """DET coordinates: x = probit(FMR), y = probit(FNMR), float64 [P].

    Points with FMR or FNMR equal to 0 or 1 have no finite probit and are
    left out; fmr/fnmr/thresholds hold the rates of the points kept.
    """

    x: np.ndarray
    y: np.ndarray
    fmr: np.ndarray
    fnmr: np.ndarray
    thresholds: np.ndarray


def probit(p: object) -> np.ndarray:
    """Inverse standard normal CDF, elementwise; +-inf at 1 and 0."""
    a = np.asarray(p, dtype=np.float64)
    if np.any((a < 0) | (a > 1) | np.isnan(a)):
        raise InputError("probit needs probabilities in [0, 1]")
    inv = NormalDist().inv_cdf  # Wichura's AS241, ~1e-16 relative error
    out = np.empty_like(a)
    flat, res = a.ravel(), out.ravel()
    for j, v in enumerate(flat):
        res[j] = -np.inf if v == 0.0 else np.inf if v == 1.0 else inv(float(v))
    return out


def det_curve(genuine: object, impostor: object) -> DetCurve:
    """Detection error trade-off curve on probit axes (Martin et al. 1997)."""
    roc = roc_curve(genuine, impostor)
    keep = (roc.fmr > 0) & (roc.fmr < 1) & (roc.fnmr > 0) & (roc.fnmr < 1)
    fmr, fnmr = roc.fmr[keep], roc.fnmr[keep]
    return DetCurve(x=probit(fmr), y=probit(fnmr), fmr=fmr, fnmr=fnmr, thresholds=roc.thresholds[keep])


# Impostor scores an operating point needs before it can be reported: an FMR of 1 / n is observed
# only when at least n impostor comparisons were made.
MIN_IMPOSTORS = {"fmr100": 100, "fmr1000": 1000}


def min_impostors(target_fmr: float) -> int:
    """Impostor scores needed to observe an FMR of `target_fmr` (ceil(1 / target))."""
    target = _check_target(target_fmr)
    return 0 if target == 0 else math.ceil(1.0 / target - 1e-9)


@dataclass(frozen=True)
class VerificationSummary:
    """The usual figures of one genuine / impostor score set, with the counts behind them.

    fmr100 / fmr1000 and their thresholds are None when there are fewer
    impostor scores than the rate needs (`MIN_IMPOSTORS`): the data cannot
    support them.
    """

    n_genuine: int
    n_impostor: int
    eer: float
    eer_threshold: float
    fmr100: float | None
    fmr1000: float | None
    threshold_fmr100: float | None
    threshold_fmr1000: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def summarize(genuine: object, impostor: object) -> VerificationSummary:
    g = _scores(genuine, "genuine")
    i = _scores(impostor, "impostor")
    e = equal_error_rate(g, i)
    ok100, ok1000 = i.size >= MIN_IMPOSTORS["fmr100"], i.size >= MIN_IMPOSTORS["fmr1000"]
    return VerificationSummary(
        n_genuine=int(g.size),
        n_impostor=int(i.size),
        eer=e.eer,
        eer_threshold=e.threshold,
        fmr100=fmr100(g, i) if ok100 else None,
        fmr1000=fmr1000(g, i) if ok1000 else None,
        threshold_fmr100=threshold_at_fmr(g, i, 0.01) if ok100 else None,
        threshold_fmr1000=threshold_at_fmr(g, i, 0.001) if ok1000 else None,
    )


def rates_text(summary: VerificationSummary | dict[str, object] | None) -> str:
    """One line: EER, FMR100, FMR1000 with the comparisons behind them; unsupported rates left out, said why."""
    if summary is None:
        return "no genuine or no impostor comparison: no error rate"
    s = summary.to_dict() if isinstance(summary, VerificationSummary) else summary
    n_gen, n_imp = int(s["n_genuine"]), int(s["n_impostor"])  # type: ignore[call-overload]
    parts = [f"EER {100 * float(s['eer']):.2f}%"]  # type: ignore[arg-type]
    for key, label in (("fmr100", "FMR100"), ("fmr1000", "FMR1000")):
        value = s.get(key)
        parts.append(f"{label} {100 * float(value):.2f}%" if value is not None  # type: ignore[arg-type]
                     else f"{label} not reported (needs >= {MIN_IMPOSTORS[key]} impostor comparisons)")
    return f"{', '.join(parts)}; from {n_gen} genuine and {n_imp} impostor comparisons"
