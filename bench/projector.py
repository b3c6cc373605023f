"""Projection speed (steps/s) at 256x256 on CPU with the VGG16 perceptual loss: synthbio vs official.

    python bench/projector.py                                   # synthbio only
    SYNTHBIO_REF_STYLEGAN2=/path/to/stylegan2-ada-pytorch python bench/projector.py   # + official
    python bench/projector.py --ref /path/to/stylegan2-ada-pytorch --threads 1 2 --precision float32 bfloat16

Both sides project the same target with the same generator weights: a synthbio
generator at 256x256 (z = w = 256, mapping 2, channel_base 8192, channel_max
256, random init with non-zero noise strengths) whose state dict loads into the
official `training.networks.Generator` unchanged (see bench/reference_parity.py),
and the same VGG16 (random weights from a fixed seed; the figures are about
speed, not quality). The official side runs the official `projector.project`
function itself: its VGG16 normally comes as TorchScript from a URL, so the
bench hands it, through a small adapter, synthbio's VGG16 computing the same
LPIPS-style features (unit-normalised per pixel, scaled by 1/sqrt(h*w),
concatenated), with frozen weights (as the official file must have them: the
official loop backpropagates once per step through a graph that includes the
target features, which fails on step 2 if the VGG weights require grad). Its
custom ops fall back to their reference PyTorch code on CPU. Each run is its own process with the given
thread count; steps/s is timed from step 3 on (w_avg from 10k samples and
the target features are not counted).

`--precision` runs synthbio once per listed `ProjectorConfig.precision`
('bfloat16' = VGG16 under bf16 autocast; needs a CPU with native bf16); the
official side has no such option and always runs float32. Runs are interleaved
(synthbio float32, official, synthbio bfloat16, then again) `--repeats` times,
so that load from other jobs falls on both sides alike; the table gives
medians (the best run in brackets: on a shared machine the least disturbed
one), and the 1-minute load average seen at the end of each run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import types
import warnings

RES = 256
G_KW = dict(img_resolution=RES, z_dim=256, w_dim=256, mapping_layers=2, channel_base=8192, channel_max=256)
WARM = 3


def build_models() -> tuple:
    """Same G and VGG16 in every process: fixed seeds, noise strengths 0.1."""
    import torch

    from synthbio.nn.config import GeneratorConfig
    from synthbio.nn.vgg import VGG16Features
    from synthbio.pipelines.images.demo import build_demo_generator

    G = build_demo_generator(GeneratorConfig(**G_KW), seed=1, noise_strength=0.1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        vgg = VGG16Features().eval()
    with torch.no_grad():
        target = G(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(3)))
    return G, vgg, target.clamp(-1, 1)


def run_ours(steps: int, precision: str) -> list[float]:
    from synthbio.inversion.losses import VGGPerceptualLoss
    from synthbio.inversion.projector import ProjectorConfig, project

    G, vgg, target = build_models()
    stamps: list[float] = []
    project(G, target, config=ProjectorConfig(num_steps=steps, precision=precision), loss=VGGPerceptualLoss(vgg),
            progress=False,
            callback=lambda s, _: stamps.append(time.perf_counter()))
    return stamps


class _OfficialVGGAdapter:
    """Stands in for the official TorchScript vgg16.pt: images in [0, 255] -> LPIPS features [N, F]."""

    def __init__(self, vgg, stamps: list[float]) -> None:
        self.vgg = vgg.requires_grad_(False)
        self.stamps = stamps

    def eval(self):
        return self

    def to(self, device):
        self.vgg.to(device)
        return self

    def __call__(self, images, resize_images=False, return_lpips=True):
        import torch

        assert return_lpips and not resize_images
        if images.requires_grad:  # one call per step: the synthesised image
            self.stamps.append(time.perf_counter())
        feats = []
        for f in self.vgg(images / 127.5 - 1):
            f = f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            feats.append((f * (1.0 / (f.shape[2] * f.shape[3])) ** 0.5).flatten(1))
        return torch.cat(feats, dim=1)


def run_official(repo: str, steps: int) -> list[float]:
    import torch

    sys.path.insert(0, repo)
    warnings.filterwarnings("ignore")
    if importlib.util.find_spec("requests") is None:  # dnnlib imports it for downloads only
        sys.modules["requests"] = types.ModuleType("requests")
    import projector as official  # the official projector.py
    from training import networks

    G, vgg, target = build_models()
    cfg = G.config
    ref = networks.Generator(z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=RES, img_channels=3,
                             mapping_kwargs=dict(num_layers=cfg.mapping_layers),
                             synthesis_kwargs=dict(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                                                   num_fp16_res=0, conv_clamp=None))
    ref.load_state_dict(G.state_dict(), strict=True)
    ref.eval().requires_grad_(False)
    stamps: list[float] = []
    adapter = _OfficialVGGAdapter(vgg, stamps)
    official.dnnlib.util.open_url = lambda url, **_: contextlib.nullcontext(None)
    official.torch.jit.load = lambda f, *a, **k: adapter
    target_255 = ((target[0] + 1) * 127.5).clamp(0, 255)
    official.project(ref, target_255, num_steps=steps, device=torch.device("cpu"))
    return stamps[1:] if len(stamps) > steps else stamps


def _worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads[0])
    if args.worker == "ours":
        stamps = run_ours(args.steps, args.precision[0])
    else:
        stamps = run_official(args.ref, args.steps)
    timed = stamps[WARM:]
    print("RESULT " + json.dumps({"steps_per_s": (len(timed) - 1) / (timed[-1] - timed[0]),
                                  "load": os.getloadavg()[0]}))


def _spawn(which: str, args: argparse.Namespace, threads: int, precision: str = "float32") -> tuple[float, float]:
    """One run in its own process -> (steps/s, 1-minute load average at its end)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, __file__, "--worker", which, "--steps", str(args.steps), "--threads", str(threads),
           "--precision", precision]
    if args.ref:
        cmd += ["--ref", args.ref]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    line = [s for s in out.stdout.splitlines() if s.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    return float(result["steps_per_s"]), float(result["load"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=["ours", "official"])
    ap.add_argument("--ref", default=os.environ.get("SYNTHBIO_REF_STYLEGAN2"),
                    help="checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--steps", type=int, default=15, help="projection steps per run (the first 3 are not timed)")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--precision", nargs="*", default=["float32"], choices=["float32", "bfloat16"],
                    help="synthbio projector precision(s); the official side is always float32")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per setting (medians reported)")
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {RES}x{RES}, VGG16 loss, "
          f"{args.steps} steps per run, median of {args.repeats} interleaved runs")
    print("| threads | synthbio precision | synthbio steps/s, median (best) | official steps/s (float32), "
          "median (best) | synthbio / official, medians (bests) | 1-min load average during runs |")
    print("|---|---|---|---|---|---|")
    for threads in args.threads:
        ours: dict[str, list[float]] = {p: [] for p in args.precision}
        theirs: list[float] = []
        loads: list[float] = []
        for _ in range(args.repeats):
            for i, precision in enumerate(args.precision):
                speed, load = _spawn("ours", args, threads, precision)
                ours[precision].append(speed)
                loads.append(load)
                if i == 0 and args.ref:  # official between our precisions: ours, official, ours, ...
                    speed, load = _spawn("official", args, threads)
                    theirs.append(speed)
                    loads.append(load)
            print(f"  threads {threads}: synthbio " + ", ".join(f"{p} {v[-1]:.3f}" for p, v in ours.items())
                  + (f", official {theirs[-1]:.3f}" if theirs else "") + f" steps/s, load {loads[-1]:.1f}",
                  file=sys.stderr, flush=True)
        load = f"{min(loads):.1f}-{max(loads):.1f}"
        for precision, speeds in ours.items():
            mine, mine_best = statistics.median(speeds), max(speeds)
            if theirs:
                other, other_best = statistics.median(theirs), max(theirs)
                print(f"| {threads} | {precision} | {mine:.3f} ({mine_best:.3f}) | {other:.3f} ({other_best:.3f}) | "
                      f"{mine / other:.2f}x ({mine_best / other_best:.2f}x) | {load} |", flush=True)
            else:
                print(f"| {threads} | {precision} | {mine:.3f} ({mine_best:.3f}) | - | - | {load} |", flush=True)


if __name__ == "__main__":
    main()
