import numpy as np
import pytest
import torch

from synthbio.editing.attributes import (
    AttributeClassifierConfig,
    f1_scores,
    load_attribute_classifier,
    save_attribute_classifier,
    train_attribute_classifier,
)
from synthbio.errors import CheckpointError, InputError

W_DIM, NUM_WS = 12, 4


def _task(n=800, seed=0):
    """W+ latents whose labels are thresholded projections, positives 15-30% (imbalanced)."""
    rng = np.random.default_rng(seed)
    ws = rng.standard_normal((n, NUM_WS, W_DIM)).astype(np.float32)
    dirs = rng.standard_normal((3, W_DIM))
    proj = ws.mean(axis=1) @ dirs.T
    labels = (proj > np.quantile(proj, [0.85, 0.75, 0.7], axis=0).diagonal()).astype(np.float32)
    return ws, labels


@pytest.mark.parametrize("mode", ["wplus_mean", "wplus_flat"])
def test_classifier_learns_separable_labels(mode, tmp_path):
    ws, labels = _task(n=1500)
    cfg = AttributeClassifierConfig(label_names=("a", "b", "c"), w_dim=W_DIM, num_ws=NUM_WS, input_mode=mode,
                                    hidden=(32,), dropout=0.0)
    model, report = train_attribute_classifier(ws, labels, cfg, epochs=40, lr=3e-2, batch_size=300,
                                               weight_decay=1e-4, seed=0)
    assert report.num_val == 300 and report.num_train == 1200
    assert min(report.f1) > 0.8, report.f1
    # pos_weight balances each label: n_neg / n_pos on the training split.
    assert report.pos_weight[0] == pytest.approx(85 / 15, rel=0.25)
    out = save_attribute_classifier(model, tmp_path / "clf", report=report)
    loaded, meta = load_attribute_classifier(out)
    assert meta["config"]["input_mode"] == mode and meta["report"]["f1"] == report.f1
    x = torch.from_numpy(ws[:20])
    torch.testing.assert_close(loaded.predict_proba(x), model.predict_proba(x))


def test_training_is_deterministic_and_leaves_global_rng():
    ws, labels = _task(n=200)
    cfg = AttributeClassifierConfig(label_names=("a", "b", "c"), w_dim=W_DIM, num_ws=NUM_WS, hidden=(8,))
    state = torch.get_rng_state()
    m1, r1 = train_attribute_classifier(ws, labels, cfg, epochs=3, seed=5)
    m2, r2 = train_attribute_classifier(ws, labels, cfg, epochs=3, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert r1 == r2
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


def test_missing_labels_are_masked():
    ws, labels = _task(n=300)
    labels[::3, 1] = np.nan
    cfg = AttributeClassifierConfig(label_names=("a", "b", "c"), w_dim=W_DIM, input_mode="w", hidden=())
    _, report = train_attribute_classifier(ws[:, 0], labels, cfg, epochs=2, seed=0)
    assert np.isfinite(report.final_train_loss)


def test_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    pred, tgt = (rng.random((50, 3)) > 0.6).astype(float), (rng.random((50, 3)) > 0.7).astype(float)
    ours = f1_scores(pred, tgt)
    for k in range(3):
        assert ours[k] == pytest.approx(f1_score(tgt[:, k], pred[:, k]))


def test_bad_input(tmp_path):
    cfg = AttributeClassifierConfig(label_names=("a",), w_dim=W_DIM)
    ws = np.zeros((10, W_DIM), np.float32)
    with pytest.raises(InputError, match="no positive"):
        train_attribute_classifier(ws, np.zeros((10, 1)), cfg, epochs=1)
    with pytest.raises(InputError, match="0, 1 or NaN"):
        train_attribute_classifier(ws, np.full((10, 1), 2.0), cfg, epochs=1)
    with pytest.raises(InputError, match="input mode"):
        AttributeClassifierConfig(label_names=("a",), w_dim=4, input_mode="z")
    (tmp_path / "config.json").write_text('{"format": "something else"}')
    with pytest.raises(CheckpointError, match="not an attribute classifier"):
        load_attribute_classifier(tmp_path)
