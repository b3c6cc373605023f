"""Every command's options against the written conventions (synthbio.cli.conventions), CLI.md, scriptable output.

The walk covers whatever `build_app()` registers, so commands added later are checked too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from synthbio.cli.conventions import (
    ALIASES,
    DEFAULTS,
    FORBIDDEN,
    MEANINGS,
    REPORTING_NAMES,
    SECOND_SPELLINGS,
    SHORT_OPTIONS,
    aliases_for,
    rewrite_aliases,
)
from synthbio.cli.reference import app_command, render, walk

ROOT = Path(__file__).resolve().parents[2]
_LONG = re.compile(r"--[a-z0-9]+(-[a-z0-9]+)*")


def _commands() -> list[tuple[tuple[str, ...], object]]:
    return list(walk(app_command()))


def _options(cmd: object) -> list[object]:
    return [p for p in cmd.params if p.param_type_name == "option"]  # type: ignore[attr-defined]


def _visible_names(cmd: object) -> set[str]:
    return {n for p in _options(cmd) if not p.hidden for n in (*p.opts, *p.secondary_opts)}


def option_problems(path: tuple[str, ...], cmd: object) -> list[str]:
    """What breaks the conventions in one command's visible options."""
    where = f"synthbio {' '.join(path)}"
    problems = []
    for p in _options(cmd):
        if p.hidden:
            continue
        names = [*p.opts, *p.secondary_opts]
        longs = [n for n in names if n.startswith("--")]
        shorts = [n for n in names if not n.startswith("--")]
        if not longs:
            problems.append(f"{where}: {names} has no long name")
            continue
        main = longs[0]
        for short in shorts:
            if short not in SHORT_OPTIONS:
                problems.append(f"{where}: single-letter {short} ({main}) is not one of {sorted(SHORT_OPTIONS)}")
            elif main not in SHORT_OPTIONS[short]:
                problems.append(f"{where}: {short} stands for {'/'.join(SHORT_OPTIONS[short])}, not {main}")
        switch_pair = getattr(p, "is_flag", False) and p.secondary_opts == [f"--no-{main[2:]}"]  # --X/--no-X
        if len(longs) > 1 and not switch_pair and (len(longs) > 2 or SECOND_SPELLINGS.get(longs[0]) != longs[1]):
            problems.append(f"{where}: {longs} are several visible spellings of one option (hide the old one: "
                            "synthbio.cli.conventions.ALIASES)")
        for name in longs:
            if not _LONG.fullmatch(name):
                problems.append(f"{where}: {name} is not lower-case words joined by dashes")
            if name in FORBIDDEN:
                problems.append(f"{where}: {name} should be {FORBIDDEN[name]}")
            if name.startswith("--out") and name not in ("--outdir", "--output"):
                problems.append(f"{where}: {name}: outputs are -o/--outdir DIR or -o/--output FILE")
        if main in ("--outdir", "--output") and "-o" not in shorts:
            problems.append(f"{where}: {main} lacks its short form -o")
        for name, words in MEANINGS.items():
            if name in longs and not all(w in (p.help or "") for w in words):
                problems.append(f"{where}: {name} help must name {' | '.join(words)}")
        for name, default in DEFAULTS.items():
            if name in longs and p.default != default:
                problems.append(f"{where}: {name} defaults to {p.default!r}, the convention is {default!r}")
        if not (p.help or "").strip():
            problems.append(f"{where}: {main} has no help text")
    if path[-1] in REPORTING_NAMES and "--json" not in _visible_names(cmd):
        problems.append(f"{where} reports or lists: it needs --json")
    if not (getattr(cmd, "help", None) or "").strip():
        problems.append(f"{where} has no help text")
    return problems


def test_every_command_follows_the_conventions() -> None:
    problems = [p for path, cmd in _commands() for p in option_problems(path, cmd)]
    assert not problems, "\n".join(problems)


def test_the_checks_catch_what_they_are_for() -> None:
    """The walk's rules on a command that breaks each of them (so the test above can fail)."""
    import typer

    app = typer.Typer()

    @app.command("report")
    def bad(
        out: str = typer.Option(..., "--out", "-o", help="x"),
        gen: str = typer.Option("", "--generator", "-g", help="x"),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
        batch: int = typer.Option(1, "--batch", "--batch-size", help=""),
        reports: bool = typer.Option(True, "--with-reports/--no-reports", help="x"),
        thumbs: bool = typer.Option(True, "--thumbs/--no-thumbs", help="an on/off pair is one option"),
    ) -> None:
        """A bad command."""

    @app.command("other")
    def other() -> None:
        """Another."""

    cmd = typer.main.get_command(app).commands["report"]
    text = "\n".join(option_problems(("report",), cmd))
    for expected in ("--out should be", "single-letter -g", "--device defaults to 'cpu'", "--device help must name",
                     "several visible spellings", "--batch has no help text", "needs --json",
                     "--generator should be --model", "['--with-reports', '--no-reports'] are several"):
        assert expected in text, expected
    assert "--thumbs" not in text


