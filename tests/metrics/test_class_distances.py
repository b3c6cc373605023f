"""Intra / inter-class distances against a direct double loop, sampling, cross-collection pairs, errors."""

import itertools

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.metrics.class_distances import class_distances, pair_distances


def test_within_collection_matches_loop():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 5))
    ids = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    d = class_distances(x, ids, metric="angle")
    intra, inter = [], []
    for a, b in itertools.combinations(range(9), 2):
        cos = x[a] @ x[b] / np.linalg.norm(x[a]) / np.linalg.norm(x[b])
        (intra if ids[a] == ids[b] else inter).append(np.arccos(np.clip(cos, -1, 1)))
    np.testing.assert_allclose(d.intra, intra)
    np.testing.assert_allclose(d.inter, inter)
    assert (d.intra_total, d.inter_total) == (3 + 1 + 6, 36 - 10)


def test_metrics_and_cross_collection():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(pair_distances(a, np.repeat(b, 2, 0), metric="cosine"), 1 - np.sqrt(0.5))
    np.testing.assert_allclose(pair_distances(a, np.repeat(b, 2, 0), metric="euclidean"), [1.0, np.sqrt(2)])
    d = class_distances(a, [0, 1], b, [1], metric="angle")
    assert len(d.intra) == 0 and len(d.inter) == 2  # different collections: different people by default
    d = class_distances(a, [0, 1], b, [1], metric="angle", shared_identities=True)
    np.testing.assert_allclose(d.intra, [np.pi / 4]) and np.testing.assert_allclose(d.inter, [np.pi / 4])


def test_sampling_is_seeded_and_bounded():
    rng = np.random.default_rng(1)
    x, ids = rng.normal(size=(60, 4)), rng.integers(0, 6, size=60)
    d1 = class_distances(x, ids, max_pairs=100, seed=3)
    d2 = class_distances(x, ids, max_pairs=100, seed=3)
    assert len(d1.inter) == 100 and d1.inter_total == int((ids[:, None] != ids[None]).sum() // 2)
    np.testing.assert_array_equal(d1.inter, d2.inter)
    full = class_distances(x, ids)
    assert set(np.round(d1.inter, 12)) <= set(np.round(full.inter, 12))


def test_errors():
    with pytest.raises(InputError, match="unknown distance metric"):
        class_distances(np.ones((2, 2)), [0, 1], metric="l3")
    with pytest.raises(InputError, match="2 features but 3 identities"):
        class_distances(np.ones((2, 2)), [0, 1, 2])
    with pytest.raises(InputError, match="width 2 and 3"):
        class_distances(np.ones((2, 2)), [0, 1], np.ones((2, 3)), [0, 1])
    with pytest.raises(InputError, match="NaN"):
        class_distances(np.full((2, 2), np.nan), [0, 1])
