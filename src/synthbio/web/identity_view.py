"""Adapter for `synthbio dataset generate` folders: identities, their samples, and what makes a dataset good.

Items are identities (the manifest's lines grouped by identity). Lists sort
by what matters for a dataset's quality:

- closest other identity: the highest similarity of an identity's reference
  to any other reference (from the stored embeddings; computed once, in
  blocks, and cached beside the index);
- weakest variation: the highest mean similarity of the variations to their
  reference (variations that barely vary), and the lowest single one
  (a variation that left the identity);
- nearest real person: the highest nearest-real similarity recorded by the
  privacy filter.

Genuine scores are the recorded similarities of variations to their
reference; impostor scores are reference-to-reference similarities.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from safetensors.numpy import load

from synthbio.errors import InputError
from synthbio.web.fingerprint_tools import binned, compare_images
from synthbio.web.image_view import latents_preview, read_h5_group, resolve_model_ref
from synthbio.web.index import ItemEntry, LiveIndex, ManifestIndex
from synthbio.web.kinds import Context, DatasetView, SimpleKind, SortKey, mask_of, register_kind

MAX_IMPOSTOR_PAIRS = 200_000
_BLOCK = 2048  # references per block of the all-pairs similarity


def _identity_key(rec: dict[str, Any]) -> str | None:
    ident = rec.get("identity")
    return f"{ident:05d}" if isinstance(ident, int) and isinstance(rec.get("label"), str) else None


def _identity_summary(summary: dict[str, Any], rec: dict[str, Any]) -> None:
    attrs = rec.get("attrs") if isinstance(rec.get("attrs"), dict) else {}
    summary["identity"] = rec["identity"]
    summary["n"] = summary.get("n", 0) + 1
    if rec["label"] == "reference" or "thumb" not in summary:
        summary["thumb"] = rec.get("path")
    sim = attrs.get("similarity_to_reference")
    if rec["label"] != "reference" and isinstance(sim, (int, float)):
        sims = summary.setdefault("_sims", [])
        sims.append(float(sim))
        summary["mean_sim_ref"] = round(float(np.mean(sims)), 6)
        summary["min_sim_ref"] = round(min(sims), 6)
    near = attrs.get("nearest_real")
    if isinstance(near, (int, float)):
        summary["nearest_real"] = max(float(near), summary.get("nearest_real", -np.inf))
    if attrs.get("passed") is False:
        summary["failed"] = summary.get("failed", 0) + 1
    if "finger_class" in attrs:
        summary["class"] = attrs["finger_class"]
    summary["search"] = f"{summary.get('search', '')} {rec.get('seed', '')}".strip()


def _cosine_nearest(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row: the index of and cosine to its most similar other row (in blocks, no N x N matrix)."""
    x = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    n = len(x)
    best = np.full(n, -np.inf)
    arg = np.full(n, -1, dtype=np.int64)
    for start in range(0, n, _BLOCK):
        s = x[start:start + _BLOCK] @ x.T  # [b, N]
        rows = np.arange(s.shape[0])
        s[rows, start + rows] = -np.inf  # not oneself
        j = s.argmax(axis=1)
        best[start:start + len(j)] = s[rows, j]
        arg[start:start + len(j)] = j
    return arg, best


