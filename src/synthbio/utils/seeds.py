"""Seed lists and the seed -> z convention shared with the official tools.

A seed picks a sample. The latent of seed `s` is drawn exactly as the official
StyleGAN2-ADA / StyleGAN3 `generate.py` draws it,
`numpy.random.RandomState(s).randn(1, z_dim)` (float64, then cast), so the same
seed gives the same image here as with the official tool. Per-sample noise uses
one `torch.Generator` seeded with the same seed, so nothing depends on the
batch a sample lands in or on global random state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from synthbio.errors import InputError

# numpy.random.RandomState accepts seeds in [0, 2**32 - 1].
MAX_SEED = 2**32 - 1

_RANGE_RE = re.compile(r"^(\d+)-(\d+)$")
_INT_RE = re.compile(r"^\d+$")


def parse_seeds(spec: str, *, what: str = "seed list") -> list[int]:
    """Parse '0-99,120' into [0, 1, ..., 99, 120].

    Items are comma separated; each is a non-negative integer or an inclusive
    range 'a-b' with a <= b. Repeated seeds are kept once, at their first
    position (a sample is generated once per directory). Raises InputError
    naming the bad item for '', '1-', 'a', '5-2', '-3', or seeds > 2**32-1.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    if not text:
        raise InputError(f"{what} is empty: give seeds like '0-99,120'")
    seeds: list[int] = []
    seen: set[int] = set()
    for raw in text.split(","):
        item = raw.strip()
        m = _RANGE_RE.match(item)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise InputError(f"{what} {spec!r}: range {item!r} runs backwards (use {hi}-{lo})")
            values: Iterable[int] = range(lo, hi + 1)
        elif _INT_RE.match(item):
            lo = hi = int(item)
            values = (lo,)
        else:
            raise InputError(
                f"{what} {spec!r}: {item!r} is not a non-negative integer or a range 'a-b'"
            )
        if hi > MAX_SEED:
            raise InputError(f"{what} {spec!r}: seeds must be <= {MAX_SEED}, got {hi}")
        for s in values:
            if s not in seen:
                seen.add(s)
                seeds.append(s)
    return seeds


def check_seed(seed: int) -> int:
    """Return `seed` as int, or raise InputError if RandomState cannot take it."""
    if isinstance(seed, bool) or int(seed) != seed or not 0 <= int(seed) <= MAX_SEED:
        raise InputError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    return int(seed)


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """Latent of one seed as the official generate.py draws it: float64 [1, z_dim]."""
    return np.random.RandomState(check_seed(seed)).randn(1, z_dim)


def z_from_seeds(seeds: Sequence[int], z_dim: int, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """Latents of several seeds, float32 [N, z_dim], each row independent of the others."""
    if len(seeds) == 0:
        return torch.zeros([0, z_dim], dtype=torch.float32, device=device)
    z = np.concatenate([z_from_seed(s, z_dim) for s in seeds], axis=0)
    return torch.from_numpy(z).to(device=device, dtype=torch.float32)


def generators_from_seeds(seeds: Sequence[int], *, device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One torch.Generator per seed (on `device`), for per-sample random noise."""
    out = []
    for s in seeds:
        g = torch.Generator(device=device)
        g.manual_seed(check_seed(s))
        out.append(g)
    return out


def parse_shard(spec: str) -> tuple[int, int]:
    """'K/N' -> (K, N) with 0 <= K < N; InputError naming the spec otherwise."""
    parts = str(spec).split("/")
    try:
        k, n = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"shard {spec!r} must look like K/N, e.g. 0/4") from None
    if n < 1 or not 0 <= k < n:
        raise InputError(f"shard {spec!r}: need 0 <= K < N")
    return k, n


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SWEEP_RE = re.compile(rf"^({_NUMBER}):({_NUMBER}):(\d+)$")


def parse_sweep(spec: str, *, what: str = "values", max_count: int = 1000) -> list[float]:
    """'-30:30:7' (start:stop:count, both ends included), '15' or '-10,0,10' -> list of floats.

    InputError naming `what` and the spec for anything else (empty, bad numbers, count 0).
    """
    text = spec.strip() if isinstance(spec, str) else ""
    m = _SWEEP_RE.match(text)
    if m:
        lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if not 1 <= n <= max_count:
            raise InputError(f"{what} {spec!r}: count must be in 1-{max_count}, got {n}")
        return [lo] if n == 1 else np.linspace(lo, hi, n).round(10).tolist()
    items = [t.strip() for t in text.split(",")] if text else []
    if not items or not all(re.fullmatch(_NUMBER, t) for t in items):
        raise InputError(f"{what} {spec!r} must be a number, a list like '-10,0,10' or 'start:stop:count' "
                         "like '-30:30:7'")
    return [float(t) for t in items]
