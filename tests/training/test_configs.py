"""Named configurations, plan resolution, option parsing, and the `synthbio train` front end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

from synthbio.errors import InputError
from synthbio.training.configs import (
    PRESETS,
    TrainConfig,
    parse_branch_weights,
    parse_branches,
    resolve_plan,
)


def test_official_presets_keep_their_hyper_parameters() -> None:
    # (map, channel_base, lr, gamma, ema_kimg, mbstd, batch) from the official train.py cfg_specs.
    official = {"paper256": (8, 16384, 0.0025, 1, 20, 8, 64), "paper512": (8, 32768, 0.0025, 0.5, 20, 8, 64),
                "paper1024": (8, 32768, 0.002, 2, 10, 4, 32), "stylegan2": (8, 32768, 0.002, 10, 10, 4, 32)}
    for name, (mp, cb, lr, gamma, ema, mbstd, batch) in official.items():
        p = PRESETS[name]
        assert (p.map_layers, p.channel_base, p.lr, p.gamma, p.ema_kimg, p.mbstd_group, p.batch) == \
            (mp, cb, lr, gamma, ema, mbstd, batch), name
        assert p.channel_max == 512 and p.ema_rampup is None and p.conv_clamp == 256
    assert {"tiny", "small64", "fp256"} <= set(PRESETS)


def test_resolve_plan_defaults_and_overrides() -> None:
    cfg = TrainConfig(data="d", outdir="o", config="fp256")
    plan = resolve_plan(cfg, resolution=256, branches=(("img", 1),), c_dim=3)
    assert plan.gamma == pytest.approx(0.0002 * 256**2 / 32)  # ADA heuristic
    assert plan.G.c_dim == 0 and plan.D["img"].img_channels == 1  # no --cond: unconditional
    assert plan.G.channels(256) == 64 and plan.G.channels(4) == 512 and plan.ema_kimg == 10
    assert plan.precision == "fp32" and resolve_plan(cfg, resolution=256, branches=(("img", 1),), c_dim=0,
                                                       device_type="cuda").precision == "bf16"
    tiny = TrainConfig(data="d", outdir="o", batch=8, gamma=0.5, cond=True, branches=(("rgb", 3), ("nir", 1)),
                       branch_weights=(("nir", 0.1),))
    plan = resolve_plan(tiny, resolution=32, branches=(("rgb", 3), ("nir", 1)), c_dim=2, world_size=2)
    assert plan.batch_per_rank == 4 and plan.gamma == 0.5 and plan.G.c_dim == 2
    assert plan.ema_kimg == pytest.approx(8 * 10 / 32) and plan.ema_rampup == 0.05
    assert plan.branch_weights == {"rgb": 1.0, "nir": 0.1} and set(plan.D) == {"rgb", "nir"}
    with pytest.raises(InputError, match="divisible"):
        resolve_plan(TrainConfig(data="d", outdir="o", batch=6), resolution=16, branches=(("img", 3),), c_dim=0,
                     world_size=4)


def test_option_parsing_and_validation_errors() -> None:
    assert parse_branches("rgb:3,nir:1") == (("rgb", 3), ("nir", 1))
    assert parse_branch_weights("nir=0.1") == (("nir", 0.1),)
    for bad in ("rgb", "rgb:0", "rgb:3,rgb:1", "1x:3"):
        with pytest.raises(InputError, match="--branches"):
            parse_branches(bad)
    with pytest.raises(InputError, match="--branch-weights"):
        parse_branch_weights("nir:0.1")
    with pytest.raises(InputError, match="use one of tiny, small64, fp256"):
        TrainConfig(data="d", outdir="o", config="nope")
    with pytest.raises(InputError, match="--p"):
        TrainConfig(data="d", outdir="o", aug="fixed")
    with pytest.raises(InputError, match="not branches"):
        TrainConfig(data="d", outdir="o", branches=(("rgb", 3),), branch_weights=(("nir", 1.0),))




@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in range(3):
        PIL.Image.fromarray(np.full((32, 32), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_dry_run_prints_the_resolved_config(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str], run_cli) -> None:
    code, out, err = run_cli("train", "--data", str(data), "--outdir", str(tmp_path / "o"),
                             "--config", "tiny", "--kimg", "2", "--batch", "8", "--gamma", "0.1", "--dry-run")
    assert code == 0, err
    resolved = json.loads(out)
    assert resolved["plan"]["G"]["img_resolution"] == 32 and resolved["plan"]["G"]["branches"] == [["img", 1]]
    assert resolved["plan"]["batch"] == 8 and resolved["plan"]["gamma"] == 0.1 and resolved["plan"]["kimg"] == 2
    assert resolved["dataset"]["size"] == 3 and resolved["train"]["aug"] == "ada"
    assert not (tmp_path / "o").exists()  # a dry run writes nothing


def test_bad_inputs_exit_2(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str], run_cli) -> None:
    out = str(tmp_path / "o")
    cases = [
        (["--data", str(tmp_path / "missing"), "--outdir", out], "no such folder"),
        (["--data", str(data), "--outdir", out, "--config", "huge"], "use one of tiny"),
        (["--data", str(data), "--outdir", out, "--resume", str(data)], "training_state.pt"),
        (["--data", str(data), "--outdir", out, "--aug", "fixed"], "--p"),
        (["--data", str(data), "--outdir", out, "--branches", "rgb"], "NAME:CHANNELS"),
        (["--data", str(data), "--outdir", out, "--cond"], "label"),
    ]
    if importlib.util.find_spec("tensorboard") is None:
        cases.append((["--data", str(data), "--outdir", out, "--tensorboard"], "pip install tensorboard"))
    for args, message in cases:
        code, _, err = run_cli("train", *args)
        assert code == 2, (args, err)
        assert message in err, (args, err)
