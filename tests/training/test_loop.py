"""The training loop on a 16 px tiny config: parameters move, snapshots/stats/grids, multi-branch, errors."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.checkpoints.native import load_discriminator_native, load_generator_native
from synthbio.errors import InputError, OutputDirError
from synthbio.training.configs import TrainConfig
from synthbio.training.loop import build_networks, open_dataset, plan_for, train
from synthbio.training.snapshots import load_training_state


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: faster for 16 px nets on a shared 2-core machine, and reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_images(folder: Path, *, n: int = 12, res: int = 16, channels: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:res, 0:res]
    for i in range(n):
        # Smooth blobs + noise: something a GAN can start to fit.
        cx, cy = rng.uniform(3, res - 3, size=2)
        blob = 255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0)
        img = np.clip(blob[..., None] + rng.normal(0, 10, (res, res, channels)), 0, 255).astype(np.uint8)
        PIL.Image.fromarray(img[..., 0] if channels == 1 else img).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def rgb_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_images(tmp_path_factory.mktemp("rgb") / "data")


def tiny(data: Path, outdir: Path, **kw: object) -> TrainConfig:
    base = dict(data=str(data), outdir=str(outdir), config="tiny", kimg=0.032, batch=4, snapshot_kimg=0.016,
                kimg_per_tick=0.016, device="cpu", grid=4)
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_training_moves_parameters_and_writes_stats_snapshots_grids(rgb_data: Path, tmp_path: Path) -> None:
    cfg = tiny(rgb_data, tmp_path / "run")
    result = train(cfg)
    assert result.step == 8 and result.cur_nimg == 32 and not result.stopped_early
    G0, D0, _ = build_networks(plan_for(cfg, open_dataset(cfg)), seed=cfg.seed, device=torch.device("cpu"))
    for new, old in ((result.G, G0), (result.D, D0)):
        moved = [not torch.equal(a, b) for a, b in zip(new.parameters(), old.parameters())]
        assert sum(moved) > 0.9 * len(moved)
        assert all(bool(torch.isfinite(p).all()) for p in new.parameters())
    # G_ema lags G (ramp-up EMA), but differs from both G and the initial weights.
    assert not torch.equal(result.G_ema.synthesis.b16.conv1.weight, result.G.synthesis.b16.conv1.weight)

    run = tmp_path / "run"
    lines = [json.loads(s) for s in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [4, 8]
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/pl_penalty", "Loss/r1_penalty/img", "Progress/augment",
                "Loss/pl_mean", "Timing/sec_per_kimg", "kimg"):
        assert key in lines[0], key
    assert lines[0]["Progress/ada_rt"] == pytest.approx(lines[0]["Progress/ada_rt"])  # r_t after 4 steps
    assert (run / "reals.png").is_file() and (run / "fakes000000.png").is_file()
    snap = load_generator_native(run / "network-snapshot-000000")
    for k, v in snap.state_dict().items():
        assert torch.equal(v, result.G_ema.state_dict()[k]), k
    D = load_discriminator_native(run / "latest")
    assert torch.equal(D.b4.out.weight, result.D["img"].b4.out.weight)
    state = load_training_state(run / "latest" / "training_state.pt")
    assert state["counters"]["step"] == 8 and state["loader"]["position"] == 8
    assert float(state["augment_p"]) == pytest.approx(result.augment_p) and result.augment_p > 0
    assert set(state["G_opt"]["state"]) and torch.equal(state["pl_mean"], result.pl_mean)
    config = json.loads((run / "config.json").read_text())
    assert config["plan"]["G"]["img_resolution"] == 16 and config["train"]["config"] == "tiny"


def write_paired(root: Path, n: int = 8) -> Path:
    write_images(root / "rgb", n=n, channels=3, seed=1)
    write_images(root / "nir", n=n, channels=1, seed=2)
    return root


def test_multi_branch_training_two_discriminators_weighted_loss(tmp_path: Path) -> None:
    data = write_paired(tmp_path / "paired")
    cfg = tiny(data, tmp_path / "run", branches=(("rgb", 3), ("nir", 1)), branch_weights=(("nir", 0.1),),
               kimg=0.016, aug="fixed", p=0.5)
    result = train(cfg)
    assert result.D is not None and set(result.D) == {"rgb", "nir"}
    assert result.D["rgb"].img_channels == 3 and result.D["nir"].img_channels == 1
    assert result.G.branch_names == ("rgb", "nir")
    (rec,) = [json.loads(s) for s in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    # G loss = L_rgb + 0.1 L_nir (means over the tick are linear in the per-step terms).
    assert rec["Loss/G/loss"] == pytest.approx(rec["Loss/G/loss/rgb"] + 0.1 * rec["Loss/G/loss/nir"], rel=1e-5)
    assert rec["Loss/D/loss"] == pytest.approx(rec["Loss/D/loss/rgb"] + rec["Loss/D/loss/nir"], rel=1e-5)
    assert "Loss/r1_penalty/rgb" in rec and "Loss/r1_penalty/nir" in rec
    run = tmp_path / "run"
    assert (run / "fakes000000_rgb.png").is_file() and (run / "fakes000000_nir.png").is_file()
    assert PIL.Image.open(run / "fakes000000_nir.png").mode == "L"
    assert load_discriminator_native(run / "latest" / "discriminator_nir").img_channels == 1
    G = load_generator_native(run / "latest")
    assert G.config.branches == (("rgb", 3), ("nir", 1))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_paths_run(rgb_data: Path, tmp_path: Path, precision: str) -> None:
    # CUDA is where these matter; CPU autocast runs the same code (autocast, GradScaler for fp16).
    result = train(tiny(rgb_data, tmp_path / "run", kimg=0.016, precision=precision, aug="noaug"))
    assert result.step == 4
    assert all(bool(torch.isfinite(p).all()) for p in result.G_ema.parameters())
    state = load_training_state(tmp_path / "run" / "latest" / "training_state.pt")
    assert bool(state["scaler"]) == (precision == "fp16")


def test_time_budget_stops_with_a_snapshot_and_resume_continues(rgb_data: Path, tmp_path: Path) -> None:
    cfg = tiny(rgb_data, tmp_path / "run", kimg=0.032, max_minutes=1e-6)
    first = train(cfg)
    assert first.stopped_early and first.step == 1
    assert (tmp_path / "run" / "latest" / "training_state.pt").is_file()
    second = train(dataclasses.replace(cfg, max_minutes=None, resume=str(tmp_path / "run")))
    assert second.step == 8 and not second.stopped_early
    steps = [json.loads(s)["step"] for s in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert steps == [1, 4, 8]


def test_bad_inputs_raise_named_errors(rgb_data: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder"):
        train(tiny(tmp_path / "missing", tmp_path / "a"))
    with pytest.raises(InputError, match="paper256"):
        tiny(rgb_data, tmp_path / "a", config="big")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="training_state.pt"):
        train(tiny(rgb_data, tmp_path / "b", resume=str(tmp_path / "empty")))
    done = tmp_path / "done"
    train(tiny(rgb_data, done, kimg=0.004, aug="noaug"))
    with pytest.raises(OutputDirError, match="--resume"):
        train(tiny(rgb_data, done, kimg=0.004, aug="noaug"))
    with pytest.raises(InputError, match=r"another architecture \(differs in D\.img\.") as exc:
        train(tiny(rgb_data, tmp_path / "c", config="small64", batch=4, resume=str(done)))
    assert len(str(exc.value)) < 400  # the differing keys, not both architectures as JSON
