import numpy as np
import pytest
import torch

from synthbio.editing.directions import load_direction
from synthbio.editing.pca import pca_directions, sample_w, save_pca
from synthbio.errors import InputError
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator

TINY = dict(img_resolution=8, z_dim=16, w_dim=16, channel_base=128, channel_max=16, mapping_layers=2)


def test_pca_matches_covariance_eigendecomposition():
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.standard_normal((300, 6)) @ np.diag([5, 3, 2, 1, 0.5, 0.1]) @ np.linalg.qr(
        rng.standard_normal((6, 6)))[0]).float()
    res = pca_directions(w)
    cov = np.cov(w.double().numpy(), rowvar=False)
    vals, vecs = np.linalg.eigh(cov)
    vals, vecs = vals[::-1], vecs[:, ::-1].T
    np.testing.assert_allclose(res.explained_variance.numpy(), vals, rtol=1e-4)
    np.testing.assert_allclose(np.abs((res.components.double().numpy() * vecs).sum(1)), 1, atol=1e-4)
    # All components together explain all of the variance.
    assert float(res.explained_variance_ratio.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float(res.explained_variance.sum()) == pytest.approx(float(np.trace(cov)), rel=1e-5)
    assert bool((res.explained_variance[:-1] >= res.explained_variance[1:]).all())
    torch.testing.assert_close(res.components @ res.components.T, torch.eye(6), atol=1e-5, rtol=0)


def test_pca_on_generator_w_is_deterministic(tmp_path):
    G = build_demo_generator(GeneratorConfig(**TINY))
    w = sample_w(G, 400, seed=3, batch_size=128)
    assert w.shape == (400, 16)
    torch.testing.assert_close(sample_w(G, 400, seed=3, batch_size=400), w)
    res = pca_directions(w, num_components=4)
    assert res.components.shape == (4, 16) and 0 < float(res.explained_variance_ratio.sum()) < 1
    paths = save_pca(res, tmp_path, layers=range(0, 2), generator="tiny")
    d = load_direction(paths[0])
    assert d.metadata["method"] == "pca" and d.metadata["layers"] == "0-1"
    assert float(d.metadata["explained_variance_ratio"]) == pytest.approx(float(res.explained_variance_ratio[0]),
                                                                          rel=1e-4)
    assert float(d.metadata["std"]) ** 2 == pytest.approx(float(res.explained_variance[0]), rel=1e-4)


def test_pca_bad_input():
    with pytest.raises(InputError, match="N >= 2"):
        pca_directions(torch.zeros(1, 4))
    with pytest.raises(InputError, match="components"):
        pca_directions(torch.randn(10, 4, generator=torch.Generator().manual_seed(0)), num_components=5)
    with pytest.raises(InputError, match="NaN"):
        pca_directions(torch.tensor([[0.0, float("nan")], [1.0, 2.0]]))
