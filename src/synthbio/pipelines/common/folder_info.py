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
from synthbio.io.derived import COMPANION_STEM_ENDINGS, derived_info, is_derived, walk_files
from synthbio.io.manifest import MANIFEST_NAME, read_manifest
from synthbio.utils.hashing import sha256_file

CONFIG_NAME = "config.json"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
# What a file beside the samples is, by the end of its stem (synthbio.io.derived.COMPANION_STEM_ENDINGS).
_COMPANIONS = {"_mask_color": "mask previews", "_mask": "masks", "_annotation": "annotations", "_depth": "depth maps"}
_GROUND_TRUTH = {".iso": "ISO 19794-2 templates", ".xyt": "NIST xyt templates"}
_ROLES = ("images", *_COMPANIONS.values(), *_GROUND_TRUTH.values(), "latent files", "grids")


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


def _file_role(rel: Path) -> str | None:
    """What one file of a job's folder is, for the `holds` counts (None: bookkeeping, not counted)."""
    name, suffix, stem = rel.name, rel.suffix.lower(), rel.stem
    if name in ("samples.h5", "projection.safetensors", "latents.safetensors") or name.endswith("_ws.npy"):
        return "latent files"
    if suffix in _IMAGE_SUFFIXES or (suffix == ".npy" and stem.endswith("_depth")):
        if len(rel.parts) == 1 and (stem == "grid" or stem.startswith("grid_")):
            return "grids"
        ending = next((e for e in COMPANION_STEM_ENDINGS if stem.endswith(e)), None)
        return _COMPANIONS[ending] if ending else "images"
    return _GROUND_TRUTH.get(suffix)


def _holds(path: Path) -> dict[str, int]:
    """Counts of the files a job wrote, by what they are: images, masks, depth maps, templates, latents, grids.

    Files under report or set-aside (derived) folders are not counted: their folders are listed as `derived`.
    """
    counts: dict[str, int] = {}
    for p in walk_files(path):
        role = _file_role(p.relative_to(path))
        if role is not None:
            counts[role] = counts.get(role, 0) + 1
    derived = sum(1 for d in path.iterdir() if d.is_dir() and is_derived(d))
    ordered = {role: counts[role] for role in _ROLES if role in counts}
    return {**ordered, **({"derived (not data) folders": derived} if derived else {})}


def _painted(path: Path, records: list[dict[str, Any]]) -> int:
    """Exported samples whose annotation differs from the blank one `masks export` wrote (painted)."""
    n = 0
    for rec in records:
        ann = rec.get("annotation") if isinstance(rec.get("annotation"), dict) else {}
        file = path / str(ann.get("path", ""))
        if file.with_suffix(".npy").is_file() or (file.is_file() and sha256_file(file) != ann.get("blank_sha256")):
            n += 1
    return n


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
    if command in ("masks generate", "masks export"):
        seeds = cfg.get("seeds", [])
        if command == "masks generate":
            k, n = (int(v) for v in str(cfg.get("shard", "0/1")).split("/"))
            seeds = seeds[k::n]
        out = _progress(len(records), len(seeds), "seeds", resume=f"the same `synthbio {command}` command")
        if command == "masks generate":
            out["dropped"] = sum(1 for r in records if r.get("dropped"))
            out["classes"] = [c.get("name") for c in config.get("classes", []) if isinstance(c, dict)]
        else:
            out["annotated"] = _painted(path, records)
        return out
    if command == "translate apply":
        return _progress(len(records), config.get("inputs"), "inputs",
                         resume="the same `synthbio translate apply` command")
    if command == "translate testbed":
        wanted = int(cfg.get("train_identities", 0)) + int(cfg.get("test_identities", 0))
        return _progress(len(records), wanted or None, "identities",
                         resume="the same `synthbio translate testbed` command")
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
    resume = f"synthbio {command} --resume {os.fspath(path)}"
    if command == "train":
        done, wanted = float(last.get("kimg", 0.0) or 0.0), config.get("plan", {}).get("kimg")
        unit = "kimg"
    elif command == "translate train":
        done, wanted, unit = float(last.get("step", 0) or 0), train.get("steps"), "steps"
        resume = f"the same `synthbio translate train` command with --resume {os.fspath(path)}"
    else:
        done, wanted, unit = float(last.get("images", 0) or 0), train.get("images"), "images"
    out = _progress(int(done) if float(done).is_integer() else round(done, 3), wanted, unit, resume=resume)
    if not state:
        out.update(resumable=False, continue_with=None)
    out["snapshot"] = os.fspath(path / "latest") if (path / "latest").is_dir() else None
    return out


