"""The fingerprint dataset job: layout, determinism, resuming after SIGKILL, refusing other runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from synthbio.errors import InputError, OutputDirError
from synthbio.fingerprints.minutiae import read_json, read_json_metadata
from synthbio.fingerprints.iso19794 import read_fmr
from synthbio.io.images import read_png
from synthbio.io.manifest import read_manifest
from synthbio.pipelines.fingerprints.generate import (
    FingerprintDatasetConfig,
    finger_seed,
    generate_dataset,
    load_dataset_index,
)
from synthbio.utils.hashing import sha256_file

SMALL = dict(impressions=2, width=160, height=192, seed=7)


def _config(outdir: Path, fingers: int, **kw: object) -> FingerprintDatasetConfig:
    return FingerprintDatasetConfig(outdir=str(outdir), fingers=fingers, **{**SMALL, **kw})  # type: ignore[arg-type]


def _by_finger(outdir: Path) -> dict[int, dict]:
    recs = read_manifest(outdir / "manifest.jsonl").records
    fingers = [r["finger"] for r in recs]
    assert len(fingers) == len(set(fingers)), f"a finger is listed twice: {sorted(fingers)}"
    return {r["finger"]: r for r in recs}


def _check_files(outdir: Path, recs: dict[int, dict]) -> None:
    for rec in recs.values():
        for imp in rec["impressions"]:
            for ext, entry in imp["files"].items():
                assert sha256_file(outdir / entry["path"]) == entry["sha256"], entry["path"]
            png = read_png(outdir / imp["files"]["png"]["path"])
            assert png.dtype == np.uint8 and png.shape == (SMALL["height"], SMALL["width"])
            gt = read_json(outdir / imp["files"]["json"]["path"])
            iso = read_fmr(outdir / imp["files"]["iso"]["path"]).views[0].template
            assert len(iso.minutiae) == len(gt.minutiae) == imp["minutiae"]


def test_layout_ground_truth_and_index(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = generate_dataset(_config(out, 2), progress=False)
    assert res.generated == [0, 1] and res.kept == []
    recs = _by_finger(out)
    _check_files(out, recs)
    for f in (0, 1):
        assert recs[f]["seed"] == finger_seed(7, f)
        assert sorted(p.name for p in (out / f"{f:05d}").iterdir()) == [
            "00.iso", "00.json", "00.png", "00.xyt", "01.iso", "01.json", "01.png", "01.xyt",
        ]
        meta = read_json_metadata(out / f"{f:05d}" / "01.json")
        assert meta["finger_class"] == recs[f]["class"] and meta["impression"] == 1
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["fingers"] == 2 and cfg["impressions"] == 2
    index = load_dataset_index(out)
    assert index.fingers == [0, 1] and [i.index for i in index.impressions[1]] == [0, 1]
    # a rerun finds everything done
    again = generate_dataset(_config(out, 2), progress=False)
    assert again.generated == [] and again.kept == [0, 1]


def test_same_files_whatever_the_worker_count(tmp_path: Path) -> None:
    a = generate_dataset(_config(tmp_path / "a", 2, workers=1), progress=False)
    b = generate_dataset(_config(tmp_path / "b", 2, workers=2), progress=False)
    ra, rb = _by_finger(a.outdir), _by_finger(b.outdir)
    assert ra == rb  # same seeds, classes, paths and sha256 of every file


def test_fixed_class(tmp_path: Path) -> None:
    generate_dataset(_config(tmp_path / "w", 2, fp_class="whorl"), progress=False)
    assert {r["class"] for r in _by_finger(tmp_path / "w").values()} == {"whorl"}


_CHILD = """
import sys
from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, generate_dataset
generate_dataset(FingerprintDatasetConfig(outdir=sys.argv[1], fingers=int(sys.argv[2]),
    impressions=2, width=160, height=192, seed=7, workers=1), progress=False)
