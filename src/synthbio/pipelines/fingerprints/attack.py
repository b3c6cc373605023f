"""`synthbio fingerprints attack`: the template-inversion audit of a reconstruction method.

On a dataset written by `synthbio fingerprints generate` (DIR/<finger>/<k>.png
with .json/.iso ground truth), for every attacked finger (`--fingers`; for an
encoder, the fingers it did not train on) and every impression k:

1. template: the ground-truth JSON (`template_source="groundtruth"`) or the
   MINDTCT minutiae of the real impression (`"mindtct"`);
2. reconstruction by the configured method ('gabor' ridge growth or the
   'encoder' GAN; `synthbio.fingerprints.reconstruction.load_reconstructor`), written
   at the template's geometry and dpi to OUT/reconstructions/<finger>/<k>.png;
3. the reconstruction's minutiae by native NBIS MINDTCT, compared by NBIS
   Bozorth3 (`bozorth3 probe gallery`, probe = reconstruction) with the MINDTCT
   templates of the real impressions:
   - type-I: reconstruction of k vs real impression k (the template's source);
   - type-II: reconstruction of k vs real impression j != k of the same finger.

Baseline (real vs real, FVC protocol as `synthbio fingerprints evaluate`,
over the attacked fingers or, with `baseline="all"`, every finger of the
dataset): genuine = impression pairs i < j of a finger; impostor = first
impressions of fingers f < g (or, with `impostors="all"`, every impression of
f against every impression of g). Bozorth3 runs in `workers` processes.

Decision thresholds come from the impostor scores only: at a target FMR the
threshold is the lowest score whose impostor acceptance rate is <= the
target (`synthbio.metrics.verification.threshold_at_fmr`, scores >= t
accepted), and an attack succeeds when its score reaches it. An FMR of 0.1%
needs at least 1,000 impostor scores to be observed (0.01%: 10,000); with
fewer the threshold is not reported (`supported: false`) and only the
"no impostor accepted" operating point is given.

Output in OUT (default `<DATASET>_attack`, beside the dataset; marked as
derived so that no dataset reader counts it, `synthbio.io.derived`): index.html with PNG figures,
results.json, config.json, examples/ (real | minutiae map | reconstruction),
reconstructions/, and cache/ (one JSON per finger, keyed by the method and its
settings or weights, the template source and the image hashes) so that a
rerun after a kill only redoes the fingers not finished.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import synthbio
from synthbio.fingerprints.types import MinutiaeTemplate
from synthbio.metrics.distributions import summarize_scores
from synthbio.metrics.verification import error_rates, summarize, threshold_at_fmr
from synthbio.pipelines.common import report_html as R
from synthbio.pipelines.fingerprints.attack_data import (
    CACHE_VERSION,
    TARGET_FMRS,
    FingerprintAttackConfig,
    RealTemplates,
    attack_scores,
    digest,
    read_cache,
    select_fingers,
    source_template,
    training_split,
    write_cache,
)
from synthbio.pipelines.fingerprints.attack_report import draw_figures, render_html
from synthbio.pipelines.fingerprints.evaluate import fvc_pairs, mark_legacy_reports
from synthbio.pipelines.fingerprints.generate import load_dataset_index, single_threaded_worker
from synthbio.io.derived import mark_derived
from synthbio.io.images import encode_png
from synthbio.utils.hashing import atomic_write_bytes, atomic_write_json
from synthbio.utils.progress import Progress

_CHUNK = 250  # comparisons per pool task


@dataclass(frozen=True)
class AttackReport:
    html: Path
    results_json: Path
    results: dict[str, Any]

    def summary_text(self) -> str:
        r = self.results
        lines = [f"{r['attacked_fingers']} fingers attacked, {r['counts']['type1']} type-I and "
                 f"{r['counts']['type2']} type-II comparisons; {r['counts']['impostor']} impostor scores"]
        for op in r["operating_points"]:
            if not op["supported"]:
                lines.append(f"FMR {op['label']}: not evaluated ({op['note']})")
            else:
                lines.append(f"FMR {op['label']} (threshold {op['threshold']:g}): type-I "
                             f"{R.fmt_number(op['type1_success'], percent=True)} (ceiling "
                             f"{R.fmt_number(op.get('source_success'), percent=True)}), type-II "
                             f"{R.fmt_number(op['type2_success'], percent=True)}")
        return "\n".join(lines)


# --- baseline (real vs real) --------------------------------------------------------------


def impostor_pairs(per_finger: dict[int, list[int]], protocol: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Impostor comparisons ((f, i), (g, j)), f < g: FVC first impressions, or all impressions."""
    if protocol == "fvc":
        return fvc_pairs(per_finger)[1]
    fingers = sorted(per_finger)
    return [((f, i), (g, j)) for a, f in enumerate(fingers) for g in fingers[a + 1 :]
            for i in sorted(per_finger[f]) for j in sorted(per_finger[g])]


