"""Every test under tests/fuzz is marked `fuzz`; the session ends with the number of inputs per parser family."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fuzzing import COUNTS, SECONDS

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fuzz)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if not COUNTS:
        return
    terminalreporter.section("fuzz inputs per parser family")
    for family in sorted(COUNTS):
        terminalreporter.write_line(f"{family:22s} {COUNTS[family]:>10,d} inputs  {SECONDS[family]:8.1f} s")
    report = os.environ.get("SYNTHBIO_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps({f: {"inputs": COUNTS[f], "seconds": round(SECONDS[f], 1)}
                                            for f in sorted(COUNTS)}, indent=2) + "\n")
