"""Identity datasets from EG3D (pose variations of one latent) and StyleGAN3 generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_generators import tiny_eg3d, tiny_sg3

from synthbio.checkpoints import save_generator
from synthbio.errors import InputError
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.pipelines.dataset.config import DatasetConfig
from synthbio.pipelines.dataset.generate import generate_dataset


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"eg3d": save_generator(tiny_eg3d(), root / "eg3d"), "sg3": save_generator(tiny_sg3(), root / "sg3")}


def _config(model: Path, outdir: Path, **kw: object) -> DatasetConfig:
    base = dict(outdir=str(outdir), model=str(model), identity_model="pixel-random", identities=2,
                samples_per_identity=3, inter_threshold=0.05, intra_threshold=3.0, device="cpu", seed=3,
                max_attempts=1)
    base.update(kw)
    return DatasetConfig(**base)  # type: ignore[arg-type]


def test_eg3d_pose_variations_keep_the_latent(models, tmp_path: Path, one_thread) -> None:
    out = tmp_path / "ds"
    generate_dataset(_config(models["eg3d"], out, variation_method="pose", pose_yaw=(-30.0, 30.0),
                             pose_pitch=(-10.0, 10.0)))
    records = read_manifest(out / "manifest.jsonl").records
    assert len(records) == 6
    by_label = {(r["identity"], r["label"]): r for r in records}
    for ident in (0, 1):
        ref = by_label[(ident, "reference")]
        assert (ref["attrs"]["yaw"], ref["attrs"]["pitch"]) == (0.0, 0.0)
        for k in (0, 1):
            var = by_label[(ident, f"variation_{k}")]["attrs"]
            assert -30 <= var["yaw"] <= 30 and -10 <= var["pitch"] <= 10 and (var["yaw"], var["pitch"]) != (0, 0)
    samples = {(s.identity, s.label): s for s in read_samples(out / "samples.h5")[1]}
    assert np.array_equal(samples[(0, "variation_1")].w_plus, samples[(0, "reference")].w_plus)  # same latent
    again = tmp_path / "again"
    generate_dataset(_config(models["eg3d"], again, variation_method="pose", pose_yaw=(-30.0, 30.0),
                             pose_pitch=(-10.0, 10.0)))
    for p in sorted(out.rglob("*.png")):
        assert p.read_bytes() == (again / p.relative_to(out)).read_bytes(), p


def test_eg3d_latent_variations_with_views_and_stylegan3_datasets(models, tmp_path: Path, one_thread) -> None:
    generate_dataset(_config(models["eg3d"], tmp_path / "mix", variation_method="style-mixing",
                             pose_yaw=(-20.0, 20.0)))
    var = [r for r in read_manifest(tmp_path / "mix" / "manifest.jsonl").records if r["label"] != "reference"]
    assert all(-20 <= r["attrs"]["yaw"] <= 20 and r["attrs"]["pitch"] == 0.0 for r in var)
    generate_dataset(_config(models["sg3"], tmp_path / "sg3", variation_method="style-mixing"))
    assert len(list((tmp_path / "sg3").rglob("*.png"))) == 6


def test_pose_options_need_eg3d_and_a_range(models, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="need a camera-controlled"):
        generate_dataset(_config(models["sg3"], tmp_path / "a", variation_method="pose", pose_yaw=(-10.0, 10.0)))
    with pytest.raises(InputError, match="pose variations need a range of views"):
        _config(models["eg3d"], tmp_path / "b", variation_method="pose")
    with pytest.raises(InputError, match="--pose-yaw must be 'min,max'"):
        _config(models["eg3d"], tmp_path / "c", pose_yaw=(10.0, -10.0))
