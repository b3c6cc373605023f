"""Training speed switches: gradfix gives the same training, compile runs, bad modes are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from synthbio.checkpoints.native import load_generator_native
from synthbio.errors import InputError
from synthbio.nn import conv_gradfix
from synthbio.nn.config import DiscriminatorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.training import losses, speed
from synthbio.training.loop import train

from test_loop import tiny, write_images


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_r1_through_gradfix_equals_autograd_on_a_discriminator() -> None:
    """R1 on a real (resnet, 16 px) D: the penalty and its gradients into D's weights agree."""
    torch.manual_seed(0)
    D = Discriminator(DiscriminatorConfig(c_dim=0, img_resolution=16, img_channels=1, channel_base=64,
                                          channel_max=16, mbstd_group_size=2)).double()
    x0 = torch.randn(4, 1, 16, 16, dtype=torch.float64)
    out = []
    for on in (False, True):
        D.zero_grad(set_to_none=True)
        x = x0.clone().requires_grad_(True)
        with conv_gradfix.enabled(on):
            penalty = losses.d_r1_penalty(D(x, None), x)
            penalty.sum().backward()
        out.append((penalty.detach(), [p.grad.clone() for p in D.parameters() if p.grad is not None]))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=1e-6, atol=1e-9)
    assert len(out[0][1]) == len(out[1][1]) > 0
    for a, b in zip(out[0][1], out[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)  # D keeps some float32 internals


def test_training_with_gradfix_on_matches_off(tmp_path: Path) -> None:
    """Eight steps with R1 and path length (both at step 0): the same G either way, to float rounding."""
    data = write_images(tmp_path / "data", n=8, channels=1)
    results = []
    for mode in ("off", "on"):
        cfg = tiny(data, tmp_path / mode, gradfix=mode, d_reg_interval=4, g_reg_interval=2)
        train(cfg)
        results.append(load_generator_native(tmp_path / mode / "latest"))
    for (name, a), b in zip(results[0].state_dict().items(), results[1].state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)


def test_gradfix_modes() -> None:
    assert speed.use_gradfix("auto", torch.device("cuda")) and not speed.use_gradfix("auto", torch.device("cpu"))
    assert speed.use_gradfix("on", torch.device("cpu")) and not speed.use_gradfix("off", torch.device("cuda"))
    with pytest.raises(InputError, match="--gradfix"):
        speed.use_gradfix("sometimes", torch.device("cpu"))


def test_compile_switch_is_safe_on_cpu(tmp_path: Path) -> None:
    """compile=True on CPU trains exactly as eager (the modules stay eager there)."""
    data = write_images(tmp_path / "data", n=8, channels=1)
    gs = []
    for flag in (False, True):
        train(tiny(data, tmp_path / str(flag), compile=flag, kimg=0.016))
        gs.append(load_generator_native(tmp_path / str(flag) / "latest"))
    for a, b in zip(gs[0].state_dict().values(), gs[1].state_dict().values()):
        assert torch.equal(a, b)


def test_discriminator_traces_under_dynamo_with_the_same_values() -> None:
    """The compiled path's graph capture (backend 'eager': no C++ build) gives D's values and gradients."""
    torch.manual_seed(0)
    D = Discriminator(DiscriminatorConfig(c_dim=0, img_resolution=16, img_channels=1, channel_base=64,
                                          channel_max=16, mbstd_group_size=2))
    x = torch.randn(4, 1, 16, 16)
    compiled = speed.compile_module(D, torch.device("cpu"), backend="eager")
    assert speed.compile_module(D, torch.device("cpu")) is D
    ref = D(x, None)
    (g_ref,) = torch.autograd.grad(ref.sum(), [next(D.parameters())])
    out = compiled(x, None)
    (g_out,) = torch.autograd.grad(out.sum(), [next(D.parameters())])
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g_out, g_ref)


def test_init_from_starts_from_a_generator_and_refuses_another_architecture(tmp_path: Path) -> None:
    data = write_images(tmp_path / "data", n=8, channels=1)
    train(tiny(data, tmp_path / "a", kimg=0.008))
    src = load_generator_native(tmp_path / "a" / "latest")
    from synthbio.training.loop import _Trainer, open_dataset  # noqa: PLC2701 - the trainer's own start-up
    from synthbio.training.distributed import env_world
    from synthbio.training.snapshots import warm_start_generator

    cfg = tiny(data, tmp_path / "b", init_from=str(tmp_path / "a" / "latest"), seed=5)
    t = _Trainer(cfg, open_dataset(cfg), env_world(), torch.device("cpu"))
    assert not torch.equal(next(t.G.parameters()), next(src.parameters()))  # seed 5 draws other weights
    warm_start_generator(t.G, t.G_ema, cfg.init_from)
    for a, b in zip(src.state_dict().values(), t.G_ema.state_dict().values()):
        assert torch.equal(a, b)
    train(cfg)  # and the run itself goes through
    with pytest.raises(InputError, match="--init-from"):
        tiny(data, tmp_path / "c", init_from="x", resume="y")
    rgb = write_images(tmp_path / "rgb", n=8, channels=3)
    other = tiny(rgb, tmp_path / "d")
    with pytest.raises(InputError, match="architecture differs"):
        warm_start_generator(*build(other), str(tmp_path / "a" / "latest"))


def build(cfg):  # type: ignore[no-untyped-def]
    from synthbio.training.loop import build_networks, open_dataset, plan_for

    G, _, G_ema = build_networks(plan_for(cfg, open_dataset(cfg)), seed=0, device=torch.device("cpu"))
    return G, G_ema
