"""File integrity: sha256 of files, bytes and model weights; atomic writes.

An atomic write puts the bytes in a temporary file in the destination folder,
fsyncs it and renames it over the destination (`os.replace`), so a reader, or a
run killed half-way, sees either the old file or the complete new one.

Every writer here is where an output place says no: a full disk, a folder
without write permission, a read-only file system, a file where a folder
should be. The temporary file is removed, the old file stays as it was, and
the refusal becomes one `OutputError` naming the destination ("no space left
on OUT/samples.h5"), whatever library did the writing (torch, safetensors and
HDF5 report the errno in their own ways).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch

from synthbio.errors import output_error

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename in `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_FILE_MODE: int | None = None


def _file_mode() -> int:
    """Mode of a normal new file under the process umask (0o644 for umask 022)."""
    global _FILE_MODE
    if _FILE_MODE is None:
        umask = os.umask(0)
        os.umask(umask)
        _FILE_MODE = 0o666 & ~umask
    return _FILE_MODE


def temp_path_for(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> Path:
    """A fresh temporary file beside `path` (same folder, so rename is atomic).

    mkstemp makes the file private (0600); it gets the mode an ordinary new
    file would have, so renamed results stay readable by others.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise_output_error(exc, path)
    try:
        os.fchmod(fd, _file_mode())
    except (AttributeError, OSError):  # platforms without fchmod keep the private mode
        pass
    os.close(fd)
    return Path(tmp)


def discard_temp(tmp: str | os.PathLike[str]) -> None:
    """Remove a temporary file after a failed write (quietly: the failure itself is what gets reported)."""
    try:
        Path(tmp).unlink(missing_ok=True)
    except OSError:
        pass


def raise_output_error(exc: BaseException, path: str | os.PathLike[str]) -> NoReturn:
    """Re-raise `exc` as an OutputError naming `path` when the OS refused the write; else as it is."""
    err = output_error(exc, path) if isinstance(exc, Exception) else exc
    if err is exc:
        raise exc
    raise err from exc


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call write(tmp) on a temporary file beside `path`, fsync it and rename it over `path`.

    On any failure the temporary file is removed and `path` keeps its old content;
    a refusal of the file system (full disk, permissions, ...) is an OutputError naming `path`.
    """
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # Writers that replace the file themselves (safetensors does) bring back a private
        # mode; set the ordinary one again just before the rename.
        _set_mode(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        discard_temp(tmp)
        raise_output_error(exc, path)
    fsync_dir(path.parent)


def _set_mode(path: str | os.PathLike[str]) -> None:
    try:
        os.chmod(path, _file_mode())
    except OSError:  # a file system without modes keeps what it has
        pass


def commit_temp(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """fsync `tmp` and rename it over `path` (with the mode an ordinary new file gets)."""
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _set_mode(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise_output_error(exc, path)
    fsync_dir(Path(path).parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically (temp file + fsync + rename)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """np.save `array` (no pickled objects) to `path` atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getbuffer())


def atomic_write_torch(path: str | os.PathLike[str], obj: object) -> None:
    """torch.save `obj` to `path` atomically.

    torch writes through a Python file object here: given a file name, its
    writer reports a full disk as "unexpected pos 576 vs 534"; through a file
    object the OSError (ENOSPC) comes along and becomes one clear line.
    """
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            torch.save(obj, f)

    atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike[str], obj: object) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def module_sha256(module: torch.nn.Module, *, header: dict | None = None) -> str:
    """sha256 of a module's weights (state dict in key order) and an optional header.

    The hash names the weights, not the file they came from: the same generator
    read from an official .pkl or from a native folder hashes the same.
    Each tensor contributes its key, dtype, shape and raw bytes (on CPU).
    """
    h = hashlib.sha256()
    if header is not None:
        h.update(json.dumps(header, sort_keys=True).encode())
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
