"""StyleGAN3 synthesis speed on CPU: synthbio against the official code (its reference CPU path), same run.

Usage:
    SYNTHBIO_REF_STYLEGAN3=/path/to/stylegan3 python bench/stylegan3_speed.py [--threads 1 2] [--repeats 3]

Both networks are the FFHQ-U 256x256 configurations of the StyleGAN3 release
(T: channel_base 16384; R: 32768, channel_max 1024, 1x1 convolutions, radial
filters) with the same random weights (loaded into synthbio from the official
module's state dict). One image per call, under no_grad, float32. Runs are
interleaved (ours, official, ours, official, ...) because other jobs on a
shared machine swing single runs; the script prints the median and best
seconds per image of each, the ratio of medians and of bests, the median
CPU seconds of the process per image (on a machine shared with other jobs
the wall time is mostly waiting; with 1 thread CPU time is the figure to
read) and the load average before and after. The outputs are compared too
(max |delta|).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import sys
import time
import types
import warnings

import torch

from synthbio.nn.stylegan3 import StyleGAN3Config, StyleGAN3Generator

CONFIGS = {
    "T": dict(channel_base=16384, channel_max=512),
    "R": dict(channel_base=32768, channel_max=1024, conv_kernel=1, use_radial_filters=True),
}


def load_reference() -> types.ModuleType:
    root = os.environ.get("SYNTHBIO_REF_STYLEGAN3")
    if not root or not os.path.exists(os.path.join(root, "training", "networks_stylegan3.py")):
        sys.exit("set SYNTHBIO_REF_STYLEGAN3 to a checkout of NVlabs/stylegan3")
    sys.path.insert(0, root)
    warnings.filterwarnings("ignore")
    if importlib.util.find_spec("requests") is None:  # dnnlib imports it for downloads only
        sys.modules["requests"] = types.ModuleType("requests")
    if importlib.util.find_spec("pkg_resources") is None:  # a version check in torch_utils
        from packaging.version import parse

        shim = types.ModuleType("pkg_resources")
        shim.parse_version = parse  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    return importlib.import_module("training.networks_stylegan3")


def timed(fn, *args) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(wall seconds, CPU seconds of this process, all threads) of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["T", "R"], choices=sorted(CONFIGS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved pairs per setting")
    parser.add_argument("--resolution", type=int, default=256)
    args = parser.parse_args()
    net3 = load_reference()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average before {os.getloadavg()}")
    print(f"{'config':6s} {'threads':>7s} {'ours median/best s':>19s} {'official median/best s':>23s} "
          f"{'speed-up (medians)':>18s} {'(bests)':>8s} {'CPU s ours/official':>20s} {'(ratio)':>8s} {'max|d|':>9s}")
    for name in args.configs:
        kw = CONFIGS[name]
        ref = net3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.resolution, img_channels=3,
                             mapping_kwargs=dict(num_layers=2), **kw).eval()
        ours = StyleGAN3Generator(StyleGAN3Config(img_resolution=args.resolution, **kw)).eval()
        ours.load_state_dict(ref.state_dict())
        ws = ref.mapping(torch.randn(1, 512, generator=torch.Generator().manual_seed(1)), None).detach()
        for threads in args.threads:
            torch.set_num_threads(threads)
            with torch.no_grad():
                diff = float((ours.synthesis(ws) - ref.synthesis(ws)).abs().max())  # also warms both up
                runs_ours, runs_ref = [], []
                for _ in range(args.repeats):
                    runs_ours.append(timed(ours.synthesis, ws))
                    runs_ref.append(timed(ref.synthesis, ws))
            t_ours, t_ref = [w for w, _ in runs_ours], [w for w, _ in runs_ref]
            mo, mr = statistics.median(t_ours), statistics.median(t_ref)
            co, cr = statistics.median(c for _, c in runs_ours), statistics.median(c for _, c in runs_ref)
            print(f"{name:6s} {threads:7d} {mo:9.2f} / {min(t_ours):7.2f} {mr:12.2f} / {min(t_ref):8.2f} "
                  f"{mr / mo:17.2f}x {min(t_ref) / min(t_ours):7.2f}x {co:9.2f} / {cr:8.2f} {cr / co:7.2f}x "
                  f"{diff:9.1e}", flush=True)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
