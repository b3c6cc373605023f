"""Adapters for folders of generated images: `generate` / `demo` runs, `mix` grids, and any image folder.

- generate (and `demo`): items are seeds, read from manifest.jsonl; a
  multi-branch model's `rgb/`, `nir/` images of a seed are shown side by
  side; latents come from samples.h5 (`/<seed:05d>/reference/`); the editor
  opens on the same generator, truncation and seed.
- mix: items are the `<row>-<col>.png` images; the editor opens on the row
  seed with the column seed's styles.
- image folder: any folder with images (`mated/` impressions with their
  ground-truth JSON, a translation's outputs, a mask job's `<stem>_mask.png`
  overlays): items are image stems; `<stem>.json` synthbio templates give a
  minutiae overlay.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from synthbio.checkpoints.registry import REGISTRY
from synthbio.errors import InputError
from synthbio.web.fingerprint_tools import compare_templates
from synthbio.web.index import ItemEntry, LiveIndex, ManifestIndex
from synthbio.web.kinds import (
    IMAGE_SUFFIXES,
    Context,
    DatasetView,
    SimpleKind,
    SortKey,
    images_in,
    mask_of,
    register_kind,
)

_TEMPLATE_MARK = b"synthbio.minutiae_template"
_MIX_NAME = re.compile(r"^(\d+)-(\d+)$")


def is_template_json(path: Path) -> bool:
    """True for a synthbio minutiae template (a `.json` whose first 4 KB name the format)."""
    try:
        with path.open("rb") as f:
            return _TEMPLATE_MARK in f.read(4096)
    except OSError:
        return False


def latents_preview(values: np.ndarray | None, *, head: int = 6) -> dict[str, Any] | None:
    """Shape, norm and first values of one latent (for the sample table), None when absent."""
    if values is None:
        return None
    a = np.asarray(values, dtype=np.float64)
    return {"shape": list(a.shape), "norm": float(np.linalg.norm(a)),
            "head": [round(float(v), 4) for v in a.reshape(-1)[:head]]}


def read_h5_group(path: Path, group: str, *, raw: bool = False) -> dict[str, Any]:
    """The latents (previews, or arrays with raw=True) and attributes of one samples.h5 group ({} when absent)."""
    if not path.is_file():
        return {}

    try:
        with h5py.File(path, "r") as f:
            if group not in f:
                return {}
            g = f[group]
            names = ("z_latent", "w_latent", "w_plus_latent", "embedding")
            out: dict[str, Any] = {k: (g[k][0] if raw else latents_preview(g[k][0])) for k in names if k in g}
            out["attrs"] = {k: (v.item() if hasattr(v, "item") else v) for k, v in g.attrs.items()}
            return out
    except OSError:
        return {}


def resolve_model_ref(model: str | None, folder: Path) -> str | None:
    """The model a folder names in its config, as the editor can load it (registry name or path)."""
    if not model:
        return None
    p = Path(model)
    if p.is_absolute():
        return str(p) if p.exists() else None
    for base in (folder.parent, folder, Path.cwd()):
        if (base / p).exists():
            return str((base / p).resolve())

    return model if model in REGISTRY else None


# --- generate / demo -------------------------------------------------------------------------


def _seed_key(rec: dict[str, Any]) -> str | None:
    seed = rec.get("seed")
    return f"{seed:04d}" if isinstance(seed, int) and isinstance(rec.get("files"), dict) else None


def _seed_summary(summary: dict[str, Any], rec: dict[str, Any]) -> None:
    summary["seed"] = rec["seed"]
    summary["files"] = {b: e.get("path") for b, e in rec["files"].items() if isinstance(e, dict)}


def _branch_rank(name: str) -> tuple[bool, str]:
    """RGB first (the image people look at), then the other branches by name."""
    return (name != "rgb", name)


class GeneratedView(DatasetView):
    kind = "generated-images"
    title = "generated images"
    sort_keys = (SortKey("seed", "seed", "seed"), SortKey("seed-desc", "seed (high first)", "seed", True))

    def __init__(self, folder: Path, context: Context, config: dict[str, Any] | None) -> None:
        super().__init__(folder, context, config)
        self._live = LiveIndex(folder / "manifest.jsonl", kind=self.kind, key_fn=_seed_key, summary_fn=_seed_summary,
                               cache_dir=context.cache_dir)

    def index(self) -> ManifestIndex:
        return self._live.get()

    def entries(self) -> list[ItemEntry]:
        return self.index().items

    def _run(self) -> dict[str, Any]:
        cfg = self.config or {}
        return cfg.get("run") if isinstance(cfg.get("run"), dict) else cfg.get("config") or {}

    def facts(self) -> dict[str, Any]:
        run = self._run()
        keys = ("model", "truncation_psi", "truncation_cutoff", "noise_mode", "class_idx")
        return {k: run.get(k) for k in keys if run.get(k) is not None}

    def editor_link(self) -> dict[str, Any] | None:
        run = self._run()
        model = resolve_model_ref(run.get("model"), self.folder)
        if model is None:
            return None
        return {"model": model, "truncation_psi": run.get("truncation_psi", 1.0),
                "truncation_cutoff": run.get("truncation_cutoff"), "noise_mode": run.get("noise_mode", "const"),
                "class_idx": run.get("class_idx")}

    def _files(self, files: dict[str, str]) -> dict[str, str]:
        out = {}
        for branch, rel in sorted(files.items(), key=lambda kv: _branch_rank(kv[0])):
            p = self.folder / rel
            if p.is_file():
                out[branch] = self.context.ref(p)
        return out

    def card(self, entry: ItemEntry) -> dict[str, Any]:
        files = self._files(entry.summary.get("files", {}))
        return {"key": entry.key, "title": f"seed {entry.summary.get('seed')}",
                "thumb": next(iter(files.values()), None), "badges": {}}

    def item(self, key: str) -> dict[str, Any]:
        entry = self.entry(key)
        rec = self.index().records(key)[0]
        ordered = sorted(rec["files"].items(), key=lambda kv: _branch_rank(kv[0]))
        files = {b: self.folder / e["path"] for b, e in ordered}
        branches = {b: self.context.ref(p) for b, p in files.items() if p.is_file()}
        first = next(iter(files.values()))
        mask = mask_of(first)
        latents = read_h5_group(self.folder / "samples.h5", f"{int(rec['seed']):05d}/reference")
        meta = {k: v for k, v in rec.items() if k not in ("files",)}
        sample = {"id": key, "label": f"seed {rec['seed']}", "image": next(iter(branches.values()), None),
                  "branches": branches, "mask": self.context.ref(mask) if mask else None, "truth": None,
                  "meta": meta, "latents": {k: v for k, v in latents.items() if k != "attrs"},
                  "editor": {"seed": int(rec["seed"])}}
        return {"key": key, "title": f"seed {entry.summary.get('seed')}", "samples": [sample], "facts": {}}


def _is_generated(folder: Path, config: dict[str, Any] | None) -> bool:
    if not (folder / "manifest.jsonl").is_file():
        return False
    return config is not None and config.get("command") in ("generate", "demo")


# --- any folder of images (mix outputs, mated impressions, translations, masks) --------------------


class ImageFolderView(DatasetView):
    kind = "image-folder"
    title = "images"
    sort_keys = (SortKey("name", "name", "order"), SortKey("name-desc", "name (last first)", "order", True))

    def __init__(self, folder: Path, context: Context, config: dict[str, Any] | None) -> None:
        super().__init__(folder, context, config)
        self._entries: list[ItemEntry] | None = None
        self._branches = self._branch_dirs()

    def _branch_dirs(self) -> list[str]:
        """Subfolders holding images of the same names (rgb/, nir/), when the folder itself has none."""
        if any(not p.stem.startswith("grid") for p in images_in(self.folder, limit=4)):
            return []
        subs = [p for p in sorted(self.folder.iterdir()) if p.is_dir() and images_in(p, limit=1)]
        return [p.name for p in subs]

    def _scan(self) -> list[ItemEntry]:
        base = self.folder / self._branches[0] if self._branches else self.folder
        entries = []
        for i, p in enumerate(images_in(base)):
            if p.stem.startswith("grid"):
                continue  # grids are previews of the items themselves
            entries.append(ItemEntry(key=p.stem, summary={"order": i, "name": p.name, "search": p.stem}))
        return entries

    def entries(self) -> list[ItemEntry]:
        if self._entries is None:
            self._entries = self._scan()
        return self._entries

    def _image(self, entry: ItemEntry, branch: str | None) -> Path:
        base = self.folder / branch if branch else self.folder
        return base / entry.summary["name"]

    def card(self, entry: ItemEntry) -> dict[str, Any]:
        img = self._image(entry, self._branches[0] if self._branches else None)
        return {"key": entry.key, "title": entry.key, "thumb": self.context.ref(img), "badges": {}}

    def item(self, key: str) -> dict[str, Any]:
        entry = self.entry(key)
        branches = {}
        for b in self._branches or [None]:
            p = self._image(entry, b)
            if p.is_file():
                branches[b or "image"] = self.context.ref(p)
        first = self._image(entry, self._branches[0] if self._branches else None)
        truth = first.with_suffix(".json")
        mask = mask_of(first)
        sample = {"id": key, "label": key, "image": next(iter(branches.values())), "branches": branches,
                  "mask": self.context.ref(mask) if mask else None,
                  "truth": self.context.ref(truth) if truth.is_file() and is_template_json(truth) else None,
                  "meta": {"file": first.name}, "latents": {}, "editor": self._editor_state(key)}
        return {"key": key, "title": key, "samples": [sample], "facts": {}}

    def _editor_state(self, key: str) -> dict[str, Any] | None:
        return None

    def compare(self, a: str, b: str) -> dict[str, Any]:
        ta, tb = (self._image(self.entry(k), None).with_suffix(".json") for k in (a, b))
        if not (ta.is_file() and tb.is_file() and is_template_json(ta) and is_template_json(tb)):
            raise InputError("only images with ground-truth templates (<name>.json) can be compared here")
        return compare_templates(ta, tb)


class MixView(ImageFolderView):
    kind = "style-mix"
    title = "style mixing"

    def _scan(self) -> list[ItemEntry]:
        return [e for e in super()._scan() if _MIX_NAME.match(e.key)]

    def _cfg(self) -> dict[str, Any]:
        return (self.config or {}).get("config") or {}

    def facts(self) -> dict[str, Any]:
        cfg = self._cfg()
        return {k: cfg.get(k) for k in ("model", "styles", "truncation_psi", "noise_mode") if cfg.get(k) is not None}

    def editor_link(self) -> dict[str, Any] | None:
        cfg = self._cfg()
        model = resolve_model_ref(cfg.get("model"), self.folder)
        if model is None:
            return None
        return {"model": model, "truncation_psi": cfg.get("truncation_psi", 1.0),
                "noise_mode": cfg.get("noise_mode", "const"), "class_idx": cfg.get("class_idx")}

    def _editor_state(self, key: str) -> dict[str, Any] | None:
        m = _MIX_NAME.match(key)
        if m is None:
            return None
        row, col = int(m.group(1)), int(m.group(2))
        state: dict[str, Any] = {"seed": row}
        if row != col:
            state["mix"] = {"seed": col, "layers": list(self._cfg().get("styles") or [])}
        return state


def _is_mix(folder: Path, config: dict[str, Any] | None) -> bool:
    return config is not None and config.get("command") == "mix"


def _has_images(folder: Path, config: dict[str, Any] | None) -> bool:
    if images_in(folder, limit=1):
        return True
    try:
        subs = [p for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return False
    # rgb/ + nir/ style branches: a few image subfolders, not a tree of identities
    return 0 < len(subs) <= 4 and all(images_in(p, limit=1) for p in subs)


def register() -> None:
    register_kind(SimpleKind("generated-images", _is_generated, GeneratedView))
    register_kind(SimpleKind("style-mix", _is_mix, MixView))
    register_kind(SimpleKind("image-folder", _has_images, ImageFolderView))


__all__ = ["IMAGE_SUFFIXES", "GeneratedView", "ImageFolderView", "MixView", "register"]
