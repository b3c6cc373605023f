"""Training speed (s/kimg) at 64x64 on CPU: synthbio's loop vs the official StyleGAN2-ADA objective.

    python bench/train.py                     # synthbio only
    SYNTHBIO_REF_STYLEGAN2=/path/to/stylegan2-ada-pytorch python bench/train.py   # + official

Both run the `small64` configuration (z = w = 256, mapping 2, channel_base 8192,
channel_max 256, mbstd 4, batch 16, gamma 0.0002*64^2/16, ADA target 0.6,
style mixing 0.9, path length every 4 steps, R1 every 16) on the same 64x64
images, loaded by the same synthbio data loader. A tick is 16 steps (so every
tick holds the same mix of phases); the first tick is warm-up and is not
counted. The official code is driven through its `StyleGAN2Loss`,
`AugmentPipe` ('bgc') and `training_stats` with the phase schedule, Adam
settings, G_ema update and ADA rule of its `training_loop.py` (which itself
needs CUDA events and a GPU, so its loop body is re-created here); its custom
CUDA ops fall back to their reference PyTorch code on CPU. Each side runs in
its own process with the same thread count.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import PIL.Image

RES, BATCH, STEPS_PER_TICK = 64, 16, 16


def make_data(folder: Path, n: int = 64) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:RES, 0:RES]
    for i in range(n):
        cx, cy = rng.uniform(10, RES - 10, size=2)
        blob = 255 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 80.0)
        img = np.clip(blob[..., None] + rng.normal(0, 12, (RES, RES, 3)), 0, 255).astype(np.uint8)
        PIL.Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def run_ours(data: str, ticks: int) -> dict:
    from synthbio.training.configs import TrainConfig
    from synthbio.training.loop import train

    tick_kimg = BATCH * STEPS_PER_TICK / 1000
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(data=data, outdir=out, config="small64", kimg=tick_kimg * ticks, batch=BATCH,
                          kimg_per_tick=tick_kimg, snapshot_kimg=1000, device="cpu", grid=4)
        train(cfg)
        lines = [json.loads(s) for s in (Path(out) / "stats.jsonl").read_text().splitlines()]
    per_tick = [r["Timing/sec_per_kimg"] for r in lines[1:]]
    return {"sec_per_kimg": float(np.mean(per_tick)), "ticks": per_tick}


def _import_official(repo: str) -> types.SimpleNamespace:
    sys.path.insert(0, repo)
    if importlib.util.find_spec("requests") is None:  # dnnlib imports it for downloads only
        sys.modules["requests"] = types.ModuleType("requests")
    import warnings

    warnings.filterwarnings("ignore")
    from torch_utils import training_stats
    from training import networks
    from training.augment import AugmentPipe
    from training.loss import StyleGAN2Loss

    return types.SimpleNamespace(networks=networks, AugmentPipe=AugmentPipe, StyleGAN2Loss=StyleGAN2Loss,
                                 training_stats=training_stats)


def run_official(repo: str, data: str, ticks: int) -> dict:
    import copy

    import torch

    from synthbio.training.configs import PRESETS, lazy_regularization_adam
    from synthbio.training.data import DatasetConfig, ImageDataset, infinite_loader, to_float

    ref = _import_official(repo)
    p = PRESETS["small64"]
    device = torch.device("cpu")
    torch.manual_seed(0)
    G = ref.networks.Generator(z_dim=p.z_dim, c_dim=0, w_dim=p.w_dim, img_resolution=RES, img_channels=3,
                               mapping_kwargs=dict(num_layers=p.map_layers),
                               synthesis_kwargs=dict(channel_base=p.channel_base, channel_max=p.channel_max,
                                                     num_fp16_res=0, conv_clamp=256))
    D = ref.networks.Discriminator(c_dim=0, img_resolution=RES, img_channels=3, channel_base=p.channel_base,
                                   channel_max=p.channel_max, num_fp16_res=0, conv_clamp=256,
                                   block_kwargs={}, mapping_kwargs={},
                                   epilogue_kwargs=dict(mbstd_group_size=p.mbstd_group))
    G, D = G.train().requires_grad_(False), D.train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    aug = ref.AugmentPipe(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1,
                          contrast=1, lumaflip=1, hue=1, saturation=1).train().requires_grad_(False)
    aug.p.copy_(torch.as_tensor(0.0))
    ada_stats = ref.training_stats.Collector(regex="Loss/signs/real")
    gamma = 0.0002 * RES**2 / BATCH
    loss = ref.StyleGAN2Loss(device=device, G_mapping=G.mapping, G_synthesis=G.synthesis, D=D, augment_pipe=aug,
                             r1_gamma=gamma)
    phases = []
    for name, module, interval in (("G", G, 4), ("D", D, 16)):
        lr, betas = lazy_regularization_adam(lr=p.lr, betas=(0.0, 0.99), interval=interval)
        opt = torch.optim.Adam(module.parameters(), lr=lr, betas=betas, eps=1e-8)
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
    dataset = ImageDataset(DatasetConfig(path=data))
    loader = infinite_loader(dataset, batch_size=BATCH, seed=0)
    ema_nimg_cfg = BATCH * 10 / 32 * 1000
    cur_nimg, per_tick = 0, []
    for tick in range(ticks):
        t0 = time.perf_counter()
        for step in range(tick * STEPS_PER_TICK, (tick + 1) * STEPS_PER_TICK):
            images, c = next(loader)
            real = to_float(images["img"])
            for name, module, opt, interval in phases:
                if step % interval:
                    continue
                opt.zero_grad(set_to_none=True)
                module.requires_grad_(True)
                loss.accumulate_gradients(phase=name, real_img=real, real_c=c, gen_z=torch.randn([BATCH, p.z_dim]),
                                          gen_c=c, sync=True, gain=interval)
                module.requires_grad_(False)
                for prm in module.parameters():
                    if prm.grad is not None:
                        torch.nan_to_num(prm.grad, nan=0, posinf=1e5, neginf=-1e5, out=prm.grad)
                opt.step()
            with torch.no_grad():
                beta = 0.5 ** (BATCH / max(min(ema_nimg_cfg, cur_nimg * 0.05), 1e-8))
                for pe, pg in zip(G_ema.parameters(), G.parameters()):
                    pe.copy_(pg.lerp(pe, beta))
                for be, bg in zip(G_ema.buffers(), G.buffers()):
                    be.copy_(bg)
            cur_nimg += BATCH
            if (step + 1) % 4 == 0:
                ada_stats.update()
                adjust = np.sign(ada_stats["Loss/signs/real"] - 0.6) * BATCH * 4 / (500 * 1000)
                aug.p.copy_((aug.p + adjust).max(torch.zeros([])))
        per_tick.append((time.perf_counter() - t0) / (BATCH * STEPS_PER_TICK) * 1000)
    return {"sec_per_kimg": float(np.mean(per_tick[1:])), "ticks": per_tick[1:]}


def _worker(which: str, data: str, ticks: int, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    if which == "ours":
        res = run_ours(data, ticks)
    else:
        res = run_official(os.environ["SYNTHBIO_REF_STYLEGAN2"], data, ticks)
    print("RESULT " + json.dumps(res))


def _spawn(which: str, data: str, ticks: int, threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", which, "--data", data, "--ticks", str(ticks),
                          "--threads", str(threads)], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    line = [s for s in out.stdout.splitlines() if s.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", choices=["ours", "official"])
    ap.add_argument("--data")
    ap.add_argument("--ticks", type=int, default=3, help="ticks of 16 steps (the first is warm-up)")
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.data, args.ticks, args.threads[0])
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = str(make_data(Path(tmp) / "data"))
        ref = os.environ.get("SYNTHBIO_REF_STYLEGAN2")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; 64x64, small64, batch {BATCH}")
        print("| threads | synthbio s/kimg | official s/kimg | official / synthbio |")
        print("|---|---|---|---|")
        for threads in args.threads:
            ours = _spawn("ours", data, args.ticks, threads)
            theirs = _spawn("official", data, args.ticks, threads) if ref else None
            ratio = f"{theirs['sec_per_kimg'] / ours['sec_per_kimg']:.2f}x" if theirs else "-"
            print(f"| {threads} | {ours['sec_per_kimg']:.1f} | "
                  f"{theirs['sec_per_kimg']:.1f} | {ratio} |" if theirs else
                  f"| {threads} | {ours['sec_per_kimg']:.1f} | - | - |", flush=True)


if __name__ == "__main__":
    main()
