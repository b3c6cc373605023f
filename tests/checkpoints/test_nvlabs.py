"""Official-format network pickles: restricted unpickling, config recovery, exact outputs."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
from pathlib import Path

import pytest
import torch

from synthbio.checkpoints.nvlabs import (
    PersistentRecord,
    load_nvlabs_discriminator,
    load_nvlabs_generator,
    read_network_pickle,
)
from synthbio.errors import CheckpointError
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator

from ckpt_helpers import perturb, tiny_d_config, tiny_g_config


def _outputs(G: Generator, seed: int = 0) -> dict[float, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(3, G.z_dim, generator=gen)
    c = torch.eye(max(G.c_dim, 1))[:3, : G.c_dim] if G.c_dim else None
    with torch.no_grad():
        return {psi: G(z, c, truncation_psi=psi, noise_mode="const") for psi in (1.0, 0.6)}


@pytest.mark.parametrize("cfg_kw", [
    {},
    dict(c_dim=3, branches=(("img", 1),), conv_clamp=256.0, mapping_layers=3),
    dict(img_resolution=32, num_fp16_res=2, channel_base=256, channel_max=32),
])
def test_generator_outputs_equal_original(official_pickle, cfg_kw) -> None:
    G_ema = perturb(Generator(tiny_g_config(**cfg_kw)), 1)
    G_raw = perturb(Generator(tiny_g_config(**cfg_kw)), 2)
    path = official_pickle(G_ema, G=G_raw)
    loaded = load_nvlabs_generator(path)
    assert loaded.config == G_ema.config
    for psi, ref in _outputs(G_ema).items():
        assert torch.equal(_outputs(loaded)[psi], ref)
    for name, tensor in G_ema.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    raw = load_nvlabs_generator(path, which="G")
    assert torch.equal(_outputs(raw)[1.0], _outputs(G_raw)[1.0])
    assert not torch.equal(_outputs(raw)[1.0], _outputs(G_ema)[1.0])
    assert not official_pickle.marker.exists()  # module_src was never executed


@pytest.mark.parametrize("c_dim", [0, 4])
def test_discriminator_logits_equal_original(official_pickle, tiny_G, c_dim) -> None:
    D = perturb(Discriminator(tiny_d_config(c_dim=c_dim, mbstd_group_size=2)), 3)
    path = official_pickle(tiny_G, D=D)
    loaded = load_nvlabs_discriminator(path)
    assert loaded.config == D.config
    img = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    c = torch.eye(4)[:, :c_dim] if c_dim else None
    with torch.no_grad():
        assert torch.equal(loaded(img, c), D(img, c))


def test_records_hold_state_not_code(official_pickle, tiny_G) -> None:
    data = read_network_pickle(official_pickle(tiny_G))
    rec = data["G_ema"]
    assert isinstance(rec, PersistentRecord) and rec.class_name == "Generator"
    assert rec.init_kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert "module_src" not in rec.state
    assert data["training_set_kwargs"]["path"] == "data.zip"


class _Evil:
    def __init__(self, func, args) -> None:  # type: ignore[no-untyped-def]
        self.func, self.args = func, args

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (self.func, self.args)


@pytest.mark.parametrize("make, global_name", [
    (lambda m: _Evil(os.system, (f"touch {m}",)), f"{os.system.__module__}.system"),
    (lambda m: _Evil(builtins.eval, (f"open({str(m)!r}, 'w')",)), "builtins.eval"),
    (lambda m: _Evil(subprocess.Popen, (["touch", str(m)],)), "subprocess.Popen"),
])
def test_malicious_globals_are_refused_before_running(tmp_path: Path, make, global_name) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": make(marker), "D": None}, protocol=4))
    with pytest.raises(CheckpointError, match=global_name.replace(".", r"\.")) as info:
        load_nvlabs_generator(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_truncated_pickle(official_pickle, tiny_G, tmp_path: Path) -> None:
    data = official_pickle(tiny_G).read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pkl"):
        load_nvlabs_generator(cut)


def test_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "text.pkl"
    path.write_bytes(b"\x80\x04this is not a pickle at all")
    with pytest.raises(CheckpointError, match="text.pkl"):
        load_nvlabs_generator(path)


def test_pickle_without_g_ema_names_what_it_holds(official_pickle, tiny_G) -> None:
    path = official_pickle(tiny_G, drop=("G_ema",))
    with pytest.raises(CheckpointError, match=r"no 'G_ema' \(it holds: G\)"):
        load_nvlabs_generator(path)
    assert load_nvlabs_generator(path, which="G").config == tiny_G.config
    with pytest.raises(CheckpointError, match="no 'D'"):
        load_nvlabs_discriminator(path)


def test_unknown_synthesis_layout_is_refused_clearly(official_pickle) -> None:
    class SynthesisNetwork(torch.nn.Module):  # neither StyleGAN2 blocks nor a StyleGAN3 input layer
        def __init__(self) -> None:
            super().__init__()
            self.layer0 = torch.nn.Linear(2, 2)

    G = perturb(Generator(tiny_g_config()), 1)
    G.synthesis = SynthesisNetwork()
    with pytest.raises(CheckpointError, match=r"synthesis layers \['layer0'\] of no architecture synthbio knows"):
        load_nvlabs_generator(official_pickle(G))


def test_state_that_does_not_fit_names_the_keys(official_pickle) -> None:
    G = perturb(Generator(tiny_g_config()), 1)
    G.synthesis.b4.register_buffer("stray", torch.zeros(2))
    with pytest.raises(CheckpointError, match="unexpected synthesis.b4.stray"):
        load_nvlabs_generator(official_pickle(G))
