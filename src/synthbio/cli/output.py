"""How commands talk: results on stdout (plain, never wrapped; JSON with --json), notes on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import typer


def result(text: str) -> None:
    """A result line (or lines) on stdout, as is: no wrapping, no markup, safe to pipe."""
    typer.echo(text)


def note(text: str) -> None:
    """A note for the person running the command (where files went, what was skipped): stderr."""
    typer.echo(text, err=True)


def result_json(obj: Any) -> None:
    """One JSON document on stdout (paths and other objects as strings)."""
    typer.echo(json.dumps(obj, indent=2, default=str, allow_nan=False))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None) -> None:
    """Rows on stdout: a drawn table on a terminal, tab-separated lines (header first) otherwise."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title)
        for h in headers:
            t.add_column(h, overflow="fold")
        for row in rows:
            t.add_row(*(str(c) for c in row))
        Console().print(t)
        return
    typer.echo("\t".join(headers))
    for row in rows:
        typer.echo("\t".join(str(c) for c in row))


def json_safe(obj: Any) -> Any:
    """NaN / infinity -> None, recursively, so results are strict JSON."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
