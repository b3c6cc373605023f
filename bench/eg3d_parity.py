"""EG3D parity: official TriPlaneGenerator snapshots load in synthbio and render the same images and depths.

Usage:
    SYNTHBIO_REF_EG3D=/path/to/eg3d/eg3d python bench/eg3d_parity.py

The folder is the `eg3d/` directory of a checkout of NVlabs/eg3d. For each
case the official generator is built on random weights, pickled as its
training loop pickles it (persistent records plus the plain decoder,
renderer, ray marcher and ray sampler named by module path) and read back
with synthbio's restricted unpickler. Two comparisons on the same ws and
cameras:

- deterministic sampling: the official renderer with its jitter removed
  (torch.rand_like -> zeros in sample_stratified) and det=True in sample_pdf,
  against synthbio's `deterministic=True`;
- the official stochastic sampling, one sample at a time, with
  torch.manual_seed(s) against synthbio's `generator=torch.Generator().manual_seed(s)`
  (the same uniform draws in the same order).

Prints max |delta| of `image`, `image_raw` and `image_depth`; exits 1 above the tolerance.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import sys
import tempfile
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from synthbio.checkpoints import load_generator
from synthbio.nn.eg3d import EG3DGenerator, camera

TOL = 1e-4  # images in about [-1, 1], depths about 2-3


def load_reference() -> types.ModuleType:
    root = os.environ.get("SYNTHBIO_REF_EG3D")
    if not root:
        sys.exit("set SYNTHBIO_REF_EG3D to the eg3d/ folder of a checkout of NVlabs/eg3d")
    if not os.path.exists(os.path.join(root, "training", "triplane.py")):
        sys.exit(f"SYNTHBIO_REF_EG3D={root} has no training/triplane.py")
    sys.path.insert(0, root)
    warnings.filterwarnings("ignore")
    if importlib.util.find_spec("requests") is None:  # imported by dnnlib for downloads only
        sys.modules["requests"] = types.ModuleType("requests")
    if importlib.util.find_spec("pkg_resources") is None:  # a version check in torch_utils
        from packaging.version import parse

        shim = types.ModuleType("pkg_resources")
        shim.parse_version = parse  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    return importlib.import_module("training.triplane")


def rendering_kwargs(res: int, sr: str, **over: object) -> dict:
    rk = dict(image_resolution=res, disparity_space_sampling=False, clamp_mode="softplus",
              superresolution_module=f"training.superresolution.{sr}", c_gen_conditioning_zero=False,
              gpc_reg_prob=0.5, c_scale=1.0, superresolution_noise_mode="none", density_reg=0.25,
              density_reg_p_dist=0.004, reg_type="l1", decoder_lr_mul=1.0, sr_antialias=True, depth_resolution=16,
              depth_resolution_importance=16, ray_start=2.25, ray_end=3.3, box_warp=1, avg_camera_radius=2.7,
              avg_camera_pivot=[0, 0, 0.2])
    rk.update(over)
    return rk


@dataclass
class Case:
    name: str
    img_resolution: int
    sr: str
    nerf_res: int
    rendering: dict
    sr_num_fp16_res: int = 4


def cases() -> list[Case]:
    return [
        Case("ffhq-like 128 (2X)", 128, "SuperresolutionHybrid2X", 32, rendering_kwargs(128, "SuperresolutionHybrid2X")),
        Case("ffhq-like 256 (4X), no c", 256, "SuperresolutionHybrid4X", 32,
             rendering_kwargs(256, "SuperresolutionHybrid4X", c_gen_conditioning_zero=True, decoder_lr_mul=0.5),
             sr_num_fp16_res=0),
        Case("shapenet-like 128, white", 128, "SuperresolutionHybrid2X", 24,
             rendering_kwargs(128, "SuperresolutionHybrid2X", ray_start=0.1, ray_end=2.6, box_warp=1.6,
                              white_back=True, avg_camera_radius=1.7, avg_camera_pivot=[0, 0, 0])),
        Case("ffhq-like 512 (8XDC)", 512, "SuperresolutionHybrid8XDC", 32,
             rendering_kwargs(512, "SuperresolutionHybrid8XDC")),
    ]


def build(triplane: types.ModuleType, case: Case, gen: torch.Generator) -> torch.nn.Module:
    small = dict(channel_base=2048, channel_max=32)
    G = triplane.TriPlaneGenerator(
        z_dim=512, c_dim=25, w_dim=512, img_resolution=case.img_resolution, img_channels=3,
        sr_num_fp16_res=case.sr_num_fp16_res, mapping_kwargs=dict(num_layers=2), rendering_kwargs=case.rendering,
        sr_kwargs=dict(fused_modconv_default="inference_only", **small), fused_modconv_default="inference_only",
        num_fp16_res=0, conv_clamp=None, **small).eval()
    G.neural_rendering_resolution = case.nerf_res
    with torch.no_grad():
        for name, p in G.named_parameters():
            p.add_((0.1 if name.endswith("bias") else 0.05) * torch.randn(p.shape, generator=gen))
        for name, b in G.named_buffers():
            if name.endswith("w_avg"):
                b.copy_(torch.randn(b.shape, generator=gen))
    return G


def deterministic_official(renderer_cls: type) -> tuple:
    """Patch the official renderer to the deterministic sampling; returns the originals to restore."""
    strat, pdf = renderer_cls.sample_stratified, renderer_cls.sample_pdf

    def sample_stratified(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        rand_like = torch.rand_like
        torch.rand_like = torch.zeros_like  # no jitter: depths at linspace(ray_start, ray_end, n)
        try:
            return strat(self, *args, **kwargs)
        finally:
            torch.rand_like = rand_like

    renderer_cls.sample_stratified = sample_stratified
    renderer_cls.sample_pdf = lambda self, bins, weights, n, det=False, eps=1e-5: pdf(self, bins, weights, n, True, eps)
    return strat, pdf


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def main() -> None:
    triplane = load_reference()
    renderer_cls = importlib.import_module("training.volumetric_rendering.renderer").ImportanceRenderer
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(123)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            ref = build(triplane, case, gen)
            path = Path(tmp) / f"eg3d-{case.img_resolution}.pkl"
            with path.open("wb") as f:
                pickle.dump(dict(G=ref, G_ema=ref, D=None, augment_pipe=None), f)
            ours = load_generator(path)
            assert isinstance(ours, EG3DGenerator), type(ours)
            pivot = case.rendering["avg_camera_pivot"]
            radius = case.rendering["avg_camera_radius"]
            cams = torch.stack([camera(0, 0, radius=radius, pivot=pivot), camera(25, -8, 20.0, radius, pivot=pivot)])
            z = torch.randn([2, 512], generator=gen)
            res: dict[str, float] = {}
            with torch.no_grad():
                ws = ref.mapping(z, cams, truncation_psi=0.7)
                res["mapping"] = maxdiff(ours.mapping(z, cams, truncation_psi=0.7), ws)
                strat, pdf = deterministic_official(renderer_cls)
                try:
                    a = ref.synthesis(ws, cams, noise_mode="const")
                finally:
                    renderer_cls.sample_stratified, renderer_cls.sample_pdf = strat, pdf
                b = ours.synthesis(ws, cams, noise_mode="const", deterministic=True)
                for k in a:
                    res[f"deterministic {k}"] = maxdiff(a[k], b[k])
                for i, seed in enumerate((7, 8)):
                    torch.manual_seed(seed)
                    a = ref.synthesis(ws[i:i + 1], cams[i:i + 1], noise_mode="const")
                    b = ours.synthesis(ws[i:i + 1], cams[i:i + 1], noise_mode="const",
                                       generator=torch.Generator().manual_seed(seed))
                    for k in a:
                        res[f"seeded {k}"] = max(res.get(f"seeded {k}", 0.0), maxdiff(a[k], b[k]))
            for k, v in res.items():
                worst = max(worst, v)
                print(f"{case.name:28s} {k:28s} max|d| = {v:.2e}{'' if v <= TOL else '   <-- FAIL'}")
    print(f"worst max|d| = {worst:.2e} (tolerance {TOL:g})")
    sys.exit(0 if worst <= TOL else 1)


if __name__ == "__main__":
    main()
