"""Fuzzing the mask files a person hands back: annotation PNG / .npy and classes.json.

An annotation gives class indices [H, W] uint8 (each a class or 255 = not
annotated) or an InputError naming the file; classes.json gives 2..255
distinct classes or an InputError naming it. Inputs: annotations synthbio
writes (palette PNG), index, 16-bit, colour, RGBA and LA PNGs, .npy arrays of
any integer type, PNG headers declaring any size, with byte edits; class lists
with hostile names, colours and JSON.
"""

from __future__ import annotations

import io
import json

import numpy as np
import PIL.Image
from fuzzing import JSON_VALUES, fuzz, mutated, scratch_dir
from hypothesis import strategies as st
from test_fuzz_images import PNG_HEADERS

from synthbio.errors import InputError
from synthbio.segmentation.annotations import encode_annotation_png, read_annotation
from synthbio.segmentation.classes import (
    EYE_CLASSES,
    IGNORE_INDEX,
    MAX_CLASSES,
    read_classes,
)

_WORK = scratch_dir("synthbio-fuzz-masks-")
H, W = 6, 8
_INT_DTYPES = ["|u1", "<u2", "<i4", "<i8", ">i8", "<u8", "|b1", "<f4"]


@st.composite
def annotation_pngs(draw: st.DrawFn) -> bytes:
    h, w = draw(st.sampled_from([(H, W), (H, W), (W, H), (1, 1)]))
    labels = np.asarray(draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 9, 255]), min_size=h * w, max_size=h * w)),
                        dtype=np.uint8).reshape(h, w)
    kind = draw(st.sampled_from(["palette", "L", "I;16", "RGB", "RGBA", "LA", "1"]))
    if kind == "palette":
        return draw(mutated(encode_annotation_png(np.where(labels < 4, labels, 255), EYE_CLASSES), max_edits=3))
    if kind == "I;16":
        img = PIL.Image.fromarray(labels.astype(np.uint16) * draw(st.sampled_from([1, 257])))
    elif kind in ("RGB", "RGBA"):
        lut = np.array([c.color for c in EYE_CLASSES] + [[1, 2, 3]] * 252, dtype=np.uint8)
        img = PIL.Image.fromarray(lut[labels]).convert(kind)
    else:
        img = PIL.Image.fromarray(labels).convert(kind)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return draw(mutated(buf.getvalue(), max_edits=3))


@st.composite
def annotation_npys(draw: st.DrawFn) -> bytes:
    shape = draw(st.sampled_from([(H, W), (H, W, 1), (W, H), (H,), (), (0, 0), (H, W, 2)]))
    dtype = np.dtype(draw(st.sampled_from(_INT_DTYPES)))
    values = draw(st.sampled_from([0, 3, 4, 255, 256, -1, 2**40]))
    arr = np.full(shape, values).astype(dtype) if dtype.kind != "u" or values >= 0 else np.zeros(shape, dtype)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return draw(mutated(buf.getvalue(), max_edits=3))


ANNOTATIONS = st.one_of(st.tuples(st.one_of(annotation_pngs(), PNG_HEADERS, st.binary(max_size=32)), st.just(".png")),
                        st.tuples(st.one_of(annotation_npys(), st.binary(max_size=32)), st.just(".npy")))


@fuzz("mask annotations", ANNOTATIONS, examples=150, mutations=1500)
def test_fuzz_annotations(case: tuple[bytes, str]) -> None:
    data, suffix = case
    path = _WORK / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        labels = read_annotation(path, EYE_CLASSES, height=H, width=W, tolerance=2)
    except InputError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert labels.shape == (H, W) and labels.dtype == np.uint8
    assert set(np.unique(labels).tolist()) <= {*range(len(EYE_CLASSES)), IGNORE_INDEX}


_NAMES = st.one_of(st.text(max_size=6), st.sampled_from(["skin", "iris", " ", ""]), st.integers(), st.none())
_COLOURS = st.one_of(st.lists(st.one_of(st.integers(-2, 300), st.booleans(), st.floats()), max_size=4),
                     st.sampled_from(["#000000", "#ffffff", "#zz0000", "000", "#12345"]), JSON_VALUES)
_CLASS = st.one_of(_NAMES, st.fixed_dictionaries({"name": _NAMES}, optional={"color": _COLOURS}))
CLASS_LISTS = st.one_of(
    st.lists(_CLASS, max_size=6).map(json.dumps),
    st.lists(st.text(min_size=1, max_size=3), min_size=250, max_size=260, unique=True).map(json.dumps),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 5_000)),  # past the JSON reader's nesting limit
    JSON_VALUES.map(lambda v: json.dumps({"classes": v})),
).map(str.encode).flatmap(lambda b: mutated(b, max_edits=2))


@fuzz("classes json", CLASS_LISTS, examples=150, mutations=1500)
def test_fuzz_classes_json(data: bytes) -> None:
    path = _WORK / "classes.json"
    path.write_bytes(data)
    try:
        classes = read_classes(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    assert 2 <= len(classes) <= MAX_CLASSES
    assert len({c.name for c in classes}) == len(classes) and len({c.color for c in classes}) == len(classes)
    assert all(isinstance(v, int) and 0 <= v <= 255 for c in classes for v in c.color)
