"""What `synthbio fingerprints attack` works on: its config, the attacked fingers, real templates, score records.

Shared by the job (`synthbio.pipelines.fingerprints.attack`) and its report
(`synthbio.pipelines.fingerprints.attack_report`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthbio.errors import InputError
from synthbio.fingerprints.matching import extract_minutiae
from synthbio.fingerprints.minutiae import read_json, template_from_dict, template_to_dict
from synthbio.fingerprints.reconstruction import check_method
from synthbio.fingerprints.types import MinutiaeTemplate
from synthbio.io.derived import sibling_folder
from synthbio.io.images import read_png
from synthbio.pipelines.fingerprints.generate import DatasetImpression
from synthbio.utils.hashing import atomic_write_bytes
from synthbio.utils.jsonio import read_json_file

CACHE_VERSION = 3
TEMPLATE_SOURCES = ("groundtruth", "mindtct")
IMPOSTOR_PROTOCOLS = ("fvc", "all")
BASELINES = ("attacked", "all")
TARGET_FMRS = (0.001, 0.0001)

@dataclass(frozen=True)
class FingerprintAttackConfig:
    """dataset: a `synthbio fingerprints generate` directory. outdir: None = `<DATASET>_attack`, beside it.
    method: 'gabor' (ridges grown from the minutiae) or 'encoder' (GAN).
    encoder / model: for 'encoder', the minutiae encoder and its generator (None
        = the one the encoder's config.json names).
    fingers: attacked finger ids as "900-999", "0-9,20" or "900-" (inclusive; the
        earlier half-open "a:b" is still read), or None = every finger.
    exclude_training: an encoder (path or name) whose config.json records the
        fingers it trained on; those fingers are not attacked.
    template_source: "groundtruth" (the dataset's JSON) or "mindtct" (extracted
        from the real impression).
    impostors: "fvc" (first impressions, f < g) or "all" (every impression pair of f < g).
    baseline: fingers of the real genuine/impostor scores: "attacked" or "all" (the dataset).
    workers: processes for Bozorth3 (1 = in this process).
    examples: example triples in the report. batch_size: templates per pass."""

    dataset: str
    method: str = "gabor"
    encoder: str = "fingerprint-minutiae-encoder"
    model: str | None = None
    outdir: str | None = None
    fingers: str | None = None
    exclude_training: str | None = None
    template_source: str = "groundtruth"
    impostors: str = "fvc"
    baseline: str = "attacked"
    device: str = "auto"
    batch_size: int = 16
    examples: int = 6
    workers: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", os.fspath(self.dataset))
        check_method(self.method)
        if self.template_source not in TEMPLATE_SOURCES:
            raise InputError(f"--template-source {self.template_source!r}: use one of {', '.join(TEMPLATE_SOURCES)}")
        if self.impostors not in IMPOSTOR_PROTOCOLS:
            raise InputError(f"--impostors {self.impostors!r}: use one of {', '.join(IMPOSTOR_PROTOCOLS)}")
        if self.baseline not in BASELINES:
            raise InputError(f"--baseline {self.baseline!r}: use one of {', '.join(BASELINES)}")
        if self.batch_size < 1 or self.workers < 1:
            raise InputError(f"--batch-size and --workers must be >= 1, got {self.batch_size}, {self.workers}")
        if self.examples < 0:
            raise InputError(f"--examples must be >= 0, got {self.examples}")
        if self.fingers is not None:
            finger_selector(self.fingers)

    @property
    def out_dir(self) -> Path:
        return Path(self.outdir) if self.outdir else sibling_folder(self.dataset, "attack")


# --- finger selection ---------------------------------------------------------------------


def parse_finger_range(spec: str) -> tuple[int | None, int | None]:
    """The earlier spelling 'a:b' -> (a, b) with a <= finger < b; either side may be empty (open)."""
    text = spec.strip()
    if ":" not in text:
        raise InputError(f"finger range {spec!r}: expected 'a:b' (fingers a <= f < b), e.g. 900:1000")
    lo, hi = (t.strip() for t in text.split(":", 1))
    try:
        a = int(lo) if lo else None
        b = int(hi) if hi else None
    except ValueError:
        raise InputError(f"finger range {spec!r}: bounds must be integers") from None
    if (a is not None and a < 0) or (a is not None and b is not None and b <= a):
        raise InputError(f"finger range {spec!r} is empty or negative")
    return a, b


def finger_selector(spec: str) -> Callable[[int], bool]:
    """--fingers as a test of a finger id.

    '900-999', '0-9,20' (inclusive ranges and ids, as --seeds), '900-' (900 to
    the last); the earlier half-open 'a:b' is still read.
    """
    text = spec.strip()
    if ":" in text:
        a, b = parse_finger_range(text)
        return lambda f: (a is None or f >= a) and (b is None or f < b)
    items: list[tuple[int, int | None]] = []
    for item in (t.strip() for t in text.split(",")):
        lo, dash, hi = item.partition("-")
        try:
            a = int(lo)
            b = (int(hi) if hi else None) if dash else a
        except ValueError:
            raise InputError(f"--fingers {spec!r}: {item!r} is not an id or a range like 900-999 (or 900-)") from None
        if a < 0 or (b is not None and b < a):
            raise InputError(f"--fingers {spec!r}: {item!r} is empty or negative")
        items.append((a, b))
    if not items:
        raise InputError(f"--fingers {spec!r}: give ids like 900-999 or 0-9,20")
    return lambda f: any(a <= f and (b is None or f <= b) for a, b in items)


def _as_finger_set(value: Any, source: str) -> set[int]:
    if isinstance(value, str):
        a, b = parse_finger_range(value)
        if b is None:
            raise InputError(f"{source}: open finger range {value!r} cannot be listed")
        return set(range(a or 0, b))
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return set(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v.isdigit() for v in value):
        return {int(v) for v in value}  # finger folder names, as `train-encoder` records them ("00007")
    if isinstance(value, dict) and "start" in value and "stop" in value:
        return set(range(int(value["start"]), int(value["stop"])))
    raise InputError(f"{source}: a finger split must be a list of ids or an 'a:b' range, got {value!r}")


# Keys an encoder's config.json may use for its data split, looked up at the top level and
# under "split", "data", "training" and "provenance" (and their "split"). `synthbio train-encoder`
# records provenance.split = {"train": [finger folders], "holdout": [finger folders]}.
_HOLDOUT_KEYS = ("holdout_fingers", "test_fingers", "heldout_fingers")
_TRAIN_KEYS = ("train_fingers", "training_fingers")


def _scopes(config: dict[str, Any]) -> list[dict[str, Any]]:
    out = [config]
    for key in ("split", "data", "training", "provenance"):
        if isinstance(config.get(key), dict):
            out.append(config[key])
            if isinstance(config[key].get("split"), dict):
                out.append(config[key]["split"])
    return out


def training_split(encoder_config: dict[str, Any], *, source: str) -> tuple[str, set[int]]:
    """('train' | 'holdout', finger ids) as recorded in an encoder's config.json.

    The training fingers win when both are recorded: `--exclude-training`
    leaves out exactly what the encoder saw, whatever else the dataset holds.
    """
    for scope in _scopes(encoder_config):
        for key in _TRAIN_KEYS + ("train",):
            if isinstance(scope.get(key), (list, tuple, str, dict)):
                return "train", _as_finger_set(scope[key], f"{source} {key}")
        for key in _HOLDOUT_KEYS + ("holdout",):
            if isinstance(scope.get(key), (list, tuple, str, dict)):
                return "holdout", _as_finger_set(scope[key], f"{source} {key}")
    raise InputError(f"encoder {source}: its config.json records no finger split (one of "
                     f"{', '.join(_HOLDOUT_KEYS + _TRAIN_KEYS)}); give the attacked fingers with --fingers a-b")


def select_fingers(all_fingers: list[int], *, fingers: str | None, split: tuple[str, set[int]] | None) -> list[int]:
    """Attacked fingers: within the range, and in the holdout (not in the training) split."""
    chosen = list(all_fingers)
    if fingers is not None:
        keep = finger_selector(fingers)
        chosen = [f for f in chosen if keep(f)]
    if split is not None:
        kind, ids = split
        chosen = [f for f in chosen if (f in ids) == (kind == "holdout")]
    if not chosen:
        raise InputError(f"no finger of the dataset ({len(all_fingers)} fingers, ids {all_fingers[0]}-"
                         f"{all_fingers[-1]}) is left to attack after --fingers / --exclude-training")
    return chosen


# --- caches -------------------------------------------------------------------------------


def read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = read_json_file(path)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None


def write_cache(path: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps({"version": CACHE_VERSION, **record}) + "\n").encode())


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class RealTemplates:
    """MINDTCT templates of real impressions, cached per finger under cache/real/."""

    def __init__(self, cache_dir: Path, index: Any) -> None:
        self.dir = cache_dir / "real"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index = index
        self._mem: dict[int, dict[int, MinutiaeTemplate]] = {}

    def finger(self, f: int) -> dict[int, MinutiaeTemplate]:
        if f in self._mem:
            return self._mem[f]
        imps: list[DatasetImpression] = self.index.impressions[f]
        key = [imp.sha256.get("png") for imp in imps]
        path = self.dir / f"{f:05d}.json"
        cached = read_cache(path)
        if cached is not None and cached.get("png_sha256") == key:
            out = {int(k): template_from_dict(v) for k, v in cached["templates"].items()}
        else:
            out = {}
            for imp in imps:
                image = read_png(imp.files["png"])
                if image.ndim != 2:
                    raise InputError(f"{imp.files['png']}: expected a grayscale fingerprint image")
                dpi = read_json(imp.files["json"]).dpi if "json" in imp.files else 500
                out[imp.index] = extract_minutiae(image, method="mindtct", dpi=dpi)
            write_cache(path, {"png_sha256": key, "templates": {str(k): template_to_dict(t) for k, t in out.items()}})
        self._mem[f] = out
        return out


# --- templates and scores -----------------------------------------------------------------


def source_template(config: FingerprintAttackConfig, imp: DatasetImpression,
                     real: dict[int, MinutiaeTemplate]) -> MinutiaeTemplate:
    if config.template_source == "mindtct":
        return real[imp.index]
    if "json" not in imp.files:
        raise InputError(f"finger {imp.finger} impression {imp.index} has no ground-truth .json template")
    return read_json(imp.files["json"])


def attack_scores(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """{'type1': [...], 'type2': [...]} Bozorth3 scores over the attacked fingers."""
    return {k: np.asarray([s for r in records for _, _, s in r[k]], dtype=np.float64) for k in ("type1", "type2")}
