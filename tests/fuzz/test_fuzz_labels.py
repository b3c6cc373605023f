"""Fuzzing label files: the labels CSV and CK+ text files (io/labels.py), training's dataset labels (CSV, JSON).

Each file either reads into arrays of the promised shape or is refused with an
InputError naming it; no csv.Error, OverflowError or one-hot matrix of gigabytes.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import strategies as st

from fuzzing import JSON_VALUES, NUMBER_TEXT, fuzz, scratch_dir
from synthbio.errors import InputError
from synthbio.io.labels import read_emotion, read_facs, read_label_csv, read_landmarks
from synthbio.training.data import _label_matrix, _read_label_entries

_WORK = scratch_dir("synthbio-fuzz-labels-")
LABELS = _WORK / "labels.csv"

_CELL = st.one_of(NUMBER_TEXT, st.sampled_from(["filename", "img.png", "a.png", '"q,uoted"', '"', "\x00", "\r", "x" * 200]),
                  st.text(max_size=6))
_ROWS = st.lists(st.lists(_CELL, min_size=0, max_size=5).map(",".join), max_size=8)
CSV_TEXT = st.one_of(
    _ROWS.map(lambda rows: "\n".join(["filename,smile,age", *rows])),
    _ROWS.map("\n".join),
    st.sampled_from([10, 131_073]).map(lambda n: "filename,x\na.png," + "9" * n),  # past the csv field limit
    st.text(max_size=40),
)


def _read_csv(text: str) -> None:
    LABELS.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        table = read_label_csv(LABELS)
    except InputError as exc:
        assert str(LABELS) in str(exc)
        return
    assert table.values.shape == (len(table.keys), len(table.names))


@fuzz("label files", CSV_TEXT, examples=200, mutations=2500)
def test_fuzz_label_csv(text: str) -> None:
    _read_csv(text)


CK_TEXT = st.lists(st.lists(NUMBER_TEXT, max_size=3).map(" ".join), max_size=70).map("\n".join)


@fuzz("label files", CK_TEXT, examples=150, mutations=2000)
def test_fuzz_ckplus_files(text: str) -> None:
    LABELS.write_text(text, encoding="utf-8", errors="surrogatepass")
    for read in (read_facs, read_emotion, read_landmarks):
        try:
            value = read(LABELS)
        except InputError as exc:
            assert str(LABELS) in str(exc)
            continue
        if read is read_emotion:
            assert value in range(8)
        elif read is read_landmarks:
            assert value.shape == (68, 2)


TRAINING_LABELS = st.one_of(
    st.tuples(CSV_TEXT, st.just(False)),
    st.tuples(st.builds(lambda entries: json.dumps({"labels": entries}, allow_nan=True),
                        st.lists(st.lists(st.one_of(st.text(max_size=4), JSON_VALUES), max_size=3), max_size=5)),
              st.just(True)),
    st.tuples(st.builds(lambda labels: json.dumps({"labels": [[f"{i}.png", c] for i, c in enumerate(labels)]}),
                        st.lists(st.one_of(st.integers(-5, 10**12), st.lists(st.floats(), max_size=3)), max_size=5)),
              st.just(True)),
)


@fuzz("label files", TRAINING_LABELS, examples=200, mutations=2500)
def test_fuzz_training_labels(case: tuple[str, bool]) -> None:
    text, is_json = case
    try:
        entries = _read_label_entries(text, is_json=is_json, where="fuzzed-labels")
        matrix = _label_matrix([v for _, v in entries], where="fuzzed-labels")
    except InputError as exc:
        assert "fuzzed-labels" in str(exc)
        return
    assert matrix.dtype == np.float32 and matrix.shape[0] == len(entries)
