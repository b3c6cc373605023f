import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from masks_job_helpers import random_classifier, tiny_generator

from synthbio.checkpoints import save_generator
from synthbio.errors import InputError, OutputDirError
from synthbio.generation.sampling import map_seeds
from synthbio.io.images import read_png, to_uint8
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.pipelines.masks import MasksGenerateConfig, generate_masks, merge_mask_shards
from synthbio.segmentation.pixel_classifier import load_pixel_classifier
from synthbio.segmentation.predict import synthesize_with_masks
from synthbio.segmentation.uncertainty import image_uncertainty
from synthbio.utils.hashing import sha256_file

SEEDS = tuple(range(10, 18))


def _listed_files(out: Path) -> dict[str, bytes]:
    """Every file the manifest lists, by path, with its bytes."""
    return {f["path"]: (out / f["path"]).read_bytes()
            for r in read_manifest(out / "manifest.jsonl").records for f in r["files"].values()}


def test_one_mask_for_every_branch_uncertainty_and_the_filter(masks_env, tmp_path, one_thread):
    G, clf = masks_env["G"], masks_env["clf"]
    out = tmp_path / "gen"
    r = generate_masks(MasksGenerateConfig(classifier=str(clf), outdir=str(out), seeds=SEEDS, drop_fraction=0.25,
                                           batch_size=3, device="cpu"))
    assert r.generated == list(SEEDS) and len(r.dropped) == 2
    model, _ = load_pixel_classifier(clf)
    _, ws = map_seeds(G, list(SEEDS), truncation_psi=0.7)  # the classifier's sampling (as annotated)
    records = {rec["seed"]: rec for rec in read_manifest(out / "manifest.jsonl").records}
    scores = {}
    for i, seed in enumerate(SEEDS):  # one sample at a time: the batch of 3 must not change anything
        images, preds = synthesize_with_masks(G, model, ws[i:i + 1], seeds=[seed])
        rec = records[seed]
        where = "dropped/" if rec["dropped"] else ""
        assert rec["files"]["mask"]["path"] == f"{where}masks/seed{seed:04d}_mask.png"
        np.testing.assert_array_equal(read_png(out / rec["files"]["mask"]["path"]), preds[0].labels.numpy())
        np.testing.assert_array_equal(read_png(out / f"{where}rgb/seed{seed:04d}.png"), to_uint8(images["rgb"])[0])
        np.testing.assert_array_equal(read_png(out / f"{where}nir/seed{seed:04d}.png"),
                                      to_uint8(images["nir"])[0][:, :, 0])
        assert read_png(out / f"{where}masks/seed{seed:04d}_mask_color.png").shape == (32, 32, 3)
        assert rec["uncertainty"] == pytest.approx(image_uncertainty(preds[0].js), rel=1e-6)
        scores[seed] = rec["uncertainty"]
    assert set(r.dropped) == set(sorted(scores, key=scores.get)[-2:])  # the two most uncertain
    summary = json.loads((out / "uncertainty.json").read_text())
    assert summary["dropped"] == sorted(r.dropped) and len(summary["kept"]) == 6
    _, samples = read_samples(out / "samples.h5")
    assert [s.identity for s in samples] == list(SEEDS)
    np.testing.assert_allclose(np.stack([s.w_plus for s in samples]), ws.numpy())
    assert read_png(out / "grid.png").ndim == 3

    # Another fraction on the same folder: nothing regenerated, the dropped samples move back.
    again = generate_masks(MasksGenerateConfig(classifier=str(clf), outdir=str(out), seeds=SEEDS, device="cpu"))
    assert again.generated == [] and again.kept == list(SEEDS) and again.dropped == []
    assert not any((out / "dropped").rglob("*.png"))
    assert all(not rec["dropped"] for rec in read_manifest(out / "manifest.jsonl").records)


