"""Official-format StyleGAN3 and EG3D pickles (built here without the official code): exact loading,
native round trips, and clear refusals of what does not fit."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest
import torch
from ckpt_helpers import (
    _FakeModules,
    eg3d_persistent,
    perturb,
    tiny_d_config,
    tiny_eg3d_config,
    tiny_sg3_config,
)

from synthbio.checkpoints import convert_checkpoint, load_generator
from synthbio.checkpoints.nvlabs import load_nvlabs_generator, read_network_pickle
from synthbio.errors import CheckpointError
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.eg3d import EG3DGenerator, camera
from synthbio.nn.stylegan3 import StyleGAN3Generator


def sg3(seed: int, **kw: object) -> StyleGAN3Generator:
    G = StyleGAN3Generator(tiny_sg3_config(**kw)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(G.named_parameters()) + list(G.named_buffers()):
            if name.endswith("magnitude_ema"):
                t.fill_(0.5 + float(torch.rand([], generator=gen)))
            elif not name.endswith(("filter", "transform", "freqs", "phases")):
                t.add_(0.2 * torch.randn(t.shape, generator=gen))
    return G


def eg3d(seed: int, **kw: object) -> EG3DGenerator:
    G = EG3DGenerator(tiny_eg3d_config(**kw)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(G.named_parameters()) + list(G.named_buffers()):
            if not name.endswith("resample_filter"):
                t.add_(0.2 * torch.randn(t.shape, generator=gen))
    return G


def sg3_images(G: torch.nn.Module) -> torch.Tensor:
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(7))
    c = torch.eye(G.c_dim)[:2] if G.c_dim else None
    with torch.no_grad():
        return G(z, c, truncation_psi=0.6)


def eg3d_images(G: EG3DGenerator) -> dict[str, torch.Tensor]:
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(7))
    cams = torch.stack([camera(0, 0), camera(30, -10, 20.0, 2.6)])
    with torch.no_grad():
        ws = G.mapping(z, cams, truncation_psi=0.7)
        return G.synthesis(ws, cams, deterministic=True)


@pytest.mark.parametrize("kw", [{}, dict(conv_kernel=1, use_radial_filters=True, channel_base=512, channel_max=32),
                                dict(c_dim=3, conv_clamp=None)])
def test_stylegan3_pickle_loads_exactly(official_pickle, kw, one_thread) -> None:
    G_ema, G_raw = sg3(1, **kw), sg3(2, **kw)
    D = perturb(Discriminator(tiny_d_config(c_dim=G_ema.c_dim)), 3)
    path = official_pickle(G_ema, G=G_raw, D=D)
    loaded = load_generator(path)
    assert isinstance(loaded, StyleGAN3Generator) and loaded.config == G_ema.config
    for name, t in G_ema.state_dict().items():  # freqs, phases and filters come from the pickle
        assert torch.equal(loaded.state_dict()[name], t), name
    assert torch.equal(sg3_images(loaded), sg3_images(G_ema))
    assert torch.equal(sg3_images(load_generator(path, which="G")), sg3_images(G_raw))
    assert not official_pickle.marker.exists()  # module_src was never executed


def test_stylegan3_converts_to_native_with_its_discriminator(official_pickle, tmp_path: Path) -> None:
    G = sg3(1)
    D = perturb(Discriminator(tiny_d_config()), 3)
    out = convert_checkpoint(official_pickle(G, D=D), tmp_path / "native")
    meta = json.loads((out / "config.json").read_text())
    assert meta["architecture"] == "stylegan3" and meta["config"]["num_layers"] == 4
    assert (out / "discriminator" / "model.safetensors").is_file()
    again = load_generator(out)
    assert isinstance(again, StyleGAN3Generator) and torch.equal(sg3_images(again), sg3_images(G))


def test_stylegan2_loader_points_stylegan3_to_load_generator(official_pickle) -> None:
    with pytest.raises(CheckpointError, match="StyleGAN3 .*load_generator"):
        load_nvlabs_generator(official_pickle(sg3(1)))


def _sg3_pickle(tmp_path: Path, G: StyleGAN3Generator, init_kwargs: dict) -> Path:
    fakes = _FakeModules(tmp_path / "marker")
    try:
        rec = fakes.persistent(G, init_kwargs, class_name="Generator")
        path = tmp_path / "sg3.pkl"
        path.write_bytes(pickle.dumps(dict(G=rec, G_ema=rec, D=None, augment_pipe=None), protocol=4))
    finally:
        fakes.remove()
    return path


def test_stylegan3_options_that_do_not_fit_are_named(tmp_path: Path) -> None:
    from ckpt_helpers import sg3_init_kwargs

    G = sg3(1)
    kw = sg3_init_kwargs(G.config, dict)
    with pytest.raises(CheckpointError, match="options synthbio does not implement: fancy_option"):
        load_generator(_sg3_pickle(tmp_path, G, {**kw, "fancy_option": 3}))
    with pytest.raises(CheckpointError, match="synthesis layers .* imply"):  # recorded kwargs and layers disagree
        load_generator(_sg3_pickle(tmp_path, G, {**kw, "margin_size": 3}))
    # Kwargs the writer left out fall back to the network's own attributes, as the official reload does.
    assert load_generator(_sg3_pickle(tmp_path, G, {k: v for k, v in kw.items() if k != "img_resolution"})).config \
        == G.config


def test_eg3d_pickle_loads_exactly(official_pickle, one_thread) -> None:
    G = eg3d(1)
    path = official_pickle(G)
    data = read_network_pickle(path)
    decoder = data["G_ema"].child("decoder")
    assert (decoder.module, decoder.class_name) == ("training.triplane", "OSGDecoder")
    loaded = load_generator(path)
    assert isinstance(loaded, EG3DGenerator) and loaded.config == G.config
    for name, t in G.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], t), name
    ours, theirs = eg3d_images(loaded), eg3d_images(G)
    assert all(torch.equal(ours[k], theirs[k]) for k in ("image", "image_raw", "image_depth"))
    assert not official_pickle.marker.exists()


def test_eg3d_converts_to_native(official_pickle, tmp_path: Path) -> None:
    G = eg3d(2, sr_kind="SuperresolutionHybrid8XDC", img_resolution=64, sr_channels=(8, 4), white_back=True)
    out = convert_checkpoint(official_pickle(G), tmp_path / "native")
    assert json.loads((out / "config.json").read_text())["architecture"] == "eg3d"
    again = load_generator(out)
    assert isinstance(again, EG3DGenerator) and again.config == G.config
    assert torch.equal(eg3d_images(again)["image"], eg3d_images(G)["image"])


def _eg3d_pickle(tmp_path: Path, G: EG3DGenerator, **kw: object) -> Path:
    fakes = _FakeModules(tmp_path / "marker")
    try:
        rec = eg3d_persistent(fakes, G, **kw)
        path = tmp_path / "eg3d.pkl"
        path.write_bytes(pickle.dumps(dict(G_ema=rec), protocol=4))
    finally:
        fakes.remove()
    assert "training" not in sys.modules
    return path


def test_eg3d_parts_and_settings_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    from ckpt_helpers import rendering_kwargs

    G = eg3d(1)
    rk = rendering_kwargs(G.config)
    with pytest.raises(CheckpointError, match="ray_start='auto' is not supported"):
        load_generator(_eg3d_pickle(tmp_path, G, rendering={**rk, "ray_start": "auto", "ray_end": "auto"}))
    with pytest.raises(CheckpointError, match="'G_ema.decoder' is training.volumetric_rendering.ray_sampler"
                                              ".RaySampler, not the official training.triplane.OSGDecoder"):
        load_generator(_eg3d_pickle(tmp_path, G, decoder_class="RaySampler"))


def test_other_plain_classes_are_refused_before_anything_runs(tmp_path: Path, monkeypatch) -> None:
    class Gadget:  # a plain class under an EG3D-looking module path that is not one of the four
        pass

    Gadget.__module__ = "training.triplane"
    Gadget.__qualname__ = "Gadget"
    fake = type(sys)("training.triplane")
    fake.Gadget = Gadget  # type: ignore[attr-defined]
    with monkeypatch.context() as m:  # only while pickling
        m.setitem(sys.modules, "training", type(sys)("training"))
        m.setitem(sys.modules, "training.triplane", fake)
        data = pickle.dumps({"G_ema": Gadget()}, protocol=4)
    path = tmp_path / "gadget.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"refusing to load global 'training\.triplane\.Gadget'"):
        load_generator(path)


def test_stylegan3_parts_of_other_classes_are_refused(tmp_path: Path) -> None:
    from ckpt_helpers import sg3_init_kwargs

    G = sg3(1, c_dim=3)  # conditional: the mapping's `embed` is a FullyConnectedLayer too
    kw = sg3_init_kwargs(G.config, dict)
    assert load_generator(_sg3_pickle(tmp_path, G, kw)).config == G.config
    fakes = _FakeModules(tmp_path / "marker")
    try:  # a fork whose layer has the official weights but is another class (another forward)
        layer = G.synthesis.layer_names[1]
        modules = {k: fakes.persistent(v, class_name="SynthesisLayerV2" if k == layer else None)
                   for k, v in G.synthesis._modules.items()}
        synthesis = fakes.persistent(G.synthesis, modules=modules)
        rec = fakes.persistent(G, kw, class_name="Generator",
                               modules={"synthesis": synthesis, "mapping": fakes.persistent(G.mapping)})
        path = tmp_path / "fork.pkl"
        path.write_bytes(pickle.dumps(dict(G_ema=rec), protocol=4))
    finally:
        fakes.remove()
    with pytest.raises(CheckpointError, match=f"fork.pkl: 'G_ema.synthesis.{layer}' is a 'SynthesisLayerV2', "
                                              "not the official StyleGAN3 SynthesisLayer"):
        load_generator(path)
