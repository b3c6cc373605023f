"""HDF5 sample collections (`samples.h5`).

Layout (ARCHITECTURE.md): one group per sample, `/<identity:05d>/<label>/`,
holding `z_latent (1, z_dim)`, `w_latent (1, w_dim)`, `w_plus_latent
(1, num_ws, w_dim)` and, when an identity model was used, `embedding (1, D)`.
Per-sample facts (seed, class) are group attributes; file attributes name the
generator (and the embedding model). The file is always written whole, to a
temporary name beside the target, then renamed: a kill never leaves a
half-written `samples.h5`.

HDF5 is built in memory and written with Python's file calls: the HDF5
library itself, when the disk fills under it, floods stderr and crashes the
process (a segmentation fault on closing), leaving its temporary file
behind. In memory it never sees the disk; a full disk is then one
OutputError and the previous `samples.h5` stays as it was.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from synthbio.errors import InputError
from synthbio.utils.hashing import atomic_write

SAMPLES_NAME = "samples.h5"
_LABEL_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")

AttrValue = str | int | float | bool


@dataclass(frozen=True)
class SampleLatents:
    """One sample's latents. Shapes: z [z_dim], w [w_dim], w_plus [num_ws, w_dim], embedding [D].

    A latent is None for samples made without a generator (procedural
    fingerprints): its dataset is then absent from the group.
    """

    identity: int
    label: str
    z: np.ndarray | None
    w: np.ndarray | None
    w_plus: np.ndarray | None
    embedding: np.ndarray | None = None
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)


def group_name(identity: int, label: str) -> str:
    if identity < 0:
        raise InputError(f"identity must be >= 0, got {identity}")
    if not label or not set(label) <= _LABEL_CHARS:
        raise InputError(f"sample label {label!r} must be non-empty letters, digits, '_', '-' or '.'")
    return f"{identity:05d}/{label}"


def _set_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    for k, v in attrs.items():
        if v is None:  # HDF5 has no null; an absent attribute means None
            continue
        obj.attrs[k] = v


def write_samples(
    path: str | os.PathLike[str],
    samples: Iterable[SampleLatents],
    *,
    attrs: Mapping[str, Any] | None = None,
) -> int:
    """Write all `samples` to a new HDF5 file at `path` (atomically); return the count."""
    path = Path(path)
    buffer = io.BytesIO()
    count = 0
    with h5py.File(buffer, "w") as f:
        _set_attrs(f, attrs or {})
        for s in samples:
            name = group_name(s.identity, s.label)
            if name in f:
                raise InputError(f"sample {name!r} appears twice")
            g = f.create_group(name)
            if s.z is not None:
                g.create_dataset("z_latent", data=np.asarray(s.z, dtype=np.float32).reshape(1, -1))
            if s.w is not None:
                g.create_dataset("w_latent", data=np.asarray(s.w, dtype=np.float32).reshape(1, -1))
            if s.w_plus is not None:
                wp = np.asarray(s.w_plus, dtype=np.float32)
                g.create_dataset("w_plus_latent", data=wp.reshape(1, *wp.shape))
            if s.embedding is not None:
                g.create_dataset("embedding", data=np.asarray(s.embedding, dtype=np.float32).reshape(1, -1))
            _set_attrs(g, s.attrs)
            count += 1
    atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))
    return count


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_samples(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[SampleLatents]]:
    """Read file attributes and every sample (in identity, label order)."""
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"cannot read sample collection {os.fspath(path)!r}: {exc}") from None
    with f:
        file_attrs = {k: _attr(v) for k, v in f.attrs.items()}
        out = []
        for ident in sorted(f.keys()):
            for label in sorted(f[ident].keys()):
                g = f[ident][label]
                out.append(
                    SampleLatents(
                        identity=int(ident),
                        label=label,
                        z=g["z_latent"][0] if "z_latent" in g else None,
                        w=g["w_latent"][0] if "w_latent" in g else None,
                        w_plus=g["w_plus_latent"][0] if "w_plus_latent" in g else None,
                        embedding=g["embedding"][0] if "embedding" in g else None,
                        attrs={k: _attr(v) for k, v in g.attrs.items()},
                    )
                )
    return file_attrs, out
