"""Reading plain PyTorch state dicts (weights only) with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from synthbio.errors import CheckpointError, library_message


def read_state_dict(path: Path) -> dict[str, Any]:
    """A plain state dict from a .pth file (tensors only: `weights_only=True`, mapped to CPU).

    A {"state_dict": {...}} wrapper is unwrapped. map_location: some published files
    (richzhang's lpips heads) hold CUDA storages.
    """
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for bad files (pickle, zip, runtime)
        raise CheckpointError(f"{path}: cannot read as a PyTorch state dict: {library_message(exc)}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a state dict (mapping of tensors), got {type(obj).__name__}")
    return obj


def short_key_list(keys: set[str] | list[str], limit: int = 10) -> str:
    """Sorted keys joined for an error message, the tail counted rather than listed."""
    items = sorted(keys)
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