def test_aliases_are_hidden_and_point_at_real_options() -> None:
    commands = {" ".join(path): cmd for path, cmd in _commands()}
    problems = []
    for command, table in ALIASES.items():
        if command == "*":
            continue
        assert command in commands, f"ALIASES names {command!r}, which is not a command"
        names = _visible_names(commands[command])
        for old, new in table.items():
            if new not in names:
                problems.append(f"{command}: alias {old} -> {new}, but {new} is not an option of it")
            if old in names:
                problems.append(f"{command}: the old spelling {old} is still a visible option")
    for command, cmd in commands.items():
        for old in ALIASES["*"]:
            if old in _visible_names(cmd) and old not in ALIASES.get(command, {}):
                problems.append(f"{command}: {old} is visible although every command treats it as an old spelling")
    assert not problems, "\n".join(problems)


def test_rewrite_keeps_values_and_stops_at_double_dash() -> None:
    group = app_command()
    notes: list[str] = []
    argv = ["fingerprints", "generate", "-n", "3", "-m2", "--class=arch", "--outdir", "x", "--", "-n"]
    assert rewrite_aliases(group, argv, warn=notes.append) == [
        "fingerprints", "generate", "--fingers", "3", "--impressions=2", "--finger-class=arch", "--outdir", "x", "--",
        "-n"]
    assert len(notes) == 3 and "is now --fingers" in notes[0]
    assert aliases_for(("generate",))["--force"] == "--overwrite"
    # values that look like options are left alone: a strength sweep, a negative number
    assert rewrite_aliases(group, ["edit", "--strengths", "-3:3:7"], warn=notes.append)[2] == "-3:3:7"


def test_old_spellings_still_run(run_cli) -> None:  # noqa: ANN001
    code, out, err = run_cli("fingerprints", "generate", "-n", "2", "-m", "1", "-s", "4", "--class", "whorl",
                             "--width", "96", "--height", "96", "--outdir", "unused", "--dry-run")
    assert code == 0, err
    cfg = json.loads(out)["config"]
    assert (cfg["fingers"], cfg["impressions"], cfg["seed"], cfg["fp_class"]) == (2, 1, 4, "whorl")
    assert "note: -n is now --fingers" in err and "--class is now --finger-class" in err


def test_version_and_short_help(run_cli) -> None:  # noqa: ANN001
    import synthbio

    assert run_cli("--version")[:2] == (0, f"synthbio {synthbio.__version__}\n")
    code, out, _ = run_cli("fingerprints", "evaluate", "-h")
    assert code == 0 and "--json" in out and "DATASET_report" in out


def test_models_list_is_not_wrapped_off_a_terminal(run_cli) -> None:  # noqa: ANN001
    from synthbio.checkpoints.registry import REGISTRY

    code, out, _ = run_cli("models", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split("\t")[:2] == ["name", "kind"]
    for entry in REGISTRY.values():
        row = next(line for line in lines if line.startswith(entry.name + "\t"))  # one line per model, whole
        assert (entry.url or str(entry.package_path)) in row
    code, out, _ = run_cli("models", "list", "--json")
    assert code == 0 and {e["name"] for e in json.loads(out)} == set(REGISTRY)


def test_cli_reference_is_current() -> None:
    path = ROOT / "CLI.md"
    assert path.is_file(), "CLI.md is missing: python -m synthbio.cli.reference > CLI.md"
    assert path.read_text() == render(), "CLI.md is out of date: python -m synthbio.cli.reference > CLI.md"


def test_readme_links_the_reference() -> None:
    assert "(CLI.md)" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("argv", [["generate", "--model", "m", "--seeds", "0", "--outdir", "o", "--force"],
                                  ["mix", "-m", "m", "--rows", "1", "--cols", "2", "--outdir", "o", "--class", "3"]])
def test_global_aliases_rewrite_in_any_command(argv: list[str]) -> None:
    out = rewrite_aliases(app_command(), argv, warn=lambda text: None)
    assert "--force" not in out and "--class" not in out and ("--overwrite" in out or "--class-idx" in out)


@pytest.mark.parametrize(("argv", "named"), [
    (["demo", "--samples", "0", "-o", "{tmp}/d"], "--samples must be >= 1"),
    (["metrics", "fid", "--real", "{tmp}/missing", "--fake", "{tmp}/missing"], "missing' does not exist"),  # before weights
    (["translate", "testbed", "-o", "{tmp}/t", "--train-identities", "0"], "--train-identities must be >= 2"),
    (["masks", "generate", "{tmp}/nothing", "--seeds", "0", "-o", "{tmp}/g"], "nothing"),
    (["info", "{tmp}/missing"], "missing"),
])
def test_bad_input_is_one_line_naming_the_flag_or_file(run_cli, tmp_path: Path, argv: list[str], named: str) -> None:  # noqa: ANN001
    code, out, err = run_cli(*(a.format(tmp=tmp_path) for a in argv))
    assert code == 2 and named in err and err.startswith("error:") and err.count("error:") == 1, err
    assert "Traceback" not in err and out == ""
