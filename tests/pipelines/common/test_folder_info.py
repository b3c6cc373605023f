"""`synthbio info DIR`: which job wrote a folder, how far it got, how to continue it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthbio.errors import InputError
from synthbio.io.derived import mark_derived
from synthbio.io.manifest import read_manifest, rewrite_manifest
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.common.folder_info import describe_folder, info_text
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.pipelines.images.generate import GenerateConfig, generate_with


@pytest.fixture(scope="module")
def G():
    return build_demo_generator(GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, channel_base=64, channel_max=8,
                                                mapping_layers=1, branches=(("img", 3),)))


def test_a_killed_generate_run_is_incomplete_and_resumable(G, tmp_path: Path) -> None:
    generate_with(G, GenerateConfig(model="tiny", outdir=str(tmp_path), seeds=(0, 1, 2, 3)))
    info = describe_folder(tmp_path)
    assert (info["command"], info["done"], info["wanted"], info["complete"]) == ("generate", 4, 4, True)
    records = read_manifest(tmp_path / "manifest.jsonl").records
    rewrite_manifest(tmp_path / "manifest.jsonl", records[:1])  # as if killed after the first sample
    info = describe_folder(tmp_path)
    assert (info["done"], info["complete"], info["resumable"]) == (1, False, True)
    text = info_text(info)
    assert "written by `synthbio generate`" in text and "1 of 4 seeds (incomplete)" in text
    assert "continue with: the same `synthbio generate` command" in text


def test_reports_models_and_foreign_folders(tmp_path: Path) -> None:
    mark_derived(tmp_path / "fp_report", command="fingerprints evaluate", source=tmp_path / "fp")
    info = describe_folder(tmp_path / "fp_report")
    assert info["kind"] == "report" and info["command"] == "fingerprints evaluate"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.txt").write_text("x")
    assert describe_folder(tmp_path / "plain")["kind"] == "folder"
    with pytest.raises(InputError, match="no such"):
        describe_folder(tmp_path / "missing")


def test_train_run_progress_from_stats(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"train": {"data": "d"}, "plan": {"kimg": 2.0}}))
    (tmp_path / "stats.jsonl").write_text(json.dumps({"kimg": 0.5}) + "\n")
    (tmp_path / "latest").mkdir()
    (tmp_path / "latest" / "training_state.pt").write_bytes(b"")
    info = describe_folder(tmp_path)
    assert (info["command"], info["done"], info["wanted"], info["resumable"]) == ("train", 0.5, 2.0, True)
    assert info["continue_with"] == f"synthbio train --resume {tmp_path}"


def test_info_command_json(run_cli, G, tmp_path: Path) -> None:  # noqa: ANN001
    generate_with(G, GenerateConfig(model="tiny", outdir=str(tmp_path / "g"), seeds=(5,)))
    code, out, err = run_cli("info", str(tmp_path / "g"), "--json")
    assert code == 0, err
    [info] = json.loads(out)
    assert info["command"] == "generate" and info["config"]["seeds"] == [5] and info["complete"] is True
