"""`synthbio train-encoder` and `synthbio invert`: happy path, resume by OUTDIR, bad input -> exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.checkpoints.encoders import load_encoder
from synthbio.io.samples import read_samples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inversion"))
from encoder_helpers import tiny_generator  # noqa: E402

TINY = ["--channels", "4,8,8,16", "--blocks", "1,1,1,1", "--head-channels", "8", "--batch", "2"]


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_generator(tmp_path_factory.mktemp("g") / "G")


def test_train_resume_and_invert(run_cli, gen_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, stdout, err = run_cli("train-encoder", "--generator", str(gen_dir), "--outdir", str(run), *TINY,
                           "--images", "4", "--snapshot-images", "4", "--latent", "1.0")
    assert code == 0, err
    assert (run / "latest" / "training_state.pt").is_file() and "encoder:" in stdout
    code, stdout, err = run_cli("train-encoder", "--resume", str(run), "--images", "8")
    assert code == 0, err
    assert json.loads((run / "stats.jsonl").read_text().splitlines()[-1])["step"] == 4
    assert json.loads((run / "config.json").read_text())["train"]["latent_weight"] == 1.0

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        PIL.Image.fromarray(rng.integers(0, 255, (24, 20), dtype=np.uint8)).save(imgs / f"{name}.png")
    out = tmp_path / "inv"
    code, stdout, err = run_cli("invert", "--encoder", str(run / "latest"), "--outdir", str(out), str(imgs),
                           "--batch-size", "2")
    assert code == 0, err
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["00000_a.png", "00001_b.png", "00002_c.png"]
    attrs, samples = read_samples(out / "samples.h5")
    assert attrs["kind"] == "encoder-inversion" and attrs["generator"] == str(gen_dir)
    enc = load_encoder(run / "latest")[0]
    assert samples[1].w_plus.shape == (6, 8) and samples[1].attrs["source"].endswith("b.png")
    from synthbio.inversion.invert import load_image

    with torch.no_grad():  # batch size never changes the latents
        expected = enc(load_image(imgs / "b.png", resolution=16, channels=1)[None])[0].numpy()
    np.testing.assert_allclose(samples[1].w_plus, expected, rtol=1e-5, atol=1e-5)
    code, stdout, err = run_cli("invert", "--encoder", str(run / "latest"), "--outdir", str(out), str(imgs))
    assert code == 2 and "--overwrite" in err
    code, stdout, err = run_cli("info", str(out), "--json")
    info = json.loads(stdout)[0]
    assert (info["command"], info["holds"]) == ("invert", {"images": 3, "latent files": 1})


@pytest.mark.parametrize("args, message", [
    (["train-encoder", "--outdir", "x"], "--model"),
    (["train-encoder", "--generator", "G", "--outdir", "x", "--task", "minutiae"], "--data"),
    (["train-encoder", "--generator", "G", "--outdir", "x", "--channels", "a,b"], "--channels"),
    (["train-encoder", "--resume", "/nonexistent/run"], "config.json"),
    (["invert", "--encoder", "E", "--outdir", "x", "/nonexistent/img.png"], "does not exist"),
])
def test_bad_input_exits_2(run_cli, args: list[str], message: str) -> None:
    code, stdout, err = run_cli(*args)
    assert code == 2 and message in err


def test_invert_bad_encoder_exits_2(run_cli, tmp_path: Path) -> None:
    img = tmp_path / "a.png"
    PIL.Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(img)
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "config.json").write_text("{not json")
    code, stdout, err = run_cli("invert", "--encoder", str(tmp_path / "enc"), "--outdir", str(tmp_path / "o"), str(img))
    assert code == 2 and "config.json" in err
