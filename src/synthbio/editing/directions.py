"""Editing directions on disk: `<name>.direction.safetensors` (CONTRACTS.md, "Editing directions").

A file holds one tensor `direction`, either [w_dim] (one unit vector, added to
the ws rows of its layer range) or [num_ws, w_dim] (one unit-norm row per layer
it applies to, zero rows elsewhere), plus string metadata:

    method      "sefa" | "pca" | "svm" | any other producer's name
    layers      "a-b", the inclusive ws range the direction was computed for
                ("" = every layer)
    generator   name or path of the generator it belongs to
    label       what it changes (attribute name, "sefa_0", "pc3", ...)
    accuracy    held-out accuracy (SVM directions only)

Producers may add further keys (eigenvalue, explained variance, ...); every
value is a string, as safetensors metadata requires.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from synthbio.errors import InputError
from synthbio.utils.hashing import atomic_write

DIRECTION_SUFFIX = ".direction.safetensors"
_RANGE_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
_NORM_TOL = 1e-4


@dataclass(frozen=True)
class Direction:
    """A unit editing direction: vector [w_dim] or [num_ws, w_dim], with its metadata."""

    vector: torch.Tensor
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.metadata.get("method", "")

    @property
    def label(self) -> str:
        return self.metadata.get("label", "")

    def layer_range(self, num_ws: int) -> range | None:
        """The stored `layers` range checked against `num_ws` (None when the file names none)."""
        text = self.metadata.get("layers", "")
        return parse_layer_range(text, num_ws) if text else None


def parse_layer_range(spec: str, num_ws: int | None, *, what: str = "layer range") -> range:
    """'a-b' (inclusive) or 'a' -> range over ws indices, checked to lie in 0..num_ws-1 (None: no bound)."""
    m = _RANGE_RE.match(spec) if isinstance(spec, str) else None
    if not m:
        raise InputError(f"{what} {spec!r} is not 'a-b' or 'a' (ws indices, e.g. '0-5')")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if lo > hi:
        raise InputError(f"{what} {spec!r} runs backwards (use {hi}-{lo})")
    if num_ws is not None and hi >= num_ws:
        raise InputError(f"{what} {spec!r} is out of bounds: the model has ws layers 0-{num_ws - 1}")
    return range(lo, hi + 1)


def format_layer_range(layers: Sequence[int] | range | None) -> str:
    """range(2, 6) -> '2-5'; None -> '' (every layer). Layers must be contiguous."""
    if layers is None:
        return ""
    idx = list(layers)
    if not idx or idx != list(range(idx[0], idx[0] + len(idx))):
        raise InputError(f"layers {idx} are not a non-empty contiguous range")
    return f"{idx[0]}-{idx[-1]}"


def normalize_direction(vector: torch.Tensor, *, what: str = "direction") -> torch.Tensor:
    """Unit norm (per row for [num_ws, w_dim]; all-zero rows stay zero), float32 on CPU."""
    v = vector.detach().to(torch.float64).cpu()
    if v.ndim not in (1, 2) or v.numel() == 0:
        raise InputError(f"{what} must have shape [w_dim] or [num_ws, w_dim], got {list(vector.shape)}")
    if not bool(torch.isfinite(v).all()):
        raise InputError(f"{what} contains NaN or inf values")
    norms = v.norm(dim=-1, keepdim=True)
    if bool((norms.max() == 0)):
        raise InputError(f"{what} is all zeros")
    return torch.where(norms > 0, v / norms.clamp_min(1e-300), v).to(torch.float32)


def direction_path(path_or_dir: str | os.PathLike[str], name: str | None = None) -> Path:
    """Where a direction is written: DIR/<name>.direction.safetensors, or PATH with the suffix added."""
    p = Path(path_or_dir)
    if name is not None:
        p = p / name
    return p if p.name.endswith(DIRECTION_SUFFIX) else p.with_name(p.name + DIRECTION_SUFFIX)


def save_direction(
    path: str | os.PathLike[str],
    vector: torch.Tensor,
    *,
    method: str,
    layers: Sequence[int] | range | str | None = None,
    generator: str = "",
    label: str = "",
    accuracy: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a unit direction (normalised here) with its metadata; atomic. Returns the path written.

    vector: [w_dim] or [num_ws, w_dim]. `path` gets the `.direction.safetensors`
    suffix when it lacks it. `extra` values are stored with str().
    """
    out = direction_path(path)
    v = normalize_direction(vector)
    layers_text = layers if isinstance(layers, str) else format_layer_range(layers)
    meta = {"method": str(method), "layers": layers_text, "generator": str(generator), "label": str(label)}
    if accuracy is not None:
        meta["accuracy"] = f"{float(accuracy):.6f}"
    for k, val in (extra or {}).items():
        meta.setdefault(str(k), str(val))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: save_file({"direction": v.contiguous()}, str(tmp), metadata=meta))
    return out


def load_direction(path: str | os.PathLike[str]) -> Direction:
    """Read a direction file; InputError naming the file when it is missing, corrupt or not unit norm."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"direction file {os.fspath(p)!r} does not exist")
    try:
        tensors = load_file(str(p))
        with safe_open(str(p), framework="pt") as f:
            meta = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"cannot read direction file {os.fspath(p)!r}: {exc}") from None
    if set(tensors) != {"direction"}:
        raise InputError(f"direction file {os.fspath(p)!r} must hold one tensor 'direction', has {sorted(tensors)}")
    v = tensors["direction"].to(torch.float32)
    if v.ndim not in (1, 2) or not bool(torch.isfinite(v).all()):
        raise InputError(f"direction file {os.fspath(p)!r}: bad direction of shape {list(v.shape)}")
    norms = v.norm(dim=-1)
    if not bool(((norms - 1).abs() < _NORM_TOL).logical_or(norms == 0).all()) or float(norms.max()) == 0:
        raise InputError(f"direction file {os.fspath(p)!r} is not unit norm (norms {norms.tolist()})")
    return Direction(vector=v, metadata=meta)


def list_directions(directory: str | os.PathLike[str]) -> list[str]:
    """Names of the direction files in `directory` (without the suffix), sorted."""
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p.name[: -len(DIRECTION_SUFFIX)] for p in d.glob(f"*{DIRECTION_SUFFIX}"))


def resolve_direction(spec: str, *, search_dirs: Sequence[str | os.PathLike[str]] = (".",)) -> Direction:
    """NAME or PATH -> Direction.

    A path to an existing file is read as is; otherwise `NAME.direction.safetensors`
    is looked up in each of `search_dirs`. Unknown names raise InputError listing
    the names that are available.
    """
    if not spec or not spec.strip():
        raise InputError("direction name is empty")
    p = Path(spec)
    if p.is_file():
        return load_direction(p)
    for d in search_dirs:
        cand = direction_path(d, spec)
        if cand.is_file():
            return load_direction(cand)
    known = sorted({n for d in search_dirs for n in list_directions(d)})
    where = ", ".join(os.fspath(d) for d in search_dirs)
    hint = f"known directions: {', '.join(known)}" if known else "no direction files found there"
    raise InputError(f"unknown direction {spec!r}: not a file, and no {spec}{DIRECTION_SUFFIX} in {where} ({hint})")


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two flattened directions."""
    a64, b64 = a.double().flatten(), b.double().flatten()
    den = float(a64.norm() * b64.norm())
    return float(a64 @ b64) / den if den > 0 and math.isfinite(den) else 0.0
