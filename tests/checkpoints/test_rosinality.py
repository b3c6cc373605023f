"""rosinality .pt checkpoints: key mapping, inverse mapping, outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from ckpt_helpers import perturb, tiny_g_config

from synthbio.checkpoints.rosinality import (
    load_rosinality_generator,
    rosinality_config,
    rosinality_to_synthbio,
    synthbio_to_rosinality,
)
from synthbio.errors import CheckpointError
from synthbio.nn.generator import Generator


def _images(G: Generator, psi: float = 0.7) -> torch.Tensor:
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return G(z, None, truncation_psi=psi, noise_mode="const")


@pytest.fixture
def G() -> Generator:
    # rosinality's channel rule: min(16384 * channel_multiplier // res, 512); 512 is too wide for a
    # test, so the mapping is exercised with a scaled-down rule of the same form.
    return perturb(Generator(tiny_g_config(z_dim=8, w_dim=8, channel_base=128, channel_max=16,
                                           mapping_layers=3, branches=(("img", 1),))), 1)


def test_key_mapping_is_an_exact_inverse(G: Generator) -> None:
    ckpt = synthbio_to_rosinality(G)
    state = ckpt["g_ema"]
    assert state["input.input"].shape == (1, 16, 4, 4)
    assert state["conv1.conv.weight"].shape == (1, 16, 16, 3, 3)
    assert state["to_rgbs.1.bias"].shape == (1, 1, 1, 1)
    assert state["noises.noise_4"].shape == (1, 1, 16, 16)
    assert "style.3.weight" in state and "style.0.weight" not in state
    cfg = rosinality_config(state, lr_mlp=0.01)
    assert cfg == G.config
    back = rosinality_to_synthbio(state, ckpt["latent_avg"], cfg)
    own = G.state_dict()
    assert set(back) == {k for k in own if not k.endswith("resample_filter")}
    assert all(torch.equal(back[k], own[k]) for k in back)


def test_load_saved_checkpoint_reproduces_outputs(G: Generator, tmp_path: Path) -> None:
    ckpt = synthbio_to_rosinality(G)
    ckpt["args"] = argparse.Namespace(size=16, n_mlp=3, lr_mlp=0.01, channel_multiplier=2)
    ckpt["g"] = ckpt["g_ema"]
    torch.save(ckpt, tmp_path / "100000.pt")
    loaded = load_rosinality_generator(tmp_path / "100000.pt")
    assert torch.equal(_images(loaded), _images(G))


def test_missing_latent_avg_is_estimated(G: Generator, tmp_path: Path) -> None:
    torch.save(synthbio_to_rosinality(G)["g_ema"], tmp_path / "bare.pt")  # a bare state dict
    loaded = load_rosinality_generator(tmp_path / "bare.pt")
    with torch.no_grad():
        z = torch.randn(10_000, 8, generator=torch.Generator().manual_seed(0))
        expected = loaded.mapping(z, None, truncation_psi=1)[:, 0].mean(0)
    assert torch.allclose(loaded.mapping.w_avg, expected)


def test_errors_name_the_file(G: Generator, tmp_path: Path) -> None:
    ckpt = synthbio_to_rosinality(G)
    del ckpt["g_ema"]["conv1.activate.bias"]
    torch.save(ckpt, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match=r"broken\.pt.*conv1\.activate\.bias"):
        load_rosinality_generator(tmp_path / "broken.pt")
    torch.save(synthbio_to_rosinality(G), tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_rosinality_generator(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="no 'g'"):
        load_rosinality_generator(tmp_path / "ok.pt", which="g")
