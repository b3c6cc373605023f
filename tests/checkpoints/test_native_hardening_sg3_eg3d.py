"""Hostile StyleGAN3 / EG3D configs (a native config.json or an official pickle's init kwargs):
one CheckpointError naming the file and the field, before any network is built."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from ckpt_helpers import (
    _FakeModules,
    sg3_init_kwargs,
    tiny_eg3d_config,
    tiny_sg3_config,
)

from synthbio.checkpoints import load_generator
from synthbio.checkpoints.native import load_generator_native, save_generator
from synthbio.errors import CheckpointError
from synthbio.nn.eg3d import EG3DConfig, EG3DGenerator
from synthbio.nn.stylegan3 import StyleGAN3Config, StyleGAN3Generator


@pytest.fixture(scope="module")
def sg3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_generator(StyleGAN3Generator(tiny_sg3_config()), tmp_path_factory.mktemp("sg3") / "m")


@pytest.fixture(scope="module")
def eg3d_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_generator(EG3DGenerator(tiny_eg3d_config()), tmp_path_factory.mktemp("eg3d") / "m")


def _with_config(model_dir: Path, tmp_path: Path, **changes: Any) -> Path:
    out = tmp_path / "m"
    out.mkdir()
    (out / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes())
    meta = json.loads((model_dir / "config.json").read_text())
    meta["config"].update(changes)
    (out / "config.json").write_text(json.dumps(meta))
    return out


def _refused_before_building(monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
    def build(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"{cls.__name__} was built from a hostile config")

    monkeypatch.setattr(cls, "__init__", build)


@pytest.mark.parametrize("changes, message", [
    ({"img_resolution": -32}, "img_resolution must be an integer in 4..4096"),
    ({"img_resolution": 32.5}, "img_resolution must be an integer"),
    ({"img_resolution": 2**40}, "img_resolution must be an integer in 4..4096"),
    ({"img_resolution": 24}, "power of two"),
    ({"img_resolution": "32"}, "img_resolution must be an integer"),
    ({"channel_base": -256}, "channel_base must be an integer in 1"),
    ({"channel_base": 1}, "gives a layer no channel"),
    ({"num_layers": 10**6}, "num_layers must be an integer in 1..64"),
    ({"num_layers": 4.0}, "num_layers must be an integer"),
    ({"num_critical": 4}, "num_critical must be an integer in 0..3"),
    ({"first_cutoff": -2.0}, "first_cutoff must be a finite number"),
    ({"first_stopband": 0.01}, "give layer L0_.* sampling rate 0"),
    ({"last_stopband_rel": 0.0}, "last_stopband_rel"),
    ({"margin_size": -100}, "margin_size must be an integer in 0..256"),
    ({"margin_size": 10**7}, "margin_size"),
    ({"filter_size": 10**6}, "filter_size must be an integer in 1..32"),
    ({"lrelu_upsampling": 1000}, "lrelu_upsampling"),
    ({"conv_kernel": 1001}, "conv_kernel must be an integer in 1..15"),
    ({"w_dim": 10**9}, "w_dim must be an integer in 1..16384"),
    ({"z_dim": True}, "z_dim must be an integer"),
    ({"use_radial_filters": "yes"}, "use_radial_filters must be true or false"),
    ({"num_fp16_res": -5}, "num_fp16_res"),
    ({"mapping_layers": 10**6}, "mapping_layers must be an integer in 1..64"),
    ({"conv_clamp": -1}, "conv_clamp"),
    ({"magnitude_ema_beta": 1.5}, "magnitude_ema_beta"),
    ({"w_dim": 16384, "z_dim": 16384, "mapping_layers": 64}, "weights; the limit is"),
    ({"fancy": 1}, "unknown StyleGAN3 config keys"),
])
def test_bad_stylegan3_config_values(sg3_dir: Path, tmp_path: Path, monkeypatch, changes: dict,
                                     message: str) -> None:
    path = _with_config(sg3_dir, tmp_path, **changes)
    _refused_before_building(monkeypatch, StyleGAN3Generator)
    with pytest.raises(CheckpointError, match=message) as info:
        load_generator_native(path)
    assert "config.json: invalid stylegan3 config" in str(info.value)


@pytest.mark.parametrize("changes, message", [
    ({"img_resolution": -32}, "img_resolution must be an integer in 8..4096"),
    ({"img_resolution": 32.0}, "img_resolution must be an integer"),
    ({"backbone_resolution": 2**30}, "backbone_resolution must be an integer in 4..4096"),
    ({"img_channels": 1}, "img_channels must be 3"),
    ({"plane_channels": 10**8}, "plane_channels must be an integer in 1..85"),
    ({"channel_base": -5}, "tri-plane backbone: channel_base"),
    ({"w_dim": 0}, "tri-plane backbone: w_dim"),
    ({"decoder_hidden": 0}, "decoder_hidden must be an integer in 1"),
    ({"decoder_output_dim": 2}, "decoder_output_dim must be an integer in 3"),
    ({"neural_rendering_resolution": 10**6}, "neural_rendering_resolution must be an integer in 1..1024"),
    ({"neural_rendering_resolution": 0}, "neural_rendering_resolution"),
    ({"depth_resolution": 10**9}, "depth_resolution must be an integer in 2..1024"),
    ({"depth_resolution_importance": 3.5}, "depth_resolution_importance must be an integer"),
    ({"ray_start": 4.0}, "need ray_start < ray_end"),
    ({"ray_start": -1.0}, "ray_start must be a finite number"),
    ({"box_warp": 0.0}, "box_warp"),
    ({"avg_camera_radius": -1}, "avg_camera_radius"),
    ({"avg_camera_pivot": [0, 0]}, "avg_camera_pivot must be three numbers"),
    ({"avg_camera_pivot": 5}, "avg_camera_pivot must be three numbers"),
    ({"avg_camera_pivot": [0, "x", 0]}, r"avg_camera_pivot\[1\]"),
    ({"sr_channels": [10**7, 4]}, r"sr_channels\[0\] must be an integer in 1..16384"),
    ({"sr_channels": "ab"}, "sr_channels must be null or two channel counts"),
    ({"sr_kind": 5}, "unknown super-resolution module 5"),
    ({"sr_kind": ["x"]}, "unknown super-resolution module"),
    ({"white_back": "no"}, "white_back must be true or false"),
    ({"density_noise": -1.0}, "density_noise"),
    ({"superresolution_noise_mode": "loud"}, "superresolution_noise_mode"),
    ({"fancy": 1}, "unknown EG3D config keys"),
])
def test_bad_eg3d_config_values(eg3d_dir: Path, tmp_path: Path, monkeypatch, changes: dict, message: str) -> None:
    path = _with_config(eg3d_dir, tmp_path, **changes)
    _refused_before_building(monkeypatch, EG3DGenerator)
    with pytest.raises(CheckpointError, match=message) as info:
        load_generator_native(path)
    assert "config.json: invalid eg3d config" in str(info.value)


@pytest.mark.parametrize("kw", [
    {},  # StyleGAN3-T 1024
    dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True),  # R 1024
    dict(img_resolution=256, channel_base=16384),  # T, FFHQ-U 256 (half the channels)
    dict(img_resolution=512, channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True),
])
def test_official_stylegan3_configs_pass(kw: dict) -> None:
    config = StyleGAN3Config(**kw)
    assert 14e6 < config.parameter_count() < 30e6  # the released generators have 15-25 M weights


@pytest.mark.parametrize("kw", [
    {},  # FFHQ 512
    dict(img_resolution=128, sr_kind="SuperresolutionHybrid2X", neural_rendering_resolution=128),  # FFHQ 128
    dict(img_resolution=128, sr_kind="SuperresolutionHybrid2X", ray_start=0.1, ray_end=2.6, box_warp=1.6,
         white_back=True, avg_camera_radius=1.7, avg_camera_pivot=(0, 0, 0)),  # ShapeNet cars
])
def test_official_eg3d_configs_pass(kw: dict) -> None:
    config = EG3DConfig(**kw)  # 3 planes x 32 channels: the backbone's output branch has 96 channels
    assert config.backbone_config().img_channels == 96
    assert 25e6 < config.parameter_count() < 40e6  # the released generators have about 31 M weights


def test_hostile_init_kwargs_in_an_official_pickle(tmp_path: Path, monkeypatch) -> None:
    G = StyleGAN3Generator(tiny_sg3_config())
    kw = sg3_init_kwargs(G.config, dict)
    fakes = _FakeModules(tmp_path / "marker")
    try:
        rec = fakes.persistent(G, {**kw, "num_layers": 10**6}, class_name="Generator")
        path = tmp_path / "sg3.pkl"
        path.write_bytes(pickle.dumps(dict(G=rec, G_ema=rec, D=None, augment_pipe=None), protocol=4))
    finally:
        fakes.remove()
    _refused_before_building(monkeypatch, StyleGAN3Generator)
    with pytest.raises(CheckpointError, match="sg3.pkl: cannot read the StyleGAN3 configuration of 'G_ema': "
                                              "num_layers must be an integer in 1..64"):
        load_generator(path)
