"""EG3D in plain PyTorch: cameras, ray sampling and marching, the generator's determinism and batch independence.

Equality with the official code on the same weights (deterministic and seeded stochastic sampling)
is in bench/eg3d_parity.py, which needs the official repository.
"""

from __future__ import annotations

import math

import pytest
import torch

from synthbio.errors import InputError
from synthbio.nn.eg3d import (
    EG3DConfig,
    EG3DGenerator,
    camera,
    fov_to_intrinsics,
    split_camera,
)
from synthbio.nn.eg3d import rendering as rd


def tiny(**kw: object) -> EG3DGenerator:
    base = dict(z_dim=8, w_dim=8, img_resolution=32, backbone_resolution=16, plane_channels=4, channel_base=128,
                channel_max=16, decoder_hidden=8, decoder_output_dim=6, sr_kind="SuperresolutionHybrid4X",
                sr_channels=(8, 4), neural_rendering_resolution=8, depth_resolution=6, depth_resolution_importance=6)
    base.update(kw)
    torch.manual_seed(0)
    G = EG3DGenerator(EG3DConfig(**base)).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias"):
                p.add_(0.3 * torch.randn(p.shape))
        G.mapping.w_avg.copy_(torch.randn(8))
    return G


# ------------------------------------------------------------------ cameras


def test_camera_looks_at_the_pivot_from_the_orbit() -> None:
    for yaw, pitch in [(0, 0), (30, -10), (-45, 20)]:
        c = camera(yaw, pitch, 18.837, 2.7, pivot=(0, 0, 0.2))
        cam2world, _ = split_camera(c[None])
        origin, forward = cam2world[0, :3, 3], cam2world[0, :3, 2]
        to_pivot = torch.tensor([0, 0, 0.2]) - origin
        assert float(origin.norm()) == pytest.approx(2.7, abs=1e-5)  # the orbit is around the world origin
        assert torch.allclose(forward, to_pivot / to_pivot.norm(), atol=1e-6)
        assert torch.allclose(cam2world[0, :3, :3] @ cam2world[0, :3, :3].T, torch.eye(3), atol=1e-6)
        assert float(cam2world[0, 1, 1]) < 0  # OpenCV: camera y points down, world y up
    front = split_camera(camera()[None])[0][0, :3, 3]
    assert torch.allclose(front, torch.tensor([0.0, 0.0, 2.7]), atol=1e-5)
    assert float(split_camera(camera(yaw=20)[None])[0][0, 0, 3]) > 0  # positive yaw: towards +x
    assert float(split_camera(camera(pitch=20)[None])[0][0, 1, 3]) < 0  # positive pitch: from below


def test_intrinsics_follow_the_official_formula() -> None:
    k = fov_to_intrinsics(18.837)
    assert float(k[0, 0]) == pytest.approx(1 / (math.tan(18.837 * 3.14159 / 360) * 1.414), rel=1e-6)
    assert k[0, 2] == 0.5 and k[1, 2] == 0.5 and k[2, 2] == 1
    with pytest.raises(InputError, match="field of view"):
        fov_to_intrinsics(0)
    with pytest.raises(InputError, match=r"\[N, 25\]"):
        split_camera(torch.zeros(2, 24))


def test_rays_pass_through_pixel_centres() -> None:
    c = camera()[None]
    origins, dirs = rd.ray_bundle(*split_camera(c), 4)
    assert origins.shape == dirs.shape == (1, 16, 3)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(1, 16), atol=1e-6)
    # The four central pixels surround the optical axis symmetrically.
    centre = dirs[0, [5, 6, 9, 10]].mean(0)
    assert torch.allclose(centre / centre.norm(), split_camera(c)[0][0, :3, 2], atol=1e-6)


# ------------------------------------------------------------------ rendering pieces


def test_third_plane_is_zx_as_in_the_released_weights() -> None:
    p = torch.tensor([[[0.1, 0.2, 0.3]]])
    planes = rd.project_to_planes(p)[0, :, 0]
    assert torch.equal(planes, torch.tensor([[0.1, 0.2], [0.1, 0.3], [0.3, 0.1]]))


def test_marching_finds_an_opaque_slab() -> None:
    depths = torch.linspace(2.0, 3.0, 41).reshape(1, 1, 41, 1)
    densities = torch.full([1, 1, 41, 1], -30.0)
    densities[:, :, 20:] = 1e4  # opaque from depth 2.5 on
    colors = torch.zeros(1, 1, 41, 2)
    colors[:, :, 20:] = torch.tensor([1.0, 0.0])
    rgb, depth, weights = rd.march(colors, densities, depths)
    assert float(depth) == pytest.approx(2.4875, abs=1e-3)  # the midpoint of the first opaque interval
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-4)
    assert torch.allclose(rgb[0, 0], torch.tensor([0.0, -1.0]), atol=1e-2)  # (mid-colour 0.5) * 2 - 1 ... to -1
    white = rd.march(colors, torch.full_like(densities, -30.0), depths, white_back=True)[0]
    assert torch.allclose(white, torch.ones_like(white), atol=1e-3)