def test_shards_merged_equal_an_unsharded_run(masks_env, tmp_path, one_thread):
    clf = str(masks_env["clf"])
    whole = generate_masks(MasksGenerateConfig(classifier=clf, outdir=str(tmp_path / "whole"), seeds=SEEDS,
                                               drop_fraction=0.25, device="cpu"))
    shards = []
    for k in range(3):
        cfg = MasksGenerateConfig(classifier=clf, outdir=str(tmp_path / f"s{k}"), seeds=SEEDS, drop_fraction=0.25,
                                  shard=f"{k}/3", device="cpu")
        part = generate_masks(cfg)
        assert part.generated == list(SEEDS[k::3]) and part.threshold is None  # a shard is never filtered
        shards.append(cfg.outdir)
    with pytest.raises(InputError, match="missing shard\\(s\\) 2/3"):
        merge_mask_shards(shards[:2], tmp_path / "merged")
    merged = merge_mask_shards(shards[::-1], tmp_path / "merged", device="cpu")
    assert merged.dropped == whole.dropped
    assert _listed_files(tmp_path / "merged") == _listed_files(tmp_path / "whole")
    assert read_manifest(tmp_path / "merged" / "manifest.jsonl").records == \
        read_manifest(tmp_path / "whole" / "manifest.jsonl").records
    for name in ("uncertainty.json", "grid.png", "classes.json"):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_single_branch_layout_and_another_runs_folder(tmp_path, one_thread):
    G = tiny_generator(branches=(("gray", 1),))
    save_generator(G, tmp_path / "G")
    clf = random_classifier(G, tmp_path / "clf", model=str(tmp_path / "G"))
    out = tmp_path / "gen"
    generate_masks(MasksGenerateConfig(classifier=str(clf), outdir=str(out), seeds=(3, 4), device="cpu"))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["classes.json", "config.json", "grid.png", "manifest.jsonl", "samples.h5", "seed0003.png",
                     "seed0003_mask.png", "seed0003_mask_color.png", "seed0004.png", "seed0004_mask.png",
                     "seed0004_mask_color.png", "uncertainty.json"]
    with pytest.raises(OutputDirError, match="holds another run.*truncation_psi 0.7 there vs 0.5 now"):
        generate_masks(MasksGenerateConfig(classifier=str(clf), outdir=str(out), seeds=(3, 4), truncation_psi=0.5,
                                           device="cpu"))
    other = tiny_generator(branches=(("gray", 1),), seed=1)
    save_generator(other, tmp_path / "other")
    with pytest.raises(InputError, match="trained on another generator"):
        generate_masks(MasksGenerateConfig(classifier=str(clf), outdir=str(tmp_path / "o"), seeds=(3,),
                                           model=str(tmp_path / "other"), device="cpu"))


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_then_resume_loses_and_doubles_nothing(tmp_path):
    G = tiny_generator()
    save_generator(G, tmp_path / "G")
    clf = random_classifier(G, tmp_path / "clf", model=str(tmp_path / "G"))
    seeds = list(range(40))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "synthbio.cli.main", "masks", "generate", str(clf), "--seeds", "0-39",
           "--drop-uncertain", "0.1", "--device", "cpu", "--outdir", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*cmd, "--batch-size", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 600  # generous: a loaded machine may be slow to start
        while _lines(out / "manifest.jsonl") < 3 and proc.poll() is None and time.monotonic() < deadline:
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
    assert 3 <= done_before < len(seeds)
    assert not (out / "uncertainty.json").exists()  # the filter runs only on a complete run

    rerun = subprocess.run([*cmd, "--batch-size", "4"], capture_output=True, text=True, timeout=600, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(seeds) - done_before} samples generated, {done_before} already done" in rerun.stdout  # the result
    records = read_manifest(out / "manifest.jsonl").records
    assert sorted(r["seed"] for r in records) == seeds  # each seed exactly once
    for r in records:
        for f in r["files"].values():
            assert sha256_file(out / f["path"]) == f["sha256"]
    assert not list(out.rglob(".*.tmp"))
    assert len(list(out.rglob("seed*.png"))) == 4 * len(seeds)  # rgb, nir, mask, colour preview: no orphans
    assert sum(r["dropped"] for r in records) == 4

    ref = tmp_path / "ref"  # the killed and resumed run equals an uninterrupted one, byte for byte
    generate_masks(MasksGenerateConfig(classifier=str(clf), outdir=str(ref), seeds=tuple(seeds), drop_fraction=0.1,
                                       batch_size=8, device="cpu"))
    assert _listed_files(out) == _listed_files(ref)
