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


def _args(app: typer.Typer) -> list[str]:
    """The command line with old option spellings rewritten (synthbio.cli.conventions.ALIASES), a note each."""
    import sys

    from synthbio.cli.conventions import rewrite_aliases

    return rewrite_aliases(typer.main.get_command(app), sys.argv[1:])


def main() -> None:
    from rich.console import Console
    from rich.markup import escape

    from synthbio.errors import SynthbioError

    app = build_app()
    try:
        app(args=_args(app), standalone_mode=False, prog_name="synthbio")
    except SynthbioError as exc:  # bad input: say what and where, exit 2 (one line: never wrapped)
        Console(stderr=True, emoji=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(exc))}",
                                                                highlight=False)
        raise SystemExit(2) from None
    except typer.Abort:
        raise SystemExit(130) from None
    except click.exceptions.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
