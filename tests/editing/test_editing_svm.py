import numpy as np
import pytest
import torch

from synthbio.editing.directions import cosine
from synthbio.editing.svm_directions import (
    binary_labels,
    conditional_direction,
    extremes,
    is_continuous,
    train_svm_direction,
)
from synthbio.errors import InputError

D = 16


def _planted(n, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal(D)
    truth /= np.linalg.norm(truth)
    x = rng.standard_normal((n, D)) * 0.8 + 0.3
    return x, truth, rng


def test_svm_recovers_planted_direction_from_scores():
    x, truth, rng = _planted(5000)
    scores = x @ truth + 0.05 * rng.standard_normal(len(x))
    assert is_continuous(scores)
    res = train_svm_direction(x, scores, fraction=0.02, seed=1)
    assert res.num_positive == res.num_negative == 100  # top and bottom 2%
    assert res.val_accuracy > 0.9 and res.train_accuracy > 0.9
    assert cosine(res.direction, torch.from_numpy(truth)) > 0.9
    assert float(res.direction.norm()) == pytest.approx(1.0, abs=1e-6)


def test_svm_recovers_planted_direction_from_labels():
    x, truth, rng = _planted(1500, seed=2)
    labels = (x @ truth > 0.3 * 0.5).astype(int) * 5  # classes 0 and 5
    res = train_svm_direction(x, labels, seed=0)
    assert res.num_positive + res.num_negative == 1500 and res.num_val == 450
    assert res.val_accuracy > 0.9
    assert cosine(res.direction, torch.from_numpy(truth)) > 0.9


def test_labels_and_extremes():
    idx, y = extremes(np.arange(100.0), fraction=0.05)
    assert sorted(idx[y == 1]) == [95, 96, 97, 98, 99] and sorted(idx[y == 0]) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(binary_labels(np.array([2, 7, 7, 2])), [0, 1, 1, 0])
    np.testing.assert_array_equal(binary_labels(np.array([0, 1, 2, 1]), positive=1), [0, 1, 0, 1])
    with pytest.raises(InputError, match="exactly two classes"):
        binary_labels(np.array([0, 1, 2]))
    with pytest.raises(InputError, match="at least 2"):
        extremes(np.arange(20.0), fraction=0.02)


def test_conditional_direction_is_orthogonal_to_conditions():
    g = torch.Generator().manual_seed(0)
    primary = torch.randn(D, generator=g)
    c1 = torch.randn(D, generator=g)
    c2 = 0.5 * c1 + torch.randn(D, generator=g)  # correlated conditions
    c3 = c1 + c2  # in the span of the others: skipped
    out = conditional_direction(primary, [c1, c2, c3])
    assert float(out.norm()) == pytest.approx(1.0, abs=1e-6)
    for c in (c1, c2, c3):
        assert abs(cosine(out, c)) < 1e-6
    # What is left is the primary minus its projection: still well aligned with it.
    assert cosine(out, primary) > 0
    basis, _ = torch.linalg.qr(torch.stack([c1, c2], dim=1).double())
    resid = primary.double() - basis @ (basis.T @ primary.double())
    assert cosine(out, resid) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InputError, match="span"):
        conditional_direction(c3, [c1, c2])


def test_join_labels_with_samples_h5(tmp_path):
    from synthbio.editing.svm_directions import join_labels
    from synthbio.io.samples import SampleLatents, write_samples

    rng = np.random.default_rng(0)
    wp = rng.standard_normal((5, 3, 4)).astype(np.float32)
    write_samples(tmp_path / "samples.h5", [
        SampleLatents(identity=s, label="reference", z=np.zeros(2), w=wp[i, 0], w_plus=wp[i], attrs={"seed": s})
        for i, s in enumerate([3, 7, 8, 10, 12])])
    (tmp_path / "labels.csv").write_text("filename,smile\nseed0003.png,1\nimgs/seed0008.png,0\n00010/reference,\n"
                                         "seed0099.png,1\n12,0.5\n")
    data = join_labels(str(tmp_path / "samples.h5"), str(tmp_path / "labels.csv"), label="smile")
    assert data.keys == ["seed0003.png", "imgs/seed0008.png", "12"] and data.unmatched == 1
    np.testing.assert_array_equal(data.targets, [1, 0, 0.5])
    torch.testing.assert_close(data.latents, torch.from_numpy(wp[[0, 2, 4], 0]))
    mean = join_labels(str(tmp_path / "samples.h5"), str(tmp_path / "labels.csv"), label="smile", space="wplus_mean")
    torch.testing.assert_close(mean.latents, torch.from_numpy(wp[[0, 2, 4]].mean(1)))
    (tmp_path / "other.csv").write_text("filename,smile\nnothing.png,1\n")
    with pytest.raises(InputError, match="no row of"):
        join_labels(str(tmp_path / "samples.h5"), str(tmp_path / "other.csv"), label="smile")
