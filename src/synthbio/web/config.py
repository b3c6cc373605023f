"""`synthbio serve`'s settings (one frozen dataclass, as every command has)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthbio.errors import InputError

DEFAULT_PORT = 8000
MAX_UPLOAD_BYTES = 2 << 20  # templates are a few KB, a 1000-px PNG a few hundred


def default_cache_dir() -> str:
    """`$SYNTHBIO_HOME/web-cache` (default `~/.cache/synthbio/web-cache`): never inside a served folder."""
    home = os.environ.get("SYNTHBIO_HOME") or Path.home() / ".cache" / "synthbio"
    return os.fspath(Path(home).expanduser() / "web-cache")


@dataclass(frozen=True)
class ServeConfig:
    """roots: the folders served (read only). model: a generator offered first in the editor.

    host / port: where to listen; 127.0.0.1 (loopback) by default. token: the
    access token every request must carry (None on loopback; required, and
    generated when not given, for any other address). cache_dir: thumbnails,
    manifest indexes and MINDTCT results. directions_dirs: further folders of
    direction files for the editor. max_upload_bytes: the largest upload
    accepted (templates and images for the tool pages).
    """

    roots: tuple[str, ...]
    model: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    cache_dir: str = dataclasses.field(default_factory=default_cache_dir)
    directions_dirs: tuple[str, ...] = ()
    device: str = "auto"
    max_upload_bytes: int = MAX_UPLOAD_BYTES

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(os.fspath(r) for r in self.roots))
        object.__setattr__(self, "directions_dirs", tuple(os.fspath(d) for d in self.directions_dirs))
        if not self.roots:
            raise InputError("give at least one folder to serve")
        for r in (*self.roots, *self.directions_dirs):
            if not Path(r).is_dir():
                raise InputError(f"{r!r} is not a folder")
        if not 0 <= self.port <= 65535:
            raise InputError(f"--port must be in 0-65535, got {self.port}")
        if self.max_upload_bytes < 1024:
            raise InputError(f"the upload limit must be at least 1024 bytes, got {self.max_upload_bytes}")
        if self.token is not None and len(self.token) < 16:
            raise InputError("--token must be at least 16 characters")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["token"] = None if self.token is None else "<set>"
        return d
