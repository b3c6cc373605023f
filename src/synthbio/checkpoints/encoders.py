"""Encoder checkpoints: a native folder per encoder, no pickles.

Layout:

    ENCODER/
      config.json          {"format": "synthbio.encoder", "format_version": 1, "kind": "encoder",
                            "encoder": EncoderConfig.to_dict(), "task": "invert" | "minutiae",
                            "generator": "<name or path trained against>", "provenance": {...},
                            "synthbio_version", "weights_sha256"}
      model.safetensors    the encoder's state dict (w_avg included)

Weights are written before config.json, each atomically (temporary file,
fsync, rename), so a reader never sees a config that points at half-written
weights. `load_encoder` checks the weights' sha256 against config.json, so a
truncated or altered file is reported instead of loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import synthbio
from synthbio.checkpoints.registry import REGISTRY, ModelEntry, resolve_model
from synthbio.errors import CheckpointError, InputError, library_message
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.utils.hashing import atomic_write, sha256_file
from synthbio.utils.jsonio import read_json_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
ENCODER_FORMAT = "synthbio.encoder"
FORMAT_VERSION = 1
TASKS = ("invert", "minutiae")


def encoder_registry() -> dict[str, ModelEntry]:
    """Registry entries of kind 'encoder' (generator names are not encoders)."""
    return {name: e for name, e in REGISTRY.items() if e.kind == "encoder"}


def save_encoder(encoder: Encoder, out_dir: str | os.PathLike[str], *, task: str, generator: str,
                 provenance: dict[str, Any] | None = None) -> Path:
    """Write `encoder` as a native folder (model.safetensors + config.json); returns the folder."""
    if not isinstance(encoder, Encoder):
        raise InputError(f"save_encoder expects a synthbio Encoder, got {type(encoder).__name__}")
    if task not in TASKS:
        raise InputError(f"encoder task {task!r} is not one of {TASKS}")
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or non-contiguous storage: store plain copies.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in encoder.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    atomic_write(weights, lambda tmp: save_file(state, str(tmp), metadata={"format": ENCODER_FORMAT}))
    meta = {"format": ENCODER_FORMAT, "format_version": FORMAT_VERSION, "kind": "encoder",
            "encoder": encoder.config.to_dict(), "task": task, "generator": str(generator),
            "provenance": provenance or {}, "synthbio_version": synthbio.__version__,
            "weights_sha256": sha256_file(weights)}
    text = json.dumps(meta, indent=2) + "\n"
    atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return directory


def _encoder_dir(path: Path) -> Path:
    if path.is_dir():
        return path
    if path.name in (CONFIG_FILE, WEIGHTS_FILE):
        return path.parent
    raise CheckpointError(f"{path}: not an encoder folder (expected a folder with {CONFIG_FILE} and {WEIGHTS_FILE})")


def read_encoder_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """config.json of an encoder folder, checked for format and version."""
    path = Path(directory) / CONFIG_FILE
    try:
        meta = read_json_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (an encoder folder holds {CONFIG_FILE} and {WEIGHTS_FILE})") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON config: {library_message(exc)}") from None
    if not isinstance(meta, dict) or meta.get("format") != ENCODER_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path}: not a synthbio encoder config (format {found!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {meta.get('format_version')!r} is not supported "
                              f"(this synthbio reads {FORMAT_VERSION})")
    if not isinstance(meta.get("encoder"), dict):
        raise CheckpointError(f"{path}: no 'encoder' object")
    return meta


def load_encoder(path_or_name: str | os.PathLike[str], *, device: str | torch.device = "cpu"
                 ) -> tuple[Encoder, dict[str, Any]]:
    """(Encoder in eval mode on `device`, its config.json) from a folder or a registry name.

    Raises CheckpointError naming the folder when it is missing parts, corrupt or
    foreign; ModelNotFoundError for an unknown name.
    """
    directory = _encoder_dir(resolve_model(path_or_name, registry=encoder_registry()))
    meta = read_encoder_config(directory)
    try:
        config = EncoderConfig.from_dict(meta["encoder"])
    except (InputError, TypeError) as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: invalid encoder config: {exc}") from None
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing weights file")
    expected = meta.get("weights_sha256")
    if expected is not None and sha256_file(weights) != expected:
        raise CheckpointError(f"{weights}: sha256 does not match config.json (truncated or altered file)")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights}: truncated or corrupt safetensors file: {exc}") from None
    encoder = Encoder(config)
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{weights}: weights do not fit the encoder config: {exc}") from None
    return encoder.to(torch.device(device)).eval(), meta