"""


def test_resume_after_sigkill(tmp_path: Path) -> None:
    out, fingers = tmp_path / "killed", 8
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), str(fingers)], start_new_session=True)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.exists() and manifest.read_bytes().count(b"\n") >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the job finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    n_before = len(read_manifest(manifest).records)
    assert 2 <= n_before < fingers
    # what a kill inside an append or an atomic write leaves behind
    with open(manifest, "ab") as f:
        f.write(b'{"finger": 5, "seed": 1, "impre')
    (out / "00006").mkdir(exist_ok=True)
    (out / "00006" / ".00.png.abc123.tmp").write_bytes(b"half a png")

    res = generate_dataset(_config(out, fingers), progress=False)
    assert len(res.kept) == n_before
    assert sorted(res.kept + res.generated) == list(range(fingers))
    recs = _by_finger(out)
    assert sorted(recs) == list(range(fingers))
    _check_files(out, recs)
    assert not list(out.rglob(".*.tmp"))
    # nothing differs from an uninterrupted run
    clean = generate_dataset(_config(tmp_path / "clean", fingers), progress=False)
    assert _by_finger(clean.outdir) == recs


def test_changed_file_is_redone(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate_dataset(_config(out, 2), progress=False)
    png = out / "00001" / "00.png"
    good = png.read_bytes()
    png.write_bytes(b"not a png")
    res = generate_dataset(_config(out, 2), progress=False)
    assert res.kept == [0] and res.generated == [1] and res.redone == [1]
    assert png.read_bytes() == good
    assert sorted(_by_finger(out)) == [0, 1]


def test_other_run_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ds"
    generate_dataset(_config(out, 1), progress=False)
    with pytest.raises(OutputDirError, match="impressions"):
        generate_dataset(_config(out, 1, impressions=3), progress=False)
    with pytest.raises(OutputDirError, match="seed"):
        generate_dataset(_config(out, 1, seed=8), progress=False)
    # the CLI maps it to exit code 2
    from synthbio.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["synthbio", "fingerprints", "generate", "-o", str(out), "-n", "1",
                                      "-m", "3", "--width", "160", "--height", "192", "-s", "7", "-j", "1"])
    with pytest.raises(SystemExit) as exc:
        cli_main.main()
    assert exc.value.code == 2
    assert len(read_manifest(out / "manifest.jsonl").records) == 1  # nothing lost


def test_overwrite_replaces_another_run_and_only_its_files(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate_dataset(_config(out, 2), progress=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"seed 7 there vs 8 now.*--overwrite"):
        generate_dataset(_config(out, 1, seed=8), progress=False)
    res = generate_dataset(_config(out, 1, seed=8, overwrite=True), progress=False)
    assert res.generated == [0] and res.kept == []
    assert sorted(p.name for p in out.iterdir()) == ["00000", "config.json", "manifest.jsonl", "notes.txt"]
    rec = _by_finger(out)[0]
    assert rec["seed"] == finger_seed(8, 0) and sorted(p.name for p in (out / "00000").iterdir()) == sorted(
        Path(f["path"]).name for imp in rec["impressions"] for f in imp["files"].values())
    # the same command again resumes, with or without --overwrite
    assert generate_dataset(_config(out, 1, seed=8, overwrite=True), progress=False).kept == [0]
    # another command's folder is refused too
    other = tmp_path / "gen"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"command": "generate", "run": {}}))
    with pytest.raises(OutputDirError, match="`generate` results"):
        generate_dataset(_config(other, 1), progress=False)


def test_bad_settings() -> None:
    with pytest.raises(InputError, match="fingers"):
        FingerprintDatasetConfig(outdir="x", fingers=0)
    with pytest.raises(InputError, match="class"):
        FingerprintDatasetConfig(outdir="x", fingers=1, fp_class="spiral")
    with pytest.raises(InputError, match="too small"):
        FingerprintDatasetConfig(outdir="x", fingers=1, width=10)
    with pytest.raises(InputError, match="manifest"):
        load_dataset_index("/nonexistent-dir")


def test_sensor_presets_mixed_per_impression_with_artefacts_in_the_ground_truth(tmp_path: Path) -> None:
    """--sensor mixed: every impression names its sensor and is that preset's impression, bit for bit."""
    from synthbio.fingerprints.impressions import impression_sensor, make_impression, sensor_preset
    from synthbio.fingerprints.master import MasterConfig, generate_master
    from synthbio.fingerprints.sensors import SENSOR_KINDS

    out = tmp_path / "mixed"
    generate_dataset(_config(out, 2, impressions=4, sensor="mixed"), progress=False)
    config = json.loads((out / "config.json").read_text())
    assert config["sensor"] == list(SENSOR_KINDS) and set(config["impression"]) == set(SENSOR_KINDS)
    seen = set()
    for finger, rec in _by_finger(out).items():
        master = generate_master(rec["seed"], MasterConfig())
        for imp in rec["impressions"]:
            meta = read_json_metadata(out / imp["files"]["json"]["path"])
            sensor = impression_sensor(SENSOR_KINDS, rec["seed"], imp["index"])
            assert meta["sensor"] == sensor == meta["transform"]["sensor"]
            assert set(meta["artefacts"]) == {"points", "lines", "hidden_minutiae"}
            expected = make_impression(master, rec["seed"], imp["index"], sensor_preset(sensor, width=160, height=192))
            np.testing.assert_array_equal(read_png(out / imp["files"]["png"]["path"]), expected.image)
            seen.add(sensor)
    assert len(seen) >= 2
    with pytest.raises(OutputDirError, match="sensor"):
        generate_dataset(_config(out, 2, impressions=4, sensor="optical"), progress=False)
    with pytest.raises(InputError, match="--sensor 'thermal'"):
        _config(out, 1, sensor="thermal")
