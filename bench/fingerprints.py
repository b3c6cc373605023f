"""Speed of procedural fingerprint synthesis (masters + impressions).

Usage: .venv/bin/python bench/fingerprints.py [--fingers 24] [--impressions 8] [--workers 2]

Prints impressions per second single-process and with ``--workers``
processes (each finger = one master + its impressions, one task per finger),
and where the single-process time goes. OpenCV is limited to one thread per
process so that the figures measure the algorithm, not OpenCV's pool.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable
from multiprocessing import get_context
from typing import Any

import cv2

import synthbio.fingerprints.master as master_mod
from synthbio.fingerprints.impressions import make_impression
from synthbio.fingerprints.master import generate_master

STAGES: dict[str, float] = defaultdict(float)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            STAGES[name] += time.perf_counter() - t0

    return wrapper


def _finger(args: tuple[int, int]) -> int:
    seed, n_impressions = args
    cv2.setNumThreads(1)
    master = generate_master(seed)
    for i in range(n_impressions):
        make_impression(master, seed, i)
    return n_impressions


def _profile(fingers: int, n_impressions: int) -> tuple[float, dict[str, float]]:
    """Single-process run with per-stage timers around master's steps."""
    originals = {
        name: getattr(master_mod, name)
        for name in ("orientation_field", "period_field", "grow_ridges", "extract_minutiae")
    }
    labels = {
        "orientation_field": "orientation",
        "period_field": "period field",
        "grow_ridges": "ridge growth",
        "extract_minutiae": "ground truth",
    }
    for name, fn in originals.items():
        setattr(master_mod, name, _timed(labels[name], fn))
    try:
        cv2.setNumThreads(1)
        t0 = time.perf_counter()
        for seed in range(fingers):
            t1 = time.perf_counter()
            master = generate_master(seed)
            STAGES["master total"] += time.perf_counter() - t1
            t1 = time.perf_counter()
            for i in range(n_impressions):
                make_impression(master, seed, i)
            STAGES["impressions"] += time.perf_counter() - t1
        total = time.perf_counter() - t0
    finally:
        for name, fn in originals.items():
            setattr(master_mod, name, fn)
    return total, dict(STAGES)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fingers", type=int, default=24)
    ap.add_argument("--impressions", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()

    _finger((10_000, 1))  # warm-up (imports, LUTs)
    total, stages = _profile(a.fingers, a.impressions)
    n_imp = a.fingers * a.impressions
    print(f"single process: {a.fingers} fingers x {a.impressions} impressions in {total:.2f} s "
          f"= {n_imp / total:.2f} impressions/s")
    other = stages["master total"] - sum(
        stages.get(k, 0.0) for k in ("orientation", "period field", "ridge growth", "ground truth")
    )
    rows = [
        ("orientation", stages.get("orientation", 0.0)),
        ("period field", stages.get("period field", 0.0)),
        ("ridge growth", stages.get("ridge growth", 0.0)),
        ("ground truth", stages.get("ground truth", 0.0)),
        ("master other (silhouette, cleanup)", other),
        ("impressions", stages["impressions"]),
    ]
    for name, sec in rows:
        print(f"  {name:36s} {1000 * sec / a.fingers:8.1f} ms/finger  {100 * sec / total:5.1f} %")
    print(f"  per impression (render only): {1000 * stages['impressions'] / n_imp:.1f} ms; "
          f"per master: {1000 * stages['master total'] / a.fingers:.1f} ms")

    ctx = get_context("fork")
    with ctx.Pool(a.workers) as pool:
        pool.map(_finger, [(20_000 + i, 1) for i in range(a.workers)])  # warm the workers
        t0 = time.perf_counter()
        done = sum(pool.imap_unordered(_finger, [(s, a.impressions) for s in range(a.fingers)]))
        dt = time.perf_counter() - t0
    print(f"{a.workers} worker processes: {done} impressions in {dt:.2f} s = {done / dt:.2f} impressions/s")


if __name__ == "__main__":
    main()
