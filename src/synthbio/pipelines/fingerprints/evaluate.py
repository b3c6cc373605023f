"""`synthbio fingerprints evaluate`: how realistic a synthetic fingerprint dataset is.

For a directory made by `synthbio fingerprints generate` this measures, per
impression, NFIQ2 quality and the minutiae found by each extractor (LEADER,
NBIS MINDTCT) against the ground truth; then NBIS Bozorth3 comparisons with
the FVC protocol:

- genuine: every pair of impressions of a finger, each pair once (i < j,
  impression i as probe, j as gallery);
- impostor: the first impression of every finger against the first
  impression of every other finger, each pair once (finger f < g).

Ground-truth vs extracted minutiae: one-to-one pairs within 15 px and 30 deg
(`matching.pair_minutiae`); precision = paired / extracted and recall =
paired / true, pooled over all impressions.

Output, in `DIR_report` beside the dataset (or `outdir`; marked as derived
so that no dataset reader counts it, see `synthbio.io.derived`): index.html
with PNG figures beside it, metrics.json, and cache/ with one JSON per
impression (NFIQ2 and extracted templates, keyed by the image's sha256), so a
rerun only redoes what changed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.errors import InputError
from synthbio.fingerprints.matching import EXTRACTORS
from synthbio.io.derived import mark_derived, sibling_folder
from synthbio.metrics.distributions import (
    decidability,
    histogram,
    histogram_edges,
    summarize_scores,
)
from synthbio.metrics.verification import det_curve, summarize
from synthbio.pipelines.common import report_html as R
from synthbio.pipelines.fingerprints.generate import (
    DatasetImpression,
    DatasetIndex,
    load_dataset_index,
    single_threaded_worker,
)
from synthbio.utils.hashing import atomic_write_bytes
from synthbio.utils.jsonio import read_json_file
from synthbio.utils.progress import Progress

CACHE_VERSION = 1
# SFinGe's natural class mix (Cappelli et al.), for the class chart.
NATURAL_MIX = {"arch": 0.037, "tented_arch": 0.029, "left_loop": 0.338, "right_loop": 0.317, "whorl": 0.279}
NBIS_EXTRACTOR = "mindtct"  # "NBIS EER" = MINDTCT templates + Bozorth3


@dataclass(frozen=True)
class FingerprintReportConfig:
    """dataset: a generated dataset directory, or a database index of real prints (`synthbio db
    build fvc`) narrowed by protocol / group / where ('name=value'); real prints have no ground
    truth, so only NFIQ2, minutiae counts and Bozorth3 are measured. db_root: where the indexed
    images are now. outdir: report folder (None = `<DATASET>_report` beside it; for an index, `<INDEX>_report`).
    extractors: minutiae extractors to run ('leader', 'mindtct').
    workers: processes for extraction and matching (1 = in this process).
    max_distance_px / max_angle_deg: ground-truth pairing tolerances."""

    dataset: str
    outdir: str | None = None
    protocol: str | None = None
    group: str | None = None
    where: tuple[str, ...] = ()
    db_root: str | None = None
    extractors: tuple[str, ...] = ("leader", "mindtct")
    workers: int = 1
    max_distance_px: float = 15.0
    max_angle_deg: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", os.fspath(self.dataset))
        object.__setattr__(self, "extractors", tuple(self.extractors))
        object.__setattr__(self, "where", tuple(self.where))
        if not self.is_database and (self.protocol or self.group or self.where or self.db_root):
            raise InputError("--protocol, --group, --where and --db-root select real prints of a database index; "
                             f"{self.dataset!r} is not one (build it with `synthbio db build fvc`)")
        if not self.extractors:
            raise InputError("no minutiae extractor given: use --extractors leader,mindtct")
        for e in self.extractors:
            if e not in EXTRACTORS:
                raise InputError(f"unknown extractor {e!r} in --extractors: use {', '.join(EXTRACTORS)}")
        if len(set(self.extractors)) != len(self.extractors):
            raise InputError("an extractor is listed twice in --extractors")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")

    @property
    def is_database(self) -> bool:
        from synthbio.io.databases.selection import is_index_file

        return is_index_file(self.dataset)

    @property
    def report_dir(self) -> Path:
        if self.outdir:
            return Path(self.outdir)
        d = Path(self.dataset)
        return d.with_name(d.stem + "_report") if self.is_database else sibling_folder(self.dataset, "report")


@dataclass(frozen=True)
class FingerprintReport:
    html: Path
    metrics_json: Path
    metrics: dict[str, Any]

    def summary_text(self) -> str:
        """The measured figures, each with how many impressions or comparisons stand behind it."""
        return "\n".join(f"{m['name']}: {m['value_text']} ({m['based_on']})" for m in self.metrics["summary"])


# --- per impression (runs in workers) -----------------------------------------------------


@dataclass(frozen=True)
class _ImpressionTask:
    finger: int
    index: int
    png: str
    png_sha256: str
    truth_json: str | None  # None: a real print without ground truth
    cache: str
    extractors: tuple[str, ...]
    max_distance_px: float
    max_angle_deg: float


def _read_cache(path: Path, sha: str) -> dict[str, Any]:
    try:
        data = read_json_file(path)
    except (OSError, ValueError):
        return {}
    if data.get("version") != CACHE_VERSION or data.get("png_sha256") != sha:
        return {}
    return data


def analyse_impression(task: _ImpressionTask) -> dict[str, Any]:
    """NFIQ2, extracted templates and pairing counts of one impression (cached)."""
    from synthbio.fingerprints import matching as M
    from synthbio.fingerprints.minutiae import (
        read_json,
        template_from_dict,
        template_to_dict,
    )
    from synthbio.fingerprints.quality import nfiq2
    from synthbio.io.images import read_png

    cache_path = Path(task.cache)
    cached = _read_cache(cache_path, task.png_sha256)
    templates: dict[str, Any] = dict(cached.get("templates", {}))
    quality = cached.get("nfiq2")
    missing = [e for e in task.extractors if e not in templates]
    if missing or quality is None:
        image = read_png(task.png)
        if image.ndim == 3 and task.truth_json is None:  # real prints stored as RGB (or palette) images
            image = np.round(image.mean(axis=2)).astype(np.uint8)
        if image.ndim != 2:
            raise InputError(f"{task.png}: expected a grayscale fingerprint image")
        if quality is None:
            quality = nfiq2(image)
        for name in missing:
            templates[name] = template_to_dict(M.extract_minutiae(image, method=name))
        record = {"version": CACHE_VERSION, "png_sha256": task.png_sha256, "nfiq2": quality, "templates": templates}
        atomic_write_bytes(cache_path, (json.dumps(record) + "\n").encode())
    if task.truth_json is None:
        return {"finger": task.finger, "index": task.index, "nfiq2": int(quality), "n_truth": None,
                "pairing": {name: {"paired": None, "found": len(template_from_dict(templates[name]).minutiae),
                                   "same_kind": None} for name in task.extractors},
                "templates": {name: templates[name] for name in task.extractors}}
    truth = read_json(task.truth_json)
    pairing = {}
    for name in task.extractors:
        found = template_from_dict(templates[name]).minutiae
        pairs = M.pair_minutiae(
            truth.minutiae, found, max_distance=task.max_distance_px, max_angle=math.radians(task.max_angle_deg)
        )
        same_kind = sum(truth.minutiae[i].kind == found[j].kind for i, j in pairs)
        pairing[name] = {"paired": len(pairs), "found": len(found), "same_kind": same_kind}
    return {
        "finger": task.finger,
        "index": task.index,
        "nfiq2": int(quality),
        "n_truth": len(truth.minutiae),
        "pairing": pairing,
        "templates": {name: templates[name] for name in task.extractors},
    }


def _score_chunk(args: tuple[list[np.ndarray], list[tuple[int, int]]]) -> list[float]:
    """Bozorth3 scores of (probe, gallery) index pairs into a list of NIST xyt rows."""
    from synthbio.fingerprints.matching import _bozorth3_rows

    rows, pairs = args
    return [float(_bozorth3_rows(rows[p], rows[g])) for p, g in pairs]


# --- protocol -----------------------------------------------------------------------------


def fvc_pairs(impressions: dict[int, list[int]]) -> tuple[list[tuple[tuple[int, int], tuple[int, int]]], list[tuple[tuple[int, int], tuple[int, int]]]]:
    """FVC genuine and impostor comparisons as ((finger, index), (finger, index)) pairs.

    impressions: finger -> its impression indices. Genuine: i < j within a
    finger; impostor: first impressions of fingers f < g.
    """
    genuine, impostor = [], []
    fingers = sorted(impressions)
    for f in fingers:
        idx = sorted(impressions[f])
        genuine += [((f, a), (f, b)) for n, a in enumerate(idx) for b in idx[n + 1 :]]
    firsts = [(f, min(impressions[f])) for f in fingers if impressions[f]]
    impostor = [(firsts[a], firsts[b]) for a in range(len(firsts)) for b in range(a + 1, len(firsts))]
    return genuine, impostor


# --- the job ------------------------------------------------------------------------------


def database_index(config: FingerprintReportConfig) -> DatasetIndex:
    """The prints a database selection names, as fingers (identities) and impressions (the `impression`
    attribute of FVC names, else their order); the class of a real print is unknown."""
    from synthbio.io.databases import ImageSelection, parse_where, select_samples
    from synthbio.utils.hashing import sha256_file

    samples = select_samples(ImageSelection(config.dataset, protocol=config.protocol, group=config.group,
                                            where=parse_where(list(config.where)), root=config.db_root))
    imps: dict[int, list[DatasetImpression]] = {}
    for s in samples:
        finger = s.identity_index
        index = s.attributes.get("impression", len(imps.get(finger, [])))
        imps.setdefault(finger, []).append(DatasetImpression(
            finger=finger, index=int(index), fp_class="unknown", files={"png": s.file},
            sha256={"png": sha256_file(s.file)}))
    fingers = sorted(imps)
    for f in fingers:
        imps[f].sort(key=lambda imp: imp.index)
        if len({imp.index for imp in imps[f]}) != len(imps[f]):
            raise InputError(f"{config.dataset}: finger {f} lists one impression number twice")
    return DatasetIndex(outdir=Path(config.dataset).parent, fingers=fingers, classes={f: "unknown" for f in fingers},
                        impressions=imps)


# Reports that earlier versions wrote inside the dataset, and the file that shows a folder is one.
_LEGACY_REPORTS = (("report", "metrics.json"), ("attack", "results.json"))


def mark_legacy_reports(dataset: str | os.PathLike[str]) -> list[Path]:
    """Mark DATASET/report and DATASET/attack written by earlier versions as derived (no longer data)."""
    marked = []
    for name, proof in _LEGACY_REPORTS:
        folder = Path(dataset) / name
        if (folder / proof).is_file() and (folder / "index.html").is_file():
            marked.append(mark_derived(folder, command="fingerprints evaluate" if name == "report"
                                       else "fingerprints attack", source=dataset))
    return marked



def _tasks(config: FingerprintReportConfig, imps: list[DatasetImpression], cache_dir: Path) -> list[_ImpressionTask]:
    out = []
    for imp in imps:
        for ext in ("png",) if config.is_database else ("png", "json"):
            if ext not in imp.files:
                raise InputError(f"manifest entry of finger {imp.finger} impression {imp.index} lacks a .{ext} file")
        out.append(_ImpressionTask(
            finger=imp.finger, index=imp.index, png=str(imp.files["png"]), png_sha256=imp.sha256["png"],
            truth_json=str(imp.files["json"]) if "json" in imp.files else None,
            cache=str(cache_dir / f"{imp.finger:05d}_{imp.index:02d}.json"),
            extractors=config.extractors, max_distance_px=config.max_distance_px, max_angle_deg=config.max_angle_deg,
        ))
    return out


def evaluate_dataset(config: FingerprintReportConfig, *, progress: bool = True) -> FingerprintReport:
    """Run the whole evaluation and write the report (module docstring)."""
    from synthbio.fingerprints import matching as M
    from synthbio.fingerprints.minutiae import template_from_dict

    index = database_index(config) if config.is_database else load_dataset_index(config.dataset)
    if not config.is_database:
        mark_legacy_reports(config.dataset)
    report_dir = mark_derived(config.report_dir, command="fingerprints evaluate", source=config.dataset)
    cache_dir = report_dir / "cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    M.nbis_library()  # fail early, before hours of LEADER, if Bozorth3 is not built
    imps = [imp for f in index.fingers for imp in index.impressions[f]]
    tasks = _tasks(config, imps, cache_dir)

    results: list[dict[str, Any]] = []
    with Progress(progress) as bar:
        job = bar.add_task("impressions", total=len(tasks))
        pool = (
            ProcessPoolExecutor(max_workers=config.workers, mp_context=get_context("spawn"),
                                initializer=single_threaded_worker)
            if config.workers > 1 and len(tasks) > 1 else None
        )
        try:
            it = pool.map(analyse_impression, tasks, chunksize=1) if pool else map(analyse_impression, tasks)
            for res in it:
                results.append(res)
                bar.advance(job)

            keys = [(r["finger"], r["index"]) for r in results]
            position = {k: n for n, k in enumerate(keys)}
            per_finger: dict[int, list[int]] = {}
            for f, i in keys:
                per_finger.setdefault(f, []).append(i)
            genuine_pairs, impostor_pairs = fvc_pairs(per_finger)
            scores: dict[str, dict[str, np.ndarray]] = {}
            for name in config.extractors:
                rows = [M.nist_xyt_rows(template_from_dict(r["templates"][name])) for r in results]
                all_pairs = [(position[a], position[b]) for a, b in genuine_pairs + impostor_pairs]
                job2 = bar.add_task(f"Bozorth3 ({name})", total=len(all_pairs))
                n_chunks = max(1, min(len(all_pairs) // 200, 8 * config.workers))
                chunks = [all_pairs[c::n_chunks] for c in range(n_chunks)]
                flat = np.zeros(len(all_pairs))
                mapper = pool.map if pool else map
                for c, vals in enumerate(mapper(_score_chunk, [(rows, ch) for ch in chunks])):
                    flat[c::n_chunks] = vals
                    bar.advance(job2, len(vals))
                scores[name] = {"genuine": flat[: len(genuine_pairs)], "impostor": flat[len(genuine_pairs):]}
        finally:
            if pool is not None:
                pool.shutdown()

    metrics = compute_metrics(config, index.classes, results, scores)
    figures = draw_figures(report_dir, config, index, results, scores)
    metrics_path = report_dir / "metrics.json"
    R.write_text(metrics_path, json.dumps(R.json_safe(metrics), indent=2, sort_keys=True) + "\n")
    html_path = R.write_text(report_dir / "index.html", render_html(config, metrics, figures))
    return FingerprintReport(html=html_path, metrics_json=metrics_path, metrics=metrics)


# --- metrics ------------------------------------------------------------------------------




def _measure(name: str, value: float | None, based_on: str, *, percent: bool = False, digits: int = 3,
             missing: str = "n/a") -> dict[str, Any]:
    text = missing if value is None else R.fmt_number(value, percent=percent, digits=digits)
    return {"name": name, "value": value, "value_text": text, "based_on": based_on}


def _summary(extractors: dict[str, Any], q: np.ndarray, n_truth: np.ndarray) -> list[dict[str, Any]]:
    """The headline figures, each with the count behind it; rates the data cannot support are left out."""
    from synthbio.metrics.verification import MIN_IMPOSTORS

    out = []
    for name, e in extractors.items():
        v = e["verification"]
        label = f"{name.upper()} + Bozorth3"
        if v is None:
            out.append(_measure(f"EER ({label})", None, "no genuine or no impostor comparison",
                                missing="not reported"))
            continue
        counts = f"{v['n_genuine']} genuine and {v['n_impostor']} impostor comparisons"
        out.append(_measure(f"EER ({label})", v["eer"], counts, percent=True))
        for key, rate in (("fmr100", "FMR100"), ("fmr1000", "FMR1000")):
            if v.get(key) is None:
                out.append(_measure(f"{rate} ({label})", None, f"{v['n_impostor']} impostor comparisons; it needs "
                                    f"at least {MIN_IMPOSTORS[key]}", missing="not reported"))
            else:
                out.append(_measure(f"{rate} ({label})", v[key], counts, percent=True))
    out.append(_measure("mean NFIQ2", float(q.mean()) if q.size else None, f"{q.size} impressions", digits=1))
    if not n_truth.size:  # real prints: no ground truth to measure against
        return out
    for name, e in extractors.items():
        out.append(_measure(f"{name.upper()} minutiae recall", e["recall"],
                            f"{int(n_truth.sum())} ground-truth minutiae", percent=True))
    out.append(_measure("ground-truth minutiae per impression (mean)", float(n_truth.mean()),
                        f"{n_truth.size} impressions", digits=1))
    return out


def compute_metrics(
    config: FingerprintReportConfig,
    classes: dict[int, str],
    results: list[dict[str, Any]],
    scores: dict[str, dict[str, np.ndarray]],
) -> dict[str, Any]:
    q = np.array([r["nfiq2"] for r in results], dtype=np.float64)
    truthful = [r for r in results if r["n_truth"] is not None]  # real prints have no ground truth
    n_truth = np.array([r["n_truth"] for r in truthful], dtype=np.float64)
    extractors: dict[str, Any] = {}
    for name in config.extractors:
        paired = sum(r["pairing"][name]["paired"] for r in truthful)
        found = sum(r["pairing"][name]["found"] for r in truthful)
        same = sum(r["pairing"][name]["same_kind"] for r in truthful)
        counts = np.array([r["pairing"][name]["found"] for r in results], dtype=np.float64)
        g, i = scores[name]["genuine"], scores[name]["impostor"]
        extractors[name] = {
            "precision": paired / found if found else float("nan"),
            "recall": paired / n_truth.sum() if n_truth.sum() else float("nan"),
            "kind_agreement": same / paired if paired else float("nan"),
            "minutiae_per_impression": summarize_scores(counts).to_dict(),
            "verification": summarize(g, i).to_dict() if g.size and i.size else None,
            "decidability": decidability(g, i) if g.size and i.size else float("nan"),
            "genuine_scores": summarize_scores(g).to_dict(),
            "impostor_scores": summarize_scores(i).to_dict(),
        }
    class_counts = {c: 0 for c in NATURAL_MIX}
    for c in classes.values():
        class_counts[c] = class_counts.get(c, 0) + 1
    return {
        "dataset": str(Path(config.dataset).resolve()),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "synthbio_version": synthbio.__version__,
        "config": dataclasses.asdict(config),
        "fingers": len(classes),
        "impressions": len(results),
        "protocol": {
            "genuine": "all impression pairs of a finger, i < j (FVC)",
            "impostor": "first impressions of fingers f < g (FVC)",
            "matcher": "NBIS Bozorth3 (bozorth3 probe gallery, default settings)",
            "pairing": f"one-to-one within {config.max_distance_px} px and {config.max_angle_deg} deg",
        },
        "nfiq2": summarize_scores(q).to_dict(),
        "ground_truth_minutiae_per_impression": summarize_scores(n_truth).to_dict(),
        "extractors": extractors,
        "classes": class_counts,
        "summary": _summary(extractors, q, n_truth),
    }


# --- figures ------------------------------------------------------------------------------

_COLORS = {"genuine": "#2b7bba", "impostor": "#d9534f", "leader": "#6a3d9a", "mindtct": "#e08214", "truth": "#333333"}


def _hist(ax: Any, values: np.ndarray, edges: np.ndarray, label: str, color: str) -> None:
    ax.stairs(histogram(values, edges, density=True), edges, label=f"{label} (n={values.size})", color=color,
              fill=True, alpha=0.35)
    ax.stairs(histogram(values, edges, density=True), edges, color=color)


def draw_figures(report_dir: Path, config: FingerprintReportConfig, index: Any, results: list[dict[str, Any]],
                 scores: dict[str, dict[str, np.ndarray]]) -> list[tuple[str, str]]:
    """Write the PNG figures; return (file name, caption) pairs."""
    figs: list[tuple[str, str]] = []

    q = np.array([r["nfiq2"] for r in results], dtype=np.float64)
    fig = R.new_figure(5.5, 3.5)
    ax = fig.subplots()
    _hist(ax, q, np.arange(0, 105, 5) - 0.5, "impressions", _COLORS["genuine"])
    ax.set(xlabel="NFIQ2 (0-100)", ylabel="fraction", title=f"NFIQ2, mean {q.mean():.1f}")
    R.save_figure(fig, report_dir / "nfiq2.png")
    figs.append(("nfiq2.png", f"NFIQ2 quality of every impression ({q.size} impressions)."))

    for name in config.extractors:
        g, i = scores[name]["genuine"], scores[name]["impostor"]
        fig = R.new_figure(5.5, 3.5)
        ax = fig.subplots()
        edges = histogram_edges(g, i, max_bins=60)
        _hist(ax, i, edges, "impostor", _COLORS["impostor"])
        _hist(ax, g, edges, "genuine", _COLORS["genuine"])
        ax.set(xlabel="Bozorth3 score", ylabel="fraction of comparisons", title=f"Bozorth3 scores, {name.upper()} templates")
        ax.legend()
        R.save_figure(fig, report_dir / f"scores_{name}.png")
        figs.append((f"scores_{name}.png", f"Genuine and impostor Bozorth3 score distributions ({name.upper()} minutiae, FVC protocol)."))

    fig = R.new_figure(5.0, 4.5)
    ax = fig.subplots()
    ticks = np.array([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
    from synthbio.metrics.verification import probit

    drawn = False
    for name in config.extractors:
        g, i = scores[name]["genuine"], scores[name]["impostor"]
        if g.size and i.size:
            det = det_curve(g, i)
            if det.x.size:
                ax.plot(det.x, det.y, color=_COLORS.get(name, None), label=name.upper(), drawstyle="steps-post")
                drawn = True
    pt = probit(ticks)
    ax.set_xticks(pt, [f"{100 * t:g}" for t in ticks])
    ax.set_yticks(pt, [f"{100 * t:g}" for t in ticks])
    ax.set_xlim(pt[0], pt[-1])
    ax.set_ylim(pt[0], pt[-1])
    ax.plot(pt[[0, -1]], pt[[0, -1]], color="#999", lw=0.8, ls=":")
    ax.set(xlabel="FMR (%)", ylabel="FNMR (%)", title="DET, Bozorth3")
    ax.grid(True, color="#eee")
    if drawn:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no errors to draw:\nFMR or FNMR is 0 at every threshold", ha="center", va="center",
                transform=ax.transAxes, color="#555")
    R.save_figure(fig, report_dir / "det.png")
    figs.append(("det.png", "DET curves on probit axes (points with FMR or FNMR of 0 are off the chart); dotted: EER line."))

    fig = R.new_figure(5.5, 3.5)
    ax = fig.subplots()
    names = list(NATURAL_MIX)
    counts = np.array([sum(c == n for c in index.classes.values()) for n in names], dtype=np.float64)
    x = np.arange(len(names))
    ax.bar(x - 0.2, counts / max(counts.sum(), 1), 0.4, label=f"dataset (n={int(counts.sum())})", color=_COLORS["genuine"])
    ax.bar(x + 0.2, [NATURAL_MIX[n] for n in names], 0.4, label="natural mix", color="#bbbbbb")
    ax.set_xticks(x, [n.replace("_", " ") for n in names])
    ax.set(ylabel="fraction of fingers", title="Fingerprint classes")
    ax.legend()
    if counts.sum():  # real prints carry no class
        R.save_figure(fig, report_dir / "classes.png")
        figs.append(("classes.png", "Class mix of the fingers against the natural mix SFinGe reproduces."))

    fig = R.new_figure(6.0, 3.5)
    ax = fig.subplots()
    series = {"ground truth": np.array([r["n_truth"] for r in results], dtype=np.float64)} \
        if all(r["n_truth"] is not None for r in results) else {}
    for name in config.extractors:
        series[name.upper()] = np.array([r["pairing"][name]["found"] for r in results], dtype=np.float64)
    edges = histogram_edges(*series.values(), max_bins=40)
    for label, vals in series.items():
        ax.stairs(histogram(vals, edges, density=True), edges, label=f"{label}, mean {vals.mean():.1f}",
                  color=_COLORS.get(label.lower(), _COLORS["truth"]), lw=1.5)
    ax.set(xlabel="minutiae per impression", ylabel="fraction of impressions", title="Minutiae counts")
    ax.legend()
    R.save_figure(fig, report_dir / "minutiae_counts.png")
    figs.append(("minutiae_counts.png", "Minutiae per impression: ground truth and each extractor."))

    first = index.fingers[0]
    from synthbio.io.images import make_grid, read_png, write_png

    tiles = [read_png(imp.files["png"]) for imp in index.impressions[first][:4]]
    if tiles and all(t.shape == tiles[0].shape and t.ndim == 2 for t in tiles):
        write_png(report_dir / "samples.png", make_grid(tiles, cols=len(tiles), pad=8))
        figs.insert(0, ("samples.png", f"Impressions of finger {first} ({index.classes[first].replace('_', ' ')})."))
    return figs


# --- HTML ---------------------------------------------------------------------------------


def render_html(config: FingerprintReportConfig, m: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    rows_summary = [(m_["name"], m_["value_text"], m_["based_on"]) for m_ in m["summary"]]
    sections = [("Summary", R.table(["measure", "value", "measured on"], rows_summary)
                 + "<p>Rates are left out when the data cannot support them: an FMR of 1/n needs at least n "
                 "impostor comparisons.</p>")]

    rows = []
    for name, e in m["extractors"].items():
        v = e["verification"] or {}
        rows.append([
            name.upper(), R.fmt_number(e["precision"], percent=True), R.fmt_number(e["recall"], percent=True),
            R.fmt_number(e["kind_agreement"], percent=True), R.fmt_number(e["minutiae_per_impression"]["mean"], digits=1),
            R.fmt_number(v.get("eer"), percent=True),
            R.fmt_number(v.get("fmr100"), percent=True) if v.get("fmr100") is not None else "not reported",
            R.fmt_number(v.get("fmr1000"), percent=True) if v.get("fmr1000") is not None else "not reported",
            R.fmt_number(e["decidability"], digits=2),
        ])
    sections.append(("Extractors and Bozorth3", R.table(
        ["extractor", "precision", "recall", "same type", "minutiae / impression", "EER", "FMR100", "FMR1000", "d'"], rows)
        + f"<p>{_n(m, 'n_genuine')} genuine comparisons ({R.esc(m['protocol']['genuine'])}) and "
        f"{_n(m, 'n_impostor')} impostor comparisons ({R.esc(m['protocol']['impostor'])}), "
        f"scored by {R.esc(m['protocol']['matcher'])}. "
        f"Ground-truth pairing: {R.esc(m['protocol']['pairing'])}.</p>"))

    nq, gt = m["nfiq2"], m["ground_truth_minutiae_per_impression"]
    sections.append(("Dataset", R.table(["", "value"], [
        ["fingers", m["fingers"]], ["impressions", m["impressions"]],
        ["NFIQ2 mean / median / 5%", f"{R.fmt_number(nq['mean'], digits=1)} / {R.fmt_number(nq['median'], digits=1)} / {R.fmt_number(nq['q05'], digits=1)}"],
        ["ground-truth minutiae mean (5%-95%)", f"{R.fmt_number(gt['mean'], digits=1)} ({R.fmt_number(gt['q05'], digits=1)}-{R.fmt_number(gt['q95'], digits=1)})"],
        ["classes", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in m["classes"].items())],
    ])))
    sections.append(("Figures", "\n".join(R.figure_html(src, cap, width=560) for src, cap in figures)))
    sections.append(("About", f"<p>Made by synthbio {R.esc(m['synthbio_version'])} on {R.esc(m['generated_at'])} "
                     f"from <code>{R.esc(m['dataset'])}</code>; all numbers are in "
                     f"<a href=\"metrics.json\">metrics.json</a>.</p>"))
    return R.page("Synthetic fingerprint realism report", sections,
                  subtitle=f"{m['fingers']} fingers, {m['impressions']} impressions; extractors: {', '.join(config.extractors)}")


def _n(m: dict[str, Any], key: str) -> str:
    for e in m["extractors"].values():
        if e["verification"]:
            return str(e["verification"][key])
    return "0"