class IdentityDatasetView(DatasetView):
    kind = "identity-dataset"
    title = "identity dataset"
    sort_keys = (
        SortKey("identity", "identity", "identity"),
        SortKey("closest-other", "closest other identity", "closest_other", True),
        SortKey("weakest-variation", "weakest variation (variations closest to the reference)", "mean_sim_ref", True),
        SortKey("farthest-variation", "a variation far from its reference", "min_sim_ref"),
        SortKey("nearest-real", "nearest real person", "nearest_real", True),
    )
    filter_fields = ("class",)

    def __init__(self, folder: Path, context: Context, config: dict[str, Any] | None) -> None:
        super().__init__(folder, context, config)
        self._live = LiveIndex(folder / "manifest.jsonl", kind=self.kind, key_fn=_identity_key,
                               summary_fn=_identity_summary, cache_dir=context.cache_dir)
        self._lock = threading.Lock()
        self._nearest: dict[str, tuple[str, float]] | None = None
        self._hist: dict[str, Any] | None = None

    def index(self) -> ManifestIndex:
        return self._live.get()

    def entries(self) -> list[ItemEntry]:
        return self.index().items

    def content(self) -> dict[str, Any]:
        c = (self.config or {}).get("content")
        return c if isinstance(c, dict) else {}

    def facts(self) -> dict[str, Any]:
        c = self.content()
        keys = ("model", "modality", "identity_model", "identities", "samples_per_identity", "reference_method",
                "variation_method", "truncation_psi", "privacy_reference")
        return {k: c.get(k) for k in keys if c.get(k) is not None}

    def editor_link(self) -> dict[str, Any] | None:
        c = self.content()
        model = resolve_model_ref(c.get("model"), self.folder)
        if model is None:
            return None
        return {"model": model, "truncation_psi": c.get("truncation_psi", 1.0), "noise_mode": c.get("noise_mode",
                                                                                                     "const")}

    def card(self, entry: ItemEntry) -> dict[str, Any]:
        s = entry.summary
        thumb = self.folder / s["thumb"] if s.get("thumb") else None
        badges = {k: s[k] for k in ("class", "mean_sim_ref", "nearest_real", "closest_other", "failed") if k in s}
        return {"key": entry.key, "title": f"identity {s.get('identity')}",
                "thumb": self.context.ref(thumb) if thumb is not None and thumb.is_file() else None,
                "badges": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in badges.items()}}

    # --- embeddings: nearest other identity, impostor scores ----------------------------------------

    def reference_embeddings(self) -> tuple[list[str], np.ndarray] | None:
        """(identity keys, reference embeddings [N, D]) from samples.h5, None when none are stored.

        Read once per samples.h5 version (one h5 group per identity is slow for
        10k identities) and kept in the cache folder.
        """
        path = self.folder / "samples.h5"
        if not path.is_file():
            return None
        cache = self._cache_file("embeddings")
        try:
            with np.load(cache) as d:
                return [str(k) for k in d["keys"]], d["emb"]
        except (OSError, KeyError, ValueError):
            pass
        found = self._read_reference_embeddings(path)
        if found is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                with cache.open("wb") as f:
                    np.savez(f, keys=np.asarray(found[0]), emb=found[1])
            except OSError:
                pass
        return found

    @staticmethod
    def _read_reference_embeddings(path: Path) -> tuple[list[str], np.ndarray] | None:
        keys, rows = [], []
        try:
            with h5py.File(path, "r") as f:
                for ident in sorted(f.keys()):
                    g = f[ident].get("reference")
                    if g is not None and "embedding" in g:
                        keys.append(ident)
                        rows.append(np.asarray(g["embedding"][0], dtype=np.float32))
        except OSError:
            return None
        return (keys, np.stack(rows)) if rows else None

    def _cache_file(self, name: str) -> Path:
        st = (self.folder / "samples.h5").stat()
        key = hashlib.sha256(f"{self.folder}|{st.st_size}|{st.st_mtime_ns}|{name}".encode()).hexdigest()[:32]
        return self.context.cache_dir / "identity" / f"{key}.npz"

    def nearest_others(self) -> dict[str, tuple[str, float]]:
        """identity key -> (key of the most similar other identity, cosine of their references)."""
        with self._lock:
            if self._nearest is not None:
                return self._nearest
            if not (self.folder / "samples.h5").is_file():
                self._nearest = {}
                return self._nearest
            cache = self._cache_file("nearest")
            try:
                with np.load(cache) as d:
                    keys, arg, best = [str(k) for k in d["keys"]], d["arg"], d["best"]
            except (OSError, KeyError, ValueError):
                found = self.reference_embeddings()
                if found is None or len(found[0]) < 2:
                    self._nearest = {}
                    return self._nearest
                keys, emb = found
                arg, best = _cosine_nearest(emb)
                try:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    with cache.open("wb") as f:
                        np.savez(f, keys=np.asarray(keys), arg=arg, best=best)
                except OSError:
                    pass
            self._nearest = {k: (keys[int(a)], float(b)) for k, a, b in zip(keys, arg, best)}
            return self._nearest

    def list_items(self, **kwargs: Any) -> Any:
        if kwargs.get("sort") == "closest-other":
            near = self.nearest_others()
            for e in self.entries():
                if e.key in near:
                    e.summary["closest_other"] = round(near[e.key][1], 6)
        return super().list_items(**kwargs)

    def histograms_available(self) -> bool:
        return True

    def histograms(self) -> dict[str, Any] | None:
        with self._lock:
            if self._hist is not None:
                return self._hist

        index = self.index()
        genuine = [v for e in index.items for v in e.summary.get("_sims", [])]
        scores: dict[str, np.ndarray] = {"genuine": np.asarray(genuine)}
        found = self.reference_embeddings()
        note = "genuine: variations vs their reference (recorded); impostor: references of two identities"
        if found is not None and len(found[0]) > 1:
            x = found[1] / np.maximum(np.linalg.norm(found[1], axis=1, keepdims=True), 1e-12)
            n = len(x)
            rng = np.random.default_rng(0)
            if n * (n - 1) // 2 <= MAX_IMPOSTOR_PAIRS:
                i, j = np.triu_indices(n, 1)
            else:
                i, j = rng.integers(0, n, MAX_IMPOSTOR_PAIRS), rng.integers(0, n, MAX_IMPOSTOR_PAIRS)
                keep = i != j
                i, j = i[keep], j[keep]
            scores["impostor"] = np.einsum("kd,kd->k", x[i], x[j])
        else:
            note += " (no embeddings stored: impostor scores need a vector identity model)"
        out = binned(scores, name="similarity (cosine)", threshold=None)
        out["note"] = note
        with self._lock:
            self._hist = out
        return out

    # --- one identity -----------------------------------------------------------------------------

    def _latents(self, rel: str | None) -> dict[str, np.ndarray]:
        if not rel:
            return {}
        p = self.folder / rel
        if not p.is_file():
            return {}

        try:
            return load(p.read_bytes())
        except Exception:  # a damaged latents file: the images are still worth showing
            return {}

    def item(self, key: str) -> dict[str, Any]:
        try:
            records = self.index().records(key)
        except KeyError:
            raise InputError(f"{self.ref} has no identity {key!r}") from None
        arrays = self._latents(records[0].get("latents"))
        samples = []
        for k, rec in enumerate(records):
            img = self.folder / rec["path"]
            mask = mask_of(img)
            attrs = rec.get("attrs") if isinstance(rec.get("attrs"), dict) else {}
            lat = {name: latents_preview(arrays[src][k] if src in arrays and k < len(arrays[src]) else None)
                   for name, src in (("z", "z"), ("w_plus", "ws"), ("embedding", "embedding"))}
            samples.append({
                "id": f"{key}/{rec['label']}", "label": rec["label"],
                "image": self.context.ref(img) if img.is_file() else None, "branches": {},
                "mask": self.context.ref(mask) if mask else None, "truth": None,
                "meta": {"seed": rec.get("seed"), **attrs},
                "latents": {n: v for n, v in lat.items() if v is not None},
                "editor": {"seed": rec.get("seed")} if rec["label"] == "reference" else None,
            })
        facts: dict[str, Any] = {}
        near = self.nearest_others().get(key)
        if near is not None:
            facts["closest other identity"] = f"{near[0]} (cosine {near[1]:.3f})"
            facts["closest_other_key"] = near[0]
        latents = records[0].get("latents")
        if latents and (self.folder / latents).is_file():
            facts["latents file"] = self.context.ref(self.folder / latents)
        return {"key": key, "title": f"identity {int(key)}", "samples": samples, "facts": facts}

    def _sample(self, sample_id: str) -> tuple[int, dict[str, Any]]:
        """(position in its identity, manifest record) of '<identity>/<label>'; InputError when unknown."""
        key, _, label = sample_id.partition("/")
        records = self.index().records(key) if key in self.index().by_key else []
        for k, rec in enumerate(records):
            if rec["label"] == label:
                return k, rec
        raise InputError(f"{self.ref} has no sample {sample_id!r}")

    def _embedding(self, sample_id: str) -> np.ndarray | None:
        k, rec = self._sample(sample_id)
        stored = read_h5_group(self.folder / "samples.h5", f"{int(rec['identity']):05d}/{rec['label']}", raw=True)
        if stored.get("embedding") is not None:
            return np.asarray(stored["embedding"], dtype=np.float64)
        emb = self._latents(rec.get("latents")).get("embedding")
        return None if emb is None or k >= len(emb) else np.asarray(emb[k], dtype=np.float64)

    def compare(self, a: str, b: str) -> dict[str, Any]:
        same = a.split("/")[0] == b.split("/")[0]
        ea, eb = self._embedding(a), self._embedding(b)
        if ea is not None and eb is not None:
            cos = float(ea @ eb / max(np.linalg.norm(ea) * np.linalg.norm(eb), 1e-12))
            return {"score": cos, "score_name": f"cosine ({self.content().get('identity_model', 'embedding')})",
                    "angle_rad": float(np.arccos(np.clip(cos, -1, 1))), "same_identity": same}
        if self.content().get("modality") == "fingerprint":

            pa, pb = (self.folder / self._sample(s)[1]["path"] for s in (a, b))
            out = compare_images(pa, pb, self.context.cache_dir)
            out["same_identity"] = same
            return out
        raise InputError("this dataset stores no embeddings to compare (its identity model is a matcher)")


def _is_identity_dataset(folder: Path, config: dict[str, Any] | None) -> bool:
    return config is not None and (config.get("command") == "dataset generate" or isinstance(config.get("content"),
                                                                                              dict))


def register() -> None:
    register_kind(SimpleKind("identity-dataset", _is_identity_dataset, IdentityDatasetView), before="image-folder")
