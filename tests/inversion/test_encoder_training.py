"""Encoder training: loss goes down on a tiny G, minutiae task on a tiny procedural dataset, exact resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.checkpoints.encoders import load_encoder
from synthbio.checkpoints.loading import load_generator
from synthbio.checkpoints.native import save_generator
from synthbio.errors import InputError, OutputDirError
from synthbio.inversion.encoder_data import list_fingerprint_dataset, load_impression_target, split_fingers
from synthbio.inversion.encoder_training import (
    EncoderTrainConfig,
    _EncoderTrainer,
    l2_loss,
    saved_config,
    train_encoder,
    w_norm_loss,
)
from synthbio.training.snapshots import load_training_state
from synthbio.utils.seeds import z_from_seeds

from encoder_helpers import tiny_generator  # noqa: I001 (tests/inversion helper)

ENC = dict(channels=(4, 8, 8, 16), blocks=(1, 1, 1, 1), head_channels=8)


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_generator(tmp_path_factory.mktemp("g") / "G")


def _config(gen: Path, out: Path, **kw: object) -> EncoderTrainConfig:
    base = dict(generator=str(gen), outdir=str(out), batch=4, images=16, snapshot_images=8, log_every=2, grid=3,
                lr=1e-3, **ENC)
    base.update(kw)
    return EncoderTrainConfig(**base)  # type: ignore[arg-type]


def _stats(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]


def test_invert_from_generator_samples_reduces_loss(gen_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = _config(gen_dir, out, images=4 * 24, snapshot_images=4 * 12, log_every=6, lr=3e-3,
                     latent_weight=1.0, w_norm_weight=0.01)
    latest = train_encoder(config)
    lines = _stats(out)
    assert [r["step"] for r in lines] == [6, 12, 18, 24]
    # Held-out samples (seeds the training stream never uses): the trained encoder reconstructs better.
    trainer = _EncoderTrainer(config, torch.device("cpu"))  # rebuilds the untrained encoder of the same seed
    trained = load_encoder(latest)[0]
    with torch.no_grad():
        z = z_from_seeds(list(range(100, 108)), 8)
        targets, _ = trainer._sample_G(z)
        before = l2_loss(trainer.reconstruct(targets)[0], targets).mean()
        trainer.E.load_state_dict(trained.state_dict())
        after = l2_loss(trainer.reconstruct(targets)[0], targets).mean()
    assert after < 0.75 * before
    assert {"Loss/latent", "Loss/w_norm", "Timing/sec_per_step"} <= set(lines[0])
    enc, meta = load_encoder(latest)
    assert meta["task"] == "invert" and meta["generator"] == str(gen_dir) and enc.config.num_ws == 6
    assert (out / "encoder-000012").is_dir() and (out / "samples-000024.png").is_file()
    with PIL.Image.open(out / "samples-000024.png") as grid:
        assert grid.size == (3 * 16, 3 * 16)  # 3 rows of input | target | reconstruction
    saved = json.loads((out / "config.json").read_text())
    assert saved["encoder"]["mode"] == "wplus" and saved["train"]["latent_weight"] == 1.0
    with pytest.raises(OutputDirError, match="--resume"):
        train_encoder(_config(gen_dir, out))


def test_resume_is_exact(gen_dir: Path, tmp_path: Path) -> None:
    # Image folder data: the data order must also continue where it stopped.
    data = tmp_path / "imgs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        PIL.Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(data / f"{i}.png")
    full = train_encoder(_config(gen_dir, tmp_path / "full", data=str(data), images=20, snapshot_images=12))
    half_cfg = _config(gen_dir, tmp_path / "half", data=str(data), images=12, snapshot_images=12)
    train_encoder(half_cfg)
    resumed_cfg = dataclasses.replace(saved_config(tmp_path / "half"), images=20, resume=str(tmp_path / "half"))
    resumed = train_encoder(resumed_cfg)
    a, b = load_encoder(full)[0].state_dict(), load_encoder(resumed)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    sa = load_training_state(full / "training_state.pt")
    sb = load_training_state(resumed / "training_state.pt")
    assert all(torch.equal(sa["optimizer"]["state"][k]["exp_avg"], sb["optimizer"]["state"][k]["exp_avg"])
               for k in sa["optimizer"]["state"])
    assert [r["step"] for r in _stats(tmp_path / "half")] == [2, 3, 4, 5]  # 3, 5: ends of the calls
    with pytest.raises(InputError, match="batch"):
        train_encoder(dataclasses.replace(resumed_cfg, batch=2, images=40))


def test_resume_is_exact_for_generated_samples(gen_dir: Path, tmp_path: Path) -> None:
    full = train_encoder(_config(gen_dir, tmp_path / "full", images=12, snapshot_images=100, latent_weight=1.0))
    train_encoder(_config(gen_dir, tmp_path / "half", images=4, snapshot_images=100, latent_weight=1.0))
    resumed = train_encoder(_config(gen_dir, tmp_path / "half", images=12, snapshot_images=100, latent_weight=1.0,
                                    resume=str(tmp_path / "half")))
    a, b = load_encoder(full)[0].state_dict(), load_encoder(resumed)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def fp_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, generate_dataset

    out = tmp_path_factory.mktemp("fp") / "ds"
    generate_dataset(FingerprintDatasetConfig(outdir=str(out), fingers=3, impressions=2, width=96, height=112,
                                              seed=1), progress=False)
    return out


def test_minutiae_task_with_holdout(gen_dir: Path, fp_dataset: Path, tmp_path: Path) -> None:
    fingers = list_fingerprint_dataset(fp_dataset)
    assert list(fingers) == ["00000", "00001", "00002"] and all(len(v) == 2 for v in fingers.values())
    out = tmp_path / "mn"
    latest = train_encoder(_config(gen_dir, out, task="minutiae", data=str(fp_dataset), holdout_fingers=1,
                                   mode="w", images=8, snapshot_images=8))
    enc, meta = load_encoder(latest)
    assert meta["task"] == "minutiae" and enc.config.in_channels == 3 and enc.config.mode == "w"
    saved = json.loads((out / "config.json").read_text())
    assert saved["split"] == {"train": ["00000", "00001"], "holdout": ["00002"]}
    assert meta["provenance"]["split"]["holdout"] == ["00002"]
    with pytest.raises(InputError, match="holdout"):
        train_encoder(_config(gen_dir, tmp_path / "x", task="minutiae", data=str(fp_dataset), holdout_fingers=3))


def test_impression_target_is_padded_square(tmp_path: Path) -> None:
    img = np.zeros((8, 4), dtype=np.uint8)  # black 4 wide x 8 high: white bands left and right after padding
    PIL.Image.fromarray(img).save(tmp_path / "a.png")
    t = load_impression_target(tmp_path / "a.png", resolution=8)
    assert t.shape == (1, 8, 8) and t.min() >= -1 and t.max() <= 1
    assert t[0, :, 0].mean() > 0.9 and t[0, :, 4].mean() < -0.9
    assert split_fingers(["a", "b", "c"], 0) == (["a", "b", "c"], [])


def test_bad_configs(gen_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="task"):
        _config(gen_dir, tmp_path, task="nope")
    with pytest.raises(InputError, match="--data"):
        _config(gen_dir, tmp_path, task="minutiae")
    with pytest.raises(InputError, match="--data"):
        train_encoder(_config(gen_dir, tmp_path / "o", data=str(tmp_path / "missing")))
    ws = torch.ones(2, 3, 4)
    assert torch.allclose(w_norm_loss(ws, torch.zeros(4)), torch.full((2,), 12**0.5))


def test_init_from_copies_weights_but_takes_w_avg_from_the_generator(gen_dir: Path, tmp_path: Path) -> None:
    first = train_encoder(_config(gen_dir, tmp_path / "a", images=8, snapshot_images=8))
    source = load_encoder(first)[0]
    # Another generator of the same shape with a different w_avg: the warm start keeps its w_avg.
    other = tiny_generator(tmp_path / "G2", seed=7)
    G2 = load_generator(other)
    with torch.no_grad():
        G2.mapping.w_avg.mul_(-2.0)
    save_generator(G2, other)
    warm = _EncoderTrainer(_config(other, tmp_path / "b", init_from=str(first)), torch.device("cpu")).E
    cold = _EncoderTrainer(_config(other, tmp_path / "c"), torch.device("cpu")).E
    src_state, warm_state = source.state_dict(), warm.state_dict()
    assert not torch.equal(src_state["w_avg"], warm_state["w_avg"])
    torch.testing.assert_close(warm_state["w_avg"], cold.state_dict()["w_avg"], rtol=0, atol=0)
    for key, value in src_state.items():
        if key != "w_avg":
            torch.testing.assert_close(warm_state[key], value, rtol=0, atol=0)
    with pytest.raises(InputError, match="architecture differs"):
        _EncoderTrainer(_config(other, tmp_path / "d", init_from=str(first), head_channels=4), torch.device("cpu"))
