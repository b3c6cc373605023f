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

Peak: the best GFLOP/s of a float32 4096x4096 torch.mm (MKL) and of a float32
3x3 convolution (oneDNN, 256 channels, 64x64, NHWC), a few runs each per round,
with torch's thread count. On AMD CPUs MKL's sgemm reaches well under what
oneDNN reaches (about 190 vs 480 GFLOP/s on the 2-core EPYC of bench/RESULTS.md),
so the conv figure is the peak there. The machine may be shared with other work, so the
bench runs several rounds; in each round it measures the peak, then every
batch size for synthbio and the official code back to back (alternating which
goes first). It prints the load average per round and, per implementation and
batch size, the median and best seconds per batch; % of peak compares best
with best (what the hardware allows) and median with median; the speed-up is
the median of the per-round ratios (both sides saw the same load).

    python bench/generator.py --profile 1   # per-op CPU time of one synthbio batch
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def measure_peak(runs: int = 3) -> tuple[float, float]:
    """Best GFLOP/s over `runs` runs of (float32 4096^3 torch.mm, float32 3x3 conv 256->256 ch at 64x64 NHWC).

    torch.mm runs MKL, which on AMD CPUs does not reach the rate oneDNN's
    convolutions do; the larger of the two is the peak the % columns use.
    """
    n = 4096
    a, b, c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    x = torch.randn(1, 256, 64, 64).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 3, 3).contiguous(memory_format=torch.channels_last)
    conv_flop = 2 * 64 * 64 * 9 * 256 * 256
    torch.mm(a, b, out=c)  # warm-up
    torch.nn.functional.conv2d(x, w, padding=1)
    best_mm = best_conv = 0.0
    for _ in range(runs):
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        best_mm = max(best_mm, 2 * n**3 / (time.perf_counter() - t) / 1e9)
        for _ in range(3):
            t = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            best_conv = max(best_conv, conv_flop / (time.perf_counter() - t) / 1e9)
    return best_mm, best_conv


def time_once(g: torch.nn.Module, z: torch.Tensor, *, official: bool) -> float:
    """Seconds for one G(z) with constant noise and truncation 0.7."""
    with torch.inference_mode():
        t = time.perf_counter()
        if official:
            g(z, torch.zeros([z.shape[0], 0]), truncation_psi=0.7, noise_mode="const")
        else:
            g(z, truncation_psi=0.7)
        return time.perf_counter() - t


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def build_official(state: dict[str, torch.Tensor]) -> torch.nn.Module | None:
    if not os.environ.get("SYNTHBIO_REF_STYLEGAN2"):
        return None
    import reference_parity as rp  # the same import shims as the parity check

    net = rp.load_reference()
    ref = rp.official_G(net, CONFIG).eval()
    ref.load_state_dict(state, strict=True)
    return ref


def profile(g: torch.nn.Module, batch: int) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    z = torch.randn([batch, 512], generator=torch.Generator().manual_seed(0))
    for _ in range(2):
        time_once(g, z, official=False)
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        sec = time_once(g, z, official=False)
    print(f"batch {batch}: {sec:.3f} s, load {load()}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=30,
                                                              max_name_column_width=30, max_shapes_column_width=90))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--profile", type=int, default=None, metavar="BATCH")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = Generator(CONFIG).eval()
    if args.profile:
        profile(g, args.profile)
        return
    ref = build_official(g.state_dict())
    impls = [("synthbio", g, False)] + ([("official", ref, True)] if ref is not None else [])
    batches = [int(b) for b in args.batches.split(",")]
    flop = gflop_per_image(CONFIG)
    zs = {b: torch.randn([b, 512], generator=torch.Generator().manual_seed(0)) for b in batches}
    for _, net, official in impls:  # warm-up: caches, oneDNN primitives
        time_once(net, zs[batches[0]], official=official)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {flop:.2f} GFLOP/image (2*MACs)")
    peaks: list[float] = []
    mm_peaks: list[float] = []
    secs: dict[tuple[str, int], list[float]] = {}
    for r in range(args.rounds):
        mm_peak, conv_peak = measure_peak()
        mm_peaks.append(mm_peak)
        peaks.append(max(mm_peak, conv_peak))
        times = []
        for b in batches:
            order = impls if r % 2 == 0 else impls[::-1]
            for name, net, official in order:
                sec = time_once(net, zs[b], official=official)
                secs.setdefault((name, b), []).append(sec)
                times.append(f"{name[:4]}@{b}={sec:.2f}s")
        print(f"round {r}: load {load()}, peak {peaks[-1]:.1f} GFLOP/s (mm {mm_peak:.1f}, conv {conv_peak:.1f}), "
              + " ".join(times))
    peak_best, peak_med = max(peaks), statistics.median(peaks)
    print(f"peak: best {peak_best:.1f}, median {peak_med:.1f} GFLOP/s (torch.mm alone: best {max(mm_peaks):.1f}); "
          f"load at end {load()}")
    print(f"{'impl':9s} {'batch':>5s} {'med s':>7s} {'best s':>7s} {'img/s med':>9s} {'best':>6s} "
          f"{'GFLOP/s best':>12s} {'%peak best':>10s} {'%peak med':>9s}")
    for b in batches:
        for name, _, _ in impls:
            ts = secs[(name, b)]
            med, best = statistics.median(ts), min(ts)
            print(f"{name:9s} {b:5d} {med:7.3f} {best:7.3f} {b / med:9.2f} {b / best:6.2f} "
                  f"{flop * b / best:12.1f} {100 * flop * b / best / peak_best:9.1f}% "
                  f"{100 * flop * b / med / peak_med:8.1f}%")
        if ref is not None:
            ratios = [o / s for o, s in zip(secs[("official", b)], secs[("synthbio", b)])]
            print(f"{'':9s} {b:5d} speed-up synthbio/official: median {statistics.median(ratios):.2f}x "
                  f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main()
