"""StyleGAN3 parity: official snapshots built with the official code load in synthbio and give the same images.

Usage:
    SYNTHBIO_REF_STYLEGAN3=/path/to/stylegan3 python bench/stylegan3_parity.py [--large]

The folder is a checkout of NVlabs/stylegan3. For each case the official
`networks_stylegan3.Generator` (and a `networks_stylegan2.Discriminator`) is
built on random weights (biases, magnitude EMAs and w_avg randomised too, so
every path matters), written with the official `pickle.dump(dict(G, D, G_ema))`
as the training loop does, and read back with synthbio's restricted unpickler
(the pickle's embedded source is never run). The official network then runs
its reference CPU path (custom ops fall back to it on CPU) and synthbio its
fast path, on the same z / ws. --large adds the 256x256 T and R configs of
the FFHQ-U 256 release (about a minute each for the official code on CPU).
Prints max |delta| per check; exits 1 when one exceeds the tolerance.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pickle
import sys
import tempfile
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from synthbio.checkpoints import load_generator
from synthbio.nn.stylegan3 import StyleGAN3Generator, input_transform

TOL = 1e-4  # images are in about [-1, 1]


def load_reference() -> tuple[types.ModuleType, types.ModuleType]:
    """networks_stylegan3 and networks_stylegan2 of $SYNTHBIO_REF_STYLEGAN3."""
    root = os.environ.get("SYNTHBIO_REF_STYLEGAN3")
    if not root:
        sys.exit("set SYNTHBIO_REF_STYLEGAN3 to a checkout of NVlabs/stylegan3")
    if not os.path.exists(os.path.join(root, "training", "networks_stylegan3.py")):
        sys.exit(f"SYNTHBIO_REF_STYLEGAN3={root} has no training/networks_stylegan3.py")
    sys.path.insert(0, root)
    warnings.filterwarnings("ignore")
    # The official code imports `requests` (downloads only) and `pkg_resources` (a version check);
    # stand-ins when this environment lacks them.
    if importlib.util.find_spec("requests") is None:
        sys.modules["requests"] = types.ModuleType("requests")
    if importlib.util.find_spec("pkg_resources") is None:
        from packaging.version import parse

        shim = types.ModuleType("pkg_resources")
        shim.parse_version = parse  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    return importlib.import_module("training.networks_stylegan3"), importlib.import_module("training.networks_stylegan2")


@dataclass
class Case:
    name: str
    g_kwargs: dict = field(default_factory=dict)
    batch: int = 3


def cases(large: bool) -> list[Case]:
    tiny = dict(z_dim=32, w_dim=32, img_channels=3, mapping_kwargs=dict(num_layers=2))
    out = [
        Case("T 32px", dict(tiny, c_dim=0, img_resolution=32, channel_base=512, channel_max=64)),
        Case("R 32px", dict(tiny, c_dim=0, img_resolution=32, channel_base=1024, channel_max=128, conv_kernel=1,
                            use_radial_filters=True)),
        Case("T 64px cond, no clamp", dict(tiny, c_dim=4, img_resolution=64, channel_base=1024, channel_max=64,
                                          conv_clamp=None, magnitude_ema_beta=0.99)),
        Case("R 64px 1ch, 6 layers", dict(tiny, c_dim=0, img_resolution=64, img_channels=1, channel_base=1024,
                                          channel_max=64, num_layers=6, conv_kernel=1, use_radial_filters=True)),
    ]
    if large:
        base = dict(z_dim=512, w_dim=512, c_dim=0, img_resolution=256, img_channels=3, mapping_kwargs=dict(num_layers=2))
        out += [Case("T 256 (FFHQ-U 256 config)", dict(base, channel_base=16384, channel_max=512), batch=1),
                Case("R 256 (FFHQ-U 256 config)", dict(base, channel_base=32768, channel_max=1024, conv_kernel=1,
                                                       use_radial_filters=True), batch=1)]
    return out


def randomize(module: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
            if name.endswith("affine.weight"):
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
        for name, b in module.named_buffers():
            if name.endswith("magnitude_ema"):
                b.fill_(0.5 + float(torch.rand([], generator=gen)))
            if name.endswith("w_avg"):
                b.copy_(torch.randn(b.shape, generator=gen))


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def check(net3: types.ModuleType, net2: types.ModuleType, case: Case, tmp: Path, gen: torch.Generator
          ) -> dict[str, float]:
    kw = case.g_kwargs
    ref = net3.Generator(**kw).eval()
    randomize(ref, gen)
    D = net2.Discriminator(c_dim=kw["c_dim"], img_resolution=kw["img_resolution"], img_channels=kw["img_channels"],
                           channel_base=kw["channel_base"], channel_max=kw["channel_max"]).eval()
    path = tmp / f"{case.name.split()[0]}-{kw['img_resolution']}.pkl"
    with path.open("wb") as f:  # what the official training loop writes
        pickle.dump(dict(G=ref, D=D, G_ema=ref, augment_pipe=None, training_set_kwargs=None), f)
    ours = load_generator(path)
    assert isinstance(ours, StyleGAN3Generator), type(ours)
    res: dict[str, float] = {"state dict": max(maxdiff(ours.state_dict()[k], v) for k, v in ref.state_dict().items())}
    n = case.batch
    z = torch.randn([n, kw["z_dim"]], generator=gen)
    c = torch.nn.functional.one_hot(torch.arange(n) % kw["c_dim"], kw["c_dim"]).float() if kw["c_dim"] else None
    c_ref = c if c is not None else torch.zeros([n, 0])
    with torch.no_grad():
        ws_ref = ref.mapping(z, c_ref, truncation_psi=0.7, truncation_cutoff=8)
        res["mapping psi=.7 cutoff=8"] = maxdiff(ours.mapping(z, c, truncation_psi=0.7, truncation_cutoff=8), ws_ref)
        img_ref = ref.synthesis(ws_ref)
        res["synthesis (fast CPU path)"] = maxdiff(ours.synthesis(ws_ref), img_ref)
        m = input_transform(translate=(0.1, -0.05), rotate_deg=12.0)
        ref.synthesis.input.transform.copy_(m)
        res["synthesis, input transform"] = maxdiff(ours.synthesis(ws_ref, transform=m), ref.synthesis(ws_ref))
        ref.synthesis.input.transform.copy_(torch.eye(3))
    ws = ws_ref.clone().requires_grad_(True)
    res["synthesis (autograd path)"] = maxdiff(ours.synthesis(ws).detach(), img_ref)
    res["image scale (max |img|)"] = -float(img_ref.abs().max())  # shown, not checked
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also the 256x256 T and R configs (slow)")
    args = parser.parse_args()
    net3, net2 = load_reference()
    torch.manual_seed(0)  # the official constructors draw their init (and freqs/phases) from the global RNG
    gen = torch.Generator().manual_seed(123)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases(args.large):
            for k, v in check(net3, net2, case, Path(tmp), gen).items():
                if v < 0:
                    print(f"{case.name:28s} {k:30s} {-v:.3f}")
                    continue
                worst = max(worst, v)
                flag = "" if v <= TOL else "   <-- FAIL"
                print(f"{case.name:28s} {k:30s} max|d| = {v:.2e}{flag}")
    print(f"worst max|d| = {worst:.2e} (tolerance {TOL:g})")
    sys.exit(0 if worst <= TOL else 1)


if __name__ == "__main__":
    main()
