"""Identity preservation of translation on the fingerprint test bed, with and without the identity loss.

    python bench/translation_identity.py --workdir /tmp/tr_bench --steps 4000        # everything, resumable
    python bench/translation_identity.py --workdir /tmp/tr_bench --stage evaluate    # only re-measure

Stages (each resumes where a killed run stopped):

1. `synthbio translate testbed`: procedural fingers under two impression
   styles (A clean live-scan, B inked/worn); training fingers split between
   the domains (unpaired), held-out fingers rendered in both.
2. `synthbio translate train` twice on the same data, seed and settings
   (SATNet defaults, a CPU-sized network on random crops): once without an
   identity loss, once with `--identity-model fingerprint-ridges`.
3. `synthbio translate apply` of the held-out impressions, A to B and B to A.
4. `synthbio translate evaluate` with NBIS (MINDTCT + Bozorth3): each
   translated impression is matched against the other impressions of its
   finger (genuine) and the first impression of every other finger
   (impostor); the untranslated impressions go through the same protocol.
   The threshold is the untranslated system's at FMR 0.1%. Also measured
   against the real B impressions (`--gallery`), with FD on ridge statistics
   and the pixel error against the aligned B ground truth.

Target (issue #16): translated genuine acceptance >= 90% of the untranslated one.
Prints a table; the evaluation reports are in WORKDIR/<run>_*_evaluate/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# A CPU-sized network (the MUNIT layout at a quarter of its width, 2 residual blocks, 2 D scales):
# ~0.4 CPU-s per step on 64x64 crops, so a few thousand steps fit in an hour or two of one core.
NETWORK = ["--dim", "16", "--n-res", "2", "--mlp-dim", "64", "--d-dim", "16", "--d-layers", "3", "--d-scales", "2"]
RUNS = {"no_identity": [],
        "identity": ["--identity-model", "fingerprint-ridges", "--identity-weight", "10", "--identity-threshold", "0.9"]}
DIRECTIONS = {"a2b": ("A", "B"), "b2a": ("B", "A")}


def synthbio(*args: str) -> None:
    cmd = [sys.executable, "-m", "synthbio.cli.main", *args]
    print("+ synthbio " + " ".join(args), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True)


def evaluate(workdir: Path, name: str, direction: str, *, gallery: str) -> dict:
    """Evaluate run `name`'s translations in `direction` against the gallery of domain `gallery`."""
    tb = workdir / "tb"
    src, dst = DIRECTIONS[direction]
    translations = workdir / f"{name}_{direction}"
    out = workdir / f"{name}_{direction}_gallery{gallery}_evaluate"
    args = ["translate", "evaluate", str(translations), "--identity-model", "nbis-bozorth3", "--target",
            str(tb / "test" / dst), "--extractor", "fingerprint", "--ground-truth", str(tb / "test" / dst),
            "-o", str(out), "--device", "cpu"]
    if gallery != src:
        args += ["--gallery", str(tb / "test" / gallery)]
    if not (out / "metrics.json").is_file():
        synthbio(*args)
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--train-fingers", type=int, default=200)
    parser.add_argument("--test-fingers", type=int, default=50)
    parser.add_argument("--impressions", type=int, default=4)
    parser.add_argument("--stage", choices=("all", "testbed", "train", "apply", "evaluate"), default="all")
    parser.add_argument("--runs", default=",".join(RUNS), help="which trainings: no_identity,identity")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    tb = workdir / "tb"
    runs = [r for r in args.runs.split(",") if r]
    if args.stage in ("all", "testbed"):
        synthbio("translate", "testbed", "-o", str(tb), "--train-identities", str(args.train_fingers),
                 "--test-identities", str(args.test_fingers), "--samples", str(args.impressions), "--size", "256")
    for name in runs:
        run = workdir / f"run_{name}"
        if args.stage in ("all", "train"):
            resume = ["--resume", str(run)] if (run / "latest" / "training_state.pt").is_file() else []
            synthbio("translate", "train", str(tb / "train" / "A"), str(tb / "train" / "B"), "-o", str(run),
                     "--names", "clean,inked", "--crop", str(args.crop), *NETWORK, "--steps", str(args.steps),
                     "--snap", "500", "--tick", "50", "--device", "cpu", *RUNS[name], *resume)
        for direction, (src, _) in DIRECTIONS.items():
            if args.stage in ("all", "apply"):
                synthbio("translate", "apply", str(tb / "test" / src), "-m", str(run), "-o",
                         str(workdir / f"{name}_{direction}"), "--direction", direction, "--device", "cpu")
    if args.stage not in ("all", "evaluate"):
        return
    rows = []
    for name in runs:
        for direction, (src, dst) in DIRECTIONS.items():
            for gallery in (src, dst):
                m = evaluate(workdir, name, direction, gallery=gallery)
                op = m["identity"]["vs_identity"]
                rows.append((name, direction, f"{gallery} ({'own domain' if gallery == src else 'target domain'})",
                             op["gar_translated"], op["gar_source"], op.get("gar_ratio"), op["fmr_translated"],
                             op["threshold"], m["realism"]["translated"]["fd"], m["realism"]["source"]["fd"],
                             m["pixels"]["translated"]["psnr_db"], m["pixels"]["source"]["psnr_db"]))
    print("| training | direction | gallery | translated accepted | untranslated accepted | ratio | "
          "translated FMR | threshold | FD transl. / untransl. | PSNR vs aligned target, transl. / untransl. (dB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "n/a" if r[5] is None else f"{r[5]:.3f}"
        print(f"| {r[0]} | {r[1]} | {r[2]} | {100 * r[3]:.1f}% | {100 * r[4]:.1f}% | {ratio} | {100 * r[6]:.2f}% | "
              f"{r[7]:g} | {r[8]:.2f} / {r[9]:.2f} | {r[10]:.2f} / {r[11]:.2f} |")
    print(f"target: translated >= 90% of untranslated (ratio >= 0.9); workdir {os.fspath(workdir)}")


if __name__ == "__main__":
    main()
