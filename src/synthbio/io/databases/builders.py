"""Builders: a folder (+ a metadata file) -> `IndexContent`, one per layout users have.

Every builder indexes each image once, with its identity and attributes, and
declares at least the protocol `default` (group `all`: every sample). Layouts:

- imagefolder: ROOT/<identity>/<image>; also `enroll-probe` (group `eval`:
  each identity's first image enrolls, the others probe).
- csv: a CSV with a `path` (or `filename`) column, optional `identity`,
  `protocol`, `group` (`dev`, `dev/probe`, ...) columns; other columns are
  attributes (numbers when they read as numbers).
- ffhq: the FFHQ images (flat, or in thousand folders) with, when given, the
  official `ffhq-dataset-v2.json` (protocol `default` gets groups `train` /
  `dev` from its training / validation categories) or a folder of
  per-image JSON files (FFHQ-Features: `faceAttributes` flattened to
  attributes such as `age`, `gender`, `headPose.yaw`). Each image is its own
  identity.
- ckplus: CK+ sequences (`synthbio.io.labels.load_ckplus`): the first (neutral)
  and last (peak) frame of every sequence with frame, emotion and AU
  attributes; identity = subject.
- lfw: ROOT/<name>/<name>_<nnnn>.jpg with a pairs file (`pairs.txt`: View 2,
  ten folds -> protocol `view2`, groups `fold01`..`fold10`;
  `pairsDevTrain.txt` / `pairsDevTest.txt`: View 1 -> protocol `view1`,
  groups `train` / `dev`). Pairs are stored as enroll / probe comparisons.
- fvc: fingerprints named `<finger>_<impression>.<ext>` (FVC); protocol
  `fvc` holds the FVC comparisons (genuine: every pair of impressions of a
  finger; impostor: the first impressions of every two fingers) and
  `enroll-probe` the first impression as enroll.
- multipie: see `synthbio.io.databases.multipie`.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthbio.errors import InputError
from synthbio.io.derived import is_sample_image, walk_files
from synthbio.io.databases.index import IndexContent, coerce_value, parse_group
from synthbio.io.databases.multipie import build_multipie

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
DEFAULT = "default"
ALL = "all"


def _images_under(folder: Path) -> list[Path]:
    """Images under `folder`, sorted; hidden entries and report / cache folders skipped (synthbio.io.derived)."""
    root = Path(folder)  # masks, depth maps and grids beside samples are not samples (synthbio.io.derived)
    return sorted(p for p in walk_files(root) if is_sample_image(p.relative_to(root).as_posix(), IMAGE_SUFFIXES))


def _require_dir(root: Path, what: str) -> None:
    if not root.is_dir():
        raise InputError(f"{what} root {os.fspath(root)!r} is not a folder")


def _no_metadata(kind: str, metadata: Path | None) -> None:
    if metadata is not None:
        raise InputError(f"the {kind} builder takes no metadata file (got {os.fspath(metadata)!r})")


def _key(rel: str) -> str:
    """A sample key from a relative path: the path without its suffix."""
    return rel.rsplit(".", 1)[0] if "." in Path(rel).name else rel


def _enroll_probe(content: IndexContent, by_identity: Mapping[str, list[str]], *, group: str = "eval") -> None:
    """First sample (in key order) of each identity with >= 2 samples enrolls; the rest probe."""
    for keys in by_identity.values():
        if len(keys) < 2:
            continue
        first, *rest = sorted(keys)
        content.add_member("enroll-probe", group, first, purpose="enroll")
        for k in rest:
            content.add_member("enroll-probe", group, k, purpose="probe")


# --- imagefolder ---------------------------------------------------------------------------


def build_imagefolder(root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """ROOT/<identity>/<image> (images directly under ROOT: each its own identity)."""
    root = Path(root)
    _require_dir(root, "image folder")
    _no_metadata("imagefolder", None if metadata is None else Path(metadata))
    content = IndexContent(kind="imagefolder", root=root)
    by_identity: dict[str, list[str]] = {}
    for f in _images_under(root):
        rel = f.relative_to(root).as_posix()
        parts = rel.split("/")
        identity = parts[0] if len(parts) > 1 else _key(rel)
        key = _key(rel)
        content.add_sample(key, rel, identity)
        content.add_member(DEFAULT, ALL, key)
        by_identity.setdefault(identity, []).append(key)
    if not content.num_samples:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {os.fspath(root)!r}")
    _enroll_probe(content, by_identity)
    return content


# --- generic CSV ---------------------------------------------------------------------------

_CSV_RESERVED = ("path", "filename", "identity", "protocol", "group")


def build_csv(root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """A CSV (metadata, default ROOT/metadata.csv) naming the images under ROOT; see the module doc."""
    root = Path(root)
    _require_dir(root, "CSV database")
    table = Path(metadata) if metadata is not None else root / "metadata.csv"
    name = os.fspath(table)
    try:
        with table.open(newline="") as f:
            rows = list(csv.DictReader(f))
            header = [h.strip() for h in (rows[0].keys() if rows else [])]
    except FileNotFoundError:
        raise InputError(f"CSV database: metadata file {name!r} does not exist (pass it with --metadata)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read CSV {name!r}: {exc}") from None
    if not rows:
        raise InputError(f"CSV {name!r} has no rows")
    path_col = "path" if "path" in header else "filename" if "filename" in header else None
    if path_col is None:
        raise InputError(f"CSV {name!r} needs a 'path' or 'filename' column (columns: {', '.join(header)})")
    content = IndexContent(kind="csv", root=root, options={"metadata": os.fspath(table.resolve())})
    by_identity: dict[str, list[str]] = {}
    for lineno, raw in enumerate(rows, 2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        rel = row[path_col]
        if not rel:
            raise InputError(f"CSV {name!r} line {lineno}: empty {path_col}")
        key = _key(rel)
        identity = row.get("identity") or key
        if not content.has_sample(key):
            attrs = {k: coerce_value(v) for k, v in row.items() if k not in _CSV_RESERVED and v != ""}
            content.add_sample(key, rel, identity, attrs)
            content.add_member(DEFAULT, ALL, key)
            by_identity.setdefault(identity, []).append(key)
        if row.get("protocol") or row.get("group"):
            if not (row.get("protocol") and row.get("group")):
                raise InputError(f"CSV {name!r} line {lineno}: give both protocol and group, or neither")
            group, purpose = parse_group(row["group"])
            assert group is not None
            content.add_member(row["protocol"], group, key, purpose=purpose or "")
    return content


# --- FFHQ ---------------------------------------------------------------------------------

_FFHQ_NAME = re.compile(r"^(\d{5})$")


def _flatten(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, (bool, int, float, str)):
        out[prefix] = obj


def _ffhq_features(path: Path) -> dict[str, Any]:
    """FFHQ-Features JSON (a list with one face, or a dict): faceAttributes flattened."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read FFHQ attributes {os.fspath(path)!r}: {exc}") from None
    if isinstance(data, list):
        if not data:
            return {}
        data = data[0]
    attrs: dict[str, Any] = {}
    if isinstance(data, dict):
        _flatten("", data.get("faceAttributes", {}), attrs)
    return attrs


