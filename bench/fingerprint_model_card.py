"""Quality figures for a fingerprint generator's model card.

Compares generated prints with held-out procedural prints the generator never saw:

- Fréchet distance over synthbio's fingerprint features (`--extractor fingerprint`),
  generated vs held-out, next to the same distance between two real sets (training
  vs held-out), which is the floor a perfect generator would reach;
- NFIQ2 and MINDTCT minutiae counts of generated and held-out images, both brought
  to 500 dpi the same way (the generator's pixels are `--dpi` dpi; real prints are
  first brought to the generator's resolution, so both sides lose the same detail);
- the blob check: the share of samples holding a dark region wider than a ridge and
  larger than `--blob-area` pixels (`synthbio.fingerprints.quality.dark_blobs`, ridge
  period `--blob-period` px at the generator's resolution), on all `--num` generated
  samples and on the held-out prints (which should show none either).

    python bench/fingerprint_model_card.py --model fingerprint-default \
        --real /work/fpdata/heldout128 --train /work/fpdata/train128 --num 1000 --out card.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from synthbio.checkpoints.loading import load_generator
from synthbio.fingerprints.matching import extract_minutiae
from synthbio.fingerprints.quality import dark_blobs, nfiq2
from synthbio.generation.sampling import map_seeds, synthesize
from synthbio.metrics.feature_extractors import make_extractor
from synthbio.metrics.fid import feature_stats, folder_batches, frechet_distance, list_images, uint8_to_float


def to_500dpi(img_uint8: np.ndarray, dpi: int) -> np.ndarray:
    """[R, R] uint8 at `dpi` -> bicubic resample to 500 dpi."""
    side = round(img_uint8.shape[0] * 500 / dpi)
    return np.asarray(PIL.Image.fromarray(img_uint8).resize((side, side), PIL.Image.Resampling.BICUBIC))


def generated_uint8(G, seeds: list[int], *, psi: float, batch: int = 32) -> list[np.ndarray]:
    out = []
    for i in range(0, len(seeds), batch):
        chunk = seeds[i:i + batch]
        _, ws = map_seeds(G, chunk, truncation_psi=psi)
        img = next(iter(synthesize(G, ws, seeds=chunk, noise_mode="const").values()))
        u8 = (img.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)[:, 0].cpu().numpy()  # as the PNG writer
        out.extend(list(u8))
    return out


def quality(images: list[np.ndarray], dpi: int) -> dict[str, float]:
    q, m = [], []
    for img in images:
        big = to_500dpi(img, dpi)
        q.append(nfiq2(big))
        m.append(len(extract_minutiae(big, method="mindtct").minutiae))
    return {"nfiq2_mean": float(np.mean(q)), "nfiq2_std": float(np.std(q)),
            "minutiae_mean": float(np.mean(m)), "minutiae_std": float(np.std(m)), "n": len(images)}


def blob_check(images: list[np.ndarray], *, period: float, area: int) -> dict[str, object]:
    counts = [dark_blobs(i, ridge_period_px=period, min_area_px=area) for i in images]
    flagged = [i for i, c in enumerate(counts) if c]
    return {"share": len(flagged) / max(len(images), 1), "flagged": flagged[:50], "n": len(images),
            "ridge_period_px": period, "min_area_px": area}


def fd_between(extractor, a: list[Path], b_batches) -> float:
    sa = feature_stats(folder_batches(a, batch_size=64), extractor)
    sb = feature_stats(b_batches, extractor)
    return float(frechet_distance(*sa.mean_cov(), *sb.mean_cov()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--real", required=True, help="held-out prints at the generator's resolution")
    ap.add_argument("--train", help="training prints (for the real-vs-real floor)")
    ap.add_argument("--num", type=int, default=1000)
    ap.add_argument("--quality-num", type=int, default=200)
    ap.add_argument("--dpi", type=int, default=250, help="dpi of the generator's pixels")
    ap.add_argument("--psi", type=float, default=1.0)
    ap.add_argument("--blob-period", type=float, default=5.0, help="ridge period in the generator's pixels")
    ap.add_argument("--blob-area", type=int, default=100, help="smallest dark blob counted, pixels")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.time()
    G = load_generator(args.model).eval()
    extractor = make_extractor("fingerprint", progress=False)
    real = list_images(args.real)[: args.num]
    seeds = list(range(args.num))
    fake = generated_uint8(G, seeds, psi=args.psi)
    fake_batches = (uint8_to_float(np.stack(fake[i:i + 64])[..., None]) for i in range(0, len(fake), 64))
    result: dict[str, object] = {"model": args.model, "num": args.num, "truncation_psi": args.psi,
                                 "fd_generated_vs_heldout": fd_between(extractor, real, fake_batches)}
    if args.train:
        train = list_images(args.train)
        train = random.Random(0).sample(train, min(args.num, len(train)))
        train_batches = folder_batches(train, batch_size=64)
        result["fd_train_vs_heldout"] = fd_between(extractor, real, train_batches)
    result["blobs_generated"] = blob_check(fake, period=args.blob_period, area=args.blob_area)
    held = [np.asarray(PIL.Image.open(p).convert("L")) for p in real]
    result["blobs_heldout"] = blob_check(held, period=args.blob_period, area=args.blob_area)
    print("blobs", result["blobs_generated"]["share"], result["blobs_heldout"]["share"], flush=True)
    real_u8 = held[: args.quality_num]
    result["quality_generated"] = quality(fake[: args.quality_num], args.dpi)
    result["quality_heldout"] = quality(real_u8, args.dpi)
    result["seconds"] = round(time.time() - t0, 1)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
