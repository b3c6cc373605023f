"""Translators in synthbio's native format: `model.safetensors` + `config.json`, no pickles.

    MODEL/
      config.json          {"format": "synthbio.translator", "format_version": 1,
                            "config": TranslatorConfig, "domains": {"a": name, "b": name},
                            "synthbio_version", "weights_sha256", "provenance"}
      model.safetensors    both domains' generators: keys "a.<...>", "b.<...>"
      discriminator/       optional: the same layout, "format": "synthbio.translator-discriminator"

Weights are written before config.json, each atomically, so a reader never
sees a config that points at half-written weights.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

import synthbio
from synthbio.errors import CheckpointError, InputError, library_message
from synthbio.translation.config import TranslatorConfig
from synthbio.translation.networks import build_discriminators, build_generators
from synthbio.utils.hashing import atomic_write, sha256_file
from synthbio.utils.jsonio import read_json_file

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DISCRIMINATOR_DIR = "discriminator"
TRANSLATOR_FORMAT = "synthbio.translator"
DISCRIMINATOR_FORMAT = "synthbio.translator-discriminator"
FORMAT_VERSION = 1


@dataclass
class Translator:
    """A loaded translator: G = {'a': G_a, 'b': G_b}, domain names, provenance."""

    config: TranslatorConfig
    G: nn.ModuleDict
    domains: dict[str, str]
    provenance: dict[str, Any]
    path: Path | None = None

    def to(self, device: torch.device | str) -> Translator:
        self.G.to(device)
        return self


def _write(module: nn.Module, directory: Path, *, fmt: str, meta: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    weights = directory / WEIGHTS_FILE
    atomic_write(weights, lambda tmp: save_file(state, str(tmp), metadata={"format": fmt}))
    full = {"format": fmt, "format_version": FORMAT_VERSION, **meta, "synthbio_version": synthbio.__version__,
            "weights_sha256": sha256_file(weights)}
    text = json.dumps(full, indent=2) + "\n"
    atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_translator(directory: str | Path, config: TranslatorConfig, G: nn.ModuleDict, *,
                    domains: Mapping[str, str] | None = None, provenance: dict[str, Any] | None = None,
                    D: nn.ModuleDict | None = None) -> Path:
    """Write both generators (and optionally both discriminators) to `directory`."""
    if set(G.keys()) != {"a", "b"}:
        raise InputError(f"a translator has generators 'a' and 'b', got {sorted(G.keys())}")
    directory = Path(directory)
    meta = {"config": config.to_dict(), "domains": dict(domains or {"a": "a", "b": "b"}),
            "provenance": provenance or {}}
    _write(G, directory, fmt=TRANSLATOR_FORMAT, meta=meta)
    if D is not None:
        _write(D, directory / DISCRIMINATOR_DIR, fmt=DISCRIMINATOR_FORMAT, meta=meta)
    return directory


def _read_meta(directory: Path, fmt: str) -> dict[str, Any]:
    path = directory / CONFIG_FILE
    try:
        meta = read_json_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (a translator folder holds {CONFIG_FILE} and {WEIGHTS_FILE}; "
                              "a training run keeps it in latest/ and snapshot-*/)") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON config: {library_message(exc)}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"{path}: not a synthbio translator (format {found!r}, expected {fmt!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {meta.get('format_version')!r} is not supported")
    domains = meta.get("domains", {"a": "a", "b": "b"})
    if (not isinstance(domains, dict) or set(domains) != {"a", "b"}
            or not all(isinstance(v, str) and 0 < len(v) <= 100 for v in domains.values())):
        raise CheckpointError(f"{path}: 'domains' must map a and b to names, got {str(domains)[:80]}")
    if not isinstance(meta.get("provenance", {}), dict):
        raise CheckpointError(f"{path}: 'provenance' must be a JSON object")
    if not isinstance(meta.get("weights_sha256", ""), str):
        raise CheckpointError(f"{path}: weights_sha256 is not a string")
    try:
        meta["config"] = TranslatorConfig.from_dict(meta.get("config"))
    except InputError as exc:
        raise CheckpointError(f"{path}: invalid translator config: {exc}") from None
    return meta


def _load_state(directory: Path, module: nn.Module, expected_sha256: str | None) -> None:
    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing weights file")
    if expected_sha256 and sha256_file(path) != expected_sha256.lower():
        raise CheckpointError(f"{path}: sha256 does not match weights_sha256 in {CONFIG_FILE} (the weights were "
                              "altered, damaged or come from another translator)")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file: {exc}") from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: weights do not fit the config (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]}, wrong shape {wrong[:3]})")
    module.load_state_dict(state)


def resolve_translator_dir(path: str | Path) -> Path:
    """A translator folder, or a training run (its latest/ snapshot)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"translator {str(path)!r}: no such folder")
    if (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
        return path
    if (path / "latest" / WEIGHTS_FILE).is_file():
        return path / "latest"
    raise InputError(f"translator {str(path)!r}: holds neither {WEIGHTS_FILE} nor latest/{WEIGHTS_FILE}")


def load_translator(path: str | Path, *, device: torch.device | str = "cpu") -> Translator:
    """A translator folder (or a training run's OUTDIR) -> Translator in eval mode on `device`."""
    directory = resolve_translator_dir(path)
    meta = _read_meta(directory, TRANSLATOR_FORMAT)
    config: TranslatorConfig = meta["config"]
    G = build_generators(config)
    _load_state(directory, G, meta.get("weights_sha256"))
    domains = meta.get("domains", {"a": "a", "b": "b"})
    return Translator(config=config, G=G.eval().requires_grad_(False).to(device), domains=dict(domains),
                      provenance=dict(meta.get("provenance", {})), path=directory)


def load_discriminators(path: str | Path) -> nn.ModuleDict:
    """Both discriminators of a translator folder saved with them."""
    directory = resolve_translator_dir(path) / DISCRIMINATOR_DIR
    meta = _read_meta(directory, DISCRIMINATOR_FORMAT)
    D = build_discriminators(meta["config"])
    _load_state(directory, D, meta.get("weights_sha256"))
    return D.eval()
