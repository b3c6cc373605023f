"""`synthbio serve`: the local web app over folders synthbio wrote (extra `web`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from synthbio.cli.output import note, result


def _report_siblings(folders: list[str]) -> list[str]:
    """`<DIR>_<job>` report folders beside each DIR (dataset report, ...) that hold an index.html."""
    out = []
    for folder in folders:
        p = Path(folder).resolve()
        for sib in sorted(p.parent.glob(f"{p.name}_*")):
            if sib.is_dir() and (sib / "index.html").is_file() and str(sib) not in out:
                out.append(str(sib))
    return out


def _check_port(host: str, port: int) -> None:
    """InputError naming --port / --host when the address cannot be bound (in use, not an address here)."""
    import socket

    from synthbio.errors import InputError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a TIME_WAIT port is free
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InputError(f"cannot listen on --host {host} --port {port}: {exc.strerror}") from None


def serve_command(
    folders: Annotated[list[str], typer.Argument(help="Folders written by synthbio (datasets, fingerprints, "
                                                      "generate/mix outputs, reports); served read-only.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Generator for the editor (registry name or path).")] = None,  # noqa: UP007,E501
    host: Annotated[str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",  # noqa: E501
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    token: Annotated[Optional[str], typer.Option("--token", help="Access token (made up and printed when binding beyond loopback).")] = None,  # noqa: UP007,E501
    cache_dir: Annotated[Optional[str], typer.Option("--cache-dir", help="Thumbnails and indexes (default $SYNTHBIO_HOME/web-cache).")] = None,  # noqa: UP007,E501
    directions_dir: Annotated[Optional[list[str]], typer.Option("--directions-dir", help="More direction files for the editor.")] = None,  # noqa: UP007,E501
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | mps, for the editor's renders (auto: cuda, then mps, then cpu).")] = "auto",  # noqa: E501
    with_reports: Annotated[bool, typer.Option("--reports/--no-reports", help="Also serve the <DIR>_<job> report folders beside each DIR.")] = True,  # noqa: E501
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config as JSON and exit.")] = False,
) -> None:
    """Browse datasets with their ground truth, edit latents with sliders, compare samples, in the browser."""
    from synthbio.errors import InputError
    from synthbio.web.config import ServeConfig, default_cache_dir
    from synthbio.web.safety import is_loopback, new_token

    roots = list(folders) + (_report_siblings(folders) if with_reports else [])
    if token is None and not is_loopback(host):
        token = new_token()
    config = ServeConfig(roots=tuple(roots), model=model, host=host, port=port, token=token,
                         cache_dir=cache_dir or default_cache_dir(), directions_dirs=tuple(directions_dir or ()),
                         device=device)
    if dry_run:
        result(json.dumps(config.to_dict(), indent=2))
        return
    try:
        import uvicorn

        from synthbio.web.app import create_app
    except ImportError as exc:
        raise InputError(f"synthbio serve needs the web extra ({exc.name} is missing): "
                         "pip install 'synthbio[web]'") from None
    _check_port(host, port)
    app = create_app(config)
    ws = app.state.workspace
    for name, path in ws.roots.paths.items():
        note(f"serving {path} as '{name}' (read-only)")
    note(f"{len(ws.datasets)} datasets, {len(ws.reports)} reports found; cache: {ws.context.cache_dir}")
    shown = f"[{host}]" if ":" in host else host
    result(f"http://{shown}:{port}/" + (f"?token={token}" if token else ""))
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)
