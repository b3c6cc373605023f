"""Translator training: a tiny run's outputs, resume from a snapshot equals an uninterrupted run, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from translation_helpers import tiny_train_kwargs, write_folder

from synthbio.errors import InputError, OutputDirError
from synthbio.training.snapshots import load_training_state
from synthbio.translation.checkpoint import load_translator
from synthbio.translation.train_config import TranslationTrainConfig, resolve_plan
from synthbio.translation.training import train_translator

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tmp_path: Path, outdir: str, **overrides: object) -> TranslationTrainConfig:
    a = write_folder(tmp_path / "A", 4, size=(40, 36), channels=1, seed=1)
    b = write_folder(tmp_path / "B", 5, size=(36, 44), channels=3, seed=2, pattern="stripes")
    kwargs = dict(data_a=a, data_b=b, outdir=tmp_path / outdir, crop=32, steps=6, snap=3, tick=2, grid=2,
                  device="cpu", identity_model="pixel-random", names=("grey", "colour"), **tiny_train_kwargs())
    kwargs.update(overrides)
    return TranslationTrainConfig(**kwargs)  # type: ignore[arg-type]


def test_tiny_run_writes_snapshots_grids_and_stats(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "run")
    result = train_translator(cfg, log=False)
    out = Path(cfg.outdir)
    assert result.step == 6 and [p.name for p in result.snapshots] == ["snapshot-00000003", "snapshot-00000006"]
    assert {p.name for p in (out / "samples").iterdir()} == {
        "00000003_a2b.png", "00000003_b2a.png", "00000006_a2b.png", "00000006_b2a.png"}
    lines = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 3, 4, 6]
    assert "Identity/similarity/a2b" in lines[0] and "Loss/G/cycle_a" in lines[0]
    t = load_translator(out)  # OUTDIR resolves to latest/
    assert t.domains == {"a": "grey", "b": "colour"}
    assert (t.config.channels_a, t.config.channels_b) == (1, 3)
    assert t.config.g_attention == ("content", "decoder") and t.config.d_spectral_norm  # SATNet defaults
    with pytest.raises(OutputDirError, match="--resume"):
        train_translator(cfg, log=False)


def test_resume_from_a_snapshot_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    full = train_translator(_config(tmp_path, "full"), log=False)
    part = train_translator(_config(tmp_path, "part", steps=3), log=False)
    assert part.step == 3
    resumed = train_translator(_config(tmp_path, "part", resume=str(tmp_path / "part")), log=False)
    assert resumed.step == 6
    a = load_training_state(tmp_path / "full" / "latest" / "training_state.pt")
    b = load_training_state(tmp_path / "part" / "latest" / "training_state.pt")
    for key in ("G", "D"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), f"{key}.{name}"
    assert a["loader"] == b["loader"] and torch.equal(a["rng"][0]["device"], b["rng"][0]["device"])
    assert full.trainer is not None and resumed.trainer is not None
    assert (tmp_path / "full" / "latest" / "model.safetensors").read_bytes() == \
        (tmp_path / "part" / "latest" / "model.safetensors").read_bytes()


def test_resume_refuses_other_data(tmp_path: Path) -> None:
    train_translator(_config(tmp_path, "run", steps=3), log=False)
    other = write_folder(tmp_path / "A2", 4, size=(40, 36), channels=1, seed=9)
    with pytest.raises(InputError, match="data_a"):
        train_translator(_config(tmp_path, "run", data_a=other, resume=str(tmp_path / "run")), log=False)


def test_plan_follows_the_reference_and_refuses_small_crops() -> None:
    base = {"data_a": "a", "data_b": "b", "outdir": "o"}
    satnet = resolve_plan(TranslationTrainConfig(**base), channels_a=3, channels_b=1)
    assert (satnet.gan_loss, satnet.lr_g, satnet.lr_d, satnet.betas) == ("hinge", 1e-4, 4e-4, (0.0, 0.9))
    munit = resolve_plan(TranslationTrainConfig(**base, reference="munit"), channels_a=3, channels_b=1)
    assert (munit.gan_loss, munit.lr_d, munit.betas) == ("lsgan", 1e-4, (0.5, 0.999))
    assert munit.network.g_attention == () and not munit.network.d_attention and not munit.network.d_spectral_norm
    mixed = resolve_plan(TranslationTrainConfig(**base, reference="munit", gan_loss="hinge", ttur=True),
                         channels_a=3, channels_b=3)
    assert (mixed.gan_loss, mixed.lr_d) == ("hinge", 4e-4)
    with pytest.raises(InputError, match="--crop 32 is too small"):
        resolve_plan(TranslationTrainConfig(**base, crop=32), channels_a=3, channels_b=3)
    with pytest.raises(InputError, match="does not split"):
        resolve_plan(TranslationTrainConfig(**base, batch=3), channels_a=3, channels_b=3, world_size=2)


def test_bf16_autocast_trains_with_finite_losses(tmp_path: Path) -> None:
    cfg = _config(tmp_path, "bf16", precision="bf16", steps=2, snap=2, tick=1, grid=0, identity_model=None)
    result = train_translator(cfg, log=False)
    lines = [json.loads(line) for line in (tmp_path / "bf16" / "stats.jsonl").read_text().splitlines()]
    assert result.step == 2 and all(np.isfinite(v) for r in lines for k, v in r.items() if k.startswith("Loss/"))
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["plan"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in result.trainer.G.state_dict().values())  # weights stay fp32
