"""`directions covariates`: a generator's known direction planted in labelled samples is found again."""

import json

import numpy as np
import pytest

from synthbio.editing.directions import load_direction
from synthbio.errors import InputError
from synthbio.io.samples import SampleLatents, write_samples
from synthbio.pipelines.attributes import CovariatesConfig, fit_covariate_directions, parse_covariate

pytest.importorskip("sklearn", reason="SVM directions need scikit-learn (editing extra)")


def _collection(path, *, seed, n=150):
    """What project-database writes for a pose protocol: w = w0 + sign(yaw) * d, the sample's yaw as attribute.

    d is the generator's 'known' direction (here SeFa-like: any fixed vector of norm 2).
    """
    rng = np.random.default_rng(seed)
    d = np.random.default_rng(99).normal(size=16)
    d *= 2.0 / np.linalg.norm(d)
    rows = []
    for i in range(n):
        yaw = int(rng.choice([-30, -15, 0, 15, 30]))
        expr = str(rng.choice(["neutral", "smile"]))
        w = rng.normal(size=16) * 0.4 + np.sign(yaw) * d + (expr == "smile") * np.roll(d, 5)
        rows.append(SampleLatents(identity=i // 5, label=f"s{i}", z=None, w=w.astype(np.float32),
                                  w_plus=np.tile(w, (6, 1)).astype(np.float32),
                                  attrs={"yaw": yaw, "expression": expr, "key": f"s{i}"}))
    write_samples(path, rows, attrs={"generator": "G", "generator_sha256": "abc"})
    return d


def test_recovers_planted_direction(tmp_path, run_cli):
    d = _collection(tmp_path / "a.h5", seed=0)
    _collection(tmp_path / "b.h5", seed=1)
    code, out, err = run_cli("directions", "covariates", str(tmp_path / "a.h5"), str(tmp_path / "b.h5"),
                             "-o", str(tmp_path / "dirs"),
                             "--covariates", "pose:yaw:-30,-15:15,30:0;smile", "--neutralise", "remove", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["samples"] == 300 and report["covariates"]["pose"]["val_accuracy"] > 0.95
    pose = load_direction(tmp_path / "dirs" / "pose.direction.safetensors")
    cos = float(pose.vector.double().numpy() @ (d / np.linalg.norm(d)))
    assert cos > 0.9
    assert float(pose.metadata["scale"]) == pytest.approx(2.0 * cos, rel=0.1)
    smile = load_direction(tmp_path / "dirs" / "smile.direction.safetensors")
    assert abs(float(smile.vector @ pose.vector)) < 0.05  # fitted after pose was removed from the latents
    assert json.loads((tmp_path / "dirs" / "config.json").read_text())["neutralise"] == "remove"


def test_covariate_specs_and_errors(tmp_path):
    assert parse_covariate("pose").attribute == "yaw"
    c = parse_covariate("glasses:eyeglasses:0:1:0")
    assert (c.negative, c.positive, c.neutral) == ((0,), (1,), (0,))
    with pytest.raises(InputError, match="unknown covariate 'posee'"):
        parse_covariate("posee")
    with pytest.raises(InputError, match="is not NAME:ATTRIBUTE"):
        parse_covariate("a:b:c")
    write_samples(tmp_path / "x.h5", [SampleLatents(identity=0, label="a", z=None, w=np.zeros(4, np.float32),
                                                    w_plus=None, attrs={"generator_sha256": "1"})],
                  attrs={"generator_sha256": "1"})
    write_samples(tmp_path / "y.h5", [SampleLatents(identity=0, label="a", z=None, w=np.zeros(4, np.float32),
                                                    w_plus=None)], attrs={"generator_sha256": "2"})
    with pytest.raises(InputError, match="different generators"):
        fit_covariate_directions(CovariatesConfig(collections=(str(tmp_path / "x.h5"), str(tmp_path / "y.h5")),
                                                  outdir=str(tmp_path / "o"), covariates=("pose",)))
