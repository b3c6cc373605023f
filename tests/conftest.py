"""Fixtures shared by the test modules."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `synthbio ARGS...` in-process -> (exit code, stdout, stderr with whitespace collapsed)."""
    from synthbio.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["synthbio", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, " ".join(err.split())  # rich wraps long lines

    return run


@pytest.fixture
def one_thread() -> object:
    """One intra-op torch thread for the test (tiny nets run faster so on a shared 2-core machine, with fixed kernels)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

