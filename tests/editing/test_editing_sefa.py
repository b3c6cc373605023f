import re

import numpy as np
import pytest
import torch

from synthbio.editing.sefa import save_sefa, sefa, stacked_style_weights, style_layers
from synthbio.editing.directions import load_direction
from synthbio.errors import InputError
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator

TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
_CONV_KEY = re.compile(r"^synthesis\.b(\d+)\.conv([01])\.affine\.weight$")


@pytest.fixture(scope="module")
def G():
    return build_demo_generator(GeneratorConfig(**TINY, branches=(("img", 3), ("nir", 1))))


def numpy_sefa(G, ws_indices, *, normalize=True):
    """Independent SeFa: conv affine weights from the state dict in ws order, eigh of A^T A."""
    convs = []
    for key, value in G.state_dict().items():
        m = _CONV_KEY.match(key)
        if m:
            convs.append((int(m.group(1)), int(m.group(2)), value.double().numpy()))
    convs.sort(key=lambda t: (t[0], t[1]))  # b4 has conv1 only: ws 0; then conv0/conv1 per block
    assert [(r, c) for r, c, _ in convs][:3] == [(4, 1), (8, 0), (8, 1)]
    gain = 1 / np.sqrt(G.w_dim)
    A = np.concatenate([w * gain for i, (_, _, w) in enumerate(convs) if i in ws_indices])
    if normalize:
        A = A / np.linalg.norm(A, axis=1, keepdims=True)
    vals, vecs = np.linalg.eigh(A.T @ A)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order].T


@pytest.mark.parametrize("layers,normalize", [(None, True), (range(1, 3), True), (range(0, 5), False)])
def test_sefa_matches_numpy_eigh(G, layers, normalize):
    res = sefa(G, layers=layers, num_directions=6, normalize=normalize)
    idx = set(range(G.num_ws) if layers is None else layers)
    vals, vecs = numpy_sefa(G, idx, normalize=normalize)
    np.testing.assert_allclose(res.eigenvalues.numpy(), vals[:6], rtol=1e-5)
    cos = np.abs((res.directions.double().numpy() * vecs[:6]).sum(1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-5)
    np.testing.assert_allclose(res.directions.norm(dim=1).numpy(), 1.0, atol=1e-6)


def test_heads_are_excluded_and_ws_order(G):
    layers = style_layers(G)
    assert [s.ws_index for s in layers] == [0, 1, 2, 3, 4]
    assert all("torgb" not in s.name for s in layers)
    before = sefa(G, num_directions=4).directions
    G2 = build_demo_generator(GeneratorConfig(**TINY, branches=(("img", 3), ("nir", 1))))
    with torch.no_grad():
        for name, p in G2.named_parameters():
            if "torgb" in name and "affine" in name:
                p.mul_(-3.0).add_(1.0)
    torch.testing.assert_close(sefa(G2, num_directions=4).directions, before)


def test_row_normalisation_ignores_weight_gain(G):
    a = stacked_style_weights(G, normalize=True)
    torch.testing.assert_close(a.norm(dim=1), torch.ones(a.shape[0], dtype=a.dtype))


def test_sefa_bad_input(G):
    with pytest.raises(InputError, match="out of bounds"):
        sefa(G, layers=range(3, 9))
    with pytest.raises(InputError, match="no synthesis conv layer"):
        sefa(G, layers=range(5, 6))  # ws 5 feeds only the last output heads
    with pytest.raises(InputError, match="number of SeFa directions"):
        sefa(G, num_directions=0)


def test_save_sefa_files(G, tmp_path):
    res = sefa(G, layers=range(0, 3), num_directions=3)
    paths = save_sefa(res, tmp_path, generator="tiny")
    assert [p.name for p in paths] == [f"sefa_{k}.direction.safetensors" for k in range(3)]
    d = load_direction(paths[1])
    torch.testing.assert_close(d.vector, res.directions[1])
    assert d.metadata["method"] == "sefa" and d.metadata["layers"] == "0-2" and d.metadata["generator"] == "tiny"
    assert float(d.metadata["eigenvalue"]) == pytest.approx(float(res.eigenvalues[1]), rel=1e-4)