def build_ffhq(root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """FFHQ images named <nnnnn>.<ext>; metadata: ffhq-dataset-v2.json or a folder of per-image JSON."""
    root = Path(root)
    _require_dir(root, "FFHQ")
    images: dict[int, Path] = {}
    for f in _images_under(root):
        m = _FFHQ_NAME.match(f.stem)
        if m:
            images.setdefault(int(m.group(1)), f)
    if not images:
        raise InputError(f"no FFHQ images (named 00000.png ...) under {os.fspath(root)!r}")
    meta_path = Path(metadata) if metadata is not None else None
    if meta_path is None and (root / "ffhq-dataset-v2.json").is_file():
        meta_path = root / "ffhq-dataset-v2.json"
    categories: dict[int, str] = {}
    per_image: dict[int, dict[str, Any]] = {}
    if meta_path is not None:
        if meta_path.is_dir():
            for f in sorted(meta_path.glob("*.json")):
                if _FFHQ_NAME.match(f.stem):
                    per_image[int(f.stem)] = _ffhq_features(f)
        elif meta_path.is_file():
            try:
                data = json.loads(meta_path.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read FFHQ metadata {os.fspath(meta_path)!r}: {exc}") from None
            if not isinstance(data, dict):
                raise InputError(f"{os.fspath(meta_path)!r} is not ffhq-dataset-v2.json (a JSON object by index)")
            for k, entry in data.items():
                if str(k).isdigit() and isinstance(entry, dict):
                    categories[int(k)] = str(entry.get("category", ""))
                    md = entry.get("metadata", {})
                    if isinstance(md, dict):
                        per_image.setdefault(int(k), {}).update(
                            {f"meta.{n}": v for n, v in md.items() if isinstance(v, (int, float, str))})
        else:
            raise InputError(f"FFHQ metadata {os.fspath(meta_path)!r} does not exist")
    content = IndexContent(kind="ffhq", root=root,
                           options={"metadata": None if meta_path is None else os.fspath(meta_path.resolve())})
    for idx, f in sorted(images.items()):
        key = f"{idx:05d}"
        attrs = dict(per_image.get(idx, {}))
        if idx in categories:
            attrs["category"] = categories[idx]
        content.add_sample(key, f.relative_to(root).as_posix(), key, attrs)
        content.add_member(DEFAULT, ALL, key)
        cat = categories.get(idx)
        if cat in ("training", "validation"):
            content.add_member(DEFAULT, "train" if cat == "training" else "dev", key)
    return content


# --- CK+ ----------------------------------------------------------------------------------


def build_ckplus(root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """CK+ onset (neutral) and peak frames with emotion and AU attributes (see the module doc)."""
    from synthbio.io.labels import load_ckplus

    root = Path(root)
    _no_metadata("ckplus", None if metadata is None else Path(metadata))
    sequences = load_ckplus(root)
    content = IndexContent(kind="ckplus", root=root)
    aus = sorted({au for s in sequences for au in s.facs})
    for seq in sequences:
        frames = {"onset": seq.frames[0], "peak": seq.peak} if len(seq.frames) > 1 else {"peak": seq.peak}
        for frame, f in frames.items():
            rel = f.relative_to(root).as_posix()
            attrs: dict[str, Any] = {"sequence": f"{seq.subject}/{seq.sequence}", "frame": frame}
            if frame == "onset":
                attrs["emotion"] = "neutral"  # CK+ sequences start from a neutral face
            elif seq.emotion is not None:
                attrs["emotion"] = seq.emotion_name
            if seq.facs:
                for au in aus:
                    attrs[f"AU{au}"] = int(frame == "peak" and au in seq.facs)
            key = _key(rel)
            content.add_sample(key, rel, seq.subject, attrs)
            content.add_member(DEFAULT, ALL, key)
            if frame == "peak":
                content.add_member("peak", ALL, key)
    return content


# --- LFW pairs ----------------------------------------------------------------------------


def _lfw_file(root: Path, name: str, number: str, *, where: str) -> str:
    try:
        n = int(number)
    except ValueError:
        raise InputError(f"{where}: image number {number!r} is not an integer") from None
    for sub in ("", "lfw/", "lfw_funneled/", "lfw-deepfunneled/"):
        for ext in (".jpg", ".png"):
            rel = f"{sub}{name}/{name}_{n:04d}{ext}"
            if (root / rel).is_file():
                return rel
    raise InputError(f"{where}: no image {name}/{name}_{n:04d}.jpg under {os.fspath(root)!r}")


def _read_pairs(path: Path, root: Path) -> list[tuple[str, str, bool, int]]:
    """LFW pairs -> (enroll rel, probe rel, genuine, fold index). Header: 'folds n' (View 2) or 'n' (View 1)."""
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise InputError(f"pairs file {os.fspath(path)!r} is empty")
    head = lines[0]
    if len(head) == 2 and all(h.isdigit() for h in head):
        folds, per = int(head[0]), int(head[1])
    elif len(head) == 1 and head[0].isdigit():
        folds, per = 1, int(head[0])
    else:
        raise InputError(f"{os.fspath(path)!r}: first line {' '.join(head)!r} is not 'folds pairs' or 'pairs'")
    body = lines[1:]
    if len(body) != folds * 2 * per:
        raise InputError(f"{os.fspath(path)!r}: header promises {folds} x 2 x {per} pairs, found {len(body)} lines")
    out = []
    for i, parts in enumerate(body):
        where = f"{os.fspath(path)!r} line {i + 2}"
        fold = i // (2 * per)
        if len(parts) == 3:
            a = _lfw_file(root, parts[0], parts[1], where=where)
            b = _lfw_file(root, parts[0], parts[2], where=where)
            out.append((a, b, True, fold))
        elif len(parts) == 4:
            a = _lfw_file(root, parts[0], parts[1], where=where)
            b = _lfw_file(root, parts[2], parts[3], where=where)
            out.append((a, b, False, fold))
        else:
            raise InputError(f"{where}: expected 'name n1 n2' or 'name1 n1 name2 n2', got {' '.join(parts)!r}")
    return out


def build_lfw(root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """LFW-style folders with pairs files (metadata: one pairs file; default: those found in ROOT)."""
    root = Path(root)
    _require_dir(root, "LFW")
    content = build_imagefolder(root)
    content.kind = "lfw"
    if metadata is not None:
        files = {"view2" if Path(metadata).name == "pairs.txt" else "pairs": Path(metadata)}
        if not files[next(iter(files))].is_file():
            raise InputError(f"pairs file {os.fspath(metadata)!r} does not exist")
    else:
        files = {name: root / fname for name, fname in (("view2", "pairs.txt"), ("view1-train", "pairsDevTrain.txt"),
                                                         ("view1-test", "pairsDevTest.txt")) if (root / fname).is_file()}
    if not files:
        raise InputError(f"no pairs file (pairs.txt, pairsDevTrain.txt, pairsDevTest.txt) in {os.fspath(root)!r}; "
                         "pass one with --metadata")
    content.options["pairs"] = {k: os.fspath(v.resolve()) for k, v in files.items()}
    for name, path in files.items():
        protocol, group_fixed = {"view1-train": ("view1", "train"), "view1-test": ("view1", "dev")}.get(name, (name, None))
        for a, b, genuine, fold in _read_pairs(path, root):
            group = group_fixed or f"fold{fold + 1:02d}"
            ka, kb = _key(a), _key(b)
            content.add_member(protocol, group, ka, purpose="enroll")
            content.add_member(protocol, group, kb, purpose="probe")
            content.add_pair(protocol, group, ka, kb, genuine=genuine)
    return content


# --- FVC fingerprints ---------------------------------------------------------------------

_FVC_NAME = re.compile(r"^(\d+)_(\d+)$")


def build_fvc(root: str | os.PathLike[str], *, metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """Fingerprints `<finger>_<impression>.<ext>` anywhere under ROOT (FVC naming)."""
    root = Path(root)
    _require_dir(root, "FVC")
    _no_metadata("fvc", None if metadata is None else Path(metadata))
    content = IndexContent(kind="fvc", root=root)
    fingers: dict[str, list[tuple[int, str]]] = {}
    for f in _images_under(root):
        m = _FVC_NAME.match(f.stem)
        if not m:
            continue
        rel = f.relative_to(root).as_posix()
        parent = f.parent.relative_to(root).as_posix()
        finger = m.group(1) if parent == "." else f"{parent}/{m.group(1)}"
        key = _key(rel)
        content.add_sample(key, rel, finger, {"finger": int(m.group(1)), "impression": int(m.group(2))})
        content.add_member(DEFAULT, ALL, key)
        fingers.setdefault(finger, []).append((int(m.group(2)), key))
    if not fingers:
        raise InputError(f"no fingerprints named <finger>_<impression> (e.g. 1_1.tif) under {os.fspath(root)!r}")
    firsts = []
    for finger in sorted(fingers):
        imps = [k for _, k in sorted(fingers[finger])]
        firsts.append(imps[0])
        for i in range(len(imps)):
            content.add_member("fvc", "eval", imps[i])
            for j in range(i + 1, len(imps)):
                content.add_pair("fvc", "eval", imps[i], imps[j], genuine=True)
    for i in range(len(firsts)):
        for j in range(i + 1, len(firsts)):
            content.add_pair("fvc", "eval", firsts[i], firsts[j], genuine=False)
    _enroll_probe(content, {f: [k for _, k in v] for f, v in fingers.items()})
    return content


# --- registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Builder:
    kind: str
    description: str
    build: Callable[..., IndexContent]
    metadata: str  # what --metadata means for this builder ('' = none)


BUILDERS: dict[str, Builder] = {b.kind: b for b in (
    Builder("imagefolder", "ROOT/<identity>/<image>; protocols default, enroll-probe", build_imagefolder, ""),
    Builder("csv", "images named in a CSV (path, identity, protocol, group, attribute columns)", build_csv,
            "the CSV (default ROOT/metadata.csv)"),
    Builder("ffhq", "FFHQ <nnnnn>.png; train/dev from ffhq-dataset-v2.json, attributes from per-image JSON",
            build_ffhq, "ffhq-dataset-v2.json or a folder of per-image attribute JSON"),
    Builder("multipie", "CMU Multi-PIE multiview; camera, shot, expression; protocols M U G E P P_center *_lit",
            build_multipie, ""),
    Builder("ckplus", "CK+ onset and peak frames with emotion and AU attributes", build_ckplus, ""),
    Builder("lfw", "LFW-style ROOT/<name>/<name>_<nnnn>.jpg with pairs files (view1, view2 folds)", build_lfw,
            "a pairs file (default: pairs.txt, pairsDevTrain.txt, pairsDevTest.txt in ROOT)"),
    Builder("fvc", "fingerprints <finger>_<impression>.<ext>; FVC genuine / impostor pairs", build_fvc, ""),
)}


def build_database(kind: str, root: str | os.PathLike[str], *,
                   metadata: str | os.PathLike[str] | None = None) -> IndexContent:
    """Run the builder `kind` over `root` (InputError naming the known kinds when unknown)."""
    builder = BUILDERS.get(kind)
    if builder is None:
        raise InputError(f"unknown database kind {kind!r}; kinds: {', '.join(BUILDERS)}")
    return builder.build(root, metadata=metadata)
