"""Speed of fingerprint reconstruction from minutiae: 'gabor' ridge growth vs the shipped encoder + GAN.

Usage: .venv/bin/python bench/reconstruction.py [--templates 32] [--size 416x560] [--threads 1]

Templates are the ground truth of procedural impressions (seeded, so every run
times the same work). Prints templates per second for each method in the
same run, single process, and the per-step split of the 'gabor' method.
OpenCV and torch are limited to ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from synthbio.fingerprints import ridge_reconstruction as rr
from synthbio.fingerprints.impressions import ImpressionConfig, make_impression
from synthbio.fingerprints.master import MasterConfig, generate_master
from synthbio.fingerprints.reconstruction import EncoderReconstructor, load_reconstruction_models


def templates(n: int, width: int, height: int) -> list:
    mcfg = MasterConfig(width=width + 96, height=height + 96)
    icfg = ImpressionConfig(width=width, height=height)
    return [make_impression(generate_master(1000 + k, mcfg), 7, 0, icfg).template() for k in range(n)]


def timed(fn, reps: int = 1) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--templates", type=int, default=32)
    ap.add_argument("--size", default="416x560", help="impression width x height at 500 dpi")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    tpls = templates(args.templates, w, h)
    n_min = np.mean([len(t.minutiae) for t in tpls])
    print(f"{len(tpls)} templates of {w}x{h} at 500 dpi, {n_min:.1f} minutiae on average, {args.threads} thread(s)")

    cfg = rr.RidgeReconstructionConfig()
    rr.reconstruct_ridges(tpls[0], cfg)  # warm-up
    t_gabor = timed(lambda: [rr.reconstruct_ridges(t, cfg) for t in tpls])
    t = tpls[0]
    hh, ww = t.height, t.width
    split = {
        "orientation field": timed(lambda: rr.orientation_from_minutiae(t, hh, ww, sigma=22.0, far_sigma=70.0,
                                                                        far_weight=0.05), 5),
        "minutia prototypes": timed(lambda: rr.minutia_prototypes(t, hh, ww, period=10.5, radius=8.4), 5),
        "whole template": timed(lambda: rr.reconstruct_ridges(t, cfg), 5),
    }

    models = load_reconstruction_models("fingerprint-minutiae-encoder", device="cpu")
    enc = EncoderReconstructor(models, device="cpu", batch_size=16)
    enc.images_uint8(tpls[:2])  # warm-up
    t_enc = timed(lambda: enc.images_uint8(tpls))

    print("| method | templates/s | ms per template |")
    print("|---|---|---|")
    for name, secs in (("gabor (ridge growth)", t_gabor), ("encoder + fingerprint-default, batch 16", t_enc)):
        print(f"| {name} | {len(tpls) / secs:.1f} | {1000 * secs / len(tpls):.0f} |")
    print(f"gabor / encoder speed: {t_enc / t_gabor:.2f}x")
    print("gabor, one template: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in split.items()))


if __name__ == "__main__":
    main()
