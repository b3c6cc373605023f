"""`synthbio` console script: registers one sub-application per command group.

Each command module exposes `register(app)`; this file only wires them up so
that the front end holds no logic of its own.
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
    "translate",
)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="synthbio",
        help="Synthetic biometric data: generate, convert, evaluate.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in _COMMAND_MODULES:
        importlib.import_module(f"synthbio.cli.{name}").register(app)
    return app


def main() -> None:
    from rich.console import Console
    from rich.markup import escape

    from synthbio.errors import SynthbioError

    try:
        build_app()(standalone_mode=False)
    except SynthbioError as exc:  # bad input: say what and where, exit 2
        Console(stderr=True, emoji=False).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
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
