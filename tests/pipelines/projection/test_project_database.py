"""`project-database`: a database selection projected into samples.h5 with attributes; shards; a real kill."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.checkpoints import save_generator
from synthbio.errors import InputError, OutputDirError
from synthbio.inversion.projector import ProjectorConfig
from synthbio.io.databases import ImageSelection, build_database
from synthbio.io.images import to_uint8
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images import build_demo_generator
from synthbio.pipelines.projection import ProjectDatabaseConfig, project_database

TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A tiny generator and a CSV database of 6 of its images: 3 identities, a yaw attribute, two groups."""
    root = tmp_path_factory.mktemp("pdb")
    G = build_demo_generator(GeneratorConfig(**TINY), noise_strength=0.1)
    save_generator(G, root / "model")
    with torch.no_grad():
        imgs = to_uint8(G(torch.randn([6, G.z_dim], generator=torch.Generator().manual_seed(2))))
    rows = ["path,identity,yaw,protocol,group"]
    for i, img in enumerate(imgs):
        (root / "img").mkdir(exist_ok=True)
        PIL.Image.fromarray(img).save(root / "img" / f"{i}.png")
        rows.append(f"img/{i}.png,s{i // 2},{(-15, 15)[i % 2]},pose,{'dev' if i < 4 else 'eval'}")
    (root / "meta.csv").write_text("\n".join(rows) + "\n")
    build_database("csv", root, metadata=root / "meta.csv").write(root / "db.sqlite")
    return root


def _config(db, out, **kw):
    base = dict(model=str(db / "model"), selection=ImageSelection(str(db / "db.sqlite"), protocol="pose", group="dev"),
                outdir=str(out), projector=ProjectorConfig(num_steps=6, checkpoint_every=2, w_avg_samples=64),
                loss="l2", batch_size=2, device="cpu")
    base.update(kw)
    return ProjectDatabaseConfig(**base)


def test_projects_selection_with_attributes(db, tmp_path):
    res = project_database(_config(db, tmp_path / "out"), progress=False)
    assert res.complete and res.samples == 4 and res.projected == [0, 1, 2, 3]
    attrs, samples = read_samples(res.samples_path)
    assert attrs["protocol"] == "pose" and attrs["group"] == "dev"
    assert [(s.identity, s.attrs["key"], s.attrs["yaw"]) for s in samples] == [
        (0, "img/0", -15), (0, "img/1", 15), (1, "img/2", -15), (1, "img/3", 15)]
    assert samples[0].w.shape == (16,) and samples[0].w_plus.shape == (6, 16)
    assert samples[0].attrs["seed"] == 303 and samples[0].attrs["identity"] == "s0"
    # The same command again keeps everything.
    again = project_database(_config(db, tmp_path / "out"), progress=False)
    assert again.projected == [] and again.kept == [0, 1, 2, 3]


def test_shards_equal_unsharded(db, tmp_path):
    whole = project_database(_config(db, tmp_path / "whole", batch_size=4), progress=False)
    first = project_database(_config(db, tmp_path / "sh", shard="0/2"), progress=False)
    assert not first.complete and first.projected == [0, 2]
    second = project_database(_config(db, tmp_path / "sh", shard="1/2"), progress=False)
    assert second.complete and second.projected == [1, 3]
    _, a = read_samples(whole.samples_path)
    _, b = read_samples(second.samples_path)
    for x, y in zip(a, b):
        assert x.attrs["key"] == y.attrs["key"]
        np.testing.assert_array_equal(x.w_plus, y.w_plus)  # a sample's latents do not depend on its batch or shard


def test_bad_inputs(db, tmp_path):
    with pytest.raises(InputError, match="no protocol 'U'"):
        project_database(_config(db, tmp_path / "o", selection=ImageSelection(str(db / "db.sqlite"), protocol="U")))
    with pytest.raises(InputError, match="shard"):
        _config(db, tmp_path / "o", shard="2/2")
    project_database(_config(db, tmp_path / "o"), progress=False)
    with pytest.raises(OutputDirError, match="another projection run"):
        project_database(_config(db, tmp_path / "o", seed=1), progress=False)


def test_cli_sigkill_then_resume(db, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "synthbio.cli.main", "project-database", str(db / "db.sqlite"), "--protocol", "pose",
           "--model", str(db / "model"), "--outdir", str(out), "--loss", "l2", "--steps", "16", "--save-every", "4",
           "--batch-size", "1", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    manifest = out / "manifest-0-of-1.jsonl"
    try:
        deadline = time.monotonic() + 300
        while (not manifest.exists() or manifest.read_bytes().count(b"\n") < 2) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = manifest.read_bytes().count(b"\n")
    assert 2 <= done < 6 and not (out / "samples.h5").exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{6 - done} samples projected, {done} already done, of 6" in " ".join(rerun.stdout.split())  # the result: stdout
    ref = project_database(_config(db, tmp_path / "ref", selection=ImageSelection(str(db / "db.sqlite"), protocol="pose"),
                                   projector=ProjectorConfig(num_steps=16, checkpoint_every=4), batch_size=3),
                           progress=False)
    _, a = read_samples(out / "samples.h5")
    _, b = read_samples(ref.samples_path)
    assert len(a) == 6
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.w_plus, y.w_plus)
    assert json.loads((out / "config.json").read_text())["samples"] == 6


@pytest.mark.slow  # starts a Ray instance (~10 s of start-up alone on 2 cores)
def test_ray_backend_equals_local(db, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (optional extra synthbio[ray])")
    local = project_database(_config(db, tmp_path / "local"), progress=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        res = project_database(_config(db, tmp_path / "ray", backend="ray", ray_shards=2), progress=False)
    finally:
        ray.shutdown()
    assert res.complete and res.projected == [0, 1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "ray").glob("manifest-*")) == ["manifest-0-of-2.jsonl",
                                                                            "manifest-1-of-2.jsonl"]
    _, a = read_samples(local.samples_path)
    _, b = read_samples(res.samples_path)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.w_plus, y.w_plus)
