"""`synthbio info DIR`: which job wrote a folder, its settings, how far it got, how to continue it."""

from __future__ import annotations

from typing import Annotated

import typer

from synthbio.cli.output import json_safe, result, result_json


def info_command(
    folders: Annotated[list[str], typer.Argument(help="Folders written by synthbio (datasets, runs, reports, models).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON on stdout (a list).")] = False,
) -> None:
    """What a folder holds: the job that wrote it, its config, counts, completeness, and whether it resumes."""
    from synthbio.pipelines.common.folder_info import describe_folder, info_text

    infos = [describe_folder(f) for f in folders]
    if as_json:
        result_json(json_safe(infos))
        return
    result("\n".join(info_text(i) for i in infos))


def register(app: typer.Typer) -> None:
    app.command("info")(info_command)
