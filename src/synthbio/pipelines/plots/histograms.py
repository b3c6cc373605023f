"""`synthbio plot histograms`: intra / inter-class distance histograms of sample collections.

For each collection (a `samples.h5`: a generated dataset, projected database
samples, ...): distances between the features of samples of the same
identity (intra-class) and of different identities (inter-class). With
`cross`, also every pair of collections against each other (inter-class
unless `shared_identities`: then samples with the same identity number are
the same person, as in a database and its projections). Features: the
`embedding`, `w` or `w_plus` (flattened) datasets.

Output folder:

    OUT/histograms.png   one panel per collection (and per cross pair): intra and inter histograms
    OUT/histograms.json  per series: bin edges and counts, mean, std, count (sampled and total), and the
                         separability d' of each intra / inter pair
    OUT/distances.npz    the distances themselves, one array per series
    OUT/config.json      HistogramsConfig
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.errors import InputError
from synthbio.metrics.class_distances import METRICS, class_distances

FEATURES: tuple[str, ...] = ("embedding", "w", "w_plus")


@dataclass(frozen=True)
class HistogramsConfig:
    """`synthbio plot histograms`, saved as OUT/config.json.

    names: legend names of the collections (default: their folder names).
    max_pairs: pairs sampled per series at most (seeded). bins: histogram bins.
    """

    collections: tuple[str, ...]
    outdir: str
    feature: str = "embedding"
    metric: str = "angle"
    cross: bool = False
    shared_identities: bool = False
    names: tuple[str, ...] = ()
    bins: int = 60
    max_pairs: int = 200_000
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "collections", tuple(os.fspath(c) for c in self.collections))
        if not self.collections:
            raise InputError("give at least one sample collection (samples.h5)")
        if self.feature not in FEATURES:
            raise InputError(f"--feature must be one of {', '.join(FEATURES)}, got {self.feature!r}")
        if self.metric not in METRICS:
            raise InputError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.names and len(self.names) != len(self.collections):
            raise InputError(f"{len(self.names)} names for {len(self.collections)} collections")
        if self.bins < 2 or self.max_pairs < 1:
            raise InputError("--bins must be >= 2 and --max-pairs >= 1")
        if self.cross and len(self.collections) < 2:
            raise InputError("--cross compares collections with each other: give at least two")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["collections"], d["names"] = list(self.collections), list(self.names)
        return d

    def display_names(self) -> list[str]:
        if self.names:
            return list(self.names)
        stems = [Path(c).parent.name if Path(c).name == "samples.h5" else Path(c).stem for c in self.collections]
        return [s if stems.count(s) == 1 else f"{s} ({i})" for i, s in enumerate(stems)]


def read_features(path: str, feature: str) -> tuple[np.ndarray, np.ndarray]:
    """Features [N, D] and identities [N] of a collection (`samples.h5`, or its folder)."""
    from synthbio.io.samples import SAMPLES_NAME, read_samples

    p = Path(path)
    if p.is_dir():
        p = p / SAMPLES_NAME
    _, samples = read_samples(p)
    rows, ids = [], []
    for s in samples:
        v = {"embedding": s.embedding, "w": s.w, "w_plus": s.w_plus}[feature]
        if v is None:
            raise InputError(f"{os.fspath(p)!r}: sample {s.identity}/{s.label} has no {feature}"
                             + (" (made without an identity model?)" if feature == "embedding" else ""))
        rows.append(np.asarray(v, dtype=np.float64).reshape(-1))
        ids.append(s.identity)
    if not rows:
        raise InputError(f"{os.fspath(p)!r} holds no samples")
    return np.stack(rows), np.asarray(ids)


def _summary(d: np.ndarray, total: int) -> dict[str, Any]:
    return {"count": int(len(d)), "total_pairs": int(total), "mean": float(d.mean()) if len(d) else None,
            "std": float(d.std()) if len(d) else None}


def _d_prime(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    den = np.sqrt((a.var() + b.var()) / 2)
    return float(abs(b.mean() - a.mean()) / den) if den > 0 else None


def plot_histograms(config: HistogramsConfig) -> dict[str, Any]:
    """Compute the distances, write the figure and the data (module doc); returns histograms.json's content."""
    from synthbio.utils.hashing import atomic_write, atomic_write_json

    names = config.display_names()
    feats = [read_features(c, config.feature) for c in config.collections]
    if len({f.shape[1] for f, _ in feats}) != 1:
        raise InputError(f"the collections' {config.feature} features have different widths")
    panels: list[tuple[str, Any]] = []
    for name, (f, ids) in zip(names, feats):
        panels.append((name, class_distances(f, ids, metric=config.metric, max_pairs=config.max_pairs,
                                             seed=config.seed)))
    if config.cross:
        for (na, (fa, ia)), (nb, (fb, ib)) in itertools.combinations(list(zip(names, feats)), 2):
            panels.append((f"{na} vs {nb}", class_distances(fa, ia, fb, ib, metric=config.metric,
                                                            shared_identities=config.shared_identities,
                                                            max_pairs=config.max_pairs, seed=config.seed)))
    every = np.concatenate([np.concatenate([d.intra, d.inter]) for _, d in panels])
    if not len(every):
        raise InputError("no pairs to compare: each collection needs at least two samples")
    edges = np.linspace(float(every.min()), float(every.max()) + 1e-12, config.bins + 1)
    data: dict[str, Any] = {"metric": config.metric, "feature": config.feature, "edges": edges.tolist(), "series": {}}
    arrays = {}
    for name, d in panels:
        for kind in ("intra", "inter"):
            values = getattr(d, kind)
            data["series"][f"{name}/{kind}"] = {**_summary(values, getattr(d, f"{kind}_total")),
                                                "counts": np.histogram(values, bins=edges)[0].tolist()}
            arrays[f"{name}/{kind}"] = values
        data["series"][f"{name}/intra"]["d_prime"] = _d_prime(d.intra, d.inter)
    out = Path(config.outdir)
    out.mkdir(parents=True, exist_ok=True)
    _figure(out / "histograms.png", panels, edges, config)
    atomic_write(out / "distances.npz", lambda tmp: np.savez(open(tmp, "wb"), **arrays))
    atomic_write_json(out / "histograms.json", data)
    atomic_write_json(out / "config.json", config.to_dict())
    return data


def _figure(path: Path, panels: list[tuple[str, Any]], edges: np.ndarray, config: HistogramsConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")  # here, never at import (STYLE.md): a PNG file needs no display
    import matplotlib.pyplot as plt

    from synthbio.utils.hashing import atomic_write

    unit = {"angle": "angle (rad)", "cosine": "1 - cosine similarity", "euclidean": "euclidean distance"}
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, d) in zip(axes.flat, panels):
        for kind, color in (("intra", "#2a9d8f"), ("inter", "#e76f51")):
            values = getattr(d, kind)
            if len(values):
                ax.hist(values, bins=edges, density=True, alpha=0.6, color=color,
                        label=f"{kind}-class ({getattr(d, f'{kind}_total'):,} pairs)")
        ax.set(title=name, xlabel=f"{unit[config.metric]} of {config.feature}", ylabel="density")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
