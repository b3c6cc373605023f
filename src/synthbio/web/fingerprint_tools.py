"""Fingerprint pieces of the web app: minutiae overlays, MINDTCT on demand, comparisons, reconstruction.

Overlays are JSON (the browser draws them): ground truth from a synthbio
template file, or minutiae MINDTCT extracts from the image when asked (cached
in the cache folder). A comparison scores two templates with NBIS Bozorth3
(symmetric) and pairs their minutiae (`synthbio.fingerprints.pairing`).
Reconstruction draws the print a template describes with the ridge-growth
method, for a template uploaded or picked from a served folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image

from synthbio.errors import InputError, SynthbioError
from synthbio.fingerprints.matching import extract_minutiae, match, match_many
from synthbio.fingerprints.minutiae import (
    read_json,
    read_json_metadata,
    read_template,
    template_from_dict,
    template_to_dict,
)
from synthbio.fingerprints.pairing import paired_minutiae
from synthbio.fingerprints.types import DEFAULT_DPI, MinutiaeTemplate
from synthbio.io.images import encode_png, read_png
from synthbio.utils.hashing import atomic_write_bytes

_MINDTCT_VERSION = 1


def template_json(t: MinutiaeTemplate) -> dict[str, Any]:
    """What the browser draws: image size, minutiae (x, y px; angle rad, ISO), singularities."""
    return {
        "width": t.width, "height": t.height, "dpi": t.dpi,
        "minutiae": [{"x": m.x, "y": m.y, "angle": m.angle, "kind": m.kind, "quality": m.quality} for m in t.minutiae],
        "singularities": [{"x": s.x, "y": s.y, "kind": s.kind} for s in t.singularities],
    }


def read_truth(path: Path) -> MinutiaeTemplate:
    return read_json(path)


def truth_overlay(path: Path) -> dict[str, Any]:
    """A synthbio template JSON as an overlay, with its class and finger metadata when recorded."""
    out = template_json(read_truth(path))
    meta = read_json_metadata(path)
    out["finger_class"] = meta.get("finger_class")
    out["source"] = "ground truth"
    return out


def _png_dpi(path: Path) -> int:
    try:
        with PIL.Image.open(path) as img:
            dpi = img.info.get("dpi")
    except OSError:
        return DEFAULT_DPI
    return int(round(dpi[0])) if dpi and dpi[0] and dpi[0] > 1 else DEFAULT_DPI


def mindtct_template(image: Path, cache_dir: Path) -> MinutiaeTemplate:
    """MINDTCT minutiae of a fingerprint image (cached by the image's path, size and mtime)."""
    st = image.stat()
    key = hashlib.sha256(f"{image}|{st.st_size}|{st.st_mtime_ns}|{_MINDTCT_VERSION}".encode()).hexdigest()[:32]
    cache = cache_dir / "mindtct" / f"{key}.json"
    try:
        return template_from_dict(json.loads(cache.read_text()), source=str(cache))
    except (OSError, ValueError, InputError):
        pass

    pixels = read_png(image)
    if pixels.ndim == 3:
        pixels = pixels.mean(axis=2).round().astype(np.uint8)
    template = extract_minutiae(pixels, method="mindtct", dpi=_png_dpi(image))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache, json.dumps(template_to_dict(template)).encode())
    except OSError:
        pass
    return template


def extracted_overlay(image: Path, cache_dir: Path) -> dict[str, Any]:
    out = template_json(mindtct_template(image, cache_dir))
    out["source"] = "MINDTCT"
    return out


def _score(a: MinutiaeTemplate, b: MinutiaeTemplate) -> tuple[float | None, str | None]:
    """Symmetric Bozorth3 score, or (None, why) when the NBIS library is missing."""
    try:
        return match(a, b, symmetric=True), None
    except SynthbioError as exc:
        return None, str(exc)


def compare_pair(a: MinutiaeTemplate, b: MinutiaeTemplate, *, source: str) -> dict[str, Any]:
    """Score and minutiae pairs of two templates; pairs index a['minutiae'] and b['minutiae']."""
    score, why = _score(a, b)
    pairing = paired_minutiae(a, b)
    t = pairing.transform
    return {
        "score": score, "score_name": "Bozorth3 (symmetric)", "score_note": why,
        "threshold": 40.0, "source": source, "a": template_json(a), "b": template_json(b),
        "pairs": [list(p) for p in pairing.pairs],
        "alignment": {"rotation_deg": math.degrees(t.rotation), "dx": t.dx, "dy": t.dy, "votes": pairing.votes},
    }


