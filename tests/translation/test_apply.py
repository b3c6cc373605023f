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
