"""Fuzzing the .npy / .npz reader (project targets, edit latents, FID statistics).

Each file gives plain (non-object) arrays no larger than the file, or an
InputError naming it: no pickles, no allocation from a forged shape.
"""

from __future__ import annotations

import io

import numpy as np
from hypothesis import strategies as st

from fuzzing import fuzz, mutated, scratch_dir
from synthbio.errors import InputError
from synthbio.io.arrays import read_npy, read_npz

_WORK = scratch_dir("synthbio-fuzz-arrays-")
_DTYPES = ["<f4", ">f8", "<i8", "|u1", "|b1", "<c8", "<U3", "|S2", "<m8[s]"]


@st.composite
def npy_bytes(draw: st.DrawFn) -> bytes:
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    buf = io.BytesIO()
    if draw(st.integers(0, 5)) == 0:
        np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    else:
        dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
        np.save(buf, np.zeros(shape, dtype=dtype), allow_pickle=False)
    data = buf.getvalue()
    if draw(st.booleans()):  # a forged header: the shape field rewritten
        fake = repr(tuple(draw(st.lists(st.integers(0, 2**40), min_size=1, max_size=3)))).encode()
        start = data.find(b"'shape': ") + 9
        end = data.find(b")", start) + 1
        if start > 8 and end > start:
            data = data[:start] + fake + data[end:]
    return draw(mutated(data, max_edits=2))


@st.composite
def npz_bytes(draw: st.DrawFn) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as z:
        for name in draw(st.lists(st.sampled_from(["ws", "w", "mean", "x"]), max_size=3, unique=True)):
            z.writestr(f"{name}.npy", draw(npy_bytes()))
    return draw(mutated(buf.getvalue(), max_edits=2))


ARRAY_FILES = st.tuples(st.one_of(npy_bytes(), npz_bytes(), st.binary(max_size=40)), st.sampled_from([".npy", ".npz"]))


@fuzz("numpy arrays", ARRAY_FILES, examples=150, mutations=2000)
def test_fuzz_numpy_files(case: tuple[bytes, str]) -> None:
    data, suffix = case
    path = _WORK / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        arrays = [read_npy(path)] if suffix == ".npy" else list(read_npz(path).values())
    except InputError as exc:
        assert str(path) in str(exc)
        return
    for a in arrays:
        assert isinstance(a, np.ndarray) and not a.dtype.hasobject and a.nbytes <= max(len(data), 1) * 64
