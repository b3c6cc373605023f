"""Projector: schedule, convergence on a generated target, W/W+ shapes, batch independence, resume."""

import dataclasses
import math

import pytest
import torch

from synthbio.errors import CheckpointError, InputError
from synthbio.inversion.losses import PixelLoss, VGGPerceptualLoss
from synthbio.inversion.projector import (
    ProjectorConfig,
    learning_rate,
    noise_layers,
    noise_regularization,
    project,
    synthesize_with_noise,
    w_noise_scale,
)
from synthbio.nn.vgg import VGG16Features
from synthbio.pipelines.images.demo import build_demo_generator

FAST = dict(w_avg_samples=1000)


pytestmark = pytest.mark.usefixtures("one_thread")




@pytest.fixture(scope="module")
def targets(G):
    """Two images of G itself, from known latents, with its stored (const) noise."""
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return G.synthesis(G.mapping(z, None), noise_mode="const")


def test_schedule_matches_official_formulas():
    cfg = ProjectorConfig(num_steps=1000)
    assert learning_rate(0, cfg) == 0.0  # ramp-up starts at 0
    assert learning_rate(25, cfg) == pytest.approx(0.05)  # halfway up the 5% ramp
    assert learning_rate(50, cfg) == pytest.approx(0.1) and learning_rate(750, cfg) == pytest.approx(0.1)
    assert learning_rate(875, cfg) == pytest.approx(0.05)  # halfway down the 25% cosine ramp
    assert learning_rate(999, cfg) < 1e-4
    assert w_noise_scale(0, cfg, 2.0) == pytest.approx(0.1)  # w_std * 0.05
    assert w_noise_scale(375, cfg, 2.0) == pytest.approx(0.1 * 0.25)  # (1 - 0.5)^2
    assert w_noise_scale(750, cfg, 2.0) == 0.0


def test_noise_regularization_penalises_correlated_noise():
    g = torch.Generator().manual_seed(0)
    white = torch.randn([1, 1, 32, 32], generator=g)
    smooth = torch.nn.functional.interpolate(torch.randn([1, 1, 8, 8], generator=g), size=32, mode="bilinear")
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert noise_regularization([white]) < 0.01 < noise_regularization([smooth])
    both = noise_regularization([torch.cat([white, smooth])])  # per-sample values, not mixed
    assert torch.allclose(both, torch.cat([noise_regularization([white]), noise_regularization([smooth])]))


def test_loss_drops_on_generated_target_and_g_is_untouched(G, targets):
    before = {k: v.clone() for k, v in G.state_dict().items()}
    flags = [p.requires_grad for p in G.parameters()]
    res = project(G, targets[:1], config=ProjectorConfig(num_steps=100, **FAST), loss=PixelLoss("l2"),
                  progress=False)
    assert res.losses.shape == (100, 1)
    assert float(res.losses[-1, 0]) < 0.25 * float(res.losses[0, 0])  # first step: image of w_avg
    with torch.no_grad():
        out = synthesize_with_noise(G, res.ws, list(res.noise.values()))
    assert float((out - targets[:1]).square().mean()) < 0.25 * float(res.losses[0, 0])
    for maps in res.noise.values():  # renormalised after every step
        assert maps.mean().abs() < 1e-4 and (maps.square().mean() - 1).abs() < 1e-4
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert flags == [p.requires_grad for p in G.parameters()]


def test_w_and_wplus_shapes(G, targets):
    res_w = project(G, targets, config=ProjectorConfig(num_steps=8, **FAST), loss=PixelLoss("l2"), progress=False,
                    keep_steps=[0, 8])
    res_p = project(G, targets, config=ProjectorConfig(num_steps=8, space="wplus", **FAST), loss=PixelLoss("l2"),
                    progress=False)
    for res in (res_w, res_p):
        assert res.ws.shape == (2, G.num_ws, G.w_dim) and res.losses.shape == (8, 2)
        assert list(res.noise) == [name for name, _ in noise_layers(G)]
        assert all(v.shape == (2, 1, r, r) for v, (_, r) in zip(res.noise.values(), noise_layers(G)))
    assert torch.equal(res_w.ws, res_w.ws[:, :1].expand_as(res_w.ws))  # one w for every layer
    assert not torch.equal(res_p.ws, res_p.ws[:, :1].expand_as(res_p.ws))
    assert sorted(res_w.snapshots) == [0, 8] and torch.equal(res_w.snapshots[8], res_w.ws)
    assert torch.equal(res_w.snapshots[0][0], res_w.snapshots[0][1])  # both start at w_avg


