"""Covariate directions: a known direction planted in latents is recovered, with its class means and scale."""

import numpy as np
import pytest
import torch

from synthbio.editing.covariates import (MULTIPIE_COVARIATES, Covariate, fit_covariate, fit_covariates, neutralise,
                                         save_covariate_direction, scaled_vector)
from synthbio.editing.directions import load_direction
from synthbio.errors import InputError

pytest.importorskip("sklearn", reason="SVM directions need scikit-learn (editing extra)")


def _planted(n=240, dim=32, seed=0):
    """Latents w = base + t * d: t = -1 (yaw < 0), 0 (frontal), +1 (yaw > 0); d a known direction of norm 3."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=dim)
    d *= 3.0 / np.linalg.norm(d)
    yaws = rng.choice([-45, -30, -15, 0, 15, 30, 45], size=n)
    t = np.sign(yaws)
    w = rng.normal(size=(n, dim)) * 0.5 + t[:, None] * d
    return w, yaws, d


def test_planted_pose_direction_recovered(tmp_path):
    w, yaws, d = _planted()
    fitted = fit_covariate(w, list(yaws), MULTIPIE_COVARIATES["pose"])
    n = fitted.direction.double().numpy()
    cos = float(np.dot(n, d / np.linalg.norm(d)))
    assert cos > 0.9  # right direction and sign (a max-margin normal, not the exact mean difference)
    assert fitted.svm.val_accuracy == 1.0
    # class means along n sit at about -|d| cos, 0, +|d| cos
    assert fitted.negative_mean < fitted.neutral_mean < fitted.positive_mean
    assert fitted.scale == pytest.approx(3.0 * cos, rel=0.05)
    assert fitted.neutral_mean - fitted.negative_mean == pytest.approx(3.0 * cos, rel=0.05)
    path = save_covariate_direction(tmp_path / "pose", fitted, generator="G")
    loaded = load_direction(path)
    assert loaded.method == "covariate" and loaded.label == "pose"
    assert float(loaded.metadata["scale"]) == pytest.approx(fitted.scale, rel=1e-5)
    torch.testing.assert_close(scaled_vector(loaded), fitted.direction * fitted.scale, rtol=1e-5, atol=1e-6)
    # Setting the component to the neutral mean moves every latent onto the frontal class along n.
    neutral = neutralise(torch.from_numpy(w), fitted.direction, neutral_mean=fitted.neutral_mean)
    np.testing.assert_allclose(neutral.numpy() @ n, fitted.neutral_mean, atol=1e-5)
    removed = neutralise(torch.from_numpy(w), fitted.direction)
    np.testing.assert_allclose(removed.numpy() @ n, 0.0, atol=1e-5)


def test_fit_covariates_neutralises_in_order():
    rng = np.random.default_rng(1)
    n, dim = 300, 24
    pose_d, smile_d = rng.normal(size=dim), rng.normal(size=dim)
    smile_d -= 0.6 * pose_d  # correlated with pose, as a confound would make it
    yaw = rng.choice([-30, 0, 30], size=n)
    expr = rng.choice(["neutral", "smile"], size=n)
    w = rng.normal(size=(n, dim)) * 0.3 + np.sign(yaw)[:, None] * pose_d + (expr == "smile")[:, None] * smile_d
    attrs = [{"yaw": int(a), "expression": str(e)} for a, e in zip(yaw, expr)]
    covs = [MULTIPIE_COVARIATES["pose"].__class__("pose", "yaw", (-30,), (30,), (0,)), MULTIPIE_COVARIATES["smile"]]
    plain = fit_covariates(w, attrs, covs)
    ortho = fit_covariates(w, attrs, covs, neutralise_mode="remove")
    cos = lambda a, b: float(a.double() @ b.double())  # noqa: E731 - unit vectors
    assert abs(cos(ortho[0].direction, ortho[1].direction)) < 0.05  # fitted after pose was removed
    assert abs(cos(plain[0].direction, plain[1].direction)) > abs(cos(ortho[0].direction, ortho[1].direction))


def test_covariate_errors():
    w, yaws, _ = _planted(n=40)
    with pytest.raises(InputError, match="need at least 2"):
        fit_covariate(w, [0] * 40, MULTIPIE_COVARIATES["pose"])
    with pytest.raises(InputError, match="both negative and positive"):
        Covariate("x", "yaw", (1, 2), (2,), (0,))
    with pytest.raises(InputError, match="no sample carries attribute 'expression'"):
        fit_covariates(w, [{"yaw": int(y)} for y in yaws], [MULTIPIE_COVARIATES["smile"]])
    with pytest.raises(InputError, match="neutralise mode"):
        fit_covariates(w, [{"yaw": int(y)} for y in yaws], [MULTIPIE_COVARIATES["pose"]], neutralise_mode="x")
