"""Exact resume: a run SIGKILLed after a snapshot and resumed equals an uninterrupted run, bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from synthbio.training.snapshots import load_training_state

STEPS = 48  # batch 4 -> 0.192 kimg; snapshots every 8 steps; R1 at steps 0, 16, 32; ADA every 4


def _write_data(folder: Path) -> Path:
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    for i in range(10):
        PIL.Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _command(data: Path, outdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synthbio.cli.main", "train", "--data", str(data), "--outdir", str(outdir),
            "--config", "tiny", "--kimg", str(STEPS * 4 / 1000), "--batch", "4", "--snap", "0.032",
            "--device", "cpu", "--grid", "4", "--seed", "3", *extra]


def _env() -> dict[str, str]:
    # Same thread count in every process: CPU reductions are then deterministic and comparable.
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def _assert_same(a: object, b: object, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_sigkill_and_resume_reaches_the_uninterrupted_state(tmp_path: Path) -> None:
    data = _write_data(tmp_path / "data")
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    proc_a = subprocess.Popen(_command(data, run_a), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc_b = subprocess.Popen(_command(data, run_b), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_b = run_b / "latest" / "training_state.pt"
    deadline = time.monotonic() + 240
    while not state_b.exists() and proc_b.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc_b.pid, signal.SIGKILL)
    proc_b.wait()
    assert proc_b.returncode == -signal.SIGKILL, "run B finished before it could be killed"
    killed_at = load_training_state(state_b)["counters"]["step"]
    assert 0 < killed_at < STEPS

    resumed = subprocess.run(_command(data, run_b, "--resume", str(run_b)), env=_env(), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _, err_a = proc_a.communicate(timeout=300)
    assert proc_a.returncode == 0, err_a

    final_a = load_training_state(run_a / "latest" / "training_state.pt")
    final_b = load_training_state(run_b / "latest" / "training_state.pt")
    assert final_a["counters"]["step"] == final_b["counters"]["step"] == STEPS
    for key in ("G", "D", "G_ema", "G_opt", "D_opt", "pl_mean", "augment_p", "ada", "rng", "loader"):
        _assert_same(final_a[key], final_b[key], key)
    assert float(final_a["augment_p"]) > 0  # ADA moved p, so its state was carried across the kill
    # The native G_ema snapshots are byte-identical too.
    assert (run_a / "latest" / "model.safetensors").read_bytes() == (run_b / "latest" / "model.safetensors").read_bytes()
    steps_b = [line for line in (run_b / "stats.jsonl").read_text().splitlines()]
    steps_a = (run_a / "stats.jsonl").read_text().splitlines()
    assert [l[:40] for l in steps_b] == [l[:40] for l in steps_a]
