"""NumPy `.npy` / `.npz` files a user hands over (latents, targets, statistics), read safely.

No pickled objects (`allow_pickle=False`), and each array's header is read
first: an array declaring more bytes than its file holds (a forged 10^12
element shape) is refused before anything is allocated. Every failure is one
InputError naming the file, without numpy's advice to allow pickles.
"""

from __future__ import annotations

import os
import tokenize
import warnings
import zipfile
import zlib
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from synthbio.errors import InputError, library_message

# What numpy raises for damaged .npy/.npz data besides OSError.
_ARRAY_ERRORS = (OSError, ValueError, EOFError, KeyError, TypeError, OverflowError, MemoryError, zipfile.BadZipFile,
                 UnicodeDecodeError, SyntaxError, AttributeError, RuntimeError, NotImplementedError, zlib.error,
                 tokenize.TokenError)  # numpy parses old-style headers with the tokenize module


def _check_header(f: IO[bytes], size: int, name: str) -> None:
    """Refuse an array whose header declares more data than `size` bytes (or object arrays)."""
    version = npy_format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = npy_format.read_array_header_1_0(f)
    else:
        shape, _, dtype = npy_format.read_array_header_2_0(f) if version == (2, 0) else \
            npy_format._read_array_header(f, version)  # numpy's reader for format 3.0 (private)
    if dtype.hasobject:
        raise ValueError("it holds Python objects (an object array), which synthbio never loads")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared > size:
        raise ValueError(f"its header declares {tuple(shape)} {dtype} ({declared} bytes), the file holds {size}")


def read_npy(path: str | os.PathLike[str], *, what: str = "array") -> np.ndarray:
    """The array in a `.npy` file; InputError naming the file for anything that is not a plain array."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note on Python 2 headers is not the user's to read
            _check_header(f, os.fstat(f.fileno()).st_size, name)
            return np.load(name, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{what} {name!r}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{what} {name!r} is a folder, not a .npy file") from None
    except _ARRAY_ERRORS as exc:
        raise InputError(f"cannot read {what} {name!r}: {library_message(exc)}") from None


def read_npz(path: str | os.PathLike[str], *, what: str = "arrays") -> dict[str, np.ndarray]:
    """Every array of a `.npz` file, by name; InputError naming the file for anything else."""
    name = os.fspath(path)
    try:
        with zipfile.ZipFile(name) as archive, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's note on Python 2 headers is not the user's to read
            for info in archive.infolist():
                with archive.open(info) as member:
                    _check_header(member, info.file_size, name)
            with np.load(name, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise InputError(f"{what} {name!r}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{what} {name!r} is a folder, not a .npz file") from None
    except _ARRAY_ERRORS as exc:
        raise InputError(f"cannot read {what} {name!r}: {library_message(exc)}") from None
