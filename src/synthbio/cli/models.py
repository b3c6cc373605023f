"""`synthbio models ...`: the named-model registry."""

from __future__ import annotations

from typing import Annotated

import typer

from synthbio.cli.output import result_json, table

models_app = typer.Typer(help="Named pretrained models.", no_args_is_help=True)


@models_app.command("list")
def list_models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON on stdout.")] = False,
) -> None:
    """Every registry entry: name, kind, resolution, format, where it is cached, source (tab-separated off a terminal)."""
    from synthbio.checkpoints.registry import REGISTRY, cache_path, is_cached

    entries = []
    for entry in REGISTRY.values():
        cached = is_cached(entry)
        where = str(cache_path(entry)) if cached and entry.url else ("package" if cached else "")
        entries.append({"name": entry.name, "kind": entry.kind, "resolution": entry.resolution, "format": entry.fmt,
                        "cached": where or None, "source": entry.url or f"package: {entry.package_path}",
                        "sha256": entry.sha256, "description": entry.description})
    if as_json:
        result_json(entries)
        return
    table(["name", "kind", "resolution", "format", "cached", "source"],
          [[e["name"], e["kind"], e["resolution"], e["format"], e["cached"] or "no", e["source"]] for e in entries],
          title="synthbio models")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
