"""`plot histograms`: intra / inter-class distances of collections written as figure and data."""

import json

import numpy as np
import PIL.Image
import pytest

from synthbio.errors import InputError
from synthbio.io.samples import SampleLatents, write_samples
from synthbio.metrics.class_distances import class_distances
from synthbio.pipelines.plots import HistogramsConfig, plot_histograms


def _collection(path, *, seed, spread):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(5, 8))
    rows = [SampleLatents(identity=k, label=f"v{j}", z=None, w=None, w_plus=None,
                          embedding=(centres[k] + spread * rng.normal(size=8)).astype(np.float32))
            for k in range(5) for j in range(4)]
    write_samples(path, rows)


def test_histograms_figure_and_data(tmp_path, run_cli):
    _collection(tmp_path / "tight.h5", seed=0, spread=0.1)
    _collection(tmp_path / "loose.h5", seed=1, spread=1.0)
    code, out, err = run_cli("plot", "histograms", str(tmp_path / "tight.h5"), str(tmp_path / "loose.h5"),
                             "-o", str(tmp_path / "hist"), "--cross", "--names", "tight,loose", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert set(summary) == {"tight/intra", "tight/inter", "loose/intra", "loose/inter",
                            "tight vs loose/intra", "tight vs loose/inter"}
    assert summary["tight/intra"]["d_prime"] > summary["loose/intra"]["d_prime"]  # tighter classes separate better
    assert summary["tight vs loose/intra"]["count"] == 0 and summary["tight vs loose/inter"]["count"] == 400
    data = json.loads((tmp_path / "hist" / "histograms.json").read_text())
    assert sum(data["series"]["tight/intra"]["counts"]) == 5 * 6  # C(4, 2) pairs per identity
    assert len(data["edges"]) == 61
    stored = np.load(tmp_path / "hist" / "distances.npz")
    from synthbio.pipelines.plots import read_features

    f, ids = read_features(str(tmp_path / "tight.h5"), "embedding")
    np.testing.assert_allclose(np.sort(stored["tight/intra"]), np.sort(class_distances(f, ids).intra))
    img = PIL.Image.open(tmp_path / "hist" / "histograms.png")
    assert img.size[0] > 400 and np.asarray(img.convert("L")).std() > 10


def test_histogram_errors(tmp_path):
    _collection(tmp_path / "a.h5", seed=0, spread=0.1)
    with pytest.raises(InputError, match="has no w"):
        plot_histograms(HistogramsConfig(collections=(str(tmp_path / "a.h5"),), outdir=str(tmp_path / "o"),
                                         feature="w"))
    with pytest.raises(InputError, match="at least two"):
        HistogramsConfig(collections=(str(tmp_path / "a.h5"),), outdir=str(tmp_path / "o"), cross=True)
    with pytest.raises(InputError, match="cannot read sample collection"):
        plot_histograms(HistogramsConfig(collections=(str(tmp_path / "none.h5"),), outdir=str(tmp_path / "o")))
