"""Generator throughput on this machine: images/s, GFLOP/image, % of measured fp32 peak.

Usage:
    python bench/generator.py [--batches 1,8,32] [--threads N]
    SYNTHBIO_REF_STYLEGAN2=/path/to/stylegan2-ada-pytorch python bench/generator.py   # + official code

Config: 256x256, z=w=512, 8 mapping layers, channel_base 16384, channel_max 512,
one 3-channel branch, noise_mode='const', float32, torch.inference_mode().

GFLOP/image counts multiply-accumulates of convolutions and matmuls as
2*MACs, analytically from the config: mapping fc layers, affine (style)
layers, each 3x3 conv at its output resolution (R^2 * 9 * Cin * Cout), each
upsampling conv as the official strided transposed conv runs it, on its input
grid ((R/2)^2 * 9 * Cin * Cout), and the 1x1 toRGB convs. Elementwise work
(modulation, demodulation, bias, activation, noise, FIR blur) is not counted,
so % of peak is a lower bound on hardware use.

Peak: best sustained GFLOP/s of float32 torch.mm on square matrices (up to
4096) with torch's thread count. The machine may be shared with other work:
each figure is the best of a few runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
from synthbio.nn import Generator, GeneratorConfig  # noqa: E402

CONFIG = GeneratorConfig(z_dim=512, w_dim=512, img_resolution=256, channel_base=16384, channel_max=512,
                         mapping_layers=8)


def gflop_per_image(cfg: GeneratorConfig) -> float:
    """Analytic 2*MACs of one image (see module docstring)."""
    macs = cfg.mapping_layers * cfg.w_dim * cfg.w_dim + (cfg.z_dim - cfg.w_dim) * cfg.w_dim
    for res in cfg.block_resolutions:
        cout = cfg.channels(res)
        if res > 4:
            cin = cfg.channels(res // 2)
            macs += cfg.w_dim * cin + (res // 2) ** 2 * 9 * cin * cout  # conv0 affine + transposed conv
        macs += cfg.w_dim * cout + res * res * 9 * cout * cout  # conv1
        for _, ch in cfg.branches:
            macs += cfg.w_dim * cout + res * res * cout * ch  # toRGB affine + 1x1 conv
    return 2 * macs / 1e9


def measure_peak() -> float:
    best = 0.0
    for n in (2048, 4096):
        a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        for _ in range(3 if n == 2048 else 6):
            t = time.perf_counter()
            torch.mm(a, b, out=c)
            best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def time_generator(g: torch.nn.Module, batch: int, iters: int, *, official: bool) -> float:
    """Best seconds per batch of G(z) with constant noise and truncation 0.7."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn([batch, 512], generator=gen)
    c = torch.zeros([batch, 0])
    best = float("inf")
    with torch.inference_mode():
        for i in range(iters + 1):  # the first call warms up caches and kernels
            t = time.perf_counter()
            if official:
                g(z, c, truncation_psi=0.7, noise_mode="const")
            else:
                g(z, truncation_psi=0.7)
            dt = time.perf_counter() - t
            if i > 0 or iters == 0:
                best = min(best, dt)
    return best


def build_official(state: dict[str, torch.Tensor]) -> torch.nn.Module | None:
    if not os.environ.get("SYNTHBIO_REF_STYLEGAN2"):
        return None
    import reference_parity as rp  # the same import shims as the parity check

    net = rp.load_reference()
    ref = rp.official_G(net, CONFIG).eval()
    ref.load_state_dict(state, strict=True)
    return ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = Generator(CONFIG).eval()
    ref = build_official(g.state_dict())
    flop = gflop_per_image(CONFIG)
    peak = measure_peak()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"fp32 mm peak {peak:.1f} GFLOP/s, {flop:.2f} GFLOP/image (2*MACs)")
    header = f"{'impl':10s} {'batch':>5s} {'s/batch':>8s} {'img/s':>7s} {'GFLOP/s':>8s} {'% peak':>7s}"
    print(header)
    for batch in [int(b) for b in args.batches.split(",")]:
        iters = 3 if batch == 1 else (2 if batch <= 8 else 1)
        rows = [("synthbio", time_generator(g, batch, iters, official=False))]
        if ref is not None:
            rows.append(("official", time_generator(ref, batch, iters, official=True)))
        for name, sec in rows:
            rate = flop * batch / sec
            print(f"{name:10s} {batch:5d} {sec:8.3f} {batch / sec:7.2f} {rate:8.1f} {100 * rate / peak:6.1f}%")
        if ref is not None:
            print(f"{'':10s} {batch:5d} speed-up synthbio/official: {rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
