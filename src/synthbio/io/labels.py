"""Labelled face sets: the CK+ (Extended Cohn-Kanade) layout and a generic CSV of labels.

CK+ layout (Lucey et al., CVPR-W 2010), as distributed:

    cohn-kanade-images/S005/001/S005_001_00000001.png ... one frame per file,
                                                          the last is the peak
    FACS/S005/001/S005_001_00000011_facs.txt              rows "AU intensity" (floats)
    Emotion/S005/001/S005_001_00000011_emotion.txt        one float 0-7 (only
                                                          for some sequences)
    Landmarks/S005/001/S005_001_00000011_landmarks.txt    68 rows "x y" per frame

Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy,
6 sadness, 7 surprise. An AU intensity of 0 means "present, intensity not
coded", so presence is read from the listing, not from the intensity.

Generic CSV: a header row with a filename column and one column per label;
values are numbers (empty = missing, stored as NaN).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthbio.errors import InputError

CKPLUS_EMOTIONS = ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class CKPlusSequence:
    """One CK+ sequence: frames in order (the last is the peak) and the labels of the peak frame.

    facs: {AU number: intensity} (empty when the sequence has no FACS file).
    emotion: 0-7 or None (most sequences carry no emotion label).
    landmarks: peak-frame landmarks [68, 2] (x, y) float32, or None.
    """

    subject: str
    sequence: str
    frames: tuple[Path, ...]
    facs: dict[int, float] = field(default_factory=dict)
    emotion: int | None = None
    landmarks: np.ndarray | None = None

    @property
    def peak(self) -> Path:
        return self.frames[-1]

    @property
    def emotion_name(self) -> str | None:
        return None if self.emotion is None else CKPLUS_EMOTIONS[self.emotion]


def _float_rows(path: Path, *, columns: int) -> np.ndarray:
    """Whitespace-separated float rows with exactly `columns` values each -> [R, columns] float64."""
    rows = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {os.fspath(path)!r}: {exc}") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"{os.fspath(path)!r} line {lineno}: {line.strip()[:60]!r} is not numbers") from None
        if not all(math.isfinite(v) for v in values):
            raise InputError(f"{os.fspath(path)!r} line {lineno}: {line.strip()[:60]!r} holds a non-finite number")
        if len(values) != columns:
            raise InputError(f"{os.fspath(path)!r} line {lineno}: expected {columns} numbers, got {len(values)}")
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, columns)


def read_facs(path: str | os.PathLike[str]) -> dict[int, float]:
    """A CK+ `*_facs.txt` -> {AU: intensity}."""
    rows = _float_rows(Path(path), columns=2)
    out: dict[int, float] = {}
    for au, intensity in rows:
        if au != int(au) or au < 1:
            raise InputError(f"{os.fspath(path)!r}: action unit {au} is not a positive integer")
        out[int(au)] = float(intensity)
    return out


def read_emotion(path: str | os.PathLike[str]) -> int:
    """A CK+ `*_emotion.txt` (one float) -> emotion code 0-7."""
    rows = _float_rows(Path(path), columns=1)
    if rows.shape[0] != 1:
        raise InputError(f"{os.fspath(path)!r}: expected one emotion value, got {rows.shape[0]}")
    value = float(rows[0, 0])
    if value != int(value) or not 0 <= value <= 7:
        raise InputError(f"{os.fspath(path)!r}: emotion {value} is not an integer code 0-7")
    return int(value)


def read_landmarks(path: str | os.PathLike[str], *, num_points: int = 68) -> np.ndarray:
    """A CK+ `*_landmarks.txt` -> [num_points, 2] float32 (x, y in pixels)."""
    rows = _float_rows(Path(path), columns=2)
    if rows.shape[0] != num_points:
        raise InputError(f"{os.fspath(path)!r}: expected {num_points} landmark rows, got {rows.shape[0]}")
    return rows.astype(np.float32)


def _one_file(folder: Path, suffix: str) -> Path | None:
    """The single `*<suffix>` file in `folder` (None if the folder or the file is absent)."""
    if not folder.is_dir():
        return None
    found = sorted(folder.glob(f"*{suffix}"))
    if len(found) > 1:
        raise InputError(f"{os.fspath(folder)!r} holds {len(found)} '*{suffix}' files; CK+ has one per sequence")
    return found[0] if found else None


def load_ckplus(root: str | os.PathLike[str], *, images_dir: str = "cohn-kanade-images") -> list[CKPlusSequence]:
    """Every sequence under a CK+ root, sorted by subject and sequence.

    Label files are optional per sequence (only part of CK+ is labelled);
    malformed ones raise InputError naming the file.
    """
    root = Path(root)
    img_root = root / images_dir
    if not img_root.is_dir():
        raise InputError(f"{os.fspath(root)!r} is not a CK+ root: no {images_dir}/ folder")
    out = []
    for subj in sorted(p for p in img_root.iterdir() if p.is_dir()):
        for seq in sorted(p for p in subj.iterdir() if p.is_dir()):
            frames = tuple(sorted(p for p in seq.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES))
            if not frames:
                continue
            rel = Path(subj.name) / seq.name
            facs_file = _one_file(root / "FACS" / rel, "_facs.txt")
            emo_file = _one_file(root / "Emotion" / rel, "_emotion.txt")
            lm_file = root / "Landmarks" / rel / f"{frames[-1].stem}_landmarks.txt"
            out.append(CKPlusSequence(
                subject=subj.name, sequence=seq.name, frames=frames,
                facs=read_facs(facs_file) if facs_file else {},
                emotion=read_emotion(emo_file) if emo_file else None,
                landmarks=read_landmarks(lm_file) if lm_file.is_file() else None))
    if not out:
        raise InputError(f"no image sequences found under {os.fspath(img_root)!r}")
    return out


def ckplus_au_matrix(sequences: Sequence[CKPlusSequence], *, aus: Sequence[int] | None = None
                     ) -> tuple[list[int], np.ndarray]:
    """Multi-label AU presence of the FACS-coded sequences: (AUs, [N, len(AUs)] float32 in {0, 1}).

    aus: which action units (None = every AU that occurs). Sequences without
    FACS coding are skipped by the caller: filter on `seq.facs` first.
    """
    chosen = sorted({au for s in sequences for au in s.facs}) if aus is None else list(aus)
    m = np.zeros([len(sequences), len(chosen)], dtype=np.float32)
    for i, s in enumerate(sequences):
        for j, au in enumerate(chosen):
            m[i, j] = float(au in s.facs)
    return chosen, m


@dataclass(frozen=True)
class LabelTable:
    """Labels from a CSV: keys [N] (file names), label names [K], values [N, K] float64 (NaN = missing)."""

    keys: list[str]
    names: list[str]
    values: np.ndarray

    def column(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise InputError(f"no label column {name!r}; columns are {', '.join(self.names)}")
        return self.values[:, self.names.index(name)]


def read_label_csv(path: str | os.PathLike[str], *, key_column: str = "filename",
                   columns: Sequence[str] | None = None) -> LabelTable:
    """A CSV with a header: `key_column` plus numeric label columns (all others, or `columns`)."""
    p = Path(path)
    name = os.fspath(p)
    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:  # csv.Error: a field past 131072 characters, a NUL
        raise InputError(f"cannot read labels CSV {name!r}: {exc}") from None
    if not rows or not rows[0]:
        raise InputError(f"labels CSV {name!r} is empty")
    header = [h.strip() for h in rows[0]]
    if key_column not in header:
        raise InputError(f"labels CSV {name!r} has no {key_column!r} column (columns: {', '.join(header)})")
    ki = header.index(key_column)
    names = [h for h in header if h != key_column] if columns is None else list(columns)
    missing = [c for c in names if c not in header]
    if missing or not names:
        raise InputError(f"labels CSV {name!r}: label columns {missing or '(none)'} not in header {header}")
    idx = [header.index(c) for c in names]
    keys, values = [], []
    for lineno, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(f"labels CSV {name!r} line {lineno}: {len(row)} fields, header has {len(header)}")
        vals = []
        for j in idx:
            cell = row[j].strip()
            try:
                vals.append(float(cell) if cell else float("nan"))
            except ValueError:
                raise InputError(f"labels CSV {name!r} line {lineno}: {header[j]}={cell!r} is not a number") from None
        keys.append(row[ki].strip())
        values.append(vals)
    if len(set(keys)) != len(keys):
        raise InputError(f"labels CSV {name!r} names some {key_column} more than once")
    return LabelTable(keys=keys, names=names, values=np.asarray(values, dtype=np.float64).reshape(-1, len(names)))