def compare_templates(path_a: Path, path_b: Path) -> dict[str, Any]:
    return compare_pair(read_truth(path_a), read_truth(path_b), source="ground truth")


def compare_images(image_a: Path, image_b: Path, cache_dir: Path) -> dict[str, Any]:
    return compare_pair(mindtct_template(image_a, cache_dir), mindtct_template(image_b, cache_dir), source="MINDTCT")


def score_histograms(pairs_genuine: list[tuple[Path, Path]], pairs_impostor: list[tuple[Path, Path]]
                     ) -> dict[str, Any]:
    """Bozorth3 scores of ground-truth template pairs, binned for the browser."""
    cache: dict[Path, MinutiaeTemplate] = {}

    def load(p: Path) -> MinutiaeTemplate:
        if p not in cache:
            cache[p] = read_json(p)
        return cache[p]

    try:
        g = match_many([(load(a), load(b)) for a, b in pairs_genuine], symmetric=True)
        i = match_many([(load(a), load(b)) for a, b in pairs_impostor], symmetric=True)
    except SynthbioError as exc:
        return {"available": False, "note": str(exc)}
    return binned({"genuine": g, "impostor": i}, name="Bozorth3 score on ground-truth templates", threshold=40.0)


def binned(scores: dict[str, np.ndarray], *, name: str, threshold: float | None, bins: int = 40) -> dict[str, Any]:
    """Shared bin edges and counts per set (what the browser draws as overlaid histograms)."""
    allv = np.concatenate([np.asarray(v, dtype=np.float64) for v in scores.values() if len(v)] or [np.zeros(1)])
    lo, hi = float(allv.min()), float(allv.max())
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    out: dict[str, Any] = {"available": True, "score_name": name, "threshold": threshold,
                           "edges": [round(float(e), 6) for e in edges], "sets": {}}
    for k, v in scores.items():
        v = np.asarray(v, dtype=np.float64)
        counts, _ = np.histogram(v, bins=edges)
        out["sets"][k] = {"counts": counts.tolist(), "n": int(len(v)),
                          "mean": float(v.mean()) if len(v) else None}
    return out


# --- reconstruction ---------------------------------------------------------------------------


def read_uploaded_template(data: bytes, kind: str, *, xyt_width: int = 0, xyt_height: int = 0) -> MinutiaeTemplate:
    """A template from uploaded bytes of a checked kind (see `synthbio.web.safety.template_kind`)."""


    suffix = {"iso19794-2": ".iso", "ansi378": ".ansi", "json": ".json", "xyt": ".xyt"}[kind]
    if kind == "xyt" and (xyt_width < 64 or xyt_height < 64):
        raise InputError(".xyt templates store no image size: give width and height (>= 64 px)")
    with tempfile.TemporaryDirectory(prefix="synthbio-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            return read_template(path, width=xyt_width, height=xyt_height)
        except InputError as exc:
            raise InputError(str(exc).replace(os.fspath(path), "the uploaded template")) from None


def reconstruct(template: MinutiaeTemplate) -> dict[str, Any]:
    """The ridge-grown print of a template (PNG as a data URL) with the template's minutiae to overlay."""
    from synthbio.fingerprints.ridge_reconstruction import reconstruct_ridges

    if not template.minutiae:
        raise InputError("the template has no minutiae: there is nothing to grow ridges from")
    pixels = reconstruct_ridges(template)
    png = encode_png(pixels, dpi=template.dpi)
    return {"image": "data:image/png;base64," + base64.b64encode(png).decode(), "method": "gabor",
            "width": int(pixels.shape[1]), "height": int(pixels.shape[0]), "template": template_json(template)}


def png_bytes_of(data_url: str) -> bytes:
    """Inverse of the data URLs above (for tests and exports)."""
    return base64.b64decode(data_url.split(",", 1)[1])


__all__ = ["binned", "compare_images", "compare_pair", "compare_templates", "extracted_overlay",
           "mindtct_template", "read_uploaded_template", "reconstruct", "score_histograms", "template_json",
           "truth_overlay"]