def _match_chunk(pairs: list[tuple[MinutiaeTemplate, MinutiaeTemplate]]) -> list[float]:
    """Bozorth3 scores of (probe, gallery) pairs (runs in pool workers)."""
    from synthbio.fingerprints.matching import match_many

    return match_many(pairs).tolist()


class _LazyPool:
    """A spawn process pool started on the first job with more than one chunk (small runs never pay for it)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: Any = None

    def map(self, fn: Any, items: list[Any]) -> Any:
        if self.workers <= 1 or len(items) <= 1:
            return map(fn, items)
        if self._executor is None:
            from concurrent.futures import ProcessPoolExecutor
            from multiprocessing import get_context

            self._executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                                 initializer=single_threaded_worker)
        return self._executor.map(fn, items)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None


def _score(pairs: list[tuple[MinutiaeTemplate, MinutiaeTemplate]], pool: _LazyPool | None, bar: Any = None,
           job: Any = None) -> np.ndarray:
    """Bozorth3 scores of many pairs, in chunks over the pool (or here), in order: float64 [P]."""
    chunks = [pairs[s : s + _CHUNK] for s in range(0, len(pairs), _CHUNK)]
    out: list[float] = []
    for vals in (pool or _LazyPool(1)).map(_match_chunk, chunks):
        out += vals
        if bar is not None:
            bar.advance(job, len(vals))
    return np.asarray(out, dtype=np.float64)


def _baseline(config: FingerprintAttackConfig, index: Any, fingers: list[int], real: RealTemplates,
              cache_dir: Path, bar: Any, pool: Any) -> dict[str, np.ndarray]:
    per_finger = {f: [imp.index for imp in index.impressions[f]] for f in fingers}
    genuine, impostor = fvc_pairs(per_finger)[0], impostor_pairs(per_finger, config.impostors)
    sha = {(f, imp.index): imp.sha256.get("png") for f in fingers for imp in index.impressions[f]}
    key = digest({"genuine": [(sha[a], sha[b]) for a, b in genuine],
                   "impostor": [(sha[a], sha[b]) for a, b in impostor]})
    path = cache_dir / "baseline.json"
    cached = read_cache(path)
    if cached is not None and cached.get("key") == key:
        return {k: np.asarray(cached[k], dtype=np.float64) for k in ("genuine", "impostor")}
    needed = sorted({p[0] for a, b in genuine + impostor for p in (a, b)})
    job = bar.add_task("real templates (MINDTCT)", total=len(needed))
    for f in needed:
        real.finger(f)
        bar.advance(job)

    def tpl(k: tuple[int, int]) -> MinutiaeTemplate:
        return real.finger(k[0])[k[1]]

    out = {}
    for name, pairs in (("genuine", genuine), ("impostor", impostor)):
        job = bar.add_task(f"Bozorth3 {name}", total=len(pairs))
        out[name] = _score([(tpl(a), tpl(b)) for a, b in pairs], pool, bar, job)
    write_cache(path, {"key": key, "genuine": out["genuine"].tolist(), "impostor": out["impostor"].tolist()})
    return out


# --- the attack ---------------------------------------------------------------------------


def _attack_group(config: FingerprintAttackConfig, fingers: list[int], index: Any, real: RealTemplates,
                  reconstructor: Any, out_dir: Path, run_key: str, pool: Any = None) -> list[dict[str, Any]]:
    """Reconstruct, extract and score every impression of a few fingers; returns their cache records."""
    from synthbio.fingerprints.matching import extract_minutiae

    jobs = []  # (finger, impression, source template)
    for f in fingers:
        reals = real.finger(f)
        jobs += [(f, imp, source_template(config, imp, reals)) for imp in index.impressions[f]]
    images = reconstructor.images_uint8([t for _, _, t in jobs])
    recon: dict[tuple[int, int], MinutiaeTemplate] = {}
    per_imp: dict[tuple[int, int], dict[str, Any]] = {}
    for (f, imp, tpl), pixels in zip(jobs, images):
        rel = Path("reconstructions") / f"{f:05d}" / f"{imp.index:02d}.png"
        (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out_dir / rel, encode_png(pixels, dpi=tpl.dpi))
        recon[(f, imp.index)] = extract_minutiae(pixels, method="mindtct", dpi=tpl.dpi)
        per_imp[(f, imp.index)] = {"index": imp.index, "png": rel.as_posix(), "source_minutiae": len(tpl.minutiae),
                                   "recon_minutiae": len(recon[(f, imp.index)].minutiae),
                                   "real_minutiae": len(real.finger(f)[imp.index].minutiae)}
    plan = []  # (finger, its impression indices, type-I pairs, type-II pairs): fingers may differ in count
    for f in fingers:
        ks = [imp.index for imp in index.impressions[f]]
        plan.append((f, ks, [(k, k) for k in ks], [(k, j) for k in ks for j in ks if j != k]))
    flat = _score([(recon[(f, k)], real.finger(f)[j]) for f, _, t1, t2 in plan for k, j in t1 + t2], pool).tolist()
    # the stolen template itself as the probe: what a perfect reconstruction would score (type-I ceiling)
    sources = {(f, imp.index): tpl for f, imp, tpl in jobs}
    ceiling = _score([(sources[(f, k)], real.finger(f)[k]) for f, _, t1, _ in plan for k, _ in t1], pool).tolist()
    records = []
    for f, ks, type1, type2 in plan:
        scores, flat = flat[: len(type1) + len(type2)], flat[len(type1) + len(type2) :]
        own, ceiling = ceiling[: len(type1)], ceiling[len(type1) :]
        records.append({
            "key": run_key,
            "finger": f,
            "png_sha256": [imp.sha256.get("png") for imp in index.impressions[f]],
            "impressions": [per_imp[(f, k)] for k in ks],
            "type1": [[k, j, s] for (k, j), s in zip(type1, scores[: len(type1)])],
            "type2": [[k, j, s] for (k, j), s in zip(type2, scores[len(type1):])],
            "source": [[k, j, s] for (k, j), s in zip(type1, own)],
        })
    return records


def _run_key(config: FingerprintAttackConfig, reconstructor: Any) -> str:
    return digest({"reconstructor": reconstructor.cache_key(), "template_source": config.template_source,
                    "cache": CACHE_VERSION})


def _attack_all(config: FingerprintAttackConfig, attacked: list[int], index: Any, real: RealTemplates,
                reconstructor: Any, out_dir: Path, run_key: str, records: dict[int, dict[str, Any]], bar: Any,
                pool: Any) -> None:
    """Fill `records` for every attacked finger: from the cache, or computed in generator-sized groups."""
    cache_dir = out_dir / "cache"
    todo = []
    for f in attacked:
        rec = read_cache(cache_dir / "fingers" / f"{f:05d}.json")
        shas = [imp.sha256.get("png") for imp in index.impressions[f]]
        if rec is not None and rec.get("key") == run_key and rec.get("png_sha256") == shas:
            records[f] = rec
        else:
            todo.append(f)
    job = bar.add_task("fingers attacked", total=len(attacked), completed=len(records))
    group: list[int] = []
    for n, f in enumerate(todo):
        group.append(f)
        if sum(len(index.impressions[g]) for g in group) < config.batch_size and n + 1 < len(todo):
            continue  # fill a generator batch across fingers
        for rec in _attack_group(config, group, index, real, reconstructor, out_dir, run_key, pool):
            write_cache(cache_dir / "fingers" / f"{rec['finger']:05d}.json", rec)
            records[rec["finger"]] = rec
            bar.advance(job)
        group = []


def run_attack(config: FingerprintAttackConfig, *, progress: bool = True, models: Any = None,
               reconstructor: Any = None) -> AttackReport:
    """The whole audit (module docstring).

    models: preloaded ReconstructionModels for the 'encoder' method;
    reconstructor: any preloaded reconstructor (overrides config.method).
    """
    from synthbio.fingerprints import matching as M
    from synthbio.fingerprints.reconstruction import EncoderReconstructor, load_reconstructor
    from synthbio.utils.devices import resolve_device

    index = load_dataset_index(config.dataset)
    split = None
    if config.exclude_training is not None:
        from synthbio.checkpoints.encoders import load_encoder

        split = training_split(load_encoder(config.exclude_training)[1], source=str(config.exclude_training))
    attacked = select_fingers(index.fingers, fingers=config.fingers, split=split)
    device = resolve_device(config.device)
    M.nbis_library()  # fail before any work if MINDTCT / Bozorth3 are not built
    if reconstructor is None and models is not None and config.method == "encoder":
        reconstructor = EncoderReconstructor(models, device=device, batch_size=config.batch_size)
    if reconstructor is None:
        reconstructor = load_reconstructor(config.method, encoder=config.encoder, model=config.model,
                                           device=device, batch_size=config.batch_size)
    mark_legacy_reports(config.dataset)
    out_dir = mark_derived(config.out_dir, command="fingerprints attack", source=config.dataset)
    cache_dir = out_dir / "cache"
    (cache_dir / "fingers").mkdir(parents=True, exist_ok=True)
    run_key = _run_key(config, reconstructor)
    atomic_write_json(out_dir / "config.json", {
        "command": "fingerprints attack", "config": dataclasses.asdict(config), "reconstructor": reconstructor.describe(),
        "attacked_fingers": attacked, "run_key": run_key, "synthbio_version": synthbio.__version__})

    real = RealTemplates(cache_dir, index)
    records: dict[int, dict[str, Any]] = {}
    pool = _LazyPool(config.workers)
    try:
        with Progress(progress) as bar:
            baseline_fingers = attacked if config.baseline == "attacked" else index.fingers
            baseline = _baseline(config, index, baseline_fingers, real, cache_dir, bar, pool)
            _attack_all(config, attacked, index, real, reconstructor, out_dir, run_key, records, bar, pool)
    finally:
        pool.shutdown()
    ordered = [records[f] for f in attacked]
    results = compute_results(config, ordered, baseline, attacked=attacked, reconstructor=reconstructor,
                              split=split)
    figures = draw_figures(out_dir, config, index, ordered, baseline, real, reconstructor)
    results_path = out_dir / "results.json"
    R.write_text(results_path, json.dumps(R.json_safe(results), indent=2, sort_keys=True) + "\n")
    html = R.write_text(out_dir / "index.html", render_html(results, figures))
    return AttackReport(html=html, results_json=results_path, results=results)


# --- results ------------------------------------------------------------------------------


def operating_point(target_fmr: float, impostor: np.ndarray, scores: dict[str, np.ndarray]) -> dict[str, Any]:
    """Threshold at `target_fmr` from the impostor scores and the rates accepted there.

    target_fmr 0 is the 'no impostor accepted' point. The threshold is chosen among
    all observed scores (attack and genuine included), so an attack score is
    accepted exactly when the impostor acceptance rate at it is <= the target.
    """
    needed = 0 if target_fmr == 0 else math.ceil(1.0 / target_fmr - 1e-9)
    label = "0 (no impostor accepted)" if target_fmr == 0 else f"{100 * target_fmr:g}%"
    base = {"target_fmr": target_fmr, "label": label, "n_impostor": int(impostor.size), "impostors_needed": needed}
    if impostor.size == 0 or impostor.size < needed:
        return {**base, "supported": False, "threshold": None,
                "note": f"{impostor.size} impostor scores; an FMR of {label} needs at least {needed}" if needed
                else "no impostor scores (one finger?): use --baseline all or attack more fingers"}
    candidates = np.concatenate([v for v in scores.values() if v.size] or [impostor])
    t = threshold_at_fmr(candidates, impostor, target_fmr)
    fmr = error_rates(candidates, impostor, t)[0]
    rates = {f"{k}_success": (float(np.mean(v >= t)) if v.size else float("nan")) for k, v in scores.items()}
    return {**base, "supported": True, "threshold": t, "observed_fmr": fmr, "note": "", **rates}


def compute_results(config: FingerprintAttackConfig, records: list[dict[str, Any]], baseline: dict[str, np.ndarray],
                    *, attacked: list[int], reconstructor: Any,
                    split: tuple[str, set[int]] | None) -> dict[str, Any]:
    att = attack_scores(records)
    genuine, impostor = baseline["genuine"], baseline["impostor"]
    scores = {"type1": att["type1"], "type2": att["type2"], "genuine": genuine}
    points = [operating_point(t, impostor, scores) for t in TARGET_FMRS + (0.0,)]
    # type-II "any": a reconstruction accepted by at least one other impression of its finger; an
    # impression whose finger has no other impression has no type-II comparison and is left out
    for op in points:
        if op["supported"]:
            best = [max((s for k2, _, s in r["type2"] if k2 == imp["index"]), default=None)
                    for r in records for imp in r["impressions"]]
            hits = [b >= op["threshold"] for b in best if b is not None]
            op["type2_any_success"] = float(np.mean(hits)) if hits else float("nan")
            op["type2_any_n"] = len(hits)
            source = np.asarray([s for r in records for _, _, s in r["source"]], dtype=np.float64)
            op["source_success"] = float(np.mean(source >= op["threshold"])) if source.size else float("nan")
    imps = [imp for r in records for imp in r["impressions"]]
    scope = "attacked fingers" if config.baseline == "attacked" else "every finger of the dataset"
    n_min = lambda key: summarize_scores(np.asarray([i[key] for i in imps], dtype=np.float64)).to_dict()  # noqa: E731
    verification = summarize(genuine, impostor).to_dict() if genuine.size and impostor.size else None
    return {
        "dataset": str(Path(config.dataset).resolve()),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "synthbio_version": synthbio.__version__,
        "config": dataclasses.asdict(config),
        "method": reconstructor.method,
        "encoder": reconstructor.describe().get("encoder"),
        "generator": reconstructor.describe().get("generator"),
        "reconstruction_settings": reconstructor.describe().get("settings"),
        "split": None if split is None else {"kind": split[0], "fingers": len(split[1])},
        "attacked_fingers": len(attacked),
        "attacked_finger_ids": attacked,
        "counts": {"impressions": len(imps), "type1": int(att["type1"].size), "type2": int(att["type2"].size),
                   "genuine": int(genuine.size), "impostor": int(impostor.size)},
        "protocol": {
            "type1": "reconstruction of impression k vs real impression k (MINDTCT templates, Bozorth3 "
                     "probe = reconstruction)",
            "type2": "reconstruction of impression k vs every other real impression j != k of the same finger",
            "source": "the attacked template itself vs real impression k: the type-I rate of a perfect "
                      "reconstruction (its ceiling)",
            "genuine": f"real impression pairs i < j of a finger (FVC), {scope}",
            "impostor": {"fvc": "first impressions of fingers f < g (FVC)",
                         "all": "every impression of finger f vs every impression of finger g, f < g"}[config.impostors]
            + f", {scope}",
            "threshold": "lowest score with impostor acceptance rate <= target FMR; scores >= threshold accepted",
            "template_source": config.template_source,
        },
        "operating_points": points,
        "real_verification": verification,
        "scores": {k: summarize_scores(v).to_dict() for k, v in
                   (("type1", att["type1"]), ("type2", att["type2"]), ("genuine", genuine), ("impostor", impostor))},
        "minutiae": {"source": n_min("source_minutiae"), "reconstruction": n_min("recon_minutiae"),
                     "real": n_min("real_minutiae")},
        "per_finger": [{"finger": r["finger"], "type1": [s for _, _, s in r["type1"]],
                        "type2_max": max((s for _, _, s in r["type2"]), default=None)} for r in records],
    }
