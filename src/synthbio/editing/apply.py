"""Applying a direction: ws' = ws + alpha * n on a range of layers.

`edit_latents` is the pure core; `read_latents` reads the latents an edit
starts from (samples.h5, .npy, .npz). The `synthbio edit` job itself is
`synthbio.pipelines.images.edit`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from synthbio.editing.directions import Direction, parse_layer_range
from synthbio.errors import InputError
from synthbio.io.arrays import read_npy, read_npz

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_LINSPACE_RE = re.compile(rf"^\s*({_NUM})\s*:\s*({_NUM})\s*:\s*(\d+)\s*$")
_MAX_STRENGTHS = 1000


def parse_strengths(spec: str) -> list[float]:
    """'-3:3:7' (start:stop:count, both ends included) or '-2,0,1.5' -> list of floats."""
    text = spec.strip() if isinstance(spec, str) else ""
    m = _LINSPACE_RE.match(text)
    if m:
        lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if not 1 <= n <= _MAX_STRENGTHS:
            raise InputError(f"strengths {spec!r}: count must be in 1-{_MAX_STRENGTHS}, got {n}")
        return [lo] if n == 1 else np.linspace(lo, hi, n).round(10).tolist()
    items = [t.strip() for t in text.split(",")] if text else []
    if not items or not all(re.fullmatch(_NUM, t) for t in items):
        raise InputError(f"strengths {spec!r} must be 'start:stop:count' (e.g. '-3:3:7') or numbers like '-2,0,2'")
    return [float(t) for t in items]


def edit_latents(ws: torch.Tensor, direction: torch.Tensor, strengths: Sequence[float] | torch.Tensor,
                 layers: Sequence[int] | range | None = None) -> torch.Tensor:
    """ws [N, num_ws, w_dim] -> edited ws [N, S, num_ws, w_dim], row s = ws + strengths[s] * direction.

    direction: [w_dim] (added to every layer in `layers`) or [num_ws, w_dim]
    (row l added to layer l, for l in `layers`). layers: ws indices to edit
    (None = all). Layers outside `layers` are returned unchanged; the input is
    not modified.
    """
    if ws.ndim != 3:
        raise InputError(f"ws must be [N, num_ws, w_dim], got {list(ws.shape)}")
    _, num_ws, w_dim = ws.shape
    d = direction.to(device=ws.device, dtype=ws.dtype)
    if d.shape == (w_dim,):
        d = d.expand(num_ws, w_dim)
    elif d.shape != (num_ws, w_dim):
        raise InputError(f"direction of shape {list(direction.shape)} does not fit ws [N, {num_ws}, {w_dim}] "
                         f"(expected [{w_dim}] or [{num_ws}, {w_dim}])")
    mask = torch.zeros(num_ws, 1, dtype=ws.dtype, device=ws.device)
    idx = list(range(num_ws)) if layers is None else list(layers)
    if any(not 0 <= i < num_ws for i in idx):
        raise InputError(f"layers {idx} are out of bounds: ws layers are 0-{num_ws - 1}")
    mask[idx] = 1
    s = torch.as_tensor(strengths, dtype=ws.dtype, device=ws.device).reshape(1, -1, 1, 1)
    return ws.unsqueeze(1) + s * (mask * d).unsqueeze(0).unsqueeze(0)


def edit_layers(direction: Direction, num_ws: int, layers: str | None) -> range:
    """The ws range to edit: `layers` ('a-b') if given, else the direction's own range, else all."""
    if layers:
        return parse_layer_range(layers, num_ws)
    return direction.layer_range(num_ws) or range(num_ws)


# --- latents files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LatentSet:
    """Latents read from a file: keys [N] (names to join labels on), ws [N, num_ws, w_dim], z [N, z_dim] or None.

    identities: an integer per sample (the seed for generated samples).
    aliases: further names of each sample (file stems such as 'seed0003').
    w: the one w [N, w_dim] a samples.h5 records per sample, or None. Usually ws[:, 0];
        not for a StyleGAN3 projection anchored at w_avg, whose ws[:, 0] is w_avg for all.
    """

    keys: list[str]
    identities: list[int]
    ws: torch.Tensor
    z: torch.Tensor | None
    aliases: list[tuple[str, ...]]
    w: torch.Tensor | None = None


def _broadcast(arr: np.ndarray, num_ws: int | None, path: str) -> torch.Tensor:
    """[N, w_dim] or [N, L, w_dim] -> [N, num_ws, w_dim] (num_ws None: 1 for W, L for W+)."""
    t = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    if t.ndim == 2:
        t = t.unsqueeze(1).repeat(1, num_ws or 1, 1)
    if t.ndim != 3 or (num_ws is not None and t.shape[1] != num_ws) or t.shape[0] == 0:
        want = f"[N, {num_ws}, w_dim]" if num_ws is not None else "[N, num_ws, w_dim]"
        raise InputError(f"latents in {path!r} have shape {list(arr.shape)}: expected [N, w_dim] or {want}")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"latents in {path!r} contain NaN or inf values")
    return t


def read_latents(path: str | os.PathLike[str], *, num_ws: int | None = None) -> LatentSet:
    """samples.h5 (w_plus_latent of every sample), .npy or .npz ('ws' or 'w') -> LatentSet.

    num_ws: the generator's layer count (W latents are broadcast to it, W+ ones
    must match); None keeps what the file holds (W as one layer).
    """
    p = Path(path)
    name = os.fspath(p)
    if not p.is_file():
        raise InputError(f"latents file {name!r} does not exist")
    if p.suffix in (".h5", ".hdf5"):
        from synthbio.io.samples import read_samples

        _, samples = read_samples(p)
        if not samples:
            raise InputError(f"latents file {name!r} holds no samples")
        ws = _broadcast(np.stack([s.w_plus for s in samples]), num_ws, name)
        zs = [np.asarray(s.z, dtype=np.float32) for s in samples]
        z = torch.from_numpy(np.stack(zs)) if all(len(x) == len(zs[0]) and len(x) for x in zs) else None
        keys = [f"{s.identity:05d}/{s.label}" for s in samples]
        aliases = []
        for s in samples:
            seed = s.attrs.get("seed")
            names = [str(s.identity), f"{s.identity:05d}_{s.label}"]
            if seed is not None:
                names.append(f"seed{int(seed):04d}")
            aliases.append(tuple(names))
        w = torch.from_numpy(np.stack([np.asarray(s.w, dtype=np.float32) for s in samples])) \
            if all(s.w is not None for s in samples) else None
        return LatentSet(keys=keys, identities=[s.identity for s in samples], ws=ws, z=z, aliases=aliases, w=w)
    if p.suffix == ".npz":
        data = read_npz(p, what="latents file")
        key = "ws" if "ws" in data else "w" if "w" in data else None
        if key is None:
            raise InputError(f"latents file {name!r} has no 'ws' or 'w' array (has {sorted(data)})")
        arr = data[key]
    else:
        arr = read_npy(p, what="latents file")
    ws = _broadcast(arr, num_ws, name)
    n = ws.shape[0]
    return LatentSet(keys=[str(i) for i in range(n)], identities=list(range(n)), ws=ws, z=None,
                     aliases=[(f"{i:05d}",) for i in range(n)])
