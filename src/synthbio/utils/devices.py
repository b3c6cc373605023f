"""Device names -> torch.device, resolved when asked (never at import)."""

from __future__ import annotations

import torch

from synthbio.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, else mps, else cpu. 'cuda:1' style indices are accepted.

    Raises InputError for an unknown name or a device this machine lacks.
    """
    text = (name or "auto").strip().lower()
    kind = text.split(":", 1)[0]
    if kind not in DEVICE_CHOICES:
        raise InputError(f"--device: unknown device {name!r}: use one of {', '.join(DEVICE_CHOICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available on this machine")
    if kind == "mps" and not _mps_available():
        raise InputError(f"device {name!r} requested but MPS is not available on this machine")
    try:
        return torch.device(text)
    except RuntimeError as exc:
        raise InputError(f"bad device {name!r}: {exc}") from None
