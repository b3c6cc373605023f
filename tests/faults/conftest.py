"""Output places that say no: a small tmpfs that fills up, a read-only mount, a folder refusing writes.

A real file system is used where the machine allows it (root may mount a tmpfs;
CI runs as root); a read-only folder falls back to `chmod 0o555` for other
users. Every mount is taken down again, also when a test fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


def _mount_tmpfs(where: Path, options: str) -> bool:
    if os.geteuid() != 0 or sys.platform != "linux":
        return False
    where.mkdir(parents=True, exist_ok=True)
    name = f"synthbio-test-{uuid.uuid4().hex[:8]}"
    return _run("mount", "-t", "tmpfs", "-o", options, name, str(where)).returncode == 0


def _unmount(where: Path) -> None:
    if _run("umount", str(where)).returncode != 0:
        _run("umount", "-l", str(where))


class SmallDisk:
    """A tmpfs of `size` bytes at `path`; `resize(n)` grows (or shrinks) it in place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def resize(self, size: int) -> None:
        result = _run("mount", "-o", f"remount,size={size}", str(self.path))
        assert result.returncode == 0, result.stderr

    def free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int) -> Path:
        """A filler file that leaves about `leave` bytes free (in whole pages)."""
        filler = self.path / "filler.bin"
        filler.write_bytes(b"")
        take = max(0, self.free() - leave)
        with open(filler, "wb") as f:
            f.write(b"\0" * take)
        return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], SmallDisk]]:
    """small_disk(size_bytes) -> a mounted tmpfs of that size (skipped where mounting is not allowed)."""
    mounted: list[Path] = []

    def make(size: int) -> SmallDisk:
        where = tmp_path / f"disk{len(mounted)}"
        if not _mount_tmpfs(where, f"size={size},mode=0777"):
            pytest.skip("a full disk needs a small tmpfs: mounting one needs root on Linux")
        mounted.append(where)
        return SmallDisk(where)

    yield make
    for where in mounted:
        _unmount(where)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nothing can be written to: a read-only tmpfs (root) or a folder without write permission."""
    where = tmp_path / "ro"
    if _mount_tmpfs(where, "size=64k,ro"):
        yield where
        _unmount(where)
        return
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere: a read-only folder needs a read-only mount, which failed here")
    where.mkdir()
    where.chmod(0o555)
    yield where
    where.chmod(0o755)


@pytest.fixture
def cli_raw(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `synthbio ARGS...` in-process -> (exit code, stdout, stderr as printed: its lines are counted)."""
    from synthbio.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["synthbio", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
