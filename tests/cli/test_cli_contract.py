"""The rule every command keeps, checked on every command the app registers (walked, not listed here):

bad input exits 2 with one line naming the file or flag, never a traceback;
exit 1 only for real internal errors, with a request to report them.

Commands and their parameters are read from `build_app()`, so new commands
and renamed flags are covered without touching this file.
"""

from __future__ import annotations

import os
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from synthbio.cli.main import build_app


def _leaf_commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    def walk(cmd: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in sorted(subs.items()):
                yield from walk(sub, (*path, name))
        else:
            yield path, cmd

    yield from walk(typer.main.get_command(build_app()), ())


COMMANDS = dict(_leaf_commands())


def _value_type(param: Any) -> type | None:
    """The Python type a parameter takes (Optional[...] and list[...] unwrapped), from typer or click."""
    ann = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    while typing.get_origin(ann) in (typing.Union, types.UnionType, list, tuple):
        ann = next(a for a in typing.get_args(ann) if a is not type(None))
    if ann is not None:
        return ann if isinstance(ann, type) else None
    click_type = getattr(getattr(param, "type", None), "name", "")
    return {"integer": int, "float": float, "boolean": bool}.get(click_type, str)


def _is_option(param: Any) -> bool:
    return any(opt.startswith("-") for opt in param.opts)


def _required(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.required]


def _names(param: Any) -> list[str]:
    return [*param.opts, param.name, param.name.upper(), param.name.replace("_", "-"), str(param.metavar)]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
        ) -> Callable[..., tuple[int, str, str]]:
    """(exit code, stdout, stderr as printed) of `synthbio ARGS...`, run in a scratch folder."""
    from synthbio.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNTHBIO_OFFLINE", "1")  # a registry name must never start a download here
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path / "home"))

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["synthbio", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_the_walk_finds_the_command_groups() -> None:
    assert len(COMMANDS) >= 20
    assert any(len(path) == 2 for path in COMMANDS) and any(len(path) == 1 for path in COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help(cli: Callable[..., tuple[int, str, str]], path: tuple[str, ...]) -> None:
    code, out, err = cli(*path, "--help")
    assert code == 0 and "Usage" in out + err, err


@pytest.mark.parametrize("path", sorted(p for p, c in COMMANDS.items() if _required(c)), ids=" ".join)
def test_missing_required_input_names_it(cli: Callable[..., tuple[int, str, str]], path: tuple[str, ...]) -> None:
    code, _, err = cli(*path)
    assert code == 2, err
    line = _one_line(err)
    assert any(name in line for p in _required(COMMANDS[path]) for name in _names(p)), line


HOSTILE = {
    "missing": lambda root: root / "no-such-input",
    "garbage": lambda root: _write(root / "garbage.bin", os.urandom(3000)),
    "empty-file": lambda root: _write(root / "empty.json", b""),
    "folder": lambda root: _folder(root / "empty-folder"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _hostile_args(cmd: Any, bad: Path, root: Path) -> list[str]:
    """Every required parameter given a bad value: hostile files for inputs, a fresh folder for outputs,
    -1 for counts, nan for numbers."""
    args: list[str] = []
    for param in _required(cmd):
        kind = _value_type(param)
        if kind is int:
            value = "-1"
        elif kind is float:
            value = "nan"
        elif "out" in param.name:
            value = str(root / f"out-{param.name}")
        else:
            value = str(bad)
        args += [param.opts[0], value] if _is_option(param) else [value]
    return args


# Two variants in the default run; the other two (same code paths, other files) with -m slow.
VARIANTS = ["garbage", "missing", *(pytest.param(v, marks=pytest.mark.slow) for v in ("empty-file", "folder"))]


def _takes_input(cmd: Any) -> bool:
    """A required parameter that is not an output place: something a hostile value can be given to
    (a command whose only required parameter is its outdir, as `translate testbed`, would just run)."""
    return any("out" not in p.name or _value_type(p) in (int, float) for p in _required(cmd))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("path", sorted(p for p, c in COMMANDS.items() if _takes_input(c)), ids=" ".join)
def test_hostile_inputs_exit_2_with_one_line(cli: Callable[..., tuple[int, str, str]], tmp_path: Path,
                                             path: tuple[str, ...], variant: str) -> None:
    bad = HOSTILE[variant](tmp_path)
    cmd = COMMANDS[path]
    code, _, err = cli(*path, *_hostile_args(cmd, bad, tmp_path))
    assert code == 2, (code, err[-3000:])
    line = _one_line(err)
    named = [bad.name, str(tmp_path), *(n for p in cmd.params for n in _names(p))]
    assert any(name in line for name in named), line


def test_an_internal_error_exits_1_with_a_request_to_report_it(cli: Callable[..., tuple[int, str, str]],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    import synthbio.utils.seeds as seeds

    def broken(*args: object, **kwargs: object) -> list[int]:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(seeds, "parse_seeds", broken)
    code, _, err = cli("generate", "-m", str(tmp_path / "m"), "--seeds", "0", "-o", str(tmp_path / "o"))
    assert code == 1
    assert "Traceback" in err and "internal error: ZeroDivisionError: a bug" in err
    assert "please report it" in err.strip().splitlines()[-1]
