"""GPU check of the plain-PyTorch engine: CUDA vs CPU parity, autocast, compile, speed.

Run on a machine with CUDA (or MPS):  python bench/gpu_check.py [--resolution 256]
Prints one line per check; exits non-zero when a parity check fails.

Checks, on the bench architecture (z=w=512, 8 mapping layers, channel_base
16384, channel_max 512) with random weights:
- float32 on the accelerator (TF32 off) equals the CPU output (max |diff|);
- random noise drawn from per-sample CPU generators gives the same image on
  the accelerator as on the CPU;
- bf16 / fp16 autocast and an fp16 config (num_fp16_res=4, conv_clamp=256)
  give finite images close to float32;
- torch.compile output equals eager;
- discriminator forward + backward under autocast is finite;
- throughput (images/s) at batch 1, 8, 32 in float32, TF32 and bf16.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch

from synthbio.nn.config import DiscriminatorConfig, GeneratorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator


def _pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    sys.exit("no CUDA or MPS device: this check needs an accelerator")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def _throughput(G: Generator, device: torch.device, batch: int, *, dtype: torch.dtype | None, iters: int) -> float:
    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(1)).to(device)
    ctx = torch.autocast(device.type, dtype=dtype) if dtype is not None else torch.autocast(device.type, enabled=False)
    with torch.inference_mode(), ctx:
        for _ in range(3):
            G(z)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            G(z)
        _sync(device)
    return batch * iters / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()
    device = _pick_device()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else device.type}), torch {torch.__version__}")

    cfg = GeneratorConfig(img_resolution=args.resolution, channel_base=16384, channel_max=512)
    torch.manual_seed(0)
    G_cpu = Generator(cfg).eval()
    with torch.no_grad():  # non-zero noise strengths and w_avg so every path matters
        for name, p in G_cpu.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
        G_cpu.mapping.w_avg.normal_()
    G = Generator(cfg).eval().to(device)
    G.load_state_dict(G_cpu.state_dict())
    z = torch.randn(4, cfg.z_dim, generator=torch.Generator().manual_seed(123))
    failed = []

    def report(name: str, diff: float, tol: float) -> None:
        ok = diff <= tol
        print(f"{'ok  ' if ok else 'FAIL'} {name}: max|diff| = {diff:.3g} (tolerance {tol:g})")
        if not ok:
            failed.append(name)

    with torch.no_grad():
        ref = G_cpu(z, truncation_psi=0.7)
        out = G(z.to(device), truncation_psi=0.7).cpu()
        report("float32 accelerator vs CPU, const noise", (out - ref).abs().max().item(), 1e-4)

        gens = [torch.Generator().manual_seed(s) for s in range(4)]
        ref_r = G_cpu(z, noise_mode="random", generator=gens)
        gens = [torch.Generator().manual_seed(s) for s in range(4)]
        out_r = G(z.to(device), noise_mode="random", generator=gens).cpu()
        report("random noise from per-sample CPU generators, accelerator vs CPU", (out_r - ref_r).abs().max().item(), 1e-4)

        for dt in (torch.bfloat16, torch.float16):
            with torch.autocast(device.type, dtype=dt):
                o = G(z.to(device), truncation_psi=0.7).float().cpu()
            finite = bool(torch.isfinite(o).all())
            report(f"autocast {dt} finite and close to float32", (o - ref).abs().max().item() if finite else float("inf"), 0.25)

        cfg16 = dataclasses.replace(cfg, num_fp16_res=4, conv_clamp=256)
        G16 = Generator(cfg16).eval().to(device)
        G16.load_state_dict(G_cpu.state_dict())
        o16 = G16(z.to(device), truncation_psi=0.7).float().cpu()
        report("num_fp16_res=4 + conv_clamp=256 finite and close to float32",
               (o16 - ref).abs().max().item() if torch.isfinite(o16).all() else float("inf"), 0.25)

    try:
        Gc = torch.compile(G)
        with torch.no_grad():
            oc = Gc(z.to(device), truncation_psi=0.7).cpu()
        report("torch.compile vs eager", (oc - out).abs().max().item(), 1e-4)
    except Exception as exc:  # report, do not hide
        print(f"FAIL torch.compile raised {type(exc).__name__}: {exc}")
        failed.append("compile")

    D = Discriminator(DiscriminatorConfig(img_resolution=args.resolution, channel_base=16384, channel_max=512)).to(device)
    img = torch.randn(8, 3, args.resolution, args.resolution, device=device, requires_grad=True)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        logits = D(img)
    logits.float().sum().backward()
    ok = bool(torch.isfinite(logits).all() and torch.isfinite(img.grad).all())
    print(f"{'ok  ' if ok else 'FAIL'} discriminator forward+backward under bf16 autocast: finite={ok}")
    if not ok:
        failed.append("D autocast")

    for label, dtype, tf32 in (("float32", None, False), ("tf32", None, True), ("bf16 autocast", torch.bfloat16, False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        rates = [_throughput(G, device, b, dtype=dtype, iters=args.iters) for b in (1, 8, 32)]
        print(f"speed {label:>14}: " + ", ".join(f"batch {b}: {r:8.1f} img/s" for b, r in zip((1, 8, 32), rates)))

    print("all checks passed" if not failed else f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
