"""CLI.md, the command-line reference, generated from the commands themselves.

    python -m synthbio.cli.reference > CLI.md        (tests/cli/test_conventions.py checks it is current)

It holds the written conventions (`synthbio.cli.conventions`) and, for every
command, its arguments and options with their defaults and help, as
`synthbio COMMAND --help` shows them; old spellings kept for one release are
listed at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

HEADER = """# synthbio command-line reference

Generated from the commands by `python -m synthbio.cli.reference > CLI.md`; a
test fails when it is out of date. `synthbio COMMAND -h` shows the same.
"""


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, click command) of every leaf command under `command`, in name order."""
    subs = getattr(command, "commands", None)
    if subs is None:
        yield path, command
        return
    for name in sorted(subs):
        yield from walk(subs[name], (*path, name))


def app_command() -> Any:
    import typer

    from synthbio.cli.main import build_app

    return typer.main.get_command(build_app())


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(param: Any) -> str:
    if param.required:
        return "required"
    d = param.default
    if d is None or d == "" or d == ():
        return ""
    if isinstance(d, bool):
        return "" if d is False else "on"
    return f"`{d}`"


def _conventions_text() -> str:
    from synthbio.cli import conventions

    doc = (conventions.__doc__ or "").strip().splitlines()
    return "\n".join(doc[1:]).strip()


def render() -> str:
    """The whole CLI.md text."""
    from synthbio.cli.conventions import ALIASES

    out = [HEADER, "## Conventions", "", _conventions_text(), "", "## Commands", ""]
    for path, cmd in walk(app_command()):
        name = " ".join(path)
        doc = (cmd.help or "").strip().split("\n\n")[0].replace("\n", " ")
        args = [p for p in cmd.params if p.param_type_name == "argument" and not getattr(p, "hidden", False)]
        usage = " ".join([f"synthbio {name}", *((p.metavar or p.name.upper()) + ("..." if p.nargs == -1 else "")
                                                  for p in args), "[OPTIONS]"])
        out += [f"### `synthbio {name}`", "", doc, "", f"    {usage}", ""]
        rows = []
        for p in cmd.params:
            if p.param_type_name != "option" or p.hidden:
                continue
            flags = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
            rows.append(f"| {flags} | {_default(p)} | {_cell(p.help or '')} |")
        if rows:
            out += ["| option | default | meaning |", "|---|---|---|", *rows, ""]
    out += ["## Old spellings (kept for one release, hidden from --help)", "",
            "| command | old | now |", "|---|---|---|"]
    for command, table in ALIASES.items():
        for old, new in table.items():
            out.append(f"| {'every command' if command == '*' else f'`{command}`'} | `{old}` | `{new}` |")
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
