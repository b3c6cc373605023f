"""Masks: training time, generation speed against images alone, and peak RAM, on real-size generators.

The generators are StyleGAN2 architectures with random weights (no download
here; time and memory do not depend on the weights): `paper256` (the official
256² config: channel_base 16384, up to 512 channels; 4,480 feature channels)
and config F at 1024² (channel_base 32768; 5,568 feature channels). The
annotations are planted: labels that are a fixed function of two feature maps
(so training has something to learn and stops early as it would on real
annotations); K classes.

    python bench/masks_bench.py train --res 256 --annotations 8        # target: < 10 min
    python bench/masks_bench.py speed --res 256 --rounds 5             # target: masks >= 0.5x images/s
    python bench/masks_bench.py memory --res 1024 --annotations 16     # target: peak RAM < 8 GB

On a shared machine wall time overstates the cost: `train` also prints the
process CPU time (all threads; divided by `threads` it is the wall time an
idle machine with that many cores would take, at best).

Each prints its figures and, for memory, what the reference (all features of all
pixels in memory) would need. Timings on this shared 2-core machine are noisy:
`speed` interleaves images-only and images+masks passes and reports medians
and per-round ratios, with the load average of each round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from synthbio.generation.sampling import map_seeds, synthesize
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.generator import Generator
from synthbio.segmentation.features import describe_layers, feature_modules, synthesize_with_features
from synthbio.segmentation.pixel_classifier import PixelClassifierConfig, PixelEnsemble
from synthbio.segmentation.predict import synthesize_with_masks
from synthbio.segmentation.training import AnnotatedSample, FitConfig, fit_pixel_classifier

CONFIGS = {
    256: GeneratorConfig(img_resolution=256, z_dim=512, w_dim=512, channel_base=16384, channel_max=512,
                         mapping_layers=8),
    512: GeneratorConfig(img_resolution=512, z_dim=512, w_dim=512, channel_base=32768, channel_max=512,
                         mapping_layers=8),
    1024: GeneratorConfig(img_resolution=1024, z_dim=512, w_dim=512, channel_base=32768, channel_max=512,
                          mapping_layers=8),
}


def build(res: int) -> Generator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = Generator(CONFIGS[res])
    return G.eval().requires_grad_(False)


def planted(G: Generator, seeds: list[int], k: int) -> list[AnnotatedSample]:
    """Labels = argmax of fixed projections of two feature maps (b32.conv1 resized, and the last map)."""
    _, ws = map_seeds(G, seeds, truncation_psi=0.7)
    last = list(feature_modules(G))[-1]
    out = []
    g = torch.Generator().manual_seed(1)
    proj = None
    for i, s in enumerate(seeds):
        _, maps = synthesize_with_features(G, ws[i:i + 1], layers=["b32.conv1", last], seeds=[s])
        r = G.img_resolution
        f = torch.cat([F.interpolate(maps[0], size=(r, r), mode="bilinear", align_corners=False), maps[1]], 1)[0]
        if proj is None:
            proj = torch.randn(k, f.shape[0], generator=g)
        score = torch.einsum("kc,chw->khw", proj, f)
        score = score - score.mean(dim=(1, 2), keepdim=True)
        out.append(AnnotatedSample(f"seed{s}", s, ws[i], score.argmax(0).numpy().astype(np.uint8)))
        del maps, f
    return out


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cmd_train(args: argparse.Namespace) -> None:
    G = build(args.res)
    samples = planted(G, list(range(args.annotations)), args.classes)
    fit = FitConfig(members=args.members, pixels_per_image=args.pixels, max_epochs=args.epochs,
                    rank=args.rank)
    t0, c0 = time.monotonic(), time.process_time()
    _, report = fit_pixel_classifier(G, samples, num_classes=args.classes, config=fit,
                                     log=lambda m: print(m, flush=True))
    total, cpu = time.monotonic() - t0, time.process_time() - c0
    print(json.dumps({"bench": "train", "res": args.res, "annotations": args.annotations, "rank": args.rank,
                      "features": report.in_features, "pixels_train": report.pixels_train, "epochs": report.epochs,
                      "train_s": round(report.seconds, 1), "total_s_incl_features": round(total, 1),
                      "cpu_s_all_threads": round(cpu, 1), "threads": torch.get_num_threads(),
                      "val_accuracy": round(report.val_accuracy, 4), "peak_rss_mib": round(peak_rss_mib()),
                      "load": os.getloadavg()}, indent=1))


def cmd_speed(args: argparse.Namespace) -> None:
    G = build(args.res)
    layers = describe_layers(G, list(feature_modules(G)))
    cfg = PixelClassifierConfig(layers=tuple(layers), height=args.res, width=args.res, num_classes=args.classes,
                                members=args.members, rank=args.rank)
    model = PixelEnsemble(cfg)
    model.reset_parameters(torch.Generator().manual_seed(0))
    model.eval()
    seeds = list(range(args.images))
    _, ws = map_seeds(G, seeds, truncation_psi=0.7)
    synthesize_with_masks(G, model, ws[:1], seeds=seeds[:1])  # warm-up
    plain, masked = [], []
    for r in range(args.rounds):
        order = [("images", lambda: synthesize(G, ws, seeds=seeds)),
                 ("masks", lambda: synthesize_with_masks(G, model, ws, seeds=seeds))]
        if r % 2:
            order.reverse()
        times = {}
        for name, fn in order:
            t = time.perf_counter()
            fn()
            times[name] = (time.perf_counter() - t) / len(seeds)
        plain.append(times["images"])
        masked.append(times["masks"])
        print(f"round {r}: images {1 / times['images']:.2f} img/s, images+masks {1 / times['masks']:.2f} img/s, "
              f"ratio {times['images'] / times['masks']:.2f}, load {os.getloadavg()[0]:.1f}", flush=True)
    ratios = [p / m for p, m in zip(plain, masked)]
    print(json.dumps({"bench": "speed", "res": args.res, "members": args.members, "rank": args.rank,
                      "threads": torch.get_num_threads(),
                      "images_per_s": round(1 / statistics.median(plain), 3),
                      "images_with_masks_per_s": round(1 / statistics.median(masked), 3),
                      "ratio_median": round(statistics.median(ratios), 3),
                      "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)]}, indent=1))


def cmd_memory(args: argparse.Namespace) -> None:
    G = build(args.res)
    n = args.annotations
    layers = describe_layers(G, list(feature_modules(G)))
    d = sum(x.channels for x in layers)
    samples = planted(G, list(range(n)), args.classes)
    after_labels = peak_rss_mib()
    fit = FitConfig(members=args.members, pixels_per_image=args.pixels, max_epochs=args.epochs,
                    rank=args.rank)
    t0 = time.monotonic()
    _, report = fit_pixel_classifier(G, samples, num_classes=args.classes, config=fit,
                                     log=lambda m: print(m, flush=True))
    px = args.res * args.res * n
    print(json.dumps({
        "bench": "memory", "res": args.res, "annotations": n, "rank": args.rank, "features": d, "epochs": report.epochs,
        "pixels_per_image": args.pixels, "seconds": round(time.monotonic() - t0),
        "peak_rss_mib": round(peak_rss_mib()), "peak_rss_before_training_mib": round(after_labels),
        "sampled_features_gib": round(report.pixels_train * d * 2 / 2**30, 2),
        "reference_features_float16_gib": round(px * d * 2 / 2**30, 1),
        "reference_features_float32_gib": round(px * d * 4 / 2**30, 1),
        "reference_one_image_upsampled_float32_gib": round(args.res**2 * d * 4 / 2**30, 1),
    }, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["train", "speed", "memory"])
    ap.add_argument("--res", type=int, default=256, choices=sorted(CONFIGS))
    ap.add_argument("--annotations", type=int, default=8)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--rank", type=int, default=0, help="rank of each member's first layer (0 = full, the reference)")
    ap.add_argument("--pixels", type=int, default=16384, help="pixels sampled per annotated image")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    {"train": cmd_train, "speed": cmd_speed, "memory": cmd_memory}[args.what](args)


if __name__ == "__main__":
    main()
