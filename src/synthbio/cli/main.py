"""`synthbio` console script: registers one sub-application per command group.

Each command module exposes `register(app)`; this file only wires them up so
that the front end holds no logic of its own. Every command follows the
conventions written in `synthbio.cli.conventions` (CLI.md is generated from
the commands by `python -m synthbio.cli.reference`); old option spellings are
rewritten there before parsing.
"""

from __future__ import annotations

import importlib

import typer

try:  # newer typer vendors click, with its own exception classes, as typer._click
    from typer import _click as click
except ImportError:  # older typer depends on click itself
    import click  # type: ignore[no-redef]

# Command modules, each with a `register(app: typer.Typer) -> None`.
_COMMAND_MODULES: tuple[str, ...] = (
    "generate",
    "demo",
    "convert",
    "models",
    "fingerprints",
    "metrics",
    "train",
    "faces",
    "dataset",
    "edit",
    "project",
    "encoders",
    "db",
    "project_database",
    "plots",
    "serve",
    "info",
    "masks",
    "translate",
)


def _version(value: bool) -> None:
    if value:
        import synthbio

        typer.echo(f"synthbio {synthbio.__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="synthbio",
        help="Synthetic biometric data: generate, convert, evaluate. Conventions: CLI.md (`synthbio info DIR`: "
             "what a folder holds).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                     callback=_version),
    ) -> None:
        """Synthetic biometric data: generate, convert, evaluate."""

    for name in _COMMAND_MODULES:
        importlib.import_module(f"synthbio.cli.{name}").register(app)
    return app


#: Where internal errors (exit code 1) should be reported.
ISSUES_HINT = ("this is a bug in synthbio, not a problem with your input: please report it with the command line "
               "and the traceback above")


def _args(app: typer.Typer) -> list[str]:
    """The command line with old option spellings rewritten (synthbio.cli.conventions.ALIASES), a note each."""
    import sys

    from synthbio.cli.conventions import rewrite_aliases

    return rewrite_aliases(typer.main.get_command(app), sys.argv[1:])


def _say(message: str, *, label: str = "error") -> None:
    """One line on stderr (never wrapped, never carrying advice to load files unsafely)."""
    from rich.console import Console
    from rich.markup import escape

    from synthbio.errors import without_unsafe_advice

    line = " ".join(without_unsafe_advice(message).split())
    Console(stderr=True, emoji=False, soft_wrap=True).print(f"[bold red]{label}:[/] {escape(line)}", highlight=False)


def _usage(exc: click.exceptions.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return exc.format_message() + where


def main() -> None:
    """Run the command line: exit 0 on success, 2 with one line naming the file or flag for bad input
    (and for output places that refuse: a full disk, no permission), 1 with a traceback and a request
    to report it for anything else (a bug)."""
    from synthbio.errors import SynthbioError, os_problem

    app = build_app()
    try:
        app(args=_args(app), standalone_mode=False, prog_name="synthbio")
    except SynthbioError as exc:  # bad input: say what and where, exit 2
        _say(str(exc))
        raise SystemExit(2) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except click.exceptions.ClickException as exc:  # a usage error: a missing or malformed option
        _say(_usage(exc))
        raise SystemExit(2) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except MemoryError:
        _say("out of memory (try a smaller --batch-size, fewer workers or smaller inputs)")
        raise SystemExit(1) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no bare traceback for bad input
        problem = os_problem(exc)  # a file the OS refused (full disk, permissions, a file for a folder)
        if problem is not None:
            _say(problem)
            raise SystemExit(2) from None
        import traceback

        traceback.print_exc()
        _say(f"{type(exc).__name__}: {exc}", label="internal error")
        _say(ISSUES_HINT, label="hint")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
