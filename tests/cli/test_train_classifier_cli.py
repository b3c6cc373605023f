"""`synthbio train-classifier` and `synthbio directions classifier`, then `synthbio edit` with the result."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synthbio.editing.attributes import load_attribute_classifier
from synthbio.editing.directions import load_direction
from synthbio.io.samples import read_samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines" / "attributes"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inversion"))
from encoder_helpers import tiny_generator  # noqa: E402
from test_attribute_classifier import make_ckplus, make_encoder  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_ac")
    G_dir = tiny_generator(root / "G", channels=1)
    return {"G": G_dir, "ckplus": make_ckplus(root / "ckplus", G_dir), "encoder": make_encoder(root / "E", G_dir)}


def test_train_then_directions_raise_the_score_when_edited(run_cli, world: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "clf"
    args = ["train-classifier", "--ckplus", str(world["ckplus"]), "--encoder", str(world["encoder"]),
            "--labels", "AU12,AU6,happy", "--hidden", "16", "--epochs", "30", "--outdir", str(out)]
    code, stdout, err = run_cli(*args, "--dry-run")
    assert code == 0, err
    cfg = json.loads(stdout)
    assert cfg["source"] == "ckplus" and cfg["label_names"] == ["AU12", "AU6", "happy"] and not out.exists()
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert "24 images inverted now, 24 labelled" in stdout and "held-out F1: AU12" in stdout
    report = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in report["labels"]] == ["AU12", "AU6", "happy"]
    code, stdout, err = run_cli(*args)  # again: everything comes from the latents cache
    assert code == 0 and "0 images inverted now" in stdout, err

    dirs = tmp_path / "dirs"
    code, stdout, err = run_cli("directions", "classifier", "--model", str(world["G"]), "--classifier",
                           str(out / "classifier"), "--outdir", str(dirs), "--samples", "1000", "--fraction", "0.05",
                           "--labels", "AU12,happy", "--seed", "1")
    assert code == 0, err
    assert "AU12:" in stdout and "held-out accuracy" in stdout and not (dirs / "AU6.direction.safetensors").exists()
    d = load_direction(dirs / "AU12.direction.safetensors")
    assert d.method == "svm" and d.label == "AU12" and d.metadata["source"] == "classifier"
    assert d.vector.shape == (8,) and float(d.metadata["accuracy"]) > 0.8

    edited = tmp_path / "edit"
    code, stdout, err = run_cli("edit", "--model", str(world["G"]), "--seeds", "0-3", "--direction", "AU12",
                           "--directions-dir", str(dirs), "--strengths", "-3:3:7", "--outdir", str(edited),
                           "--device", "cpu")
    assert code == 0, err
    _, samples = read_samples(edited / "samples.h5")
    clf, _ = load_attribute_classifier(out / "classifier")
    k = clf.config.label_names.index("AU12")
    for seed in range(4):
        rows = sorted((s for s in samples if s.identity == seed), key=lambda s: s.attrs["strength"])
        assert [s.attrs["strength"] for s in rows] == [-3, -2, -1, 0, 1, 2, 3]
        with torch.no_grad():
            logits = clf(torch.from_numpy(np.stack([s.w_plus for s in rows])))[:, k].numpy()
        assert (np.diff(logits) > 0).all(), (seed, logits)  # the classifier's score rises with the strength


def test_bad_inputs_exit_2_naming_the_input(run_cli, world: dict[str, Path], tmp_path: Path) -> None:
    base = ["--encoder", str(world["encoder"]), "--outdir", str(tmp_path / "o")]
    code, stdout, err = run_cli("train-classifier", "--ckplus", str(tmp_path / "missing"), *base)
    assert code == 2 and "missing" in err and "not a CK+ root" in err
    code, stdout, err = run_cli("train-classifier", "--ckplus", str(world["ckplus"]), "--labels", "AU12,AU99", *base)
    assert code == 2 and "'AU99' never occurs" in err
    code, stdout, err = run_cli("train-classifier", "--ckplus", str(world["ckplus"]), "--csv", "x.csv", *base)
    assert code == 2 and "exactly one label source" in err
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.png").write_text("not an image")
    (tmp_path / "l.csv").write_text("filename,smile\na.png,1\n")
    code, stdout, err = run_cli("train-classifier", "--csv", str(tmp_path / "l.csv"), "--images", str(tmp_path / "imgs"),
                           *base)
    assert code == 2 and "cannot read image" in err and "a.png" in err
    code, stdout, err = run_cli("train-classifier", "--csv", str(tmp_path / "l.csv"), "--images", str(tmp_path / "imgs"),
                           "--labels", "frown", *base)
    assert code == 2 and "frown" in err
    code, stdout, err = run_cli("directions", "classifier", "--model", str(world["G"]), "--classifier",
                           str(tmp_path / "nope"), "--outdir", str(tmp_path / "d"))
    assert code == 2 and "nope" in err


def test_train_from_a_database_index(run_cli, world: dict[str, Path], tmp_path: Path) -> None:
    """The CK+ folder indexed once (`db build ckplus`): peak frames, labels from the samples' attributes."""
    index = tmp_path / "ck.sqlite"
    code, _, err = run_cli("db", "build", "ckplus", str(world["ckplus"]), "-o", str(index))
    assert code == 0, err
    out = tmp_path / "clf_db"
    args = ["train-classifier", "--database", str(index), "--protocol", "peak", "--group", "all",
            "--labels", "AU12,emotion=happy", "--encoder", str(world["encoder"]), "--hidden", "16", "--epochs", "5",
            "--outdir", str(out)]
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert "24 images inverted now, 24 labelled" in stdout
    report = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in report["labels"]] == ["AU12", "emotion=happy"]
    code, _, err = run_cli(*args[:-2], "--labels", "emotion", "--outdir", str(tmp_path / "x"))
    assert code == 2 and "learn one of its values with --labels emotion=VALUE" in err
    code, _, err = run_cli("train-classifier", "--csv", "l.csv", "--images", "i", "--protocol", "peak",
                           "--encoder", str(world["encoder"]), "--outdir", str(tmp_path / "y"))
    assert code == 2 and "select samples of a database" in err