def test_importance_samples_land_where_the_weight_is() -> None:
    z = torch.linspace(2.0, 3.0, 12).reshape(1, 1, 12, 1)
    w = torch.zeros(1, 1, 11, 1)
    w[..., 6, 0] = 1.0
    det = rd.importance_depths(z, w, 16, deterministic=True, generator=None)
    assert det.shape == (1, 1, 16, 1)
    assert float((det.reshape(-1) - 2.59).abs().median()) < 0.1  # most mass near bin 6
    gen = [torch.Generator().manual_seed(0)]
    rnd = rd.importance_depths(z, w, 16, deterministic=False, generator=gen)
    assert torch.all(rnd >= 2.0) and torch.all(rnd <= 3.0)


def test_sample_pdf_inverts_a_uniform_cdf() -> None:
    bins = torch.linspace(0, 1, 11).reshape(1, 11)
    u = torch.linspace(0, 1, 5).reshape(1, 5)
    assert torch.allclose(rd.sample_pdf(bins, torch.ones(1, 10), u), u, atol=1e-5)


# ------------------------------------------------------------------ generator


def test_outputs_and_depth_range(one_thread) -> None:
    G = tiny()
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = G(z, None, deterministic=True)
    assert out["image"].shape == (2, 3, 32, 32) and out["image_raw"].shape == (2, 3, 8, 8)
    assert out["image_depth"].shape == (2, 1, 8, 8)
    assert float(out["image_depth"].min()) >= 2.25 and float(out["image_depth"].max()) <= 3.3
    assert all(torch.isfinite(v).all() for v in out.values())


def test_seeded_sampling_is_batch_independent_and_reproducible(one_thread) -> None:
    G = tiny()
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(2))
    cams = torch.stack([camera(0, 0), camera(25, 5), camera(-25, -5)])
    with torch.no_grad():
        ws = G.mapping(z, None, truncation_psi=0.8)
        gens = lambda seeds: [torch.Generator().manual_seed(s) for s in seeds]
        batch = G.synthesis(ws, cams, generator=gens([10, 11, 12]))
        alone = G.synthesis(ws[1:2], cams[1:2], generator=gens([11]))
        again = G.synthesis(ws, cams, generator=gens([10, 11, 12]))
        other = G.synthesis(ws, cams, generator=gens([20, 21, 22]))
        det = G.synthesis(ws, cams, deterministic=True)
        det1 = G.synthesis(ws[2:], cams[2:], deterministic=True)
    for k in batch:
        assert torch.equal(batch[k][1:2], alone[k]) and torch.equal(batch[k], again[k])
        assert torch.equal(det[k][2:], det1[k])
    assert not torch.equal(batch["image_depth"], other["image_depth"])  # the draws matter
    assert not torch.equal(batch["image"][1], batch["image"][2])  # other cameras, other images


def test_camera_conditioning_and_missing_generator(one_thread) -> None:
    G = tiny(c_scale=1.0)
    z = torch.randn(1, 8)
    with torch.no_grad():
        front = G.mapping(z, None)
        side = G.mapping(z, camera(40, 0)[None])
        zero = tiny(c_gen_conditioning_zero=True).mapping(z, camera(40, 0)[None])
        zero_front = tiny(c_gen_conditioning_zero=True).mapping(z, None)
    assert not torch.equal(front, side)
    assert torch.equal(zero, zero_front)
    with pytest.raises(InputError, match="generator="):
        G.synthesis(front)
    with pytest.raises(InputError, match=r"\[N, 25\]"):
        G.synthesis(front, torch.zeros(1, 16), deterministic=True)
    with pytest.raises(InputError, match="cameras for"):
        G.synthesis(front, torch.zeros(2, 25), deterministic=True)


def test_neural_rendering_resolution_per_call(one_thread) -> None:
    G = tiny()
    with torch.no_grad():
        out = G.synthesis(G.mapping(torch.randn(1, 8), None), neural_rendering_resolution=12, deterministic=True)
    assert out["image_raw"].shape == (1, 3, 12, 12) and out["image"].shape == (1, 3, 32, 32)
    assert G.config.neural_rendering_resolution == 8  # the call does not change the model
