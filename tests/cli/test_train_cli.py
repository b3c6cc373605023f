"""`synthbio train --resume RUN`: the run's saved settings, nothing to repeat, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest


def _images(folder: Path, channels: int) -> None:
    rng = np.random.default_rng(channels)
    folder.mkdir(parents=True)
    for i in range(8):
        img = rng.integers(0, 255, (16, 16, channels), dtype=np.uint8)
        PIL.Image.fromarray(img[..., 0] if channels == 1 else img).save(folder / f"{i:03d}.png")


@pytest.fixture
def paired(tmp_path: Path) -> Path:
    _images(tmp_path / "pairs" / "rgb", 3)
    _images(tmp_path / "pairs" / "nir", 1)
    return tmp_path / "pairs"


def test_resume_takes_the_saved_settings(run_cli, paired: Path, tmp_path: Path, one_thread) -> None:  # noqa: ANN001
    run = tmp_path / "run"
    code, out, err = run_cli("train", "--data", str(paired), "--branches", "rgb:3,nir:1", "--branch-weights",
                             "nir=0.5", "--outdir", str(run), "--config", "tiny", "--kimg", "0.008", "--batch-size",
                             "4", "--snap", "0.008", "--tick", "0.008", "--device", "cpu", "--grid", "2")
    assert code == 0, err
    # only the run folder and a longer length: data, branches, preset, batch come from RUN/config.json
    code, out, err = run_cli("train", "--resume", str(run), "--kimg", "0.016")
    assert code == 0, err
    assert "0.016 kimg" in out
    saved = json.loads((run / "config.json").read_text())["train"]
    assert saved["branches"] == [["rgb", 3], ["nir", 1]] and saved["branch_weights"] == [["nir", 0.5]]
    assert saved["kimg"] == 0.016 and saved["data"] == str(paired) and saved["resume"] == str(run)
    # the same command line plus --resume is accepted: repeating a saved value changes nothing
    code, out, err = run_cli("train", "--resume", str(run), "--config", "tiny", "--batch-size", "4",
                             "--branches", "rgb:3,nir:1", "--data", str(paired), "--kimg", "0.016")
    assert code == 0, err
    # settings a resume cannot change are refused in one line naming the flag
    code, _, err = run_cli("train", "--resume", str(run), "--gamma", "3")
    assert code == 2 and "--gamma cannot change" in err and len(err) < 300
    code, _, err = run_cli("train", "--resume", str(tmp_path / "nothing"))
    assert code == 2 and "no such directory" in err and len(err) < 300


def test_architecture_mismatch_is_one_short_line() -> None:
    from synthbio.training.configs import differing_keys

    a = {"G": {"branches": [["rgb", 3], ["nir", 1]], "z_dim": 8}, "D": {"rgb": {"c": 1}, "nir": {"c": 1}}}
    b = {"G": {"branches": [["img", 3]], "z_dim": 8}, "D": {"img": {"c": 1}}}
    assert differing_keys(a, b) == ["D.img", "D.nir", "D.rgb", "G.branches"]


def test_a_fine_tuned_run_resumes_with_its_settings(run_cli, tmp_path: Path, one_thread) -> None:  # noqa: ANN001
    """--init-from is saved with the run; --resume must not trip over it, and may switch --gradfix."""
    _images(tmp_path / "imgs", 3)
    common = ("--config", "tiny", "--kimg", "0.008", "--batch-size", "4", "--snap", "0.008", "--tick", "0.008",
              "--device", "cpu", "--grid", "2")
    code, _, err = run_cli("train", "--data", str(tmp_path / "imgs"), "--outdir", str(tmp_path / "base"), *common)
    assert code == 0, err
    base = tmp_path / "base" / "latest"
    code, _, err = run_cli("train", "--data", str(tmp_path / "imgs"), "--outdir", str(tmp_path / "tuned"),
                           "--init-from", str(base), *common)
    assert code == 0, err
    code, out, err = run_cli("train", "--resume", str(tmp_path / "tuned"), "--kimg", "0.016", "--gradfix", "on")
    assert code == 0, err
    assert "0.016 kimg" in out
    saved = json.loads((tmp_path / "tuned" / "config.json").read_text())["train"]
    assert saved["gradfix"] == "on" and saved["init_from"] is None
    code, _, err = run_cli("train", "--resume", str(tmp_path / "tuned"), "--init-from", str(base))
    assert code == 2 and "--init-from cannot change" in err
    # a generator of another architecture: one line naming what differs
    code, _, err = run_cli("train", "--data", str(tmp_path / "imgs"), "--outdir", str(tmp_path / "other"),
                           "--init-from", str(base), *common[2:], "--config", "small64", "--resolution", "16")
    assert code == 2 and "--init-from" in err and "differs in" in err and len(err) < 400, err
