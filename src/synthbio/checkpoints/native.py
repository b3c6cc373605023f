"""synthbio's own checkpoint format: one folder per network, no pickles.

Layout of a model folder:

    MODEL/
      config.json            {"format": "synthbio.generator", "format_version": 1,
                              "architecture": "stylegan2" | "stylegan3" | "eg3d",
                              "config": <its config>.to_dict(), "branches": [...],
                              "synthbio_version", "weights_sha256", "provenance": {...}}
      model.safetensors      the generator's state dict (w_avg included, as
                             the buffer mapping.w_avg)
      discriminator/         optional, the same layout with
        config.json          "format": "synthbio.discriminator"
        model.safetensors

`architecture` names the generator family (absent in folders written before
StyleGAN3 and EG3D were added: those are StyleGAN2). The top level is always
the generator to sample from (G_ema for official
pickles); `load_discriminator(MODEL)` reads `MODEL/discriminator/` (or MODEL
itself when it is a discriminator folder). Every file is written to a temporary
name in the same folder and renamed into place, weights before config.json, so
a reader never sees a config that points at half-written weights.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import synthbio
from synthbio.errors import CheckpointError, InputError, library_message
from synthbio.nn.architectures import ARCHITECTURES, AnyGenerator, architecture_of, build_generator
from synthbio.nn.config import DiscriminatorConfig
from synthbio.nn.discriminator import Discriminator
from synthbio.utils.hashing import atomic_write
from synthbio.utils.jsonio import read_json_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DISCRIMINATOR_DIR = "discriminator"
GENERATOR_FORMAT = "synthbio.generator"
DISCRIMINATOR_FORMAT = "synthbio.discriminator"
FORMAT_VERSION = 1


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def make_provenance(source: str | Path, *, source_format: str, extra: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """Where converted weights came from: file, its sha256, format, time (UTC)."""
    source = Path(source)
    prov: dict[str, Any] = {
        "source": str(source),
        "source_sha256": file_sha256(source) if source.is_file() else None,
        "source_format": source_format,
        "converted_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    prov.update(extra or {})
    return prov


def _save_module(module: torch.nn.Module, directory: Path, *, fmt: str, config: dict[str, Any],
                 extra: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or non-contiguous storage: store plain copies.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    atomic_write(weights, lambda tmp: save_file(state, str(tmp), metadata={"format": fmt}))
    meta = {"format": fmt, "format_version": FORMAT_VERSION, "config": config, **extra,
            "synthbio_version": synthbio.__version__, "weights_sha256": file_sha256(weights)}
    text = json.dumps(meta, indent=2, sort_keys=False) + "\n"
    atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return directory


def save_generator(G: AnyGenerator, directory: str | Path, *, provenance: dict[str, Any] | None = None,
                   D: Discriminator | None = None) -> Path:
    """Write G (any synthbio generator; optionally D into `directory/discriminator/`) in the native format.

    Returns the folder. Existing files of the same names are replaced atomically.
    """
    try:
        architecture = architecture_of(G)
    except InputError:
        raise InputError(f"save_generator expects a synthbio generator, got {type(G).__name__}") from None
    directory = Path(directory)
    branches = G.config.branches if architecture == "stylegan2" else ((G.branch_names[0], G.img_channels),)
    extra = {"architecture": architecture, "branches": [list(b) for b in branches], "provenance": provenance or {}}
    _save_module(G, directory, fmt=GENERATOR_FORMAT, config=G.config.to_dict(), extra=extra)
    if D is not None:
        save_discriminator(D, directory / DISCRIMINATOR_DIR, provenance=provenance)
    return directory


def save_discriminator(D: Discriminator, directory: str | Path, *, provenance: dict[str, Any] | None = None
                       ) -> Path:
    if not isinstance(D, Discriminator):
        raise InputError(f"save_discriminator expects a synthbio Discriminator, got {type(D).__name__}")
    return _save_module(D, Path(directory), fmt=DISCRIMINATOR_FORMAT, config=D.config.to_dict(),
                        extra={"provenance": provenance or {}})


def is_native_dir(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / CONFIG_FILE).is_file()


def read_native_config(directory: str | Path) -> dict[str, Any]:
    """config.json of a model folder, checked for format and version."""
    path = Path(directory) / CONFIG_FILE
    try:
        meta = read_json_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (a synthbio model folder holds config.json and "
                              f"{WEIGHTS_FILE})") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON config: {library_message(exc)}") from None
    if not isinstance(meta, dict) or meta.get("format") not in (GENERATOR_FORMAT, DISCRIMINATOR_FORMAT):
        raise CheckpointError(f"{path}: not a synthbio checkpoint config (format "
                              f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {meta.get('format_version')!r} is not supported "
                              f"(this synthbio reads {FORMAT_VERSION})")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: no 'config' object")
    return meta


def _read_weights(directory: Path, expected_sha256: Any = None) -> dict[str, torch.Tensor]:
    """The tensors of model.safetensors, after checking them against config.json's weights_sha256."""
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing weights file")
    if expected_sha256 is not None:
        if not isinstance(expected_sha256, str):
            raise CheckpointError(f"{directory / CONFIG_FILE}: weights_sha256 is not a string")
        try:
            found = file_sha256(path)
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot read: {library_message(exc)}") from None
        if found != expected_sha256.lower():
            raise CheckpointError(f"{path}: sha256 {found[:12]}... does not match weights_sha256 "
                                  f"{expected_sha256[:12]}... in {CONFIG_FILE} (the weights were altered, damaged or "
                                  "come from another model)")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file: {library_message(exc)}") from None


def _load_module(directory: Path, module: torch.nn.Module, what: str, meta: dict[str, Any]) -> None:
    from synthbio.checkpoints.nvlabs import load_state_strict

    state = _read_weights(directory, meta.get("weights_sha256"))
    load_state_strict(module, state, path=directory / WEIGHTS_FILE, what=what)


def load_generator_native(directory: str | Path) -> AnyGenerator:
    """Model folder -> generator of its architecture (CPU, eval mode); the exact tensors that were saved."""
    directory = Path(directory)
    meta = read_native_config(directory)
    if meta["format"] != GENERATOR_FORMAT:
        raise CheckpointError(f"{directory / CONFIG_FILE}: holds a {meta['format']}, not a generator")
    architecture = meta.get("architecture", "stylegan2")
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        raise CheckpointError(f"{directory / CONFIG_FILE}: architecture {architecture!r} is not one this synthbio "
                              f"knows ({', '.join(ARCHITECTURES)})")
    try:
        G = build_generator(architecture, meta["config"])
    except (InputError, TypeError, ValueError, ArithmeticError) as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: invalid {architecture} config: {exc}") from None
    _load_module(directory, G, "the generator", meta)
    return G.eval()


def discriminator_dir(directory: str | Path) -> Path:
    """The folder holding a model's discriminator: MODEL/discriminator/ or MODEL itself."""
    directory = Path(directory)
    sub = directory / DISCRIMINATOR_DIR
    if is_native_dir(sub):
        return sub
    meta = read_native_config(directory)
    if meta["format"] == DISCRIMINATOR_FORMAT:
        return directory
    raise CheckpointError(f"{directory}: holds no discriminator (looked for {sub / CONFIG_FILE})")


def load_discriminator_native(directory: str | Path) -> Discriminator:
    directory = discriminator_dir(directory)
    meta = read_native_config(directory)
    try:
        config = DiscriminatorConfig.from_dict(meta["config"])
    except (InputError, TypeError) as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: invalid discriminator config: {exc}") from None
    D = Discriminator(config)
    _load_module(directory, D, "the discriminator", meta)
    return D.eval()