def test_result_does_not_depend_on_batch(G, targets):
    cfg = ProjectorConfig(num_steps=15, space="wplus", **FAST)
    alone = project(G, targets[:1], config=cfg, loss=PixelLoss("l2"), generator=torch.Generator().manual_seed(7),
                    progress=False)
    pair = project(G, targets, config=cfg, loss=PixelLoss("l2"), generator=torch.Generator().manual_seed(7),
                   progress=False)
    assert torch.equal(alone.ws[0], pair.ws[0])
    assert torch.equal(alone.losses[:, 0], pair.losses[:, 0])
    assert all(torch.equal(alone.noise[k][0], pair.noise[k][0]) for k in alone.noise)
    other = project(G, targets[:1], config=cfg, loss=PixelLoss("l2"), generator=torch.Generator().manual_seed(8),
                    progress=False)
    assert not torch.equal(other.ws, alone.ws)  # the seed matters
    batched = project(G, targets, config=ProjectorConfig(num_steps=15, space="wplus", batching="batched", **FAST),
                      loss=PixelLoss("l2"), generator=torch.Generator().manual_seed(7), progress=False)
    assert torch.allclose(batched.ws, pair.ws, atol=1e-2)  # same math, batched kernels: rounding only


class _Killed(Exception):
    pass


def test_checkpoint_resume_equals_uninterrupted(G, targets, tmp_path):
    cfg = ProjectorConfig(num_steps=12, checkpoint_every=5, space="wplus", **FAST)
    kw = dict(config=cfg, loss=PixelLoss("l2"), progress=False, keep_steps=[0, 6, 12])
    full = project(G, targets, generator=torch.Generator().manual_seed(3), **kw)

    def kill_at_7(step, losses):
        if step == 7:
            raise _Killed

    ckpt = tmp_path / "proj.pt"
    with pytest.raises(_Killed):
        project(G, targets, generator=torch.Generator().manual_seed(3), checkpoint_path=ckpt, callback=kill_at_7, **kw)
    assert ckpt.is_file()  # saved after step 5 (and 10 is not reached)
    steps_run = []
    resumed = project(G, targets, generator=torch.Generator().manual_seed(3), checkpoint_path=ckpt,
                      callback=lambda s, _: steps_run.append(s), **kw)
    assert steps_run == list(range(5, 12))
    assert torch.equal(resumed.ws, full.ws) and torch.equal(resumed.losses, full.losses)
    assert all(torch.equal(resumed.noise[k], full.noise[k]) for k in full.noise)
    assert all(torch.equal(resumed.snapshots[s], full.snapshots[s]) for s in (0, 6, 12))
    steps_run.clear()  # a finished checkpoint returns at once
    again = project(G, targets, generator=torch.Generator().manual_seed(3), checkpoint_path=ckpt,
                    callback=lambda s, _: steps_run.append(s), **kw)
    assert steps_run == [] and torch.equal(again.ws, full.ws)
    with pytest.raises(CheckpointError, match="another run"):
        project(G, targets.flip(0), generator=torch.Generator().manual_seed(3), checkpoint_path=ckpt, **kw)
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="unreadable"):
        project(G, targets, checkpoint_path=ckpt, **kw)


def test_bad_targets_and_settings(G, targets):
    kw = dict(config=ProjectorConfig(num_steps=2, **FAST), loss=PixelLoss("l2"), progress=False)
    with pytest.raises(InputError, match=r"\[N, 3, 16, 16\]"):
        project(G, targets[:, :1], **kw)  # grayscale target for an RGB model
    with pytest.raises(InputError, match=r"\[N, 3, 16, 16\]"):
        project(G, targets[:, :, :8, :8], **kw)
    bad = targets.clone()
    bad[1, 0, 3, 3] = math.nan
    with pytest.raises(InputError, match=r"targets \[1\] contain NaN"):
        project(G, bad, **kw)
    with pytest.raises(InputError, match="branch"):
        project(G, targets, config=ProjectorConfig(num_steps=2, branch="nir", **FAST), loss=PixelLoss("l2"))
    with pytest.raises(InputError, match="one per target"):
        project(G, targets, generator=[torch.Generator()], **kw)
    with pytest.raises(InputError):
        ProjectorConfig(space="z")
    with pytest.raises(InputError):
        ProjectorConfig(num_steps=0)


def test_second_branch_and_vgg_loss(G):
    G2 = build_demo_generator(dataclasses.replace(G.config, branches=(("rgb", 3), ("nir", 1))), noise_strength=0.1)
    with torch.no_grad():
        nir = G2(torch.randn([1, G2.z_dim], generator=torch.Generator().manual_seed(1)))["nir"]
    vgg = VGG16Features(widths=(4, 8, 8, 8, 8))  # random weights: the path, not the quality
    res = project(G2, nir, config=ProjectorConfig(num_steps=30, branch="nir", **FAST),
                  loss=VGGPerceptualLoss(vgg), progress=False)
    assert res.ws.shape == (1, G2.num_ws, G2.w_dim) and torch.isfinite(res.losses).all()
    assert float(res.losses[-1, 0]) < float(res.losses[0, 0])
