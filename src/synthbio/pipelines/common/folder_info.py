"""`synthbio info DIR`: what a folder holds, read from the files synthbio writes there.

Every job records itself: `config.json` ("command", its config, and the run it
resolved to), `manifest.jsonl` (one line per finished sample), report and
cache folders their derived marker (`synthbio.io.derived`), model folders
their format. From those alone (nothing is imported or loaded) this says
which job wrote the folder, its settings, how much is done out of what was
asked, and whether the same command (or `--resume`) continues it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from synthbio.errors import InputError
from synthbio.io.derived import derived_info
from synthbio.io.manifest import MANIFEST_NAME, read_manifest

CONFIG_NAME = "config.json"


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _last_json_line(path: Path) -> dict[str, Any] | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in reversed(lines):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            return rec
    return None


def _progress(done: int, wanted: int | None, unit: str, *, resume: str) -> dict[str, Any]:
    complete = wanted is not None and done >= wanted
    return {"done": done, "wanted": wanted, "unit": unit, "complete": complete,
            "resumable": not complete, "continue_with": None if complete else resume}


def _sample_job(path: Path, config: dict[str, Any], command: str) -> dict[str, Any]:
    """generate / mix / edit / dataset generate / fingerprints generate: manifest lines against the request."""
    cfg = config.get("config") if isinstance(config.get("config"), dict) else {}
    records = read_manifest(path / MANIFEST_NAME).records
    if command == "generate":
        return _progress(len(records), len(cfg.get("seeds", [])), "seeds", resume="the same `synthbio generate` command")
    if command == "mix":
        wanted = len(set(cfg.get("rows", []) + cfg.get("cols", []))) + len(cfg.get("rows", [])) * len(cfg.get("cols", []))
        return _progress(len(records), wanted, "images", resume="the same `synthbio mix` command")
    if command == "edit":
        wanted = len(cfg.get("seeds", [])) or None
        return _progress(len(records), wanted, "samples", resume="the same `synthbio edit` command")
    if command == "fingerprints generate":
        return _progress(len(records), cfg.get("fingers"), "fingers",
                         resume="the same `synthbio fingerprints generate` command")
    if command == "dataset generate":
        k, n = (int(v) for v in str(cfg.get("shard", "0/1")).split("/"))
        identities = int(cfg.get("identities", 0))
        wanted = len(range(k, identities, n))
        m = int(cfg.get("samples_per_identity", 1))
        per: dict[Any, int] = {}
        for rec in records:
            per[rec.get("identity")] = per.get(rec.get("identity"), 0) + 1
        done = sum(1 for c in per.values() if c >= m)
        return _progress(done, wanted, "identities", resume="the same `synthbio dataset generate` command")
    return _progress(len(records), None, "samples", resume=f"the same `synthbio {command}` command")


def _train_run(path: Path, config: dict[str, Any], command: str) -> dict[str, Any]:
    train = config.get("train", {})
    last = _last_json_line(path / "stats.jsonl") or {}
    state = (path / "latest" / "training_state.pt").is_file()
    if command == "train":
        done, wanted = float(last.get("kimg", 0.0) or 0.0), config.get("plan", {}).get("kimg")
        unit = "kimg"
    else:
        done, wanted, unit = float(last.get("images", 0) or 0), train.get("images"), "images"
    out = _progress(round(done, 3), wanted, unit, resume=f"synthbio {command} --resume {os.fspath(path)}")
    if not state:
        out.update(resumable=False, continue_with=None)
    out["snapshot"] = os.fspath(path / "latest") if (path / "latest").is_dir() else None
    return out


def describe_folder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """What `folder` holds, as JSON-able data (see the module docstring)."""
    path = Path(folder)
    if not path.exists():
        raise InputError(f"{os.fspath(path)!r}: no such file or folder")
    if not path.is_dir():
        raise InputError(f"{os.fspath(path)!r} is a file; `synthbio info` describes folders")
    info: dict[str, Any] = {"path": os.fspath(path), "kind": "unknown", "command": None}
    marker = derived_info(path)
    config = _json(path / CONFIG_NAME)
    config = config if isinstance(config, dict) else None
    if marker is not None:
        info.update(kind="report", command=marker.get("command"), source=marker.get("source"),
                    files=[p.name for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")])
        return info
    if config is not None and config.get("format") in ("synthbio.generator", "synthbio.encoder"):
        info.update(kind="model" if config["format"] == "synthbio.generator" else "encoder",
                    format=config["format"], synthbio_version=config.get("synthbio_version"),
                    provenance=config.get("provenance"))
        return info
    if config is None:
        files = sum(1 for p in path.rglob("*") if p.is_file())
        info.update(kind="folder", files=files,
                    note="no config.json: not written by a synthbio job (or its config.json is missing)")
        return info
    command = config.get("command")
    if command is None and "train" in config and "plan" in config:
        command = "train"  # runs written before config.json named its command
    info["command"] = command
    info["config"] = config.get("config", config.get("train"))
    if command in ("train", "train-encoder"):
        info.update(kind="training run", **_train_run(path, config, command))
    elif command in ("generate", "mix", "edit", "fingerprints generate", "dataset generate"):
        info.update(kind="dataset" if "generate" in command else "images", **_sample_job(path, config, command))
    elif command is not None:
        info.update(kind="results", resumable=True, continue_with=f"the same `synthbio {command}` command")
    info["synthbio_version"] = config.get("synthbio_version")
    return info


def info_text(info: dict[str, Any]) -> str:
    """The lines `synthbio info` prints."""
    lines = [f"{info['path']}: {info['kind']}" + (f" written by `synthbio {info['command']}`" if info.get("command")
                                                  else "")]
    if info.get("source"):
        lines.append(f"  describes: {info['source']} (a report: no dataset reader counts it)")
    if "done" in info:
        wanted = info.get("wanted")
        state = "complete" if info.get("complete") else "incomplete"
        lines.append(f"  progress: {info['done']}" + (f" of {wanted}" if wanted is not None else "")
                     + f" {info['unit']} ({state})")
    if info.get("continue_with"):
        lines.append(f"  continue with: {info['continue_with']}")
    elif "resumable" in info and not info.get("complete"):
        lines.append("  resumable: no")
    if info.get("snapshot"):
        lines.append(f"  latest snapshot: {info['snapshot']}")
    if isinstance(info.get("config"), dict):
        shown = {k: v for k, v in info["config"].items() if v not in (None, "", [], {})}
        lines.append("  config: " + json.dumps(shown, sort_keys=True, default=str))
    if info.get("files") is not None and info["kind"] in ("folder", "report"):
        files = info["files"]
        lines.append(f"  files: {files if isinstance(files, int) else ', '.join(files[:12])}")
    if info.get("note"):
        lines.append(f"  {info['note']}")
    return "\n".join(lines)
