"""Adapter for `synthbio fingerprints generate` folders: fingers, impressions, ground truth.

Items are fingers (one manifest line each); an item's samples are its
impressions, each with its PNG, its ground-truth template (JSON: minutiae and
singularities, drawn over the image), ISO and xyt files to download, and the
finger's class. Lists filter by class and sort by minutiae count; the
genuine / impostor histograms score ground-truth templates with Bozorth3
(a sample of pairs, computed once per server).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.errors import InputError
from synthbio.web.fingerprint_tools import compare_templates, score_histograms
from synthbio.web.index import ItemEntry, LiveIndex, ManifestIndex
from synthbio.web.kinds import Context, DatasetView, SimpleKind, SortKey, mask_of, register_kind

MAX_HISTOGRAM_PAIRS = 1500  # genuine and impostor each; ~1 ms a Bozorth3 match


def _finger_key(rec: dict[str, Any]) -> str | None:
    finger = rec.get("finger")
    return f"{finger:05d}" if isinstance(finger, int) and isinstance(rec.get("impressions"), list) else None


def _finger_summary(summary: dict[str, Any], rec: dict[str, Any]) -> None:
    imps = [i for i in rec["impressions"] if isinstance(i, dict)]
    counts = [int(i.get("minutiae", 0)) for i in imps]
    summary.update({
        "finger": rec["finger"], "class": rec.get("class"), "impressions": len(imps),
        "minutiae": round(float(np.mean(counts)), 1) if counts else 0.0,
        "min_minutiae": min(counts) if counts else 0,
        "singularities": len(rec.get("singularities") or []),
        "thumb": (imps[0].get("files") or {}).get("png", {}).get("path") if imps else None,
        "search": str(rec.get("class", "")),
    })


class FingerprintSetView(DatasetView):
    kind = "fingerprint-set"
    title = "fingerprints"
    sort_keys = (
        SortKey("finger", "finger", "finger"),
        SortKey("fewest-minutiae", "fewest minutiae (mean)", "minutiae"),
        SortKey("most-minutiae", "most minutiae (mean)", "minutiae", True),
        SortKey("weakest-impression", "weakest impression (fewest minutiae)", "min_minutiae"),
    )
    filter_fields = ("class",)

    def __init__(self, folder: Path, context: Context, config: dict[str, Any] | None) -> None:
        super().__init__(folder, context, config)
        self._live = LiveIndex(folder / "manifest.jsonl", kind=self.kind, key_fn=_finger_key,
                               summary_fn=_finger_summary, cache_dir=context.cache_dir)
        self._hist: dict[str, Any] | None = None
        self._hist_lock = threading.Lock()

    def index(self) -> ManifestIndex:
        return self._live.get()

    def entries(self) -> list[ItemEntry]:
        return self.index().items

    def facts(self) -> dict[str, Any]:
        cfg = self.config or {}
        facts = {k: cfg.get(k) for k in ("seed", "impressions", "fp_class", "width", "height") if k in cfg}
        facts["dpi"] = 500
        return facts

    def card(self, entry: ItemEntry) -> dict[str, Any]:
        s = entry.summary
        thumb = self.folder / s["thumb"] if s.get("thumb") else None
        return {"key": entry.key, "title": f"finger {s.get('finger')}",
                "thumb": self.context.ref(thumb) if thumb is not None and thumb.is_file() else None,
                "badges": {"class": s.get("class"), "minutiae": s.get("minutiae")}}

    def _ref(self, rel: str | None) -> str | None:
        if not rel:
            return None
        p = self.folder / rel
        return self.context.ref(p) if p.is_file() else None

    def item(self, key: str) -> dict[str, Any]:
        try:
            rec = self.index().records(key)[0]
        except KeyError:
            raise InputError(f"{self.ref} has no finger {key!r}") from None
        samples = []
        for imp in sorted(rec["impressions"], key=lambda d: int(d.get("index", 0))):
            files = {ext: e.get("path") for ext, e in (imp.get("files") or {}).items() if isinstance(e, dict)}
            png = self.folder / files["png"] if files.get("png") else None
            mask = mask_of(png) if png is not None else None
            samples.append({
                "id": f"{key}/{int(imp['index']):02d}", "label": f"impression {int(imp['index'])}",
                "image": self._ref(files.get("png")), "branches": {},
                "truth": self._ref(files.get("json")), "mask": self.context.ref(mask) if mask else None,
                "downloads": {ext: self._ref(rel) for ext, rel in files.items() if ext != "png"},
                "meta": {"impression": imp.get("index"), "minutiae": imp.get("minutiae")},
                "latents": {}, "editor": None,
            })
        facts = {"class": rec.get("class"), "finger seed": rec.get("seed"),
                 "singularities": ", ".join(f"{s.get('kind')} ({s.get('x', 0):.0f}, {s.get('y', 0):.0f})"
                                            for s in rec.get("singularities") or []) or "none"}
        return {"key": key, "title": f"finger {rec.get('finger')}", "samples": samples, "facts": facts}

    def _truth_path(self, sample_id: str) -> Path:
        finger, _, imp = sample_id.partition("/")
        if not (finger.isdigit() and imp.isdigit()):
            raise InputError(f"sample {sample_id!r} is not '<finger>/<impression>'")
        p = self.folder / finger / f"{imp}.json"
        if not p.is_file():
            raise InputError(f"{self.ref} has no impression {sample_id!r}")
        return p

    def compare(self, a: str, b: str) -> dict[str, Any]:
        out = compare_templates(self._truth_path(a), self._truth_path(b))
        out["same_finger"] = a.split("/")[0] == b.split("/")[0]
        return out

    def histograms_available(self) -> bool:
        return True

    def histograms(self) -> dict[str, Any] | None:
        with self._hist_lock:
            if self._hist is None:
                self._hist = self._compute_histograms()
            return self._hist

    def _compute_histograms(self) -> dict[str, Any]:
        fingers: list[list[Path]] = []
        index = self.index()
        for e in index.items:
            rec = index.records(e.key)[0]
            paths = [self.folder / i["files"]["json"]["path"] for i in rec["impressions"]
                     if isinstance(i.get("files"), dict) and "json" in i["files"]]
            fingers.append([p for p in paths if p.is_file()])
        genuine = [(imps[i], imps[j]) for imps in fingers for i in range(len(imps)) for j in range(i + 1, len(imps))]
        firsts = [imps[0] for imps in fingers if imps]
        impostor = [(firsts[i], firsts[j]) for i in range(len(firsts)) for j in range(i + 1, len(firsts))]
        rng = np.random.default_rng(0)  # a fixed sample of pairs: the same histogram every start
        if len(genuine) > MAX_HISTOGRAM_PAIRS:
            genuine = [genuine[i] for i in sorted(rng.choice(len(genuine), MAX_HISTOGRAM_PAIRS, replace=False))]
        if len(impostor) > MAX_HISTOGRAM_PAIRS:
            impostor = [impostor[i] for i in sorted(rng.choice(len(impostor), MAX_HISTOGRAM_PAIRS, replace=False))]
        out = score_histograms(genuine, impostor)
        out["note"] = out.get("note") or ("genuine: impression pairs of a finger; impostor: first impressions of "
                                          "two fingers (FVC protocol), at most %d pairs each" % MAX_HISTOGRAM_PAIRS)
        return out


def _is_fingerprint_set(folder: Path, config: dict[str, Any] | None) -> bool:
    return (config is not None and "master" in config and "impression" in config
            and (folder / "manifest.jsonl").is_file())


def register() -> None:
    register_kind(SimpleKind("fingerprint-set", _is_fingerprint_set, FingerprintSetView), before="image-folder")
