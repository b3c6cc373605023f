"""`synthbio dataset generate | merge | report`: a real SIGKILL mid-run, shards + merge, report, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthbio.checkpoints import save_generator
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.dataset.config import DatasetConfig
from synthbio.pipelines.dataset.generate import generate_dataset
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.utils.hashing import sha256_file

IDS = 6


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
    path = tmp_path_factory.mktemp("model") / "g"
    save_generator(build_demo_generator(cfg, noise_strength=0.3), path)
    return path


def _args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["dataset", "generate", "--model", str(model), "--outdir", str(out), "--identities", str(IDS),
            "--samples", "2", "--inter-threshold", "0.05", "--noise-mode", "random", "--device", "cpu", *extra]


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_then_resume(model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "synthbio.cli.main", *_args(model, out, "--batch-size", "1")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # Kill after an odd number of lines: identity k is written but its second line may be missing.
        while _lines(out / "manifest.jsonl") < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "samples.h5").exists()  # written only at the end
    done_before = len(read_manifest(out / "manifest.jsonl").records)
    assert 3 <= done_before < 2 * IDS

    rerun = subprocess.run([sys.executable, "-m", "synthbio.cli.main", *_args(model, out, "--batch-size", "4")],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "already done" in rerun.stdout
    records = read_manifest(out / "manifest.jsonl").records
    assert [(r["identity"], r["label"]) for r in records] == [(i, lab) for i in range(IDS)
                                                               for lab in ("reference", "variation_0")]
    for r in records:
        assert sha256_file(out / r["path"]) == r["sha256"]
    assert not list(out.rglob(".*.tmp"))
    assert len(list(out.rglob("*.png"))) == 2 * IDS  # no orphans
    _, samples = read_samples(out / "samples.h5")
    assert len(samples) == 2 * IDS

    ref = tmp_path / "ref"  # the interrupted run equals an uninterrupted one, byte for byte
    generate_dataset(DatasetConfig(outdir=str(ref), model=str(model), identities=IDS, samples_per_identity=2,
                                   inter_threshold=0.05, noise_mode="random", device="cpu"))
    for p in sorted(ref.rglob("*")):
        if p.is_file() and p.name != "config.json":
            assert (out / p.relative_to(ref)).read_bytes() == p.read_bytes(), p


def test_shards_merge_report_and_errors(model: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    for k in range(2):
        code, stdout, err = run_cli("dataset", "generate", "--model", str(model), "--outdir", str(tmp_path / f"s{k}"),
                               "--identities", "3", "--samples", "2", "--inter-threshold", "0.05", "--device", "cpu",
                               "--shard", f"{k}/2")
        assert code == 0, err
    code, stdout, err = run_cli("dataset", "merge", str(tmp_path / "s0"), "--out", str(tmp_path / "m"))
    assert code == 2 and "missing shard(s) 1/2" in err
    code, stdout, err = run_cli("dataset", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "m"))
    assert code == 0, err
    assert "3 identities, 6 samples" in stdout
    code, stdout, err = run_cli("dataset", "report", str(tmp_path / "m"))
    assert code == 0, err
    assert (tmp_path / "m_report" / "index.html").is_file() and "EER" in stdout
    code, stdout, err = run_cli("dataset", "generate", "--outdir", str(tmp_path / "x"), "--identities", "2",
                           "--modality", "face", "--variations", "procedural")
    assert code == 2 and "does not apply to faces" in err
    code, out, _ = run_cli("dataset", "generate", "--outdir", str(tmp_path / "y"), "--identities", "2",
                           "--model", str(model), "--dry-run")
    assert code == 0 and json.loads(out)["identities_in_shard"] == 2 and not (tmp_path / "y").exists()


def test_disco_directions_and_intra_limit_reach_the_config(model: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, stdout, err = run_cli("dataset", "generate", "--model", str(model), "--outdir", str(tmp_path / "d"),
                             "-n", "2", "--variations", "disco", "--direction", "a.direction.safetensors",
                             "--direction", "b.direction.safetensors", "--max-intra-similarity", "0.9", "--dry-run")
    assert code == 0, err
    resolved = json.loads(stdout[stdout.index("{"):])
    config = resolved.get("config", resolved)
    assert config["directions"] == ["a.direction.safetensors", "b.direction.safetensors"]
    assert config["max_intra_similarity"] == 0.9
