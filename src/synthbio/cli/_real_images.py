"""The options every command that reads real images shares: a database protocol, group and attributes.

Real images are given as positional inputs or one option (image files,
folders, or a database index from `synthbio db build`); these options narrow
folders and indexes down, the same way in every command (resolved by
`synthbio.io.databases.select_many` / `select_samples`).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

ProtocolOption = Annotated[Optional[str], typer.Option(  # noqa: UP007
    "--protocol", help="Database protocol of an index (e.g. U, E_lit, P_center_lit; `synthbio db info INDEX`).")]
GroupOption = Annotated[Optional[str], typer.Option(  # noqa: UP007
    "--group", help="Group of the protocol: train | dev | eval, optionally /enroll or /probe (dev/probe).")]
WhereOption = Annotated[Optional[list[str]], typer.Option(  # noqa: UP007
    "--where", help="Attribute condition NAME=VALUE (repeatable), e.g. --where camera=05_1.")]
DbRootOption = Annotated[Optional[str], typer.Option(  # noqa: UP007
    "--db-root", help="Where the indexed images are now, when they moved since `db build`.")]


def selection(source: str, protocol: str | None, group: str | None, where: list[str] | None,
              db_root: str | None):  # type: ignore[no-untyped-def]
    """An ImageSelection from the shared options."""
    from synthbio.io.databases import ImageSelection, parse_where

    return ImageSelection(source, protocol=protocol, group=group, where=parse_where(where), root=db_root)


def resolve_inputs(sources: list[str], protocol: str | None, group: str | None, where: list[str] | None,
                   db_root: str | None) -> list[str]:
    """Image file paths of positional inputs (files, folders, indexes) under the shared options.

    Plain file lists without database options pass through as given (the job checks them itself).
    """
    from pathlib import Path

    from synthbio.io.databases import parse_where, select_many
    from synthbio.io.databases.selection import is_index_file

    if not (protocol or group or where or db_root) and not any(Path(s).is_dir() or is_index_file(s) for s in sources):
        return list(sources)

    return [str(s.file) for s in select_many(sources, protocol=protocol, group=group, where=parse_where(where),
                                             root=db_root)]
