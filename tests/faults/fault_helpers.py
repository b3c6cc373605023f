"""Helpers the fault tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

from synthbio.utils.hashing import sha256_file


def leftovers(root: Path) -> list[Path]:
    """Temporary files a failed write left behind (synthbio's are hidden `.NAME.*.tmp` / `.part`)."""
    return sorted(p for p in root.rglob(".*") if p.is_file() and p.suffix in (".tmp", ".part"))


def one_error_line(err: str) -> str:
    """The single 'error: ...' line a refused command prints (asserts there is exactly one, no traceback).

    Progress lines (`[progress] ...`, stderr when not on a terminal) may come before it; they are not errors.
    """
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[progress] ")]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def manifest_is_intact(outdir: Path) -> int:
    """Every manifest line is whole JSON and every file it lists exists with its recorded sha256; returns the count."""
    path = outdir / "manifest.jsonl"
    if not path.exists():
        return 0
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "a cut line was left in the manifest"
    count = 0
    for line in data.splitlines():
        record = json.loads(line)
        for entry in record["files"].values() if isinstance(record.get("files"), dict) else []:
            assert sha256_file(outdir / entry["path"]) == entry["sha256"], entry
        count += 1
    return count
