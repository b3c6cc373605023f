"""`synthbio translate`: SIGKILL mid-training then --resume equals an uninterrupted run, whose model the CLI
then applies and evaluates; CLI errors exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from synthbio.io.derived import derived_info
from synthbio.training.snapshots import load_training_state

STEPS = 8  # snapshots every 2 steps


def _write(folder: Path, n: int, channels: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        shape = (36, 40) if channels == 1 else (36, 40, 3)
        PIL.Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _command(a: Path, b: Path, outdir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synthbio.cli.main", "translate", "train", str(a), str(b), "-o", str(outdir),
            "--crop", "32", "--dim", "8", "--style-dim", "4", "--n-res", "1", "--mlp-dim", "16", "--d-dim", "8",
            "--d-layers", "2", "--d-scales", "2", "--steps", str(STEPS), "--snap", "2", "--tick", "2", "--grid", "2",
            "--identity-model", "pixel-random", "--device", "cpu", "--seed", "5", *extra]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # same reductions in every process


def test_sigkill_then_resume_is_bit_identical_then_apply_and_evaluate(  # type: ignore[no-untyped-def]
        run_cli, tmp_path: Path) -> None:
    a, b = _write(tmp_path / "A", 4, 1, 0), _write(tmp_path / "B", 5, 3, 1)
    run_a, run_b = tmp_path / "full", tmp_path / "killed"
    proc_a = subprocess.Popen(_command(a, b, run_a), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc_b = subprocess.Popen(_command(a, b, run_b), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_b = run_b / "latest" / "training_state.pt"
    deadline = time.monotonic() + 300
    while not state_b.exists() and proc_b.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc_b.pid, signal.SIGKILL)
    proc_b.wait()
    assert proc_b.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = load_training_state(state_b)["counters"]["step"]
    assert 0 < killed_at < STEPS
    resumed = subprocess.run(_command(a, b, run_b, "--resume", str(run_b)), env=_env(), capture_output=True,
                             text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    _, err = proc_a.communicate(timeout=300)
    assert proc_a.returncode == 0, err
    full, killed = (load_training_state(r / "latest" / "training_state.pt") for r in (run_a, run_b))
    assert full["counters"]["step"] == killed["counters"]["step"] == STEPS
    for key in ("G", "D"):
        for name, value in full[key].items():
            assert torch.equal(value, killed[key][name]), f"{key}.{name}"
    for key in ("G_opt", "D_opt"):
        for pid, st in full[key]["state"].items():
            assert all(torch.equal(st[k], killed[key]["state"][pid][k]) for k in st), f"{key}[{pid}]"
    assert full["loader"] == killed["loader"]
    assert (run_a / "latest" / "model.safetensors").read_bytes() == (run_b / "latest" / "model.safetensors").read_bytes()
    lines_a = [json.loads(x)["step"] for x in (run_a / "stats.jsonl").read_text().splitlines()]
    lines_b = [json.loads(x)["step"] for x in (run_b / "stats.jsonl").read_text().splitlines()]
    assert lines_a == lines_b == [2, 4, 6, 8]  # the killed run's stats past its snapshot were dropped

    # train -> apply -> evaluate, all from the command line (the resumed run's model).
    code, out, err = run_cli("translate", "apply", str(a), "-m", str(run_b), "-o", str(tmp_path / "a2b"), "--styles",
                             "2", "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["outputs"] == 8 and len(list((tmp_path / "a2b").glob("*_s0[01].png"))) == 8
    code, out, err = run_cli("translate", "evaluate", str(tmp_path / "a2b"), "--identity-model", "pixel-random",
                             "--device", "cpu", "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["outputs"] == 8 and metrics["identity"]["vs_source"]["n"] == 8
    assert (tmp_path / "a2b_evaluate" / "index.html").is_file()
    assert derived_info(tmp_path / "a2b_evaluate")["command"] == "translate evaluate"  # a report, never data
    # `synthbio info` names the job of each folder, how far it got and what it holds
    code, out, err = run_cli("info", str(run_b), str(tmp_path / "a2b"), "--json")
    assert code == 0, err
    run_info, apply_info = json.loads(out)
    assert (run_info["command"], run_info["done"], run_info["wanted"], run_info["complete"]) == (
        "translate train", STEPS, STEPS, True)
    assert (apply_info["command"], apply_info["done"], apply_info["wanted"], apply_info["holds"]["images"]) == (
        "translate apply", 4, 4, 8)


def test_cli_bad_inputs_exit_2(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = _write(tmp_path / "A", 2, 1, 0)
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("translate", "train", str(a), str(tmp_path / "empty"), "-o", str(tmp_path / "r"),
                           "--crop", "32")
    assert code == 2 and "holds no images" in err and "Traceback" not in err
    code, _, err = run_cli("translate", "train", str(a), str(a), "-o", str(tmp_path / "r"), "--crop", "64")
    assert code == 2 and "smaller than 64x64 px" in err
    code, _, err = run_cli("translate", "train", str(a), str(a), "-o", str(tmp_path / "r"), "--ttur", "maybe")
    assert code == 2 and "--ttur takes on or off" in err
    code, _, err = run_cli("translate", "train", str(a), str(a), "-o", str(tmp_path / "r"), "--precision", "half")
    assert code == 2 and "--precision 'half': use auto, float32 or bfloat16" in err
    code, out, _ = run_cli("translate", "train", str(a), str(a), "-o", str(tmp_path / "r"), "--crop", "16",
                           "--d-scales", "1", "--d-layers", "2", "--reference", "munit", "--dry-run")
    assert code == 0
    plan = json.loads(out)["plan"]
    assert plan["gan_loss"] == "lsgan" and plan["network"]["g_attention"] == [] and plan["lr_d"] == 1e-4
    code, out, _ = run_cli("translate", "train", str(a), str(a), "-o", str(tmp_path / "r"), "--crop", "16",
                           "--d-scales", "1", "--d-layers", "2", "--precision", "float32", "--batch-size", "2",
                           "--dry-run")
    assert code == 0 and json.loads(out)["plan"]["precision"] == "fp32"
    assert json.loads(out)["plan"]["batch_per_rank"] == 2
    code, _, err = run_cli("translate", "apply", str(a), "-m", str(a), "-o", str(tmp_path / "o"))
    assert code == 2 and "holds neither model.safetensors nor latest/model.safetensors" in err
    code, _, err = run_cli("translate", "apply", str(a), "-m", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o"))
    assert code == 2 and "no such folder" in err
