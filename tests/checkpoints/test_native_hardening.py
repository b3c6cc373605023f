"""Hostile native config.json values and altered weights: one CheckpointError naming the file, no network built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ckpt_helpers import perturb, tiny_d_config, tiny_g_config

from synthbio.checkpoints.encoders import load_encoder, save_encoder
from synthbio.checkpoints.native import load_discriminator_native, load_generator_native, save_generator
from synthbio.errors import CheckpointError, InputError
from synthbio.nn import config as nn_config
from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.nn.generator import Generator


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("native") / "m"
    save_generator(perturb(Generator(tiny_g_config()), 1), out, D=perturb(Discriminator(tiny_d_config()), 2))
    return out


def _with_config(model_dir: Path, tmp_path: Path, **changes: Any) -> Path:
    """A copy of the model folder whose config.json 'config' object has `changes`."""
    out = tmp_path / "m"
    out.mkdir()
    (out / "model.safetensors").write_bytes((model_dir / "model.safetensors").read_bytes())
    meta = json.loads((model_dir / "config.json").read_text())
    meta["config"].update(changes)
    (out / "config.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("changes, message", [
    ({"w_dim": 8.5}, "w_dim must be an integer"),
    ({"w_dim": 8.0}, "w_dim must be an integer"),
    ({"z_dim": -3}, "z_dim must be an integer in 0"),
    ({"w_dim": True}, "w_dim must be an integer"),
    ({"img_resolution": 2**20}, "img_resolution must be an integer in 4..4096"),
    ({"img_resolution": 24}, "power of two"),
    ({"img_resolution": "16"}, "img_resolution must be an integer"),
    ({"channel_base": 0}, "channel_base must be an integer in 1"),
    ({"channel_base": 8}, "gives no channel at 16 px"),
    ({"channel_max": -1}, "channel_max"),
    ({"resample_filter": [1, -1]}, "sum to a positive number"),
    ({"resample_filter": [1, "nan"]}, r"resample_filter\[1\]"),
    ({"resample_filter": []}, "resample_filter must be a list of 1..16"),
    ({"resample_filter": 7}, "resample_filter must be a list"),
    ({"conv_clamp": -1}, "conv_clamp"),
    ({"w_avg_beta": 2.0}, "w_avg_beta"),
    ({"mapping_layers": 0}, "mapping_layers"),
    ({"branches": 3}, "branches must be a list"),
    ({"branches": [["img"]]}, r"\[name, channels\] pairs"),
    ({"branches": [["img", 3.5]]}, "channels of branch 'img'"),
    ({"branches": [["img", 10**6]]}, "channels of branch 'img'"),
    ({"branches": [[3, 3]]}, "unique identifiers"),
    ({"use_noise": "yes"}, "use_noise"),
    ({"w_dim": 16384, "z_dim": 16384, "mapping_layers": 64}, "weights; the limit is"),
    ({"unknown_key": 1}, "unknown generator config keys"),
])
def test_bad_generator_config_values(model_dir: Path, tmp_path: Path, changes: dict, message: str) -> None:
    path = _with_config(model_dir, tmp_path, **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        load_generator_native(path)
    assert "config.json" in str(info.value)


@pytest.mark.parametrize("text, message", [
    ('{"format": ' * 100_000 + "1" + "}" * 100_000, "nested too deeply"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"format": "synthbio.generator", "format_version": 1, "config": {"w_dim": NaN}}', "NaN is not a valid"),
    ('{"format": "synthbio.generator", "format_version": 1, "config": {"w_dim": 1' + "0" * 400 + "}}",
     "integer of 401 digits"),
    ("", "empty file"),
    ("\ufeff", "empty file"),
    ("[]", "not a synthbio checkpoint config"),
])
def test_unparseable_config_json(model_dir: Path, tmp_path: Path, text: str, message: str) -> None:
    path = _with_config(model_dir, tmp_path)
    (path / "config.json").write_text(text, encoding="utf-8")
    with pytest.raises(CheckpointError, match=message):
        load_generator_native(path)


def test_weights_sha256_is_compared(model_dir: Path, tmp_path: Path) -> None:
    path = _with_config(model_dir, tmp_path)
    data = bytearray((path / "model.safetensors").read_bytes())
    data[-1] ^= 0x01  # one weight changed, still a valid safetensors file
    (path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match weights_sha256"):
        load_generator_native(path)
    meta = json.loads((path / "config.json").read_text())
    del meta["weights_sha256"]  # older folders without a digest still load
    (path / "config.json").write_text(json.dumps(meta))
    assert load_generator_native(path).config == tiny_g_config()


def test_discriminator_values_and_digest(model_dir: Path, tmp_path: Path) -> None:
    d_dir = tmp_path / "m" / "discriminator"
    d_dir.mkdir(parents=True)
    (d_dir / "model.safetensors").write_bytes((model_dir / "discriminator" / "model.safetensors").read_bytes())
    meta = json.loads((model_dir / "discriminator" / "config.json").read_text())
    meta["config"]["mbstd_group_size"] = 0
    (d_dir / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="mbstd_group_size"):
        load_discriminator_native(tmp_path / "m")
    meta["config"]["mbstd_group_size"] = 4
    meta["weights_sha256"] = "0" * 64
    (d_dir / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match"):
        load_discriminator_native(tmp_path / "m")


def test_encoder_config_values(tmp_path: Path) -> None:
    cfg = EncoderConfig(in_channels=1, resolution=16, num_ws=4, w_dim=8, channels=(4, 4, 4, 4), blocks=(1, 1, 1, 1),
                        head_channels=4)
    save_encoder(Encoder(cfg), tmp_path / "e", task="invert", generator="g")
    meta = json.loads((tmp_path / "e" / "config.json").read_text())
    for key, value in (("resolution", 2**20), ("channels", [4, 4, 4.5, 4]), ("w_dim", -1), ("input_scale", None),
                       ("blocks", "1111")):
        bad = json.loads(json.dumps(meta))
        bad["encoder"][key] = value
        (tmp_path / "e" / "config.json").write_text(json.dumps(bad))
        with pytest.raises(CheckpointError, match=f"encoder {key}"):
            load_encoder(tmp_path / "e")


def test_configs_built_in_code_are_checked_too() -> None:
    with pytest.raises(InputError, match="w_dim"):
        GeneratorConfig(w_dim=0)
    with pytest.raises(InputError, match="img_channels"):
        DiscriminatorConfig(img_channels=0)
    official = GeneratorConfig(img_resolution=1024)  # stylegan2-ffhq-1024 (config-f)
    assert 25_000_000 < official.parameter_count() < nn_config.MAX_PARAMETERS
    assert DiscriminatorConfig(img_resolution=1024).parameter_count() < nn_config.MAX_PARAMETERS
