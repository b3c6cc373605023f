"""generate with StyleGAN3 (input transform) and EG3D (views, depth maps) models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_generators import tiny_eg3d, tiny_sg3

from synthbio.errors import InputError, OutputDirError
from synthbio.io.depth import read_depth
from synthbio.io.images import read_png
from synthbio.io.manifest import read_manifest
from synthbio.pipelines.images.generate import GenerateConfig, generate_with
from synthbio.utils.seeds import parse_sweep


def cfg(outdir: Path, **kw: object) -> GenerateConfig:
    return GenerateConfig(**{**dict(model="tiny", outdir=str(outdir), seeds=(0, 1, 2), truncation_psi=0.7), **kw})


def pngs(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("*.png"))}


@pytest.fixture(scope="module")
def eg3d():
    return tiny_eg3d()


def test_eg3d_views_and_depth(eg3d, tmp_path: Path, one_thread) -> None:
    out = tmp_path / "views"
    generate_with(eg3d, cfg(out, yaw=(-30.0, 0.0, 30.0), pitch=(0.0, 10.0), save_depth="png16", grid=True,
                            batch_size=2))
    names = sorted(p.name for p in out.glob("seed0001_*"))
    assert len(names) == 12 and "seed0001_yaw-30_pitch+10.png" in names and "seed0001_yaw+0_pitch+0_depth.png" in names
    rec = read_manifest(out / "manifest.jsonl").records[1]
    assert rec["views"] == [[-30.0, 0.0], [-30.0, 10.0], [0.0, 0.0], [0.0, 10.0], [30.0, 0.0], [30.0, 10.0]]
    depth = read_depth(out / rec["files"]["depth_yaw+30_pitch+0"]["path"])
    assert depth.shape == (8, 8) and 2.25 <= depth.min() and depth.max() <= 3.3
    assert rec["files"]["depth_yaw+30_pitch+0"]["near"] == 2.25
    assert read_png(out / "grid.png").shape[:2] == (3 * 32, 6 * 32)  # a row per seed, a column per view
    views = {name: read_png(out / f"seed0000_{name}.png") for name in ("yaw-30_pitch+0", "yaw+30_pitch+0")}
    assert not np.array_equal(*views.values())  # the camera moves

    # The same seed gives the same files alone, in another batch size, and in .npy with the same values.
    single = tmp_path / "single"
    generate_with(eg3d, cfg(single, seeds=(1,), yaw=(-30.0, 0.0, 30.0), pitch=(0.0, 10.0), save_depth="npy"))
    for name, data in pngs(single).items():
        assert data == (out / name).read_bytes(), name
    exact = np.load(single / "seed0001_yaw+30_pitch+0_depth.npy")
    assert np.abs(exact - read_depth(out / "seed0001_yaw+30_pitch+0_depth.png")).max() <= 1.05 / 65535 * 0.5 + 1e-6


def test_eg3d_one_view_keeps_plain_names_and_resumes(eg3d, tmp_path: Path, one_thread) -> None:
    generate_with(eg3d, cfg(tmp_path, seeds=(4,), yaw=(15.0,), fov=20.0))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["seed0004.png"]
    rec = read_manifest(tmp_path / "manifest.jsonl").records[0]
    assert rec["views"] == [[15.0, 0.0]] and rec["fov"] == 20.0
    result = generate_with(eg3d, cfg(tmp_path, seeds=(4, 5), yaw=(15.0,), fov=20.0))
    assert result.kept == [4] and result.generated == [5]
    with pytest.raises(OutputDirError, match="views"):
        generate_with(eg3d, cfg(tmp_path, seeds=(4,), yaw=(20.0,), fov=20.0))


def test_stylegan3_input_transform(tmp_path: Path, one_thread) -> None:
    G = tiny_sg3(img_resolution=32)
    generate_with(G, cfg(tmp_path / "plain", seeds=(0, 1)))
    generate_with(G, cfg(tmp_path / "moved", seeds=(0, 1), translate=(0.2, 0.0), rotate=20.0))
    plain, moved = pngs(tmp_path / "plain"), pngs(tmp_path / "moved")
    assert plain.keys() == moved.keys() == {"seed0000.png", "seed0001.png"} and plain != moved
    run = json.loads((tmp_path / "moved" / "config.json").read_text())["run"]
    assert run["transform"] == [0.2, 0.0, 20.0] and run["views"] is None


def test_options_for_another_family_are_refused(eg3d, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--translate and --rotate need a StyleGAN3 model"):
        generate_with(eg3d, cfg(tmp_path, rotate=5.0))
    with pytest.raises(InputError, match="--yaw, --pitch, --fov and --save-depth need a camera-controlled"):
        generate_with(tiny_sg3(), cfg(tmp_path, save_depth="npy"))
    with pytest.raises(InputError, match="class index 1 given, but the model is conditioned on cameras"):
        generate_with(eg3d, cfg(tmp_path, class_idx=1))
    with pytest.raises(InputError, match="save-depth"):
        cfg(tmp_path, save_depth="exr")
    for bad in (dict(rotate=float("nan")), dict(translate=(float("inf"), 0.0))):  # typer passes 'nan' / 'inf' on
        with pytest.raises(InputError, match="must be finite"):
            cfg(tmp_path, **bad)


def test_sweeps_parse() -> None:
    assert parse_sweep("-30:30:7", what="--yaw") == [-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0]
    assert parse_sweep("15", what="--yaw") == [15.0] and parse_sweep("-5,0,2.5") == [-5.0, 0.0, 2.5]
    with pytest.raises(InputError, match="--yaw '30:-30' must be"):
        parse_sweep("30:-30", what="--yaw")
    with pytest.raises(InputError, match="count must be"):
        parse_sweep("0:1:0", what="--pitch")
