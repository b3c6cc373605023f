"""Is the default fingerprint class set learnable? Masks of `fingerprint-default` from 8 annotations.

The classes are `synthbio.segmentation.classes.FINGERPRINT_CLASSES`:
background, fingerprint (the print area), core and delta (discs around the
singular points). No annotated GAN prints exist, so the annotations come from
a fixed image-analysis rule applied to each exported sample (what a careful,
consistent annotator would paint):

- fingerprint: pixels whose local ridge contrast (std of the image over a
  window of about two ridge periods, smoothed) exceeds a threshold, holes
  filled, the largest component kept;
- core / delta: singular points of the ridge orientation (structure tensor,
  doubled angles smoothed) found by the Poincaré index (+1/2 core, -1/2
  delta) on a circle of `--radius` px inside the print, each painted as a
  disc of `--disc` px (128 px = 13 mm at 250 dpi, so 16 px is 1.6 mm).

Then `masks train` on 8 annotated samples and `masks evaluate` on
`--heldout` others: per-class IoU says which classes the generator's features
carry. Everything goes through the command line.

    python bench/masks_fingerprint_classes.py --dir /tmp/masks_fp
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage


def _synthbio(*args: str) -> str:
    cmd = [sys.executable, "-m", "synthbio.cli.main", *args]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout


def foreground(img: np.ndarray, *, window: int = 9, threshold: float = 0.12) -> np.ndarray:
    """Print area of a grayscale print in [0, 1] (dark ridges): high local contrast, filled, largest blob."""
    mean = ndimage.uniform_filter(img, window)
    std = np.sqrt(np.clip(ndimage.uniform_filter(img * img, window) - mean * mean, 0, None))
    fg = ndimage.gaussian_filter(std, 2) > threshold
    fg = ndimage.binary_closing(fg, iterations=3)
    fg = ndimage.binary_fill_holes(fg)
    fg = ndimage.binary_opening(fg, iterations=2)
    labels, n = ndimage.label(fg)
    if n == 0:
        return fg
    sizes = ndimage.sum(fg, labels, range(1, n + 1))
    return labels == (1 + int(np.argmax(sizes)))


def orientation(img: np.ndarray, *, sigma: float = 4.0) -> np.ndarray:
    """Ridge orientation [H, W] in [0, pi) from the smoothed structure tensor (doubled angles)."""
    gx = ndimage.sobel(img, axis=1)
    gy = ndimage.sobel(img, axis=0)
    a = ndimage.gaussian_filter(gx * gx - gy * gy, sigma)
    b = ndimage.gaussian_filter(2 * gx * gy, sigma)
    return (0.5 * np.arctan2(b, a) + np.pi / 2) % np.pi  # gradient direction + 90 degrees


def poincare(theta: np.ndarray, *, radius: int, points: int = 16) -> np.ndarray:
    """Poincaré index at every pixel on a circle of `radius` px (+0.5 core, -0.5 delta, 0 elsewhere)."""
    h, w = theta.shape
    ang = 2 * np.pi * np.arange(points + 1) / points
    yy, xx = np.mgrid[0:h, 0:w]
    total = np.zeros([h, w])
    prev = None
    for a in ang:
        y = np.clip(np.round(yy + radius * np.sin(a)).astype(int), 0, h - 1)
        x = np.clip(np.round(xx + radius * np.cos(a)).astype(int), 0, w - 1)
        cur = theta[y, x]
        if prev is not None:
            d = cur - prev
            total += (d + np.pi / 2) % np.pi - np.pi / 2  # orientation differences wrap at pi
        prev = cur
    return total / (2 * np.pi)


def singular_points(img: np.ndarray, fg: np.ndarray, *, radius: int) -> dict[str, list[tuple[float, float]]]:
    index = poincare(orientation(img), radius=radius)
    inner = ndimage.binary_erosion(fg, iterations=radius + 2)
    out: dict[str, list[tuple[float, float]]] = {}
    for name, value in (("core", 0.5), ("delta", -0.5)):
        hits = inner & (np.abs(index - value) < 0.1)
        labels, n = ndimage.label(hits)
        out[name] = [tuple(c) for c in ndimage.center_of_mass(hits, labels, range(1, n + 1))] if n else []
    return out


def annotate(img_uint8: np.ndarray, *, radius: int, disc: int) -> tuple[np.ndarray, dict[str, int]]:
    """Index labels (0 background, 1 fingerprint, 2 core, 3 delta) of one print, and the point counts."""
    img = img_uint8.astype(np.float64) / 255
    fg = foreground(img)
    labels = fg.astype(np.uint8)
    points = singular_points(img, fg, radius=radius)
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    for k, name in ((2, "core"), (3, "delta")):
        for cy, cx in points[name]:
            labels[((yy - cy) ** 2 + (xx - cx) ** 2 <= disc * disc) & fg] = k
    return labels, {name: len(p) for name, p in points.items()}


def annotate_folder(folder: Path, *, radius: int, disc: int) -> dict[str, int]:
    from synthbio.io.images import read_png
    from synthbio.segmentation.annotations import write_index_png

    counts = {"samples": 0, "core": 0, "delta": 0}
    for png in sorted(folder.glob("seed[0-9][0-9][0-9][0-9].png")):
        labels, found = annotate(read_png(png), radius=radius, disc=disc)
        write_index_png(folder / f"{png.stem}_annotation.png", labels)
        counts["samples"] += 1
        for name, n in found.items():
            counts[name] += n
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--model", default="fingerprint-default")
    ap.add_argument("--annotate", default="0-7")
    ap.add_argument("--heldout", default="1000-1049")
    ap.add_argument("--radius", type=int, default=6, help="Poincaré circle radius, px")
    ap.add_argument("--disc", type=int, default=16, help="radius of the core / delta discs, px")
    ap.add_argument("--train-args", default="", help="extra `masks train` options")
    args = ap.parse_args()
    counts = {}
    for name, seeds in (("ann", args.annotate), ("heldout", args.heldout)):
        if not (args.dir / name / "manifest.jsonl").exists():
            _synthbio("masks", "export", "-m", args.model, "--seeds", seeds, "--classes", "fingerprint",
                      "--device", "cpu", "-o", str(args.dir / name))
        counts[name] = annotate_folder(args.dir / name, radius=args.radius, disc=args.disc)
        print(f"{name}: {counts[name]}", file=sys.stderr, flush=True)
    _synthbio("masks", "train", str(args.dir / "ann"), "-o", str(args.dir / "clf"), "--device", "cpu", "--overwrite",
              *args.train_args.split())
    out = _synthbio("masks", "evaluate", str(args.dir / "clf"), str(args.dir / "heldout"), "--device", "cpu",
                    "--json", "-o", str(args.dir / "report"))
    m = json.loads(out)
    print(json.dumps({"bench": "fingerprint classes", "model": args.model, "annotations": counts,
                      "miou": m["miou"], "iou": m["iou"], "pixel_accuracy": m["pixel_accuracy"],
                      "samples": m["samples"]}, indent=1))


if __name__ == "__main__":
    main()