_MODEL_KINDS = {"synthbio.generator": "model", "synthbio.encoder": "encoder",
                "synthbio.pixel_classifier": "mask classifier", "synthbio.translator": "translator"}


def _legacy_command(config: dict[str, Any]) -> str | None:
    """The job of a config.json written before it named its command (None: unknown)."""
    if "train" in config and "plan" in config:
        return "translate train" if isinstance(config["train"], dict) and "data_a" in config["train"] else "train"
    if "translate" in config and "input_resolved" in config:
        return "translate apply"
    if isinstance(config.get("config"), dict) and "train_identities" in config["config"] and "source" in config:
        return "translate testbed"
    return None


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
        set_aside = str(marker.get("command", "")).endswith("--drop-uncertain")  # masks generate's dropped/
        files = [p.name for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")]
        info.update(kind="set-aside samples" if set_aside else "report", command=marker.get("command"),
                    source=marker.get("source"),
                    files=files or sum(1 for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        return info
    if config is not None and config.get("format") in _MODEL_KINDS:
        info.update(kind=_MODEL_KINDS[config["format"]], format=config["format"],
                    synthbio_version=config.get("synthbio_version"), provenance=config.get("provenance"))
        if config["format"] == "synthbio.pixel_classifier":
            info.update(command="masks train", classes=[c.get("name") for c in config.get("classes", [])
                                                        if isinstance(c, dict)],
                        generator=(config.get("generator") or {}).get("model"),
                        trained_on=len((config.get("report") or {}).get("annotated") or []))
        return info
    if config is None:
        files = sum(1 for p in path.rglob("*") if p.is_file())
        info.update(kind="folder", files=files,
                    note="no config.json: not written by a synthbio job (or its config.json is missing)")
        return info
    command = config.get("command") or _legacy_command(config)  # runs written before config.json named it
    info["command"] = command
    info["config"] = config.get("config", config.get("train", config.get("translate")))
    if command in ("train", "train-encoder", "translate train"):
        info.update(kind="training run", **_train_run(path, config, command))
    elif command in ("generate", "mix", "edit", "fingerprints generate", "dataset generate", "masks generate",
                     "masks export", "translate apply", "translate testbed"):
        kind = "dataset" if "generate" in command or command == "translate testbed" else "images"
        info.update(kind=kind, **_sample_job(path, config, command))
    elif command is not None:
        info.update(kind="results", resumable=True, continue_with=f"the same `synthbio {command}` command")
        if command == "project":
            targets = (info["config"] or {}).get("targets") or []
            info.update(_progress(len(list(path.glob("proj_*.png"))), len(targets) or None, "targets",
                                  resume="the same `synthbio project` command"))
    info["holds"] = _holds(path)
    info["synthbio_version"] = config.get("synthbio_version")
    return info


def info_text(info: dict[str, Any]) -> str:
    """The lines `synthbio info` prints."""
    lines = [f"{info['path']}: {info['kind']}" + (f" written by `synthbio {info['command']}`" if info.get("command")
                                                  else "")]
    if info.get("source"):
        lines.append(f"  describes: {info['source']} (derived, not data: no dataset reader counts it)")
    if "done" in info:
        wanted = info.get("wanted")
        state = "" if wanted is None else " (complete)" if info.get("complete") else " (incomplete)"
        lines.append(f"  progress: {info['done']}" + (f" of {wanted}" if wanted is not None else "")
                     + f" {info['unit']}{state}")
    if info.get("holds"):
        lines.append("  holds: " + ", ".join(f"{n} {what}" for what, n in info["holds"].items()))
    for key in ("classes", "dropped", "annotated", "generator", "trained_on"):
        if info.get(key) not in (None, [], ""):
            value = info[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            lines.append(f"  {key.replace('_', ' ')}: {shown}")
    if info.get("continue_with"):
        lines.append(f"  continue with: {info['continue_with']}")
    elif "resumable" in info and not info.get("complete"):
        lines.append("  resumable: no")
    if info.get("snapshot"):
        lines.append(f"  latest snapshot: {info['snapshot']}")
    if isinstance(info.get("config"), dict):
        shown = {k: v for k, v in info["config"].items() if v not in (None, "", [], {})}
        lines.append("  config: " + json.dumps(shown, sort_keys=True, default=str))
    if info.get("files") is not None and info["kind"] in ("folder", "report", "set-aside samples"):
        files = info["files"]
        lines.append(f"  files: {files if isinstance(files, int) else ', '.join(files[:12])}")
    if info.get("note"):
        lines.append(f"  {info['note']}")
    return "\n".join(lines)
