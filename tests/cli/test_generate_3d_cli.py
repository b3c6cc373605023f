"""synthbio generate on a fresh StyleGAN3 / EG3D model folder: views, depth, transforms, bad flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_generators import tiny_eg3d, tiny_sg3

from synthbio.checkpoints import save_generator


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"eg3d": save_generator(tiny_eg3d(), root / "eg3d"), "sg3": save_generator(tiny_sg3(), root / "sg3")}


def test_pose_sweep_with_depth(run_cli, models, tmp_path: Path) -> None:
    code, _, err = run_cli("generate", "-m", str(models["eg3d"]), "--seeds", "0-1", "-o", str(tmp_path),
                             "--yaw", "-20:20:3", "--pitch", "5", "--fov", "20", "--save-depth", "npy")
    assert code == 0, err
    assert len(list(tmp_path.glob("seed*_yaw*_pitch+5.png"))) == 6
    assert len(list(tmp_path.glob("seed*_depth.npy"))) == 6
    code, out, err = run_cli("info", str(tmp_path), "--json")
    info = json.loads(out)[0]
    assert (info["command"], info["done"], info["wanted"]) == ("generate", 2, 2)
    assert (info["holds"]["images"], info["holds"]["depth maps"]) == (6, 6)


def test_stylegan3_transform_and_bad_flags(run_cli, models, tmp_path: Path) -> None:
    code, _, err = run_cli("generate", "-m", str(models["sg3"]), "--seeds", "3", "-o", str(tmp_path / "a"),
                           "--translate", "0.1,-0.1", "--rotate", "10")
    assert code == 0, err
    assert (tmp_path / "a" / "seed0003.png").is_file()
    code, _, err = run_cli("generate", "-m", str(models["sg3"]), "--seeds", "3", "-o", str(tmp_path / "b"),
                           "--yaw", "10")
    assert code == 2 and "need a camera-controlled (EG3D) model" in err
    code, _, err = run_cli("generate", "-m", str(models["eg3d"]), "--seeds", "3", "-o", str(tmp_path / "c"),
                           "--yaw", "left")
    assert code == 2 and "--yaw 'left' must be" in err
    code, _, err = run_cli("generate", "-m", str(models["sg3"]), "--seeds", "3", "-o", str(tmp_path / "d"),
                           "--translate", "0.1")
    assert code == 2 and "--translate takes two finite numbers 'x,y' in image widths, got '0.1'" in err
    for bad in ("a,b", "inf,0", "0:1:3"):
        code, _, err = run_cli("generate", "-m", str(models["sg3"]), "--seeds", "3", "-o", str(tmp_path / "d"),
                               "--translate", bad)
        assert code == 2 and f"--translate takes two finite numbers 'x,y' in image widths, got {bad!r}" in err
    code, _, err = run_cli("generate", "-m", str(models["eg3d"]), "--seeds", "3", "-o", str(tmp_path / "e"),
                           "--rotate", "5")
    assert code == 2 and "--translate and --rotate need a StyleGAN3 model" in err
    assert "this one is an EG3D generator" in err
