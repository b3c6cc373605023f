"""File integrity: sha256 of files, bytes and model weights; atomic writes.

An atomic write puts the bytes in a temporary file in the destination folder,
fsyncs it and renames it over the destination (`os.replace`), so a reader, or a
run killed half-way, sees either the old file or the complete new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
    except (AttributeError, OSError):  # platforms without fchmod keep the private mode
        pass
    os.close(fd)
    return Path(tmp)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call write(tmp) on a temporary file beside `path`, fsync it and rename it over `path`.

    On any failure the temporary file is removed and `path` keeps its old content.
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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _set_mode(path: str | os.PathLike[str]) -> None:
    try:
        os.chmod(path, _file_mode())
    except OSError:  # a file system without modes keeps what it has
        pass


def commit_temp(tmp: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """fsync `tmp` and rename it over `path` (with the mode an ordinary new file gets)."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    _set_mode(tmp)
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically (temp file + fsync + rename)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


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
