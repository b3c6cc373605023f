"""Translating with a saved translator: native round trip, sizes, styles, references, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from translation_helpers import tiny_config

from synthbio.errors import CheckpointError, InputError
from synthbio.translation.apply import encode_styles, style_bank, translate
from synthbio.translation.checkpoint import (
    load_discriminators,
    load_translator,
    save_translator,
)
from synthbio.translation.networks import build_discriminators, build_generators

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    cfg = tiny_config(channels_a=1, channels_b=3)
    G = build_generators(cfg, seed=5)
    save_translator(tmp_path / "model", cfg, G, domains={"a": "grey", "b": "colour"},
                    provenance={"test": True}, D=build_discriminators(cfg))
    return tmp_path / "model"


def test_native_round_trip(saved: Path) -> None:
    t = load_translator(saved)
    assert t.domains == {"a": "grey", "b": "colour"} and t.provenance == {"test": True}
    ref = build_generators(t.config, seed=5)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, t.G.state_dict()[k]), k
    assert set(load_discriminators(saved).keys()) == {"a", "b"}
    meta = json.loads((saved / "config.json").read_text())
    assert meta["format"] == "synthbio.translator" and len(meta["weights_sha256"]) == 64


def test_translate_keeps_sizes_and_is_batch_independent(saved: Path) -> None:
    t = load_translator(saved)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 37, 42, generator=gen) * 2 - 1  # not a multiple of 4: padded and cropped back
    styles = style_bank(t.config.style_dim, 2, seed=7)
    y = translate(t, x, styles, direction="a2b")
    assert y.shape == (3, 2, 3, 37, 42)
    one = translate(t, x[1:2], styles, direction="a2b")
    torch.testing.assert_close(one[0], y[1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(y[:, 0], y[:, 1])  # two styles, two looks
    torch.testing.assert_close(style_bank(t.config.style_dim, 3, seed=7)[:2], styles)  # style k fixed by seed + k
    back = translate(t, y[:, 0], encode_styles(t, x[:1], domain="a"), direction="b2a")
    assert back.shape == (3, 1, 1, 37, 42)


def test_translate_errors(saved: Path, tmp_path: Path) -> None:
    t = load_translator(saved)
    styles = style_bank(t.config.style_dim, 1)
    with pytest.raises(InputError, match=r"domain A \(grey\) of this translator takes 1-channel images, got 3"):
        translate(t, torch.zeros(1, 3, 32, 32), styles, direction="a2b")
    with pytest.raises(InputError, match="smaller than this translator's minimum of 16x16"):
        translate(t, torch.zeros(1, 1, 12, 40), styles, direction="a2b")
    with pytest.raises(InputError, match="direction"):
        translate(t, torch.zeros(1, 1, 32, 32), styles, direction="a2c")
    with pytest.raises(InputError, match="no such folder"):
        load_translator(tmp_path / "nowhere")
    (saved / "config.json").write_text(json.dumps({"format": "synthbio.generator"}))
    with pytest.raises(CheckpointError, match="not a synthbio translator"):
        load_translator(saved)


def _edit_config(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(meta.get(key), dict):
            meta[key].update(value)
        else:
            meta[key] = value
    (folder / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(("changes", "message"), [
    ({"config": {"dim": "abc"}}, r"dim must be an integer in 1\.\.4096, got 'abc'"),
    ({"config": {"dim": 1.5}}, r"dim must be an integer"),
    ({"config": {"dim": True}}, r"dim must be an integer"),
    ({"config": {"channels_a": 1.0}}, r"channels_a must be 1 \(grayscale\) or 3"),
    ({"config": {"dim": 10**9}}, r"dim must be an integer in 1\.\.4096"),
    ({"config": {"n_res": 10**6}}, r"n_res must be an integer in 0\.\.64"),  # no million-layer build first
    ({"config": {"dim": 4096, "n_downsample": 8}}, r"larger than the 1,000,000,000"),
    ({"config": {"g_attention": 5}}, r"g_attention must be a list"),
    ({"config": {"d_attention": "yes"}}, r"d_attention must be true or false"),
    ({"config": None}, r"a translator config is a JSON object, got NoneType"),
    ({"config": [1, 2]}, r"a translator config is a JSON object, got list"),
    ({"domains": "xyz"}, r"'domains' must map a and b to names"),
    ({"domains": {"c": "x"}}, r"'domains' must map a and b to names"),
    ({"provenance": 5}, r"'provenance' must be a JSON object"),
    ({"weights_sha256": 5}, r"weights_sha256 is not a string"),
    ({"weights_sha256": "0" * 64}, r"sha256 does not match weights_sha256"),
    ({"config": {"dim": 16}}, r"weights do not fit the config"),
])
def test_hostile_config_json_is_one_clear_error(saved: Path, changes: dict, message: str) -> None:
    _edit_config(saved, **changes)
    with pytest.raises(CheckpointError, match=message) as info:
        load_translator(saved)
    assert "config.json" in str(info.value) or "model.safetensors" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["garbage{", '{"format": "synthbio.translator", "format_version": 1, "x": NaN}',
                                  "[" * 100_000 + "]" * 100_000])
def test_unreadable_config_json(saved: Path, text: str) -> None:
    (saved / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match="not a readable JSON config"):
        load_translator(saved)
