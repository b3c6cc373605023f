"""Native model folders: exact round trips, atomic writes, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ckpt_helpers import perturb, tiny_d_config, tiny_g_config

from synthbio.checkpoints.native import (
    load_discriminator_native,
    load_generator_native,
    make_provenance,
    read_native_config,
    save_generator,
)
from synthbio.errors import CheckpointError
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator


def test_round_trip_is_exact_with_branches_labels_and_discriminator(tmp_path: Path) -> None:
    G = perturb(Generator(tiny_g_config(c_dim=2, branches=(("img", 3), ("nir", 1)), conv_clamp=256.0)), 1)
    D = perturb(Discriminator(tiny_d_config(c_dim=2)), 2)
    src = tmp_path / "src.bin"
    src.write_bytes(b"weights")
    prov = make_provenance(src, source_format="nvlabs-pkl")
    save_generator(G, tmp_path / "m", provenance=prov, D=D)
    G2, D2 = load_generator_native(tmp_path / "m"), load_discriminator_native(tmp_path / "m")
    assert G2.config == G.config and D2.config == D.config
    for a, b in ((G, G2), (D, D2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    meta = read_native_config(tmp_path / "m")
    assert meta["format"] == "synthbio.generator" and meta["branches"] == [["img", 3], ["nir", 1]]
    assert meta["provenance"]["source_sha256"] == prov["source_sha256"]
    assert len(prov["source_sha256"]) == 64 and prov["source_format"] == "nvlabs-pkl"
    assert read_native_config(tmp_path / "m" / "discriminator")["format"] == "synthbio.discriminator"
    assert not list((tmp_path / "m").glob(".*tmp"))  # no temporary files left behind


def test_resave_replaces_files(tmp_path: Path) -> None:
    save_generator(perturb(Generator(tiny_g_config()), 1), tmp_path)
    G = perturb(Generator(tiny_g_config()), 2)
    save_generator(G, tmp_path)
    assert torch.equal(load_generator_native(tmp_path).mapping.w_avg, G.mapping.w_avg)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    save_generator(perturb(Generator(tiny_g_config()), 1), tmp_path / "m")
    return tmp_path / "m"


def test_truncated_weights(saved: Path) -> None:
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_generator_native(saved)


def test_garbage_weights(saved: Path) -> None:
    (saved / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_generator_native(saved)


def test_missing_files(saved: Path) -> None:
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_generator_native(saved)
    (saved / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json"):
        load_generator_native(saved)


def test_corrupt_or_foreign_config(saved: Path) -> None:
    cfg = saved / "config.json"
    text = cfg.read_text()
    cfg.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match="config.json"):
        load_generator_native(saved)
    meta = json.loads(text)
    cfg.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_generator_native(saved)
    cfg.write_text(json.dumps({**meta, "config": {**meta["config"], "channel_max": 32}}))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_generator_native(saved)


def test_no_discriminator(saved: Path) -> None:
    with pytest.raises(CheckpointError, match="holds no discriminator"):
        load_discriminator_native(saved)
