"""Parity of synthbio's checkpoint readers with the reference implementations.

Usage:
    python bench/reference_checkpoints.py DIR
        DIR holds <case>.pkl / <case>.pt files with <case>.npz (inputs and the
        reference outputs). Loads each with synthbio and prints max |delta|.

    SYNTHBIO_REF_STYLEGAN2=/path/to/stylegan2-ada-pytorch \\
    SYNTHBIO_REF_STYLEGAN3=/path/to/stylegan3 \\
    SYNTHBIO_REF_ROSINALITY=/path/to/stylegan2-pytorch \\
    python bench/reference_checkpoints.py DIR
        first builds those files with the official code (each set named by a
        variable that is set), in a subprocess that has that code on its path;
        the comparison then runs in this process, which never imports it.

Reference networks get random weights (every parameter and buffer perturbed,
noise strengths and w_avg non-zero) so that no mapping error can hide behind
zero initialisation. Outputs use noise_mode='const' and float32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import torch

# Official-code cases: name -> (G kwargs, D kwargs). Kept small for CPU.
_NV_CASES: dict[str, dict] = {
    "tiny": dict(z_dim=16, w_dim=16, c_dim=0, img_resolution=16, img_channels=3, map_layers=2,
                 channel_base=256, channel_max=32, num_fp16_res=0, conv_clamp=None),
    "cond_gray": dict(z_dim=16, w_dim=24, c_dim=4, img_resolution=16, img_channels=1, map_layers=3,
                      channel_base=256, channel_max=32, num_fp16_res=2, conv_clamp=256),
    "res64": dict(z_dim=64, w_dim=64, c_dim=0, img_resolution=64, img_channels=3, map_layers=4,
                  channel_base=2048, channel_max=64, num_fp16_res=2, conv_clamp=256),
}
_PSIS = (1.0, 0.7)
_BATCH = 4


def _perturb(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if name.endswith("resample_filter") or name.endswith("kernel") or not t.is_floating_point():
                continue  # filters are constants of the architecture
            t.add_(0.2 * torch.randn(t.shape, generator=gen).to(t.dtype))


def _inputs(z_dim: int, c_dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(_BATCH, z_dim, generator=gen)
    c = torch.zeros(_BATCH, c_dim)
    if c_dim:
        c[torch.arange(_BATCH), torch.arange(_BATCH) % c_dim] = 1
    return z, c


def _build_official(repo: str, flavor: str, out_dir: Path) -> None:
    """Runs in a subprocess with the official repository first on sys.path."""
    import copy
    import pickle

    sys.path.insert(0, repo)
    try:
        import requests  # noqa: F401  (dnnlib.util imports it for downloads only)
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
    try:
        import pkg_resources  # noqa: F401  (stylegan3's conv2d_gradfix wants parse_version)
    except ImportError:
        from packaging.version import parse as parse_version

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse_version)
    import dnnlib
    if flavor == "sg2ada":
        from training import networks
    else:
        from training import networks_stylegan2 as networks
    from training.augment import AugmentPipe

    for case, k in _NV_CASES.items():
        synthesis_kwargs = dnnlib.EasyDict(channel_base=k["channel_base"], channel_max=k["channel_max"],
                                           num_fp16_res=k["num_fp16_res"], conv_clamp=k["conv_clamp"])
        # stylegan2-ada's Generator takes synthesis_kwargs=dict; stylegan3's takes them flat.
        extra = dict(synthesis_kwargs=synthesis_kwargs) if flavor == "sg2ada" else synthesis_kwargs
        G = networks.Generator(
            z_dim=k["z_dim"], c_dim=k["c_dim"], w_dim=k["w_dim"], img_resolution=k["img_resolution"],
            img_channels=k["img_channels"], mapping_kwargs=dnnlib.EasyDict(num_layers=k["map_layers"]), **extra)
        D = networks.Discriminator(
            c_dim=k["c_dim"], img_resolution=k["img_resolution"], img_channels=k["img_channels"],
            channel_base=k["channel_base"], channel_max=k["channel_max"], num_fp16_res=k["num_fp16_res"],
            conv_clamp=k["conv_clamp"], block_kwargs=dnnlib.EasyDict(), mapping_kwargs=dnnlib.EasyDict(),
            epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=4))
        _perturb(G, 1)
        G_ema = copy.deepcopy(G)
        _perturb(G_ema, 2)
        _perturb(D, 3)
        aug = AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                          brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
        # As training_loop.py writes a snapshot.
        snapshot = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset",
                                                 path="~/datasets/x.zip", resolution=k["img_resolution"]))
        for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", aug)]:
            snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
        with open(out_dir / f"{flavor}_{case}.pkl", "wb") as f:
            pickle.dump(snapshot, f)

        z, c = _inputs(k["z_dim"], k["c_dim"], 7)
        ref: dict[str, np.ndarray] = {"z": z.numpy(), "c": c.numpy(), "psis": np.array(_PSIS)}
        with torch.no_grad():
            for net_name, net in (("G_ema", G_ema.eval()), ("G", G.eval())):
                for psi in _PSIS:
                    ws = net.mapping(z, c, truncation_psi=psi)
                    img = net.synthesis(ws, noise_mode="const", force_fp32=True)
                    ref[f"{net_name}_ws_psi{psi}"] = ws.numpy()
                    ref[f"{net_name}_img_psi{psi}"] = img.numpy()
            img = torch.from_numpy(ref["G_ema_img_psi1.0"])
            ref["D_logits"] = D.eval()(img, c, force_fp32=True).numpy()
        np.savez(out_dir / f"{flavor}_{case}.npz", **ref)
        print(f"built {flavor}_{case}", file=sys.stderr, flush=True)

    if flavor == "sg3":  # an alias-free generator, which synthbio must refuse clearly
        from training import networks_stylegan3
        G3 = networks_stylegan3.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                                          mapping_kwargs=dnnlib.EasyDict(num_layers=2),
                                          channel_base=256, channel_max=16, magnitude_ema_beta=0.999)
        with open(out_dir / "sg3_alias_free.pkl", "wb") as f:
            pickle.dump(dict(G=G3, G_ema=copy.deepcopy(G3), D=None, augment_pipe=None,
                             training_set_kwargs=dict()), f)
        print("built sg3_alias_free", file=sys.stderr, flush=True)


def _build_rosinality(repo: str, out_dir: Path) -> None:
    """Runs in a subprocess. rosinality's `op` package compiles CUDA kernels at
    import; its CPU code paths never call them, so the compiler is replaced by a no-op."""
    import torch.utils.cpp_extension as cpp_extension

    cpp_extension.load = lambda *a, **k: types.SimpleNamespace()
    sys.path.insert(0, repo)
    from model import Generator  # rosinality/stylegan2-pytorch model.py

    for case, (size, style_dim, n_mlp, cm) in {"ros32": (32, 32, 3, 1), "ros64_cm2": (64, 16, 2, 2)}.items():
        g = Generator(size, style_dim, n_mlp, channel_multiplier=cm)
        _perturb(g, 4)
        g.eval()
        with torch.no_grad():
            mean_latent = g.mean_latent(256)
        z, _ = _inputs(style_dim, 0, 7)
        ref: dict[str, np.ndarray] = {"z": z.numpy(), "psis": np.array(_PSIS)}
        with torch.no_grad():
            for psi in _PSIS:
                img, _ = g([z], truncation=psi, truncation_latent=mean_latent, randomize_noise=False)
                ref[f"g_ema_img_psi{psi}"] = img.numpy()
        torch.save({"g_ema": g.state_dict(), "latent_avg": mean_latent[0],
                    "args": {"size": size, "n_mlp": n_mlp, "channel_multiplier": cm}}, out_dir / f"{case}.pt")
        np.savez(out_dir / f"{case}.npz", **ref)
        print(f"built {case}", file=sys.stderr, flush=True)


def _compare(out_dir: Path) -> list[dict]:
    from synthbio.checkpoints import load_discriminator, load_generator
    from synthbio.errors import CheckpointError

    rows = []
    for path in sorted(list(out_dir.glob("*.pkl")) + list(out_dir.glob("*.pt"))):
        npz = path.with_suffix(".npz")
        if not npz.exists():
            try:
                load_generator(path)
                rows.append(dict(case=path.stem, result="loaded (expected a refusal)"))
            except CheckpointError as exc:
                rows.append(dict(case=path.stem, result=f"refused: {exc}"))
            continue
        ref = np.load(npz)
        z = torch.from_numpy(ref["z"])
        c = torch.from_numpy(ref["c"]) if "c" in ref and ref["c"].size else None
        row: dict = dict(case=path.stem)
        first_img = next(k for k in ref.files if "_img_psi" in k)
        row["ref_peak_abs"] = float(np.abs(ref[first_img]).max())  # scale of the deltas below
        nets = ("G_ema", "G") if path.suffix == ".pkl" else ("g_ema",)
        with torch.no_grad():
            for net_name in nets:
                G = load_generator(path, which=net_name) if path.suffix == ".pkl" else load_generator(path)
                for psi in ref["psis"].tolist():
                    ws = G.mapping(z, c, truncation_psi=psi)
                    img = G.synthesis(ws, noise_mode="const")
                    key = f"{net_name}_img_psi{psi}"
                    row[key] = float((img - torch.from_numpy(ref[key])).abs().max())
                    if f"{net_name}_ws_psi{psi}" in ref:
                        row[f"{net_name}_ws_psi{psi}"] = float(
                            (ws - torch.from_numpy(ref[f"{net_name}_ws_psi{psi}"])).abs().max())
            if "D_logits" in ref:
                D = load_discriminator(path)
                img = torch.from_numpy(ref["G_ema_img_psi1.0"])
                logits = D(img, c)
                row["D_logits"] = float((logits - torch.from_numpy(ref["D_logits"])).abs().max())
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--json", action="store_true", help="print rows as JSON")
    parser.add_argument("--_build", nargs=2, metavar=("FLAVOR", "REPO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if args._build:
        flavor, repo = args._build
        torch.manual_seed(0)  # official constructors draw their init from the global RNG
        if flavor == "rosinality":
            _build_rosinality(repo, args.dir)
        else:
            _build_official(repo, flavor, args.dir)
        return
    for var, flavor in (("SYNTHBIO_REF_STYLEGAN2", "sg2ada"), ("SYNTHBIO_REF_STYLEGAN3", "sg3"),
                        ("SYNTHBIO_REF_ROSINALITY", "rosinality")):
        repo = os.environ.get(var)
        if repo:
            subprocess.run([sys.executable, __file__, str(args.dir), "--_build", flavor, repo], check=True,
                           cwd=repo)
    rows = _compare(args.dir)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        case = row.pop("case")
        print(f"{case}:")
        for key, value in row.items():
            print(f"  {key:24s} {value:.3e}" if isinstance(value, float) else f"  {key}: {value}")


if __name__ == "__main__":
    main()
