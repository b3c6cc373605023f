"""The one progress reporter of long jobs: plain periodic lines off a terminal, nothing when off."""

from __future__ import annotations

import io

import pytest

from synthbio.utils.progress import Progress, format_duration, resolve_mode


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_off_a_terminal_start_periodic_and_finish() -> None:
    out = io.StringIO()
    with Progress(stream=out, interval=0) as bar:
        task = bar.add_task("fingers", total=3)
        for _ in range(3):
            bar.advance(task)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[progress] fingers: 0/3 (0%)"
    assert lines[-1].startswith("[progress] fingers: 3/3 (100%)") and "done in" in lines[-1]
    assert all(line.startswith("[progress] fingers: ") for line in lines)
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()  # no terminal control codes


def test_lines_are_rate_limited_but_the_last_count_is_always_printed() -> None:
    out = io.StringIO()
    with Progress(stream=out, interval=3600) as bar:
        task = bar.add_task("pairs", total=None)
        for _ in range(50):
            bar.advance(task)
    lines = out.getvalue().splitlines()
    assert lines == ["[progress] pairs: 0", lines[-1]] and lines[-1].startswith("[progress] pairs: 50")


def test_fields_and_units_appear_in_lines() -> None:
    out = io.StringIO()
    with Progress(stream=out, interval=0) as bar:
        task = bar.add_task("train", total=2.0, unit="kimg")
        bar.update(task, completed=1.5, loss="0.812")
    assert "[progress] train: 1.50/2 kimg (75%)" in out.getvalue() and "loss=0.812" in out.getvalue()


def test_modes() -> None:
    assert resolve_mode("auto", io.StringIO()) == "lines"
    assert resolve_mode("auto", _Tty()) == "bar"
    assert resolve_mode(False, _Tty()) == "off"
    with pytest.raises(ValueError, match="progress mode"):
        resolve_mode("loud", io.StringIO())
    out = io.StringIO()
    with Progress(False, stream=out) as bar:
        bar.advance(bar.add_task("x", total=2))
    assert out.getvalue() == ""


def test_environment_forces_lines_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHBIO_PROGRESS", "lines")
    assert resolve_mode("auto", _Tty()) == "lines"


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 65, 7325)] == ["5s", "1m05s", "2h02m"]
