"""`synthbio models ...`: the named-model registry."""

from __future__ import annotations

import typer

models_app = typer.Typer(help="Named pretrained models.", no_args_is_help=True)


@models_app.command("list")
def list_models() -> None:
    """Print every registry entry: name, resolution, format, cached?, source."""
    from rich.console import Console
    from rich.table import Table

    from synthbio.checkpoints.registry import REGISTRY, cache_path, is_cached

    table = Table(title="synthbio models")
    for column in ("name", "resolution", "format", "cached", "url"):
        table.add_column(column, overflow="fold")
    for entry in REGISTRY.values():
        cached = is_cached(entry)
        where = entry.url or f"package: {entry.package_path}"
        table.add_row(entry.name, str(entry.resolution), entry.fmt,
                      str(cache_path(entry)) if cached and entry.url else ("yes" if cached else "no"), where)
    Console().print(table)  # width follows the terminal (or $COLUMNS)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
