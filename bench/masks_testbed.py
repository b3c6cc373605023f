"""The masks test bed: a generator whose masks are known exactly, and the mIoU of masks learnt from 8 samples.

Steps (each a subcommand; `all` runs them in order, skipping what is done):

  data      N procedural eyes (synthbio.segmentation.testbed) as paired
            branches: DIR/data/rgb/<i>.png and DIR/data/mask/<i>.png (grey = class x 85)
  train     `synthbio train --branches rgb:3,mask:1 --config cpu64` on them (DIR/gan)
  annotate  `synthbio masks export` of the annotation seeds and of unseen seeds,
            then every blank annotation filled from the generator's own mask
            branch (what a perfect annotator would paint): DIR/ann, DIR/heldout
  fit       `synthbio masks train DIR/ann` (DIR/clf)
  score     `synthbio masks evaluate DIR/clf DIR/heldout`: mIoU against the mask
            branch on the unseen samples (DIR/heldout_report)

Everything goes through the command line, as a user would run it. Long steps
run at low priority with few threads: this machine is shared.

    python bench/masks_testbed.py all --dir /tmp/masks_testbed --images 3000 --kimg 60
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _synthbio(*args: str) -> None:
    cmd = [sys.executable, "-m", "synthbio.cli.main", *args]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def make_data(out: Path, images: int, size: int) -> None:
    from synthbio.io.images import write_png
    from synthbio.segmentation.testbed import MASK_STEP, render_eye

    (out / "rgb").mkdir(parents=True, exist_ok=True)
    (out / "mask").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    for i in range(images):
        mask_path = out / "mask" / f"{i:05d}.png"
        if mask_path.exists():
            continue
        rgb, labels = render_eye(i, size)
        write_png(out / "rgb" / f"{i:05d}.png", rgb)
        write_png(mask_path, (labels * MASK_STEP).astype(np.uint8))  # mask last: its presence marks a pair done
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{images} eyes, {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)


def fill_annotations(folder: Path) -> int:
    """Paint every blank annotation of an export folder from the sample's own mask branch (exact labels)."""
    from synthbio.io.images import read_png
    from synthbio.segmentation.annotations import write_index_png
    from synthbio.segmentation.testbed import labels_from_mask_branch

    n = 0
    for branch_png in sorted(folder.glob("seed*_mask.png")):
        stem = branch_png.name[: -len("_mask.png")]
        write_index_png(folder / f"{stem}_annotation.png", labels_from_mask_branch(read_png(branch_png)))
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["data", "train", "annotate", "fit", "score", "all"])
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--kimg", type=float, default=40)
    ap.add_argument("--model", type=Path, help="generator (default: DIR/gan/latest)")
    ap.add_argument("--annotate", default="0-7", help="seeds annotated for training")
    ap.add_argument("--heldout", default="100000-100199", help="unseen seeds the masks are scored on")
    ap.add_argument("--train-args", default="", help="extra `masks train` options, e.g. '--rank 16 --folds 4'")
    ap.add_argument("--tag", default="", help="suffix of the classifier and report folders")
    args = ap.parse_args()
    d: Path = args.dir
    if args.step in ("data", "all"):
        make_data(d / "data", args.images, args.size)
    if args.step in ("train", "all"):
        _synthbio("train", "--data", str(d / "data"), "--branches", "rgb:3,mask:1", "--config", "cpu64",
                  "--kimg", str(args.kimg), "--snap", "5", "--mirror", "--aug", "noaug", "--pl-weight", "0",
                  "--device", "cpu",
                  "--outdir", str(d / "gan"), *(["--resume", str(d / "gan")] if (d / "gan" / "latest").exists()
                                                 else []))
    model = str(args.model or d / "gan" / "latest")
    if args.step in ("annotate", "all"):
        for name, seeds in (("ann", args.annotate), ("heldout", args.heldout)):
            _synthbio("masks", "export", "-m", model, "--seeds", seeds, "--classes", "eye", "--device", "cpu",
                      "-o", str(d / name))
            print(f"{fill_annotations(d / name)} annotations painted from the mask branch in {d / name}",
                  file=sys.stderr)
    clf = d / f"clf{args.tag}"
    if args.step in ("fit", "all"):
        _synthbio("masks", "train", str(d / "ann"), "-o", str(clf), "--device", "cpu", "--overwrite",
                  *args.train_args.split())
    if args.step in ("score", "all"):
        _synthbio("masks", "evaluate", str(clf), str(d / "heldout"), "-o", str(d / f"heldout_report{args.tag}"),
                  "--device", "cpu", "--json")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
