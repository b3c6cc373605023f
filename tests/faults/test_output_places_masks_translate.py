"""`masks generate` and `translate apply` as a careless user runs them: a file where the output folder goes,
a read-only output place, a disk that fills up -> one line, exit 2, nothing written before lost, and the
same command finishes the job once there is room."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_helpers import leftovers, manifest_is_intact, one_error_line

from synthbio.checkpoints import save_generator
from synthbio.translation.checkpoint import save_translator
from synthbio.translation.networks import build_generators
from synthbio.utils.hashing import sha256_file

_TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_TESTS / "pipelines" / "masks"))
sys.path.insert(0, str(_TESTS / "translation"))
from masks_job_helpers import random_classifier, tiny_generator  # noqa: E402
from translation_helpers import tiny_config, write_folder  # noqa: E402

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny generator with a random pixel classifier; a tiny grayscale translator with 12 images."""
    root = tmp_path_factory.mktemp("mt_inputs")
    G = tiny_generator()
    save_generator(G, root / "G")
    random_classifier(G, root / "clf", model=str(root / "G"), members=1)
    cfg = tiny_config(channels_a=1, channels_b=1)
    save_translator(root / "T", cfg, build_generators(cfg, seed=1))
    write_folder(root / "imgs", 12, size=(32, 32), channels=1)
    return {"clf": root / "clf", "T": root / "T", "imgs": root / "imgs"}


def _command(name: str, inputs: dict[str, Path], out: Path, seeds: str = "0-3") -> list[str]:
    if name == "masks generate":
        return ["masks", "generate", str(inputs["clf"]), "--seeds", seeds, "-o", str(out), "--device", "cpu"]
    return ["translate", "apply", "-m", str(inputs["T"]), str(inputs["imgs"]), "-o", str(out), "--device", "cpu"]


NAMES = ["masks generate", "translate apply"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_a_file_where_the_outdir_goes(inputs: dict[str, Path], cli_raw: Run, tmp_path: Path, name: str,
                                      where: str) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    out = blocker if where == "file" else blocker / "sub"
    code, _, err = cli_raw(*_command(name, inputs, out))
    assert code == 2, err
    assert str(blocker) in one_error_line(err)
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("name", NAMES)
def test_read_only_outdir(inputs: dict[str, Path], read_only_dir: Path, cli_raw: Run, name: str) -> None:
    code, _, err = cli_raw(*_command(name, inputs, read_only_dir / "out"))
    assert code == 2, err
    line = one_error_line(err)
    assert str(read_only_dir) in line and ("read-only" in line.lower() or "permission denied" in line.lower()), line


@pytest.mark.parametrize("name, size, seeds", [("masks generate", 160 << 10, "0-11"),
                                               ("translate apply", 28 << 10, "")])
def test_full_disk_keeps_what_was_written_and_resumes(inputs: dict[str, Path], small_disk, cli_raw: Run,
                                                      tmp_path: Path, name: str, size: int, seeds: str) -> None:
    ref = tmp_path / "ref"
    assert cli_raw(*_command(name, inputs, ref, seeds))[0] == 0
    disk = small_disk(size)
    out = disk.path / "out"
    code, _, err = cli_raw(*_command(name, inputs, out, seeds))
    assert code == 2, err
    assert f"no space left on {out}" in one_error_line(err)
    assert leftovers(disk.path) == []
    done = manifest_is_intact(out)
    assert 0 < done < manifest_is_intact(ref)  # some finished before the disk filled, and they are whole
    disk.resize(8 << 20)
    code, _, err = cli_raw(*_command(name, inputs, out, seeds))
    assert code == 0, err
    assert manifest_is_intact(out) == manifest_is_intact(ref)
    for f in sorted(p for p in ref.rglob("*.png") if p.name != "grid.png"):
        assert sha256_file(out / f.relative_to(ref)) == sha256_file(f), f
