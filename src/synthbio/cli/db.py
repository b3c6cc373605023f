"""`synthbio db build|info|list|samples`: database indexes of real images (synthbio.io.databases)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from synthbio.cli._real_images import DbRootOption, GroupOption, ProtocolOption, WhereOption

db_app = typer.Typer(help="Index real databases (faces, fingerprints) once; query them by protocol and group.",
                     no_args_is_help=True)


@db_app.command("build")
def build_command(
    kind: Annotated[str, typer.Argument(help="Layout: imagefolder, csv, ffhq, multipie, ckplus, lfw, fvc (see `db list`).")],
    root: Annotated[str, typer.Argument(help="The database's root folder.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Index file to write (e.g. multipie.sqlite).")],
    metadata: Annotated[Optional[str], typer.Option("--metadata", help="Metadata file of the layout (CSV table, FFHQ JSON, LFW pairs file).")] = None,  # noqa: UP007,E501
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing index file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the index summary as JSON.")] = False,
) -> None:
    """Index the images under ROOT (their identities, attributes, protocols and groups) into one SQLite file."""
    from pathlib import Path

    from synthbio.errors import OutputDirError
    from synthbio.io.databases import build_database, open_database

    if Path(output).exists() and not overwrite:
        raise OutputDirError(f"{output} exists; use --overwrite to replace it")
    content = build_database(kind, root, metadata=metadata)
    content.write(output)
    with open_database(output) as db:
        _print_summary(db.summary(), as_json)


@db_app.command("info")
def info_command(
    index: Annotated[str, typer.Argument(help="Index file written by `synthbio db build`.")],
    db_root: DbRootOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Samples, identities, protocols with their groups, attributes and pairs of an index."""
    from synthbio.io.databases import open_database

    with open_database(index, root=db_root) as db:
        _print_summary(db.summary(), as_json)


@db_app.command("samples")
def samples_command(
    index: Annotated[str, typer.Argument(help="Index file, or an image folder.")],
    protocol: ProtocolOption = None,
    group: GroupOption = None,
    where: WhereOption = None,
    db_root: DbRootOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line instead of a table.")] = False,
) -> None:
    """List the samples a protocol / group / attribute selection names (what a job would read)."""
    from synthbio.io.databases import ImageSelection, parse_where, select_samples

    sel = ImageSelection(index, protocol=protocol, group=group, where=parse_where(where), root=db_root)
    for s in select_samples(sel, check=False):
        if as_json:
            typer.echo(json.dumps({"key": s.key, "file": str(s.file), "identity": s.identity,
                                   "attributes": dict(s.attributes)}, sort_keys=True))
        else:
            attrs = " ".join(f"{k}={v}" for k, v in sorted(s.attributes.items()))
            typer.echo(f"{s.key}\t{s.identity}\t{s.file}\t{attrs}")


@db_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the layouts as JSON on stdout.")] = False,
) -> None:
    """The database layouts `db build` knows, and what --metadata means for each."""
    from synthbio.io.databases import BUILDERS

    if as_json:
        typer.echo(json.dumps([{"kind": b.kind, "description": b.description, "metadata": b.metadata or None}
                               for b in BUILDERS.values()], indent=2))
        return
    for b in BUILDERS.values():
        meta = f" (--metadata: {b.metadata})" if b.metadata else ""
        typer.echo(f"{b.kind:12s} {b.description}{meta}")


def _print_summary(summary: dict, as_json: bool) -> None:  # type: ignore[type-arg]
    if as_json:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True))
        return
    typer.echo(f"{summary['path']}: {summary['kind']} database, {summary['samples']} samples, "
               f"{summary['identities']} identities, root {summary['root']}")
    for proto, groups in summary["protocols"].items():
        pairs = summary["pairs"].get(proto)
        extra = f"; {pairs} pairs" if pairs else ""
        typer.echo(f"  protocol {proto}: " + ", ".join(f"{g} {n}" for g, n in groups.items()) + extra)
    if summary["attributes"]:
        typer.echo(f"  attributes: {', '.join(summary['attributes'])}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
