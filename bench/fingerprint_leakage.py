"""Does a fingerprint generator copy its training fingers? Nearest-training-finger Bozorth3 scores.

Usage:
    .venv/bin/python bench/fingerprint_leakage.py --synthetic DS --train TRAIN --heldout HELDOUT \
        [--dpi 250] [--variations 2] [--workers 2]

DS is a `synthbio dataset generate` output (one folder per identity holding
reference.png and variation_*.png) or a flat folder of PNGs; TRAIN and
HELDOUT are flat folders of `<finger>_<impression>.png` prints (the training
set of the generator and real prints it never saw, at the same resolution).

Every image goes through NBIS MINDTCT. Each synthetic print is compared
(NBIS Bozorth3) with the first impressions of N training fingers and, as the
control, of the N held-out fingers (N = the held-out count; the training
fingers are taken evenly spread), and its highest score against each gallery
is kept. A generator that memorised its training fingers scores higher
against the training gallery than against the held-out one; a generator
whose prints merely have more minutiae than real ones scores higher against
both (Bozorth3 scores grow with the minutiae count), which the third row, real
held-out prints against the training gallery, shows for real prints. The
script prints the three distributions, the fraction above the real impostor
threshold at FMR 0.1% (held-out first impressions against each other), and
the closest synthetic pairs.
"""

from __future__ import annotations

import argparse
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from synthbio.fingerprints.matching import extract_minutiae, match_many
from synthbio.metrics.verification import threshold_at_fmr


def _template(args: tuple[str, int]):  # type: ignore[no-untyped-def]
    path, dpi = args
    return extract_minutiae(np.array(Image.open(path).convert("L")), method="mindtct", dpi=dpi)


def _max_scores(args: tuple[list, list]) -> list[tuple[float, int]]:  # type: ignore[type-arg]
    probes, gallery = args
    out = []
    for p in probes:
        scores = match_many([(p, g) for g in gallery])
        k = int(np.argmax(scores))
        out.append((float(scores[k]), k))
    return out


def synthetic_files(root: Path, variations: int) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        return sorted(root.glob("*.png"))
    files = []
    for d in folders:
        files += [d / "reference.png"] if (d / "reference.png").exists() else []
        files += sorted(d.glob("variation_*.png"))[:variations]
    return files


def first_impressions(root: Path) -> list[Path]:
    return sorted(root.glob("*_00.png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", type=Path, required=True)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--heldout", type=Path, required=True)
    ap.add_argument("--dpi", type=int, default=250)
    ap.add_argument("--variations", type=int, default=2, help="variation images per identity (besides reference)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=25)
    args = ap.parse_args()

    synth = synthetic_files(args.synthetic, args.variations)
    held = first_impressions(args.heldout)
    train_all = first_impressions(args.train)
    pick = np.linspace(0, len(train_all) - 1, num=min(len(held), len(train_all))).round().astype(int)
    train = [train_all[i] for i in pick]
    print(f"{len(synth)} synthetic prints, {len(train)} of {len(train_all)} training fingers, {len(held)} held-out fingers, "
          f"{args.dpi} dpi")
    with get_context("spawn").Pool(args.workers) as pool:
        t_synth, t_train, t_held = (pool.map(_template, [(str(p), args.dpi) for p in files], chunksize=16)
                                    for files in (synth, train, held))
        impostor = match_many([(a, b) for i, a in enumerate(t_held) for b in t_held[i + 1:]])
        runs = ((t_synth, t_train), (t_synth, t_held), (t_held, t_train))
        jobs = [(probes[s:s + args.chunk], gallery) for probes, gallery in runs
                for s in range(0, len(probes), args.chunk)]
        flat = [r for part in pool.map(_max_scores, jobs) for r in part]
    n = len(t_synth)
    s_max = np.array([v for v, _ in flat[:n]])
    s_ctl = np.array([v for v, _ in flat[n:2 * n]])
    h_max = np.array([v for v, _ in flat[2 * n:]])
    t = threshold_at_fmr(impostor, impostor, 0.001)
    print(f"real impostor scores (held-out first impressions): {impostor.size}, FMR 0.1% threshold {t:g}")
    print("| probes -> gallery (max Bozorth3 per probe) | n | median | q95 | max | above FMR-0.1% threshold |")
    print("|---|---|---|---|---|---|")
    for name, v in (("synthetic -> training fingers", s_max), ("synthetic -> held-out fingers (control)", s_ctl),
                    ("real held-out -> training fingers", h_max)):
        print(f"| {name} | {v.size} | {np.median(v):g} | {np.quantile(v, 0.95):g} | {v.max():g} | "
              f"{100 * np.mean(v >= t):.1f}% |")
    order = np.argsort(-s_max)[:5]
    print("closest synthetic prints: " + ", ".join(
        f"{synth[i].parent.name}/{synth[i].name} ~ {train[flat[i][1]].name} ({s_max[i]:g})" for i in order))


if __name__ == "__main__":
    main()
