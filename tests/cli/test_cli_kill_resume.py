"""A real kill: SIGKILL `synthbio generate` mid-run, restart it, check nothing is lost or doubled."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from synthbio.checkpoints import save_generator
from synthbio.io.images import read_png
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.pipelines.images.generate import GenerateConfig, generate
from synthbio.utils.hashing import sha256_file
from synthbio.utils.seeds import z_from_seeds

SEEDS = list(range(60))


def _manifest_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_then_resume(tmp_path):
    model = tmp_path / "model"
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16,
                          mapping_layers=2, branches=(("rgb", 3), ("nir", 1)))
    save_generator(build_demo_generator(cfg, noise_strength=0.3), model)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "synthbio.cli.main", "generate", "--model", str(model), "--seeds", "0-59",
           "--noise-mode", "random", "--truncation", "0.7", "--device", "cpu", "--outdir", str(out)]
    proc = subprocess.Popen([*cmd, "--batch-size", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600  # generous: a loaded CI machine may be slow to start
        while _manifest_lines(out / "manifest.jsonl") < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = len(read_manifest(out / "manifest.jsonl").records)
    assert 3 <= done_before < len(SEEDS)
    assert not (out / "samples.h5").exists()  # written only at the end

    rerun = subprocess.run([*cmd, "--batch-size", "4"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(SEEDS) - done_before} samples generated, {done_before} already done" in rerun.stdout

    records = read_manifest(out / "manifest.jsonl").records
    assert sorted(r["seed"] for r in records) == SEEDS  # each seed exactly once
    for r in records:
        for f in r["files"].values():
            assert sha256_file(out / f["path"]) == f["sha256"]
            read_png(out / f["path"])  # decodes
    assert not list(out.rglob(".*.tmp"))
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("seed*.png"))
    assert len(pngs) == 2 * len(SEEDS)  # no orphan files beside the manifest's
    _, samples = read_samples(out / "samples.h5")
    assert [s.identity for s in samples] == SEEDS
    np.testing.assert_array_equal(np.stack([s.z for s in samples]), z_from_seeds(SEEDS, 16).numpy())

    # The interrupted run's images equal an uninterrupted run's, byte for byte.
    ref = tmp_path / "ref"
    generate(GenerateConfig(model=str(model), outdir=str(ref), seeds=tuple(SEEDS), truncation_psi=0.7,
                            noise_mode="random", batch_size=8, device="cpu"))
    for rel in pngs:
        assert (out / rel).read_bytes() == (ref / rel).read_bytes(), rel
