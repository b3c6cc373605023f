import numpy as np
import pytest
import torch

from synthbio.checkpoints import load_generator, save_generator
from synthbio.editing.directions import load_direction, save_direction
from synthbio.generation.sampling import map_seeds
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator

TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("edit_models")
    save_generator(build_demo_generator(GeneratorConfig(**TINY)), root / "plain")
    return root / "plain"


def test_sefa_then_edit_seeds(model, tmp_path, run_cli):
    dirs = tmp_path / "dirs"
    code, stdout, err = run_cli("directions", "sefa", "--model", str(model), "--outdir", str(dirs), "--layers", "0-3",
                           "--num", "3")
    assert code == 0, err
    assert "3 SeFa directions" in stdout
    assert load_direction(dirs / "sefa_0.direction.safetensors").metadata["layers"] == "0-3"
    out = tmp_path / "edit"
    code, stdout, err = run_cli("edit", "--model", str(model), "--seeds", "0-1", "--direction", "sefa_0",
                           "--directions-dir", str(dirs), "--strengths", "-2:2:3", "--layers", "1-2",
                           "--outdir", str(out), "--device", "cpu", "--truncation", "0.7")
    assert code == 0, err
    assert "6 images, 2 strips (layers 1-2;" in stdout
    assert sorted(p.name for p in out.glob("strip_*.png")) == ["strip_seed0000.png", "strip_seed0001.png"]
    assert (out / "seed0001_edit02.png").is_file() and (out / "config.json").is_file()
    attrs, samples = read_samples(out / "samples.h5")
    assert len(samples) == 6 and attrs["layers"] == "1-2"
    G = load_generator(model)
    _, ws = map_seeds(G, [0, 1], truncation_psi=0.7)
    d = load_direction(dirs / "sefa_0.direction.safetensors").vector
    for s in samples:
        base = ws[s.identity].numpy()
        strength = s.attrs["strength"]
        assert s.attrs["source"] == f"seed{s.identity:04d}"
        delta = s.w_plus - base
        np.testing.assert_allclose(delta[[0, 3, 4, 5]], 0, atol=1e-6)  # outside the layer range
        np.testing.assert_allclose(delta[1:3], np.tile(strength * d.numpy(), (2, 1)), atol=1e-5)
    strip = np.asarray(__import__("PIL.Image").Image.open(out / "strip_seed0000.png"))
    assert strip.shape[:2] == (16, 48)


def test_pca_svm_and_edit_from_latents(model, tmp_path, run_cli):
    dirs = tmp_path / "dirs"
    code, stdout, err = run_cli("directions", "pca", "--model", str(model), "--outdir", str(dirs), "--samples", "300",
                           "--num", "2", "--layers", "0-2")
    assert code == 0, err
    assert "explained variance ratio" in stdout and (dirs / "pc1.direction.safetensors").is_file()
    rng = np.random.default_rng(0)
    w = rng.standard_normal((400, 16)).astype(np.float32)
    truth = np.zeros(16, np.float32)
    truth[3] = 1
    np.save(tmp_path / "w.npy", w)
    rows = "".join(f"{i:05d}.png,{int(w[i, 3] > 0)}\n" for i in range(400))
    (tmp_path / "labels.csv").write_text("filename,smile\n" + rows)
    code, stdout, err = run_cli("directions", "svm", "--latents", str(tmp_path / "w.npy"), "--labels",
                           str(tmp_path / "labels.csv"), "--label", "smile", "--outdir", str(dirs),
                           "--condition", str(dirs / "pc0.direction.safetensors"), "--layers", "0-3")
    assert code == 0, err
    smile = load_direction(dirs / "smile.direction.safetensors")
    assert float(smile.metadata["accuracy"]) > 0.9 and smile.metadata["layers"] == "0-3"
    pc0 = load_direction(dirs / "pc0.direction.safetensors").vector
    assert abs(float(smile.vector @ pc0)) < 1e-5
    np.save(tmp_path / "w3.npy", w[:3])
    out = tmp_path / "edit"
    code, stdout, err = run_cli("edit", "-m", str(model), "--latents", str(tmp_path / "w3.npy"), "--direction",
                           str(dirs / "smile.direction.safetensors"), "--strengths", "0,1", "--outdir", str(out),
                           "--device", "cpu")
    assert code == 0, err
    _, samples = read_samples(out / "samples.h5")
    assert len(samples) == 6
    first = [s for s in samples if s.identity == 0]
    np.testing.assert_allclose(first[0].w_plus, np.tile(w[0], (6, 1)))  # strength 0 = the input latent
    np.testing.assert_allclose(first[1].w_plus[4:], np.tile(w[0], (2, 1)))  # file's range 0-3 only


def test_edit_bad_input_exit_2(model, tmp_path, run_cli):
    save_direction(tmp_path / "known", torch.ones(16), method="manual")
    base = ["edit", "--model", str(model), "--seeds", "0", "--outdir", str(tmp_path / "out"), "--device", "cpu",
            "--directions-dir", str(tmp_path)]
    code, stdout, err = run_cli(*base, "--direction", "nope")
    assert code == 2 and "unknown direction 'nope'" in err and "known" in err
    code, stdout, err = run_cli(*base, "--direction", "known", "--strengths", "3:-3")
    assert code == 2 and "strengths '3:-3'" in err
    code, stdout, err = run_cli(*base, "--direction", "known", "--layers", "2-9")
    assert code == 2 and "out of bounds" in err and "0-5" in err
    save_direction(tmp_path / "wide", torch.ones(32), method="manual")
    code, stdout, err = run_cli(*base, "--direction", "wide")
    assert code == 2 and "w_dim 32" in err
    code, stdout, err = run_cli("edit", "--model", str(model), "--outdir", str(tmp_path / "o"), "--direction", "known")
    assert code == 2 and "either --seeds or --latents" in err
    code, stdout, err = run_cli("directions", "sefa", "--model", str(model), "--outdir", str(tmp_path), "--layers", "7-8")
    assert code == 2 and "out of bounds" in err
    assert not (tmp_path / "out").exists()
