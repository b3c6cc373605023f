"""`synthbio project`: output files, resume, and exit code 2 on bad input."""

import json

import numpy as np
import PIL.Image
import pytest
import torch
from safetensors.torch import load_file

from synthbio.checkpoints import save_generator
from synthbio.io.images import to_uint8
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator

TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny RGB model and two of its images, one padded to 16x24 (center crop + resize)."""
    root = tmp_path_factory.mktemp("project")
    G = build_demo_generator(GeneratorConfig(**TINY), noise_strength=0.1)
    save_generator(G, root / "model")
    with torch.no_grad():
        imgs = to_uint8(G(torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(1))))
    PIL.Image.fromarray(imgs[0]).save(root / "a.png")
    PIL.Image.fromarray(np.pad(imgs[1], ((0, 0), (4, 4), (0, 0)))).save(root / "b.png")
    return root


def _args(files, out, *extra):
    return ("project", str(files / "a.png"), str(files / "b.png"), "--model", str(files / "model"),
            "--outdir", str(out), "--loss", "l2", "--steps", "10", "--device", "cpu", "--save-every", "4", *extra)


def test_writes_latents_images_config_and_resumes(files, tmp_path, run_cli):
    out = tmp_path / "out"
    code, stdout, err = run_cli(*_args(files, out, "--space", "wplus", "--strip", "--batch-size", "1"))
    assert code == 0, err
    assert "2 targets projected" in stdout
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "samples.h5", "projection.safetensors", "target_0000.png", "target_0001.png",
            "proj_0000.png", "proj_0001.png", "strip_0000.png", "strip_0001.png"} <= names
    assert PIL.Image.open(out / "target_0001.png").size == (16, 16)  # cropped and resized to G
    assert PIL.Image.open(out / "strip_0000.png").size == (16 * 6, 16)  # target + 5 steps
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["projector"]["space"] == "wplus" and config["config"]["loss"] == "l2"
    attrs, samples = read_samples(out / "samples.h5")
    assert attrs["space"] == "wplus" and [s.label for s in samples] == ["projected", "projected"]
    assert samples[1].w_plus.shape == (6, 16) and samples[1].attrs["target"].endswith("b.png")
    assert np.isnan(samples[0].z).all()  # projection finds no z
    saved = load_file(out / "projection.safetensors")
    assert saved["ws"].shape == (2, 6, 16) and np.allclose(saved["ws"][1].numpy(), samples[1].w_plus)
    code, stdout, err = run_cli("info", str(out), "--json")
    info = json.loads(stdout)[0]
    assert (info["command"], info["done"], info["wanted"], info["complete"]) == ("project", 2, 2, True)
    assert info["holds"]["latent files"] == 2  # samples.h5 and projection.safetensors
    # Same command again: every batch's checkpoint is finished, so the results are read back unchanged.
    code, stdout, err = run_cli(*_args(files, out, "--space", "wplus", "--strip", "--batch-size", "1"))
    assert code == 0, err
    assert torch.equal(load_file(out / "projection.safetensors")["ws"], saved["ws"])
    # A folder written before the precision option existed resumes as float32.
    record = json.loads((out / "config.json").read_text())
    del record["config"]["projector"]["precision"]
    (out / "config.json").write_text(json.dumps(record))
    code, stdout, err = run_cli(*_args(files, out, "--space", "wplus", "--strip", "--batch-size", "1"))
    assert code == 0, err
    # Another run's settings in the same folder are refused.
    code, stdout, err = run_cli(*_args(files, out, "--space", "w"))
    assert code == 2 and "another projection run" in err


def test_missing_file_exit_2(files, tmp_path, run_cli):
    code, stdout, err = run_cli("project", str(tmp_path / "nope.png"), "--model", str(files / "model"),
                           "--outdir", str(tmp_path / "o"), "--loss", "l2", "--device", "cpu")
    assert code == 2 and "nope.png" in err and "does not exist" in err
    assert not (tmp_path / "o").exists()


def test_npy_with_wrong_channels_or_nan_exit_2(files, tmp_path, run_cli):
    np.save(tmp_path / "gray.npy", np.zeros([1, 16, 16], np.float32))
    bad = np.zeros([3, 16, 16], np.float32)
    bad[0, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    for name, message in (("gray.npy", "expected a float array [3, 16, 16]"), ("nan.npy", "NaN")):
        code, stdout, err = run_cli("project", str(tmp_path / name), "--model", str(files / "model"),
                               "--outdir", str(tmp_path / "o"), "--loss", "l2", "--device", "cpu")
        assert code == 2 and name in err and message in err


def test_corrupt_image_exit_2(files, tmp_path, run_cli):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    code, stdout, err = run_cli("project", str(tmp_path / "broken.png"), "--model", str(files / "model"),
                           "--outdir", str(tmp_path / "o"), "--loss", "l2", "--device", "cpu")
    assert code == 2 and "broken.png" in err


def test_default_vgg_loss_without_weights_suggests_alternatives(files, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("SYNTHBIO_OFFLINE", "1")
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path / "cache"))  # an empty cache: the weights are missing
    code, stdout, err = run_cli("project", str(files / "a.png"), "--model", str(files / "model"),
                           "--outdir", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and "--vgg-weights" in err and "--loss l2" in err
    assert not (tmp_path / "o" / "config.json").exists()


def test_video_without_imageio_ffmpeg_says_so(files, tmp_path, run_cli, monkeypatch):
    import synthbio.pipelines.projection.project as job

    monkeypatch.setattr(job, "video_available", lambda: False)
    code, stdout, err = run_cli(*_args(files, tmp_path / "o", "--video"))
    assert code == 2 and "imageio-ffmpeg" in err and "--strip" in err


def test_video_with_imageio_ffmpeg(files, tmp_path, run_cli):
    pytest.importorskip("imageio_ffmpeg", reason="the optional video backend (extra 'video') is not installed")
    code, stdout, err = run_cli("project", str(files / "a.png"), "--model", str(files / "model"), "--outdir",
                           str(tmp_path / "o"), "--loss", "l2", "--steps", "6", "--device", "cpu", "--video")
    assert code == 0, err
    video = tmp_path / "o" / "proj_0000.mp4"
    assert video.stat().st_size > 0 and video.read_bytes()[4:8] == b"ftyp"  # an MP4 container
