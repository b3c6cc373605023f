"""The models shipped inside the package load by name, stay within the size limit, carry
their model cards, and behave deterministically."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from synthbio.checkpoints.encoders import load_encoder
from synthbio.checkpoints.loading import load_generator
from synthbio.checkpoints.registry import REGISTRY, is_cached, resolve_model
from synthbio.fingerprints.impressions import ImpressionConfig, make_impression
from synthbio.fingerprints.master import generate_master
from synthbio.fingerprints.reconstruction import reconstruct
from synthbio.generation.sampling import map_seeds, synthesize

SHIPPED = ("fingerprint-default", "fingerprint-default-v1", "fingerprint-minutiae-encoder")
LIMIT_BYTES = 25 * 1024 * 1024


def _folder(name: str) -> Path:
    return resolve_model(name)


def test_shipped_models_are_present_small_and_documented() -> None:
    for name in SHIPPED:
        assert is_cached(REGISTRY[name]), name
        folder = _folder(name)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert size <= LIMIT_BYTES, (name, size)
        card = (folder / "MODEL_CARD.md").read_text()
        for needle in ("kimg" if name.startswith("fingerprint-default") else "type-I", "command", "hardware"):
            assert needle in card.lower() or needle in card, (name, needle)
        json.loads((folder / "config.json").read_text())


def test_fingerprint_default_generates_deterministic_grayscale_prints() -> None:
    G = load_generator("fingerprint-default").eval()
    assert G.img_resolution == 128 and G.img_channels == 1
    with torch.no_grad():
        _, ws = map_seeds(G, [3, 4])
        a = synthesize(G, ws, seeds=[3, 4])["img"]
        _, ws1 = map_seeds(G, [4])
        b = synthesize(G, ws1, seeds=[4])["img"]
    assert a.shape == (2, 1, 128, 128) and torch.isfinite(a).all()
    torch.testing.assert_close(a[1:], b, rtol=0, atol=0)  # same seed, same bytes at any batch size (CPU)
    assert a.std() > 0.1  # not a blank image


def test_minutiae_encoder_reconstructs_with_the_default_generator() -> None:
    encoder, config = load_encoder("fingerprint-minutiae-encoder")
    assert config["task"] == "minutiae"
    G = load_generator(config["generator"]).eval()
    master = generate_master(5)
    imp = make_impression(master, 0, 0, ImpressionConfig(width=256, height=256))
    out = reconstruct([imp.template(), imp.template()], encoder=encoder, generator=G, batch_size=1)
    assert out.shape == (2, 1, G.img_resolution, G.img_resolution)
    torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)
    assert torch.isfinite(out).all() and out.std() > 0.05
