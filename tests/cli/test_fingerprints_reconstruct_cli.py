"""`synthbio fingerprints reconstruct | attack` from the command line: outputs and exit code 2 on bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import PIL.Image
import pytest
import torch

from synthbio.checkpoints.encoders import save_encoder
from synthbio.checkpoints.native import save_generator
from synthbio.fingerprints.minutiae import write_template
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.nn.generator import Generator
from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, generate_dataset

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)  # weight init only
    G = Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=32, branches=(("img", 1),), channel_base=64,
                                  channel_max=8, mapping_layers=2)).eval()
    enc = Encoder(EncoderConfig(in_channels=3, resolution=32, num_ws=G.num_ws, w_dim=8, channels=(4, 4, 8, 8),
                                blocks=(1, 1, 1, 1), head_channels=8), w_avg=G.mapping.w_avg)
    gdir = save_generator(G, root / "G")
    return save_encoder(enc, root / "enc", task="minutiae", generator=str(gdir), provenance={})


def _template(tmp_path: Path, name: str = "t.iso") -> Path:
    t = MinutiaeTemplate(minutiae=[Minutia(x=20.0 + 9 * k, y=30.0 + 11 * k, angle=0.4 * k % (2 * math.pi))
                                   for k in range(10)], width=150, height=180, dpi=500)
    path = tmp_path / name
    write_template(t, path)
    return path


def test_reconstruct_one_template(run_cli: Run, encoder_dir: Path, tmp_path: Path) -> None:
    src = _template(tmp_path)
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(src), "--out", str(tmp_path / "r.png"),
                           "--method", "encoder", "--encoder", str(encoder_dir), "--device", "cpu")
    assert code == 0, err
    assert "1 reconstructions written" in stdout
    with PIL.Image.open(tmp_path / "r.png") as im:
        assert im.size == (150, 180) and im.mode == "L"


def test_reconstruct_folder_mirrors_paths(run_cli: Run, encoder_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "in" / "a").mkdir(parents=True)
    _template(tmp_path / "in" / "a", "x.json")
    _template(tmp_path / "in", "y.xyt")
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                           "--method", "encoder", "--encoder", str(encoder_dir), "--device", "cpu", "--xyt-width", "150",
                           "--xyt-height", "180", "--dpi-out", "250")
    assert code == 0, err
    with PIL.Image.open(tmp_path / "out" / "a" / "x.png") as im:
        assert im.size == (75, 90)
    assert (tmp_path / "out" / "y.png").is_file()
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(tmp_path / "in"), "--out", str(tmp_path / "o2"),
                             "--dry-run")
    assert code == 0, err
    assert json.loads(stdout)["templates"] == 2 and not (tmp_path / "o2").exists()


def test_unknown_encoder_name_exits_2(run_cli: Run, tmp_path: Path) -> None:
    src = _template(tmp_path)
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(src), "--out", str(tmp_path / "r.png"),
                           "--method", "encoder", "--encoder", "no-such-encoder", "--device", "cpu")
    assert code == 2 and "no-such-encoder" in err and "error" in err
    assert not (tmp_path / "r.png").exists()


def test_malformed_template_exits_2(run_cli: Run, encoder_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "synthbio.minutiae_template", "schema_version": 1, "minutiae": 3}')
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(bad), "--out", str(tmp_path / "r.png"),
                           "--method", "encoder", "--encoder", str(encoder_dir), "--device", "cpu")
    assert code == 2 and "bad.json" in err
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(tmp_path / "missing.iso"), "--out",
                           str(tmp_path / "r.png"), "--method", "encoder", "--encoder", str(encoder_dir))
    assert code == 2 and "missing.iso" in err


def test_attack_command(run_cli: Run, encoder_dir: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    generate_dataset(FingerprintDatasetConfig(outdir=str(ds), fingers=3, impressions=2, width=256, height=320,
                                              seed=5), progress=False)
    code, stdout, err = run_cli("fingerprints", "attack", str(ds), "--method", "encoder", "--encoder", str(encoder_dir), "--fingers", "2:3",
                           "--device", "cpu", "--examples", "1", "--baseline", "all", "-j", "1")
    assert code == 0, err
    assert "1 fingers attacked, 2 type-I and 2 type-II comparisons; 3 impostor scores" in stdout
    assert "FMR 0.1%: not evaluated" in stdout
    # one attacked finger and the default baseline (attacked fingers only): no impostor at all, said so
    code, stdout, err = run_cli("fingerprints", "attack", str(ds), "--method", "encoder", "--encoder", str(encoder_dir), "--fingers", "2:3",
                           "--device", "cpu", "--outdir", str(tmp_path / "solo"))
    assert code == 0, err
    assert "0 impostor scores" in stdout and "FMR 0 (no impostor accepted): not evaluated (no impostor scores" in stdout
    report = ds.with_name(ds.name + "_attack")  # beside the dataset, never inside
    r = json.loads((report / "results.json").read_text())
    assert r["counts"]["type1"] == 2 and (report / "index.html").is_file() and not (ds / "attack").exists()
    code, stdout, err = run_cli("fingerprints", "attack", str(ds), "--method", "encoder", "--encoder", str(encoder_dir), "--fingers", "x")
    assert code == 2 and "--fingers" in err
    code, stdout, err = run_cli("fingerprints", "attack", str(ds), "--method", "encoder", "--encoder", str(encoder_dir),
                           "--exclude-training", str(encoder_dir), "--device", "cpu")
    assert code == 2 and "records no finger split" in err


def test_reconstruct_gabor_needs_no_model(run_cli: Run, tmp_path: Path) -> None:
    src = _template(tmp_path)
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(src), "--out", str(tmp_path / "g.png"))
    assert code == 0, err
    assert "method: gabor" in stdout
    with PIL.Image.open(tmp_path / "g.png") as im:
        assert im.size == (150, 180) and im.mode == "L" and round(im.info["dpi"][0]) == 500
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(src), "--out", str(tmp_path / "h.png"),
                           "--method", "phase")
    assert code == 2 and "unknown reconstruction method 'phase'" in err and not (tmp_path / "h.png").exists()


def test_mated_impressions_from_a_template(run_cli: Run, tmp_path: Path) -> None:
    from synthbio.fingerprints.minutiae import read_json

    src = _template(tmp_path)
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(src), "--out", str(tmp_path / "m.png"),
                           "--impressions", "2", "--seed", "3")
    assert code == 0, err
    assert "2 mated impressions" in stdout and str(tmp_path / "m") in stdout
    for k in range(2):
        with PIL.Image.open(tmp_path / "m" / f"{k:02d}.png") as im:
            assert im.size == (150, 180) and im.mode == "L"
        gt = read_json(tmp_path / "m" / f"{k:02d}.json")
        assert (gt.width, gt.height) == (150, 180)
    a = (tmp_path / "m" / "00.png").read_bytes()
    assert a != (tmp_path / "m" / "01.png").read_bytes()  # impressions differ
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(src), "--out", str(tmp_path / "n.png"),
                           "--impressions", "2", "--seed", "3")
    assert code == 0 and (tmp_path / "n" / "00.png").read_bytes() == a  # same seed, same pixels
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(src), "--out", str(tmp_path / "e.png"),
                           "--impressions", "2", "--method", "encoder")
    assert code == 2 and "--impressions needs --method gabor" in err
    empty = tmp_path / "empty.json"
    write_template(MinutiaeTemplate(minutiae=[], width=100, height=100), empty)
    code, stdout, err = run_cli("fingerprints", "reconstruct", str(empty), "--out", str(tmp_path / "z.png"),
                           "--impressions", "2")
    assert code == 2 and "empty.json" in err and "no minutiae" in err and not (tmp_path / "z").exists()


def test_xyt_without_size_names_the_flags(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "t.xyt").write_text("100 120 90 60\n140 80 180 50\n")
    code, _, err = run_cli("fingerprints", "reconstruct", str(tmp_path / "t.xyt"), "-o", str(tmp_path / "r.png"))
    assert code == 2 and "--xyt-height" in err and "t.xyt" in err
