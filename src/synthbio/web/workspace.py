"""What one server knows: its folders, the datasets, reports, generators and directions found in them.

Discovery runs once at start (and again on /api/rescan): a breadth-first walk
of each root, a few levels deep, that stops at every folder a kind claims
(`synthbio.web.kinds`). Generators the editor may load are registry names,
the `--model` given at start, and native generator folders found under the
roots; a path typed in the browser is accepted only when it lies under a root.
Direction files are found the same way (and in `--directions-dir`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from synthbio.checkpoints import load_generator
from synthbio.checkpoints.registry import REGISTRY, is_cached
from synthbio.editing.directions import load_direction
from synthbio.errors import InputError
from synthbio.utils.devices import resolve_device
from synthbio.web import editor_3d, fingerprint_view, identity_view, image_view, mask_view
from synthbio.web.config import ServeConfig
from synthbio.web.editor import EditorModel, backend_for, check_directions, layer_range, sefa_directions
from synthbio.web.kinds import Context, DatasetView, discover, open_view
from synthbio.web.safety import AccessError, Roots

DIRECTION_SUFFIX = ".direction.safetensors"
MAX_LOADED_MODELS = 2


def _register_kinds() -> None:
    image_view.register()  # generic image folders last: the others register before it
    fingerprint_view.register()
    identity_view.register()
    editor_3d.register()  # StyleGAN3 and EG3D editor backends, before the StyleGAN2 one
    mask_view.register_all()


@dataclass
class Workspace:
    config: ServeConfig
    roots: Roots
    context: Context
    datasets: dict[str, str] = field(default_factory=dict)  # ref -> kind
    reports: list[str] = field(default_factory=list)  # refs of report index.html files
    model_dirs: list[str] = field(default_factory=list)  # absolute paths of native generator folders
    direction_files: dict[str, Path] = field(default_factory=dict)  # id -> file
    _views: dict[str, DatasetView] = field(default_factory=dict)
    _models: OrderedDict[str, EditorModel] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, config: ServeConfig) -> Workspace:
        _register_kinds()
        roots = Roots.from_folders(config.roots)
        cache = Path(config.cache_dir).expanduser().resolve()
        for root in roots.paths.values():
            if cache == root or cache.is_relative_to(root):
                raise InputError(f"the cache folder {cache} lies inside the served folder {root}: "
                                 "choose another --cache-dir (nothing is written into a dataset)")
        ws = cls(config=config, roots=roots, context=Context(roots=roots, cache_dir=cache))
        ws.rescan()
        return ws

    # --- discovery ------------------------------------------------------------------------

    def rescan(self) -> None:
        datasets: dict[str, str] = {}
        reports: list[str] = []
        for root in self.roots.paths.values():
            for found in discover(root):
                ref = self.context.ref(found.path)
                if found.report:
                    reports.append(f"{ref}/index.html")
                elif found.kind is not None:
                    datasets[ref] = found.kind
        models, directions = [], {}
        for folder in [*self.roots.paths.values(), *map(Path, self.config.directions_dirs)]:
            m, d = _find_models_and_directions(Path(folder))
            models += m
            directions.update(d)
        with self._lock:
            self.datasets, self.reports = datasets, sorted(reports)
            self.model_dirs = sorted(set(models))
            self.direction_files = directions
            self._views.clear()

    def view(self, ref: str) -> DatasetView:
        folder = self.roots.resolve(ref)
        if not folder.is_dir():
            raise AccessError(f"{ref!r} is not a folder")
        key = self.context.ref(folder)
        with self._lock:
            v = self._views.get(key)
        if v is None:
            v = open_view(folder, self.context)
            with self._lock:
                self._views[key] = v
        return v

    def overview(self) -> dict[str, Any]:
        roots = [{"name": n, "path": os.fspath(p)} for n, p in self.roots.paths.items()]
        datasets = []
        for ref, kind in sorted(self.datasets.items()):
            try:
                v = self.view(ref)
                datasets.append({"ref": ref, "kind": kind, "title": v.title, "count": len(v.entries()),
                                 "editor": v.editor_link() is not None})
            except InputError as exc:
                datasets.append({"ref": ref, "kind": kind, "title": kind, "count": None, "error": str(exc)})
        return {"roots": roots, "datasets": datasets, "reports": self.reports, "models": self.model_choices(),
                "remote": self.config.token is not None}

    # --- generators -------------------------------------------------------------------------

    def model_choices(self) -> list[dict[str, str]]:
        out = []
        if self.config.model:
            out.append({"spec": self.config.model, "label": f"{self.config.model} (--model)", "local": True})
        for d in self.model_dirs:
            ref = self.context.roots.ref_of(Path(d))
            out.append({"spec": d, "label": ref or d, "local": True})
        named = [(name, is_cached(e)) for name, e in REGISTRY.items() if e.kind == "generator"]
        for name, cached in sorted(named, key=lambda nc: not nc[1]):  # what is here first; downloads last
            out.append({"spec": name, "label": name + ("" if cached else " (downloads on first use)"), "local": cached})
        return out

    def _allowed_model(self, spec: str) -> str:
        """The spec itself when the editor may load it (see module docstring), else AccessError."""
        if spec in REGISTRY or spec == self.config.model or spec in self.model_dirs:
            return spec
        p = Path(spec)
        if p.is_absolute() and p.exists():
            if self.roots.ref_of(p) is not None:
                return os.fspath(p.resolve())
        elif not p.is_absolute():
            try:  # '<root>/<path>', as the browser names files
                return os.fspath(self.roots.resolve(spec))
            except AccessError:
                pass
        raise AccessError(f"model {spec!r} is not a registry name, the --model given at start, or a checkpoint "
                          "under a served folder")

    def model(self, spec: str) -> EditorModel:
        spec = self._allowed_model(spec)
        with self._lock:
            if spec in self._models:
                self._models.move_to_end(spec)
                return self._models[spec]
        model = self._load(spec)
        with self._lock:
            self._models[spec] = model
            while len(self._models) > MAX_LOADED_MODELS:
                self._models.popitem(last=False)
        return model

    def _load(self, spec: str) -> EditorModel:


        G = load_generator(spec, device=resolve_device(self.config.device)).eval().requires_grad_(False)
        backend = backend_for(G)
        num_ws, w_dim = G.num_ws, G.w_dim
        vectors: dict[str, torch.Tensor] = {}
        info: list[dict[str, Any]] = []
        for did, path in sorted(self.direction_files.items(), key=lambda kv: kv[1].name):
            d = _read_direction(path)
            if d is None or not check_directions(num_ws, w_dim, {did: d.vector}):
                continue
            vectors[did] = d.vector
            info.append({"id": did, "label": path.name[: -len(DIRECTION_SUFFIX)], "method": d.method,
                         "layers": layer_range(d.metadata.get("layers"), num_ws), "file": os.fspath(path)})
        sv, si = sefa_directions(G)
        vectors.update(sv)
        info += si
        return EditorModel(spec=spec, backend=backend, directions=vectors, direction_info=info)

    def direction_paths(self, model: EditorModel) -> dict[str, str | None]:
        return {d["id"]: d["file"] for d in model.direction_info}


def _read_direction(path: Path) -> Any:
    try:
        return load_direction(path)
    except InputError:
        return None


def _find_models_and_directions(root: Path, *, max_depth: int = 4) -> tuple[list[str], dict[str, Path]]:
    """Native generator folders and direction files under `root` (not inside big identity trees)."""
    models: list[str] = []
    directions: dict[str, Path] = {}
    queue = [(root, 0)]
    while queue:
        folder, depth = queue.pop(0)
        try:
            entries = sorted(folder.iterdir())[:400]
        except OSError:
            continue
        names = {p.name for p in entries}
        if "config.json" in names and "model.safetensors" in names and _is_generator_config(folder / "config.json"):
            models.append(os.fspath(folder.resolve()))
        for p in entries:
            if p.name.endswith(DIRECTION_SUFFIX) and p.is_file():
                did = "file:" + hashlib.sha256(os.fspath(p.resolve()).encode()).hexdigest()[:16]
                directions[did] = p.resolve()
            elif (p.is_dir() and not p.is_symlink() and depth < max_depth and not p.name.startswith(".")
                  and not p.name.isdigit()):  # identity / finger folders hold neither
                queue.append((p, depth + 1))
    return models, directions


def _is_generator_config(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("format") == "synthbio.generator"
    except (OSError, ValueError, AttributeError):
        return False
