"""Compare synthbio's StyleGAN2 G and D with the official NVlabs code, weight for weight.

Usage:
    SYNTHBIO_REF_STYLEGAN2=/path/to/stylegan2-ada-pytorch python bench/reference_parity.py

The folder is a checkout of NVlabs/stylegan2-ada-pytorch (or stylegan3; then
`training/networks_stylegan2.py` is used). Both networks are built with the
same config, synthbio's state dict (with biases, noise strengths and w_avg
randomised so every path matters) is loaded into the official modules with
strict=True, and the official state dict is loaded back into synthbio the same
way. Prints max |delta| per check; exits 1 when one exceeds the tolerance.
The official custom ops fall back to their reference PyTorch code on CPU.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
import warnings
from dataclasses import dataclass

import torch

from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator

TOL = 1e-4


def load_reference() -> object:
    """Import the official networks module from $SYNTHBIO_REF_STYLEGAN2."""
    root = os.environ.get("SYNTHBIO_REF_STYLEGAN2")
    if not root:
        sys.exit("set SYNTHBIO_REF_STYLEGAN2 to a checkout of NVlabs/stylegan2-ada-pytorch (or stylegan3)")
    if not os.path.isdir(os.path.join(root, "training")):
        sys.exit(f"SYNTHBIO_REF_STYLEGAN2={root} has no training/ folder: not a StyleGAN2 checkout")
    sys.path.insert(0, root)
    warnings.filterwarnings("ignore")
    # dnnlib imports `requests` for downloads only; stand in an empty module when absent.
    if importlib.util.find_spec("requests") is None:
        sys.modules["requests"] = types.ModuleType("requests")
    name = "training.networks_stylegan2" if os.path.exists(os.path.join(root, "training", "networks_stylegan2.py")) \
        else "training.networks"
    return importlib.import_module(name)


def randomize(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Give zero-initialised biases, noise strengths and w_avg non-trivial values."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or name.endswith("noise_strength"):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
        for name, b in module.named_buffers():
            if name.endswith("w_avg"):
                b.copy_(torch.randn(b.shape, generator=gen))


def official_G(net: object, cfg: GeneratorConfig) -> torch.nn.Module:
    return net.Generator(  # type: ignore[attr-defined]
        z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
        img_channels=cfg.img_channels,
        mapping_kwargs=dict(num_layers=cfg.mapping_layers, lr_multiplier=cfg.mapping_lr_multiplier),
        synthesis_kwargs=dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                              num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp))


def official_D(net: object, cfg: DiscriminatorConfig) -> torch.nn.Module:
    return net.Discriminator(  # type: ignore[attr-defined]
        c_dim=cfg.c_dim, img_resolution=cfg.img_resolution, img_channels=cfg.img_channels,
        architecture=cfg.architecture, channel_base=cfg.channel_base, channel_max=cfg.channel_max,
        num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp, cmap_dim=cfg.cmap_dim,
        mapping_kwargs=dict(num_layers=cfg.mapping_layers, lr_multiplier=cfg.mapping_lr_multiplier),
        epilogue_kwargs=dict(mbstd_group_size=cfg.mbstd_group_size, mbstd_num_channels=cfg.mbstd_num_channels))


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


@dataclass
class Case:
    name: str
    g: GeneratorConfig | None
    d: DiscriminatorConfig | None
    batch: int = 4


def cases() -> list[Case]:
    out = []
    for res, ch, c_dim in [(16, 3, 0), (16, 1, 5), (32, 3, 3), (32, 1, 0), (64, 3, 0), (64, 1, 2)]:
        g = GeneratorConfig(z_dim=32, w_dim=32, c_dim=c_dim, img_resolution=res, branches=(("img", ch),),
                            channel_base=res * 16, channel_max=32, mapping_layers=3, conv_clamp=256 if res == 32 else None)
        out.append(Case(f"res{res} ch{ch} c{c_dim}", g, None))
        for arch in ("resnet", "skip", "orig"):
            d = DiscriminatorConfig(c_dim=c_dim, img_resolution=res, img_channels=ch, architecture=arch,
                                    channel_base=res * 16, channel_max=32, mapping_layers=2,
                                    mbstd_group_size=2 if arch == "skip" else 4,
                                    conv_clamp=256 if res == 32 else None)
            out.append(Case(f"res{res} ch{ch} c{c_dim} D-{arch}", None, d))
    g256 = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=256, channel_base=16384, channel_max=512,
                           mapping_layers=8)
    out.append(Case("bench 256 (G)", g256, None, batch=2))
    out.append(Case("bench 256 (D)", None, DiscriminatorConfig(img_resolution=256, channel_base=16384), batch=4))
    return out


def check_generator(net: object, case: Case, gen: torch.Generator) -> dict[str, float]:
    cfg = case.g
    assert cfg is not None
    ours = Generator(cfg).eval()
    randomize(ours, gen)
    ref = official_G(net, cfg).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    Generator(cfg).load_state_dict(ref.state_dict(), strict=True)  # and the other way round
    n = case.batch
    z = torch.randn([n, cfg.z_dim], generator=gen)
    c = torch.nn.functional.one_hot(torch.arange(n) % cfg.c_dim, cfg.c_dim).float() if cfg.c_dim else None
    c_ref = c if c is not None else torch.zeros([n, 0])
    res = {}
    with torch.no_grad():
        res["mapping"] = maxdiff(ours.mapping(z, c), ref.mapping(z, c_ref))
        res["mapping psi=.7 cut=4"] = maxdiff(ours.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4),
                                              ref.mapping(z, c_ref, truncation_psi=0.7, truncation_cutoff=4))
        ws = torch.randn([n, ours.num_ws, cfg.w_dim], generator=gen)
        for mode in ("const", "none"):
            for fused in (True, False):
                a = ours.synthesis(ws, noise_mode=mode, fused_modconv=fused)
                b = ref.synthesis(ws, noise_mode=mode, fused_modconv=fused)
                res[f"synthesis {mode} fused={fused}"] = maxdiff(a, b)
        res["synthesis N=1"] = maxdiff(ours.synthesis(ws[:1]), ref.synthesis(ws[:1], noise_mode="const"))
        res["G(z,c) psi=.5 const"] = maxdiff(ours(z, c, truncation_psi=0.5),
                                             ref(z, c_ref, truncation_psi=0.5, noise_mode="const"))
    return res


def check_discriminator(net: object, case: Case, gen: torch.Generator) -> dict[str, float]:
    cfg = case.d
    assert cfg is not None
    ours = Discriminator(cfg).eval()
    randomize(ours, gen)
    ref = official_D(net, cfg).eval()
    ref.load_state_dict(ours.state_dict(), strict=True)
    Discriminator(cfg).load_state_dict(ref.state_dict(), strict=True)
    n = case.batch
    img = torch.randn([n, cfg.img_channels, cfg.img_resolution, cfg.img_resolution], generator=gen)
    c = torch.randn([n, cfg.c_dim], generator=gen) if cfg.c_dim else None
    c_ref = c if c is not None else torch.zeros([n, 0])
    with torch.no_grad():
        return {"D(img,c)": maxdiff(ours(img, c), ref(img, c_ref))}


def main() -> None:
    net = load_reference()
    torch.manual_seed(0)  # the official constructors draw their (discarded) init from the global RNG
    gen = torch.Generator().manual_seed(123)
    worst = 0.0
    for case in cases():
        res = check_generator(net, case, gen) if case.g is not None else check_discriminator(net, case, gen)
        for k, v in res.items():
            worst = max(worst, v)
            flag = "" if v <= TOL else "   <-- FAIL"
            print(f"{case.name:28s} {k:30s} max|d| = {v:.2e}{flag}")
    print(f"worst max|d| = {worst:.2e} (tolerance {TOL:g})")
    sys.exit(0 if worst <= TOL else 1)


if __name__ == "__main__":
    main()
