"""Score histograms, summaries and d'."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.metrics.distributions import decidability, histogram, histogram_edges, summarize_scores


def test_integer_scores_get_one_bin_per_integer() -> None:
    edges = histogram_edges([0, 3], [1, 5])
    np.testing.assert_array_equal(edges, np.arange(7) - 0.5)
    np.testing.assert_array_equal(histogram([0, 3, 3, 5], edges), [1, 0, 0, 2, 0, 1])
    np.testing.assert_allclose(histogram([0, 3, 3, 5], edges, density=True), [0.25, 0, 0, 0.5, 0, 0.25])


def test_wide_integer_range_merges_whole_integers() -> None:
    edges = histogram_edges(np.arange(0, 300), max_bins=60)
    widths = np.diff(edges)
    assert np.all(widths == 5) and edges[0] == -0.5 and edges[-1] >= 299
    assert histogram(np.arange(0, 300), edges).sum() == 300


def test_real_scores_get_equal_bins() -> None:
    edges = histogram_edges([0.1, 0.9], [0.5], max_bins=4)
    np.testing.assert_allclose(edges, [0.1, 0.3, 0.5, 0.7, 0.9])


def test_summary_and_decidability() -> None:
    s = summarize_scores([1, 2, 3, 4])
    assert (s.n, s.mean, s.min, s.max, s.median) == (4, 2.5, 1, 4, 2.5)
    assert s.std == pytest.approx(math.sqrt(1.25))
    assert math.isnan(summarize_scores([]).mean)
    assert decidability([1, 3], [-1, 1]) == pytest.approx(2.0)
    assert decidability([2, 2], [0, 0]) == math.inf
    with pytest.raises(InputError):
        decidability([], [1])
    with pytest.raises(InputError):
        histogram_edges([1.0, float("inf")])
