"""Adapter for `synthbio masks generate` folders: images with their masks, sorted by uncertainty.

Items are seeds, read from manifest.jsonl. A record's `files` hold the image
of every branch (`seed0003.png`, or `rgb/seed0003.png` + `nir/...`) and ONE
index mask for all of them (`seed0003_mask.png`, or `masks/seed0003_mask.png`
for several branches; under `dropped/` when the uncertainty filter dropped the
sample), plus its colour preview. The mask is overlaid on every branch. Lists
sort by the ensemble's uncertainty and filter on the samples the filter dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import PIL.Image

from synthbio.utils.hashing import sha256_file
from synthbio.web.image_view import GeneratedView, read_h5_group
from synthbio.web.index import ItemEntry, LiveIndex
from synthbio.web.kinds import Context, SimpleKind, SortKey, register_kind

COMMAND = "masks generate"
_MASK_KEYS = ("mask", "mask_color")


def _seed_key(rec: dict[str, Any]) -> str | None:
    seed = rec.get("seed")
    return f"{seed:04d}" if isinstance(seed, int) and isinstance(rec.get("files"), dict) else None


def _summary(summary: dict[str, Any], rec: dict[str, Any]) -> None:
    summary["seed"] = rec["seed"]
    summary["files"] = {b: e.get("path") for b, e in rec["files"].items() if isinstance(e, dict)}
    if isinstance(rec.get("uncertainty"), (int, float)):
        summary["uncertainty"] = float(rec["uncertainty"])
    summary["dropped"] = "yes" if rec.get("dropped") else "no"


class MaskDatasetView(GeneratedView):
    kind = "mask-dataset"
    title = "images with masks"
    sort_keys = (SortKey("seed", "seed", "seed"),
                 SortKey("uncertain", "most uncertain first", "uncertainty", True),
                 SortKey("certain", "least uncertain first", "uncertainty"))
    filter_fields = ("dropped",)

    def __init__(self, folder: Path, context: Context, config: dict[str, Any] | None) -> None:
        super().__init__(folder, context, config)
        self._live = LiveIndex(folder / "manifest.jsonl", kind=self.kind, key_fn=_seed_key, summary_fn=_summary,
                               cache_dir=context.cache_dir)

    def facts(self) -> dict[str, Any]:
        facts = super().facts()
        cfg = self.config or {}
        run = cfg.get("run") if isinstance(cfg.get("run"), dict) else {}
        if run.get("classifier"):
            facts["classifier"] = run["classifier"]
        classes = cfg.get("classes")
        if isinstance(classes, list):
            facts["classes"] = ", ".join(str(c.get("name")) for c in classes if isinstance(c, dict))
        return facts

    def _branch_files(self, files: dict[str, str]) -> dict[str, str]:
        return self._files({k: v for k, v in files.items() if k not in _MASK_KEYS})

    def card(self, entry: ItemEntry) -> dict[str, Any]:
        s = entry.summary
        files = self._branch_files(s.get("files", {}))
        badges: dict[str, Any] = {}
        if "uncertainty" in s:
            badges["uncertainty"] = round(s["uncertainty"], 4)
        if s.get("dropped") == "yes":
            badges["dropped"] = True
        return {"key": entry.key, "title": f"seed {s.get('seed')}", "thumb": next(iter(files.values()), None),
                "badges": badges}

    def item(self, key: str) -> dict[str, Any]:
        entry = self.entry(key)
        rec = self.index().records(key)[0]
        files = {k: e["path"] for k, e in rec["files"].items() if isinstance(e, dict)}
        branches = self._branch_files(files)
        mask = self.folder / files["mask"] if "mask" in files else None
        latents = read_h5_group(self.folder / "samples.h5", f"{int(rec['seed']):05d}/reference")
        meta = {k: v for k, v in rec.items() if k != "files"}
        sample = {"id": key, "label": f"seed {rec['seed']}", "image": next(iter(branches.values()), None),
                  "branches": branches, "mask": self.context.ref(mask) if mask and mask.is_file() else None,
                  "truth": None, "meta": meta, "latents": {k: v for k, v in latents.items() if k != "attrs"},
                  "editor": {"seed": int(rec["seed"])}}
        facts = {"uncertainty": entry.summary.get("uncertainty"), "dropped": entry.summary.get("dropped")}
        return {"key": key, "title": f"seed {entry.summary.get('seed')}", "samples": [sample], "facts": facts}


def _is_mask_dataset(folder: Path, config: dict[str, Any] | None) -> bool:
    return (folder / "manifest.jsonl").is_file() and config is not None and config.get("command") == COMMAND


def register() -> None:
    register_kind(SimpleKind("mask-dataset", _is_mask_dataset, MaskDatasetView), before="image-folder")


# --- `masks export` folders: the samples to annotate, with the annotations painted so far --------------

EXPORT_COMMAND = "masks export"


def _export_summary(summary: dict[str, Any], rec: dict[str, Any]) -> None:
    summary["seed"] = rec["seed"]
    summary["files"] = {b: e.get("path") for b, e in rec["files"].items() if isinstance(e, dict) and b != "ws"}
    ann = rec.get("annotation")
    if isinstance(ann, dict):
        summary["annotation"] = ann.get("path")
        summary["blank_sha256"] = ann.get("blank_sha256")


def _index_png(path: Path) -> bool:
    """A grey or palette PNG (what the mask overlay can colour by value); colour annotations are not."""
    try:
        with PIL.Image.open(path) as img:
            return img.format == "PNG" and img.mode in ("L", "P")
    except (OSError, SyntaxError, ValueError):
        return False


class AnnotationFolderView(GeneratedView):
    """Items are the exported seeds; the overlay is the seed's annotation file as painted so far."""

    kind = "mask-annotations"
    title = "samples to annotate"
    sort_keys = (SortKey("seed", "seed", "seed"),)

    def __init__(self, folder: Path, context: Context, config: dict[str, Any] | None) -> None:
        super().__init__(folder, context, config)
        self._live = LiveIndex(folder / "manifest.jsonl", kind=self.kind, key_fn=_seed_key,
                               summary_fn=_export_summary, cache_dir=context.cache_dir)

    def item(self, key: str) -> dict[str, Any]:
        entry = self.entry(key)
        s = entry.summary
        branches = self._files(s.get("files", {}))
        ann = self.folder / s["annotation"] if s.get("annotation") else None
        painted = ann is not None and ann.is_file() and sha256_file(ann) != s.get("blank_sha256")
        sample = {"id": key, "label": f"seed {s['seed']}", "image": next(iter(branches.values()), None),
                  "branches": branches, "mask": self.context.ref(ann) if painted and _index_png(ann) else None,
                  "truth": None, "meta": {"annotation": s.get("annotation"), "painted": painted}, "latents": {},
                  "editor": {"seed": int(s["seed"])}}
        return {"key": key, "title": f"seed {s['seed']}", "samples": [sample], "facts": {"painted": painted}}


def _is_annotation_folder(folder: Path, config: dict[str, Any] | None) -> bool:
    return (folder / "manifest.jsonl").is_file() and config is not None and config.get("command") == EXPORT_COMMAND


def register_all() -> None:
    register()
    register_kind(SimpleKind("mask-annotations", _is_annotation_folder, AnnotationFolderView), before="image-folder")
