import json

import pytest

from synthbio.checkpoints import save_generator
from synthbio.io.manifest import read_manifest
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator

TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)




@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save_generator(build_demo_generator(GeneratorConfig(**TINY)), root / "plain")
    save_generator(build_demo_generator(GeneratorConfig(**TINY, c_dim=2)), root / "cond")
    return root


def test_generate_and_resume(models, tmp_path, monkeypatch, capsys, run_cli):
    args = ["generate", "--model", str(models / "plain"), "--seeds", "0-3,9", "--trunc", "0.7",
            "--outdir", str(tmp_path), "--grid", "--batch-size", "2", "--device", "cpu"]
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert "5 samples generated" in stdout
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "grid.png", "seed0000.png", "seed0001.png", "seed0002.png", "seed0003.png", "seed0009.png"]
    assert (tmp_path / "samples.h5").is_file() and json.loads((tmp_path / "config.json").read_text())
    code, stdout, err = run_cli(*args)
    assert code == 0 and "0 samples generated, 5 already done" in stdout


def test_dry_run_writes_nothing(models, tmp_path, monkeypatch, capsys, run_cli):
    out_dir = tmp_path / "out"
    code, out, _ = run_cli("generate", "-m", str(models / "plain"), "--seeds", "0-2",
                           "-o", str(out_dir), "--dry-run", "--noise-mode", "random")
    assert code == 0
    plan = json.loads(out)
    assert plan["config"]["seeds"] == [0, 1, 2] and plan["config"]["noise_mode"] == "random"
    assert plan["resolved_device"] in ("cpu", "cuda", "mps")
    assert not out_dir.exists()


@pytest.mark.parametrize("seeds", ["1-", "a", "5-2", "", "-3", "1,,2"])
def test_malformed_seeds_exit_2(models, tmp_path, monkeypatch, capsys, seeds, run_cli):
    code, stdout, err = run_cli("generate", "--model", str(models / "plain"),
                           f"--seeds={seeds}", "--outdir", str(tmp_path))
    assert code == 2 and "error:" in err and "seed" in err


def test_unknown_model_exit_2(tmp_path, monkeypatch, capsys, run_cli):
    code, stdout, err = run_cli("generate", "--model", "no-such-model", "--seeds", "0",
                           "--outdir", str(tmp_path), "--device", "cpu")
    assert code == 2 and "no-such-model" in err


def test_bad_checkpoints_exit_2(models, tmp_path, monkeypatch, capsys, run_cli):
    wrong = tmp_path / "wrong.pkl"
    wrong.write_bytes(b"this is not a checkpoint at all")
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "config.json").write_bytes((models / "plain" / "config.json").read_bytes())
    data = (models / "plain" / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    for model in (wrong, truncated):
        code, stdout, err = run_cli("generate", "--model", str(model), "--seeds", "0",
                               "--outdir", str(tmp_path / "out"), "--device", "cpu")
        assert code == 2 and "error:" in err, err
    assert not (tmp_path / "out").exists()


def test_class_index_errors_exit_2(models, tmp_path, monkeypatch, capsys, run_cli):
    base = ["generate", "--model", str(models / "cond"), "--seeds", "0", "--outdir", str(tmp_path), "--device", "cpu"]
    code, stdout, err = run_cli(*base, "--class-idx", "2")
    assert code == 2 and "--class-idx 2 is out of range" in err
    code, stdout, err = run_cli(*base)
    assert code == 2 and "conditional" in err
    code, stdout, err = run_cli(*base, "--class", "1")
    assert code == 0, err


def test_other_run_in_outdir_exit_2(models, tmp_path, monkeypatch, capsys, run_cli):
    base = ["generate", "--model", str(models / "plain"), "--seeds", "0-1", "--outdir", str(tmp_path), "--device", "cpu"]
    assert run_cli(*base)[0] == 0
    code, stdout, err = run_cli(*base, "--trunc", "0.5")
    assert code == 2 and "another run" in err and "truncation_psi" in err
    assert len(read_manifest(tmp_path / "manifest.jsonl").records) == 2  # nothing lost
    code, stdout, err = run_cli(*base, "--trunc", "0.5", "--force")
    assert code == 0, err
    assert {r["truncation_psi"] for r in read_manifest(tmp_path / "manifest.jsonl").records} == {0.5}


def test_mix_command(models, tmp_path, monkeypatch, capsys, run_cli):
    code, stdout, err = run_cli("mix", "--model", str(models / "plain"), "--rows", "85,100",
                           "--cols", "55,821", "--styles", "0-3", "--outdir", str(tmp_path), "--device", "cpu")
    assert code == 0, err
    assert (tmp_path / "grid.png").is_file() and (tmp_path / "100-821.png").is_file()
    code, stdout, err = run_cli("mix", "--model", str(models / "plain"), "--rows", "1",
                           "--cols", "2", "--styles", "0-6", "--outdir", str(tmp_path), "--device", "cpu")
    assert code == 2 and "style layers" in err


def test_demo_command(tmp_path, monkeypatch, capsys, run_cli):
    code, stdout, err = run_cli("demo", "--outdir", str(tmp_path), "--num-seeds", "2")
    assert code == 0, err
    assert "grid_rgb.png" in stdout and (tmp_path / "model" / "model.safetensors").is_file()
    assert (tmp_path / "rgb" / "seed0001.png").is_file() and (tmp_path / "nir" / "seed0001.png").is_file()


def test_outdir_that_is_a_file_exit_2(models, tmp_path, monkeypatch, capsys, run_cli):
    (tmp_path / "f").write_text("x")
    code, stdout, err = run_cli("generate", "--model", str(models / "plain"), "--seeds", "0",
                           "--outdir", str(tmp_path / "f"), "--device", "cpu")
    assert code == 2 and "output folder" in err
