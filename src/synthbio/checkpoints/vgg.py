"""VGG16 and LPIPS weights from files or registry names, onto `synthbio.nn.vgg`'s networks.

The networks live in `synthbio.nn.vgg`; this module finds their weight files
(a path, or a registry name downloaded through `synthbio.checkpoints.registry`),
checks the published digest prefix and loads them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from synthbio.checkpoints.registry import check_published_prefix, resolve_model
from synthbio.errors import CheckpointError
from synthbio.nn.vgg import (
    LPIPS_WEIGHTS_NAME,
    VGG16_WEIGHTS_NAME,
    VGG16_WEIGHTS_SHA256_PREFIX,
    VGG16_WIDTHS,
    LPIPSHeads,
    VGG16Features,
    load_vgg16_state_dict,
)
from synthbio.utils.state_dict import read_state_dict, short_key_list


def _resolve_file(path_or_name: str | os.PathLike[str], *, progress: bool, what: str) -> Path:
    path = resolve_model(path_or_name, progress=progress)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder; the {what} weights are one .pth file")
    return path


def load_vgg16(path_or_name: str | os.PathLike[str] = VGG16_WEIGHTS_NAME, *,
               device: str | torch.device = "cpu", widths: Sequence[int] = VGG16_WIDTHS,
               progress: bool = True) -> VGG16Features:
    """Frozen VGG16Features in eval mode with weights from a torchvision-layout state dict.

    path_or_name: a .pth file, or a registry name (default 'vgg16-imagenet',
        torchvision's vgg16-397923af.pth).
    Raises CheckpointError (unreadable file, wrong keys or shapes, digest
    prefix mismatch) or ModelNotFoundError (not available offline; names the
    URL and where to place the file).
    """
    path = _resolve_file(path_or_name, progress=progress, what="VGG16")
    check_published_prefix(path, VGG16_WEIGHTS_NAME, VGG16_WEIGHTS_SHA256_PREFIX)
    model = VGG16Features(widths=widths)
    load_vgg16_state_dict(model, read_state_dict(path), source=str(path))
    model.requires_grad_(False)
    return model.to(torch.device(device)).eval()


def load_lpips_heads(path_or_name: str | os.PathLike[str] = LPIPS_WEIGHTS_NAME, *,
                     device: str | torch.device = "cpu", widths: Sequence[int] = VGG16_WIDTHS,
                     progress: bool = True) -> LPIPSHeads:
    """LPIPS v0.1 linear heads from richzhang's `vgg.pth` (keys `lin{k}.model.1.weight` [1, C_k, 1, 1]).

    path_or_name: a .pth file, or a registry name (default 'lpips-vgg-v0.1').
    Raises CheckpointError naming the file for missing keys, wrong shapes or
    negative weights (LPIPS weights are non-negative).
    """
    path = _resolve_file(path_or_name, progress=progress, what="LPIPS")
    state = read_state_dict(path)
    expected = {f"lin{k}.model.1.weight": (1, int(c), 1, 1) for k, c in enumerate(widths)}
    problems = []
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    if missing:
        problems.append(f"missing keys: {short_key_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {short_key_list(unexpected)}")
    for key in sorted(set(expected) & set(state)):
        value = state[key]
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != expected[key]:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            problems.append(f"{key}: shape {shape}, expected {expected[key]}")
        elif bool((value < 0).any()):
            problems.append(f"{key}: negative weights")
    if problems:
        raise CheckpointError(f"{path}: not LPIPS VGG linear heads (lpips v0.1 vgg.pth layout): "
                              + "; ".join(problems))
    heads = LPIPSHeads([state[f"lin{k}.model.1.weight"] for k in range(5)])
    return heads.to(torch.device(device))

