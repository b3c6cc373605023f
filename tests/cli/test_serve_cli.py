"""`synthbio serve` from the command line: its resolved config, bad folders, the token off loopback."""

from __future__ import annotations

import json
from pathlib import Path


def test_dry_run_prints_the_config(run_cli, tmp_path: Path) -> None:
    code, out, _ = run_cli("serve", str(tmp_path), "--dry-run", "--cache-dir", str(tmp_path / "c"))
    cfg = json.loads(out)
    assert code == 0 and cfg["roots"] == [str(tmp_path)] and cfg["host"] == "127.0.0.1" and cfg["token"] is None


def test_another_interface_gets_a_token_and_report_siblings_are_added(run_cli, tmp_path: Path) -> None:
    ds = tmp_path / "faces_ds"
    ds.mkdir()
    (tmp_path / "faces_ds_report").mkdir()
    (tmp_path / "faces_ds_report" / "index.html").write_text("<html></html>")
    code, out, _ = run_cli("serve", str(ds), "--host", "0.0.0.0", "--dry-run")
    cfg = json.loads(out)
    assert code == 0 and cfg["token"] == "<set>"
    assert cfg["roots"] == [str(ds), str(tmp_path / "faces_ds_report")]


def test_a_missing_folder_is_exit_code_2(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("serve", str(tmp_path / "nope"), "--dry-run")
    assert code == 2 and "nope" in err and "not a folder" in err
    code, _, err = run_cli("serve", str(tmp_path), "--port", "70000", "--dry-run")
    assert code == 2 and "--port" in err
