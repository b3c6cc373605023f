"""Verification metrics against hand-computed cases and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.metrics.verification import (
    det_curve,
    eer,
    equal_error_rate,
    error_rates,
    fmr100,
    fmr1000,
    fnmr_at_fmr,
    probit,
    roc_curve,
    summarize,
    threshold_at_fmr,
)

GEN = [3, 5, 7]
IMP = [1, 3, 4, 6]


def test_roc_hand_computed() -> None:
    roc = roc_curve(GEN, IMP)
    np.testing.assert_array_equal(roc.thresholds, [1, 3, 4, 5, 6, 7, np.inf])
    np.testing.assert_allclose(roc.fmr, [1, 3 / 4, 2 / 4, 1 / 4, 1 / 4, 0, 0])
    np.testing.assert_allclose(roc.fnmr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(roc.tmr, 1 - roc.fnmr)


def test_ties_accept_equal_scores_together() -> None:
    # a genuine and an impostor score of 3: at t=3 both are accepted, at t>3 both rejected
    assert error_rates(GEN, IMP, 3) == (0.75, 0.0)
    assert error_rates(GEN, IMP, 3.5) == (0.5, 1 / 3)
    roc = roc_curve([2, 2], [2])
    np.testing.assert_array_equal(roc.fmr, [1, 0])
    np.testing.assert_array_equal(roc.fnmr, [0, 1])
    assert eer([2, 2], [2]) == pytest.approx(0.5)


def test_eer_interpolates_between_bracketing_points() -> None:
    # crossing between t=4 (FMR 1/2, FNMR 1/3) and t=5 (FMR 1/4, FNMR 1/3): the
    # segment meets FMR = FNMR at a = 2/3, where both are 1/3.
    res = equal_error_rate(GEN, IMP)
    assert res.eer == pytest.approx(1 / 3)
    assert res.threshold == 5


def test_eer_zero_when_separated_and_one_when_reversed() -> None:
    res = equal_error_rate([5, 6], [1, 2])
    assert res.eer == 0.0 and res.threshold == 5
    assert eer([1, 2], [5, 6]) == pytest.approx(1.0)


def test_eer_symmetric_gaussians_matches_theory() -> None:
    rng = np.random.default_rng(0)
    g = rng.normal(2.0, 1.0, 200_000)
    i = rng.normal(0.0, 1.0, 200_000)
    # equal variances: crossing at the midpoint, EER = Phi(-1)
    assert eer(g, i) == pytest.approx(0.5 * math.erfc(1 / math.sqrt(2)), abs=2e-3)


def test_fnmr_at_fmr_and_thresholds() -> None:
    assert threshold_at_fmr(GEN, IMP, 0.25) == 5
    assert fnmr_at_fmr(GEN, IMP, 0.25) == pytest.approx(1 / 3)
    assert threshold_at_fmr(GEN, IMP, 0.0) == 7
    assert fmr100(GEN, IMP) == pytest.approx(2 / 3)
    assert fmr1000(GEN, IMP) == pytest.approx(2 / 3)
    # 1000 impostors, 10 of them at 50: FMR100 may accept those 10, so the
    # lowest admissible threshold is the genuine score 40 below them (FNMR 0)
    imp = np.concatenate([np.zeros(990), np.full(10, 50.0)])
    gen = np.array([40.0, 50.0, 60.0, 70.0])
    assert threshold_at_fmr(gen, imp, 0.01) == 40
    assert fmr100(gen, imp) == 0.0
    assert error_rates(gen, imp, 40) == (0.01, 0.0)
    assert threshold_at_fmr(gen, imp, 0.001) == 60
    assert fmr1000(gen, imp) == pytest.approx(0.5)


def test_summary_collects_figures() -> None:
    s = summarize(GEN, IMP)
    assert (s.n_genuine, s.n_impostor) == (3, 4)
    assert s.eer == pytest.approx(1 / 3)
    assert set(s.to_dict()) >= {"eer", "fmr100", "fmr1000"}


def test_summary_leaves_out_rates_the_impostor_count_cannot_support() -> None:
    from synthbio.metrics.verification import rates_text

    rng = np.random.default_rng(0)
    gen = rng.normal(2.0, 1.0, 300)
    few = summarize(gen, rng.normal(0.0, 1.0, 190))  # 190 impostor scores: FMR 0.1% cannot be observed
    assert few.fmr100 is not None and few.fmr1000 is None and few.threshold_fmr1000 is None
    text = rates_text(few)
    assert "FMR1000 not reported (needs >= 1000 impostor comparisons)" in text
    assert "from 300 genuine and 190 impostor comparisons" in text
    assert summarize(gen, rng.normal(0.0, 1.0, 99)).fmr100 is None
    imp = rng.normal(0.0, 1.0, 1000)
    assert summarize(gen, imp).fmr1000 == pytest.approx(fmr1000(gen, imp))


def test_det_curve_drops_infinite_points() -> None:
    det = det_curve(GEN, IMP)
    assert np.all((det.fmr > 0) & (det.fmr < 1) & (det.fnmr > 0) & (det.fnmr < 1))
    np.testing.assert_allclose(det.fmr, [1 / 2, 1 / 4, 1 / 4])
    np.testing.assert_allclose(det.x, probit(det.fmr))
    assert probit([0.5])[0] == 0.0
    assert probit([0.0, 1.0]).tolist() == [-np.inf, np.inf]
    assert probit([0.8413447460685429])[0] == pytest.approx(1.0, abs=1e-9)


def test_probit_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats", reason="scipy is optional for this cross-check")
    p = np.array([1e-6, 1e-3, 0.01, 0.2, 0.5, 0.77, 0.999])
    np.testing.assert_allclose(probit(p), stats.norm.ppf(p), rtol=1e-12, atol=1e-12)


def test_roc_matches_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is optional for this cross-check")
    rng = np.random.default_rng(1)
    gen = rng.integers(10, 80, 300).astype(float)  # integer scores: many ties
    imp = rng.integers(0, 40, 900).astype(float)
    y = np.r_[np.ones(gen.size), np.zeros(imp.size)]
    fpr, tpr, thr = metrics.roc_curve(y, np.r_[gen, imp], drop_intermediate=False)
    roc = roc_curve(gen, imp)
    # sklearn: thresholds descending, first one above every score
    np.testing.assert_array_equal(roc.thresholds[:-1][::-1], thr[1:])
    np.testing.assert_allclose(roc.fmr[::-1], fpr)
    np.testing.assert_allclose(roc.tmr[::-1], tpr)


def test_bad_input() -> None:
    with pytest.raises(InputError, match="genuine"):
        roc_curve([], [1.0])
    with pytest.raises(InputError, match="NaN"):
        eer([1.0, float("nan")], [0.0])
    with pytest.raises(InputError, match="target FMR"):
        threshold_at_fmr([1.0], [0.0], 1.5)
    with pytest.raises(InputError):
        probit([1.2])
