"""Progress of long jobs, on stderr: a live bar on a terminal, plain periodic lines otherwise.

Every long job of synthbio reports through `Progress`, so that a person at a
terminal sees a bar and a log file, a pipe or a batch system gets plain,
greppable lines, one per task at most every `interval` seconds and one when
a task finishes:

    [progress] identities: 12/100 (12%), 0.41/s, ETA 3m35s
    [progress] train: 1.20/5.00 kimg (24%), 0.02 kimg/s, ETA 3m10s, loss=0.8123

The interface is the subset of `rich.progress.Progress` the jobs use
(`add_task`, `advance`, `update`, context manager), so a job does not care
which of the two it talks to. It lives here, in the bottom layers, because
jobs of every layer (the training loop, the projector, downloads, pipelines)
report through it.

mode: "auto" (bar when stderr is a terminal, lines otherwise), "bar",
"lines" or "off". `SYNTHBIO_PROGRESS` overrides "auto" (e.g. `lines` under a
terminal multiplexer that should log), `SYNTHBIO_PROGRESS_INTERVAL` the
seconds between lines (default 10).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

MODES = ("auto", "bar", "lines", "off")
DEFAULT_INTERVAL_S = 10.0


def _env_interval() -> float:
    try:
        return max(0.0, float(os.environ.get("SYNTHBIO_PROGRESS_INTERVAL", DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def resolve_mode(mode: str | bool, stream: IO[str]) -> str:
    """'bar' | 'lines' | 'off' for a requested mode (True = "auto", False = "off")."""
    if mode is True:
        mode = "auto"
    elif mode is False:
        mode = "off"
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r} is not one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    forced = os.environ.get("SYNTHBIO_PROGRESS", "").strip().lower()
    if forced in ("bar", "lines", "off"):
        return forced
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def format_duration(seconds: float) -> str:
    """12s, 3m05s, 2h07m."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float
    unit: str
    fields: dict[str, Any]
    started: float
    start_completed: float
    last_line: float = -math.inf
    finished_line: bool = False
    rich_id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def text(self, now: float) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            head = f"{_num(self.completed)}/{_num(self.total)}{unit} ({100 * self.completed / self.total:.0f}%)"
        else:
            head = f"{_num(self.completed)}{unit}"
        parts = [f"{self.description}: {head}"]
        elapsed = now - self.started
        done = self.completed - self.start_completed
        if elapsed > 0 and done > 0:
            rate = done / elapsed
            parts.append(f"{rate:.3g}{unit}/s" if unit else f"{rate:.3g}/s")
            if self.total and self.completed < self.total:
                parts.append(f"ETA {format_duration((self.total - self.completed) / rate)}")
        if self.total and self.completed >= self.total:
            parts.append(f"done in {format_duration(elapsed)}")
        parts += [f"{k}={v}" for k, v in self.fields.items()]
        return ", ".join(parts)


class Progress:
    """Tasks with a count towards a total, reported on `stream` (stderr) as the mode says.

    enabled: False = report nothing (same as mode "off"). interval: seconds
    between lines in "lines" mode (None = SYNTHBIO_PROGRESS_INTERVAL or 10).
    """

    def __init__(self, enabled: bool = True, *, mode: str = "auto", stream: IO[str] | None = None,
                 interval: float | None = None, transient: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.mode = resolve_mode(mode if enabled else "off", self.stream)
        self.interval = _env_interval() if interval is None else float(interval)
        self._tasks: dict[int, _Task] = {}
        self._rich: Any = None
        self._transient = transient
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Progress:
        if self._started:
            return self
        self._started = True
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, Progress as RichProgress, TaskProgressColumn, TextColumn
            from rich.progress import TimeRemainingColumn

            self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                      TextColumn("{task.fields[count]}"), TimeRemainingColumn(),
                                      console=Console(file=self.stream), transient=self._transient)
            self._rich.start()
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        elif self.mode == "lines":
            now = time.monotonic()
            for t in self._tasks.values():
                if t.completed != t.extra.get("printed_at"):
                    self._line(t, now)

    def __enter__(self) -> Progress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- tasks -------------------------------------------------------------------------------

    def add_task(self, description: str, total: float | None = None, completed: float = 0, *, unit: str = "",
                 **fields: Any) -> int:
        """A new task; returns its id for `advance` / `update`."""
        self.start()
        now = time.monotonic()
        task_id = len(self._tasks)
        task = _Task(description=description, total=total, completed=completed, unit=unit, fields=dict(fields),
                     started=now, start_completed=completed)
        self._tasks[task_id] = task
        if self._rich is not None:
            task.rich_id = self._rich.add_task(self._bar_description(task), total=total, completed=completed,
                                               count=self._count(task))
        elif self.mode == "lines":
            self._line(task, now)
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, *, total: float | None = None, completed: float | None = None,
               advance: float | None = None, description: str | None = None, **fields: Any) -> None:
        task = self._tasks[task_id]
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        if description is not None:
            task.description = description
        task.fields.update(fields)
        if self._rich is not None:
            self._rich.update(task.rich_id, total=task.total, completed=task.completed,
                              description=self._bar_description(task), count=self._count(task))
        elif self.mode == "lines":
            now = time.monotonic()
            finished = task.total is not None and task.completed >= task.total
            if (finished and not task.finished_line) or now - task.last_line >= self.interval:
                self._line(task, now)
                task.finished_line = finished

    # -- output ------------------------------------------------------------------------------

    @staticmethod
    def _bar_description(task: _Task) -> str:
        extra = " ".join(f"{k} {v}" for k, v in task.fields.items())
        return f"{task.description} {extra}".rstrip()

    @staticmethod
    def _count(task: _Task) -> str:
        unit = f" {task.unit}" if task.unit else ""
        return f"{_num(task.completed)}/{_num(task.total)}{unit}" if task.total else f"{_num(task.completed)}{unit}"

    def _line(self, task: _Task, now: float) -> None:
        task.last_line = now
        task.extra["printed_at"] = task.completed
        self.stream.write(f"[progress] {task.text(now)}\n")
        self.stream.flush()

