"""Full disks, read-only places and files where folders belong: one line, exit 2, nothing written before is lost."""

from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from fault_helpers import leftovers, manifest_is_intact, one_error_line
from synthbio.checkpoints.encoders import save_encoder
from synthbio.checkpoints.native import save_generator
from synthbio.errors import OutputError
from synthbio.fingerprints.minutiae import write_template
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate
from synthbio.io.manifest import ManifestWriter, read_manifest
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.training.snapshots import load_training_state, save_training_state
from synthbio.utils.hashing import atomic_write, atomic_write_bytes, sha256_file

Run = Callable[..., tuple[int, str, str]]
TINY = dict(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
PAGE = 4096


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny generator, a grayscale one with its encoder, an image, a template, a direction."""
    root = tmp_path_factory.mktemp("inputs")
    save_generator(build_demo_generator(GeneratorConfig(**TINY)), root / "G")
    torch.manual_seed(0)
    gray = build_demo_generator(GeneratorConfig(**{**TINY, "branches": (("img", 1),)}))
    save_generator(gray, root / "G1")
    enc = Encoder(EncoderConfig(in_channels=1, resolution=16, num_ws=gray.num_ws, w_dim=16, channels=(4, 4, 4, 4),
                                blocks=(1, 1, 1, 1), head_channels=4), w_avg=gray.mapping.w_avg)
    save_encoder(enc, root / "enc", task="invert", generator=str(root / "G1"))
    rng = np.random.default_rng(0)
    PIL.Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / "img.png")
    PIL.Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(root / "gray.png")
    write_template(MinutiaeTemplate(minutiae=[Minutia(20.0 + 9 * k, 30.0 + 11 * k, 0.4 * k % (2 * math.pi))
                                              for k in range(8)], width=120, height=140), root / "t.iso")
    return {"root": root, "G": root / "G", "G1": root / "G1", "enc": root / "enc", "img": root / "img.png",
            "gray": root / "gray.png", "template": root / "t.iso"}


def commands(inp: dict[str, Path], out: Path) -> dict[str, list[str]]:
    """One small, valid command line per command that writes, with its output at `out`."""
    return {
        "generate": ["generate", "-m", str(inp["G"]), "--seeds", "0-1", "-o", str(out), "--device", "cpu"],
        "mix": ["mix", "-m", str(inp["G"]), "--rows", "1", "--cols", "2", "--styles", "0-3", "-o", str(out),
                "--device", "cpu"],
        "demo": ["demo", "-o", str(out), "--samples", "1"],
        "convert": ["convert", str(inp["G"]), str(out)],
        "project": ["project", "-m", str(inp["G"]), str(inp["img"]), "-o", str(out), "--steps", "2", "--loss", "l2",
                    "--device", "cpu"],
        "invert": ["invert", "--encoder", str(inp["enc"]), "-o", str(out), str(inp["gray"])],
        "faces embed": ["faces", "embed", str(inp["img"]), "--aligned", "--identity-model", "pixel-random", "-o", str(out / "e.npy")],
        "fingerprints generate": ["fingerprints", "generate", "--fingers", "1", "--impressions", "1", "-o", str(out),
                                  "--workers", "1"],
        "fingerprints reconstruct": ["fingerprints", "reconstruct", str(inp["template"]), "-o", str(out / "r.png")],
        "directions sefa": ["directions", "sefa", "-m", str(inp["G"]), "-o", str(out), "--num-directions", "1"],
        "edit": ["edit", "-m", str(inp["G"]), "--seeds", "0", "-o", str(out), "--device", "cpu",
                 "--direction", str(inp["root"] / "d.direction.safetensors")],
    }


@pytest.fixture(scope="module")
def direction(inputs: dict[str, Path]) -> Path:
    from synthbio.editing.directions import save_direction

    path = inputs["root"] / "d.direction.safetensors"
    save_direction(path, torch.ones(16), method="pca")
    return path


# --- the shared writers, with a fake refusal (runs everywhere) ----------------------------------------------------


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "no space left on"), (errno.EACCES, "permission denied"),
                                          (errno.EROFS, "read-only file system"), (errno.EDQUOT, "quota")])
def test_atomic_write_turns_refusals_into_one_line_and_keeps_the_old_file(tmp_path: Path, code: int,
                                                                          words: str) -> None:
    path = tmp_path / "result.json"
    path.write_text("old")

    def refuse(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(code, os.strerror(code))

    with pytest.raises(OutputError, match=words) as info:
        atomic_write(path, refuse)
    assert str(path) in str(info.value) and info.value.errno == code
    assert path.read_text() == "old" and leftovers(tmp_path) == []


def test_library_errno_in_text_is_recognised(tmp_path: Path) -> None:
    def safetensors_like(tmp: Path) -> None:
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")

    with pytest.raises(OutputError, match="no space left on"):
        atomic_write(tmp_path / "m.safetensors", safetensors_like)


def test_a_folder_where_a_file_belongs(tmp_path: Path) -> None:
    (tmp_path / "x.npy").mkdir()
    with pytest.raises(OutputError, match="x.npy is a folder"):
        atomic_write_bytes(tmp_path / "x.npy", b"data")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="not a folder"):
        atomic_write_bytes(tmp_path / "file" / "y.png", b"data")


def test_unwritable_folder_fake_eacces(inputs: dict[str, Path], run_cli: Run, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user without write permission sees (faked: root may write anywhere)."""
    guarded = tmp_path / "guarded"
    guarded.mkdir()
    real_mkdir, real_mkstemp = Path.mkdir, tempfile.mkstemp

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if guarded in self.parents and not self.exists():
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    def mkstemp(*args: object, dir: str | None = None, **kwargs: object) -> tuple[int, str]:  # noqa: A002
        if dir is not None and (Path(dir) == guarded or guarded in Path(dir).parents):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    for name in ("generate", "convert", "fingerprints reconstruct"):
        code, _, err = run_cli(*commands(inputs, guarded / "out")[name])
        assert code == 2, (name, err)
        assert "permission denied" in err.lower() and str(guarded) in err and "Traceback" not in err, (name, err)


# --- read-only output places, every command that writes -----------------------------------------------------------


@pytest.mark.parametrize("name", ["generate", "mix", "demo", "convert", "project", "invert", "faces embed",
                                  "fingerprints generate", "fingerprints reconstruct", "directions sefa", "edit"])
def test_read_only_output(inputs: dict[str, Path], direction: Path, read_only_dir: Path, cli_raw: Run,
                          name: str) -> None:
    out = read_only_dir / "out"
    code, _, err = cli_raw(*commands(inputs, out)[name])
    assert code == 2, (name, err)
    line = one_error_line(err)
    assert str(read_only_dir) in line and ("read-only" in line.lower() or "permission denied" in line.lower()), line


# --- files where folders belong, and folders where files belong ---------------------------------------------------


@pytest.mark.parametrize("name, make", [
    ("convert", "file"), ("invert", "file"), ("generate", "file"), ("project", "file"),
    ("fingerprints generate", "file"), ("faces embed", "parent-file"), ("fingerprints reconstruct", "parent-file"),
])
def test_output_path_is_a_file(inputs: dict[str, Path], cli_raw: Run,
                               tmp_path: Path, name: str, make: str) -> None:
    out = tmp_path / "out"
    out.write_text("a file, not a folder")
    code, _, err = cli_raw(*commands(inputs, out)[name])
    assert code == 2, (name, err)
    assert str(out) in one_error_line(err)
    assert out.read_text() == "a file, not a folder"


def test_output_file_is_a_folder(inputs: dict[str, Path], cli_raw: Run,
                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "e.npy").mkdir(parents=True)
    code, _, err = cli_raw(*commands(inputs, out)["faces embed"])
    assert code == 2 and "e.npy is a folder" in one_error_line(err), err


# --- full disks ----------------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in its own process: a crash in a native library must not take the test run with it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", "from synthbio.cli.main import main; main()", *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def _pages(folder: Path) -> int:
    return sum(-(-p.stat().st_size // PAGE) for p in folder.rglob("*") if p.is_file())


def test_generate_when_the_disk_fills_while_samples_h5_is_written(inputs: dict[str, Path], small_disk, cli_raw: Run,
                                                                  tmp_path: Path) -> None:
    """The disk has room for every PNG and the manifest but not for samples.h5 (HDF5 crashed here: exit 139)."""
    args = ["generate", "-m", str(inputs["G"]), "--seeds", "0-15", "--device", "cpu", "-o"]
    ref = tmp_path / "ref"
    assert cli_raw(*args, str(ref))[0] == 0
    h5_pages = -(-(ref / "samples.h5").stat().st_size // PAGE)
    assert h5_pages >= 4
    disk = small_disk(1 << 20)
    disk.fill(leave=(_pages(ref) - h5_pages + 2) * PAGE)
    out = disk.path / "out"
    result = _cli(*args, str(out))  # in a process of its own: the old code crashed the interpreter here
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    line = one_error_line(result.stderr)
    assert f"no space left on {out / 'samples.h5'}" in line
    assert leftovers(disk.path) == []
    assert manifest_is_intact(out) == 16  # every image was finished and listed before the disk filled
    disk.resize(4 << 20)  # room again: the same command finishes what is missing
    code, result_out, err = cli_raw(*args, str(out))
    assert code == 0, err
    assert "0 samples generated, 16 already done" in " ".join(result_out.split())  # results go to stdout
    for png in sorted(ref.glob("seed*.png")):
        assert sha256_file(out / png.name) == sha256_file(png)
    assert (out / "samples.h5").is_file()


def test_fingerprints_generate_on_a_full_disk_resumes(small_disk, cli_raw: Run) -> None:
    disk = small_disk(96 * 1024)
    out = disk.path / "fp"
    args = ["fingerprints", "generate", "--fingers", "3", "--impressions", "2", "--seed", "0", "-o", str(out),
            "--workers", "1"]
    code, _, err = cli_raw(*args)
    assert code == 2, err[-2000:]
    assert "no space left on" in one_error_line(err) and str(out) in err
    assert leftovers(disk.path) == []
    done = len(read_manifest(out / "manifest.jsonl").records)
    assert read_manifest(out / "manifest.jsonl").dropped_lines == 0
    disk.resize(8 << 20)
    code, _, err = cli_raw(*args)
    assert code == 0, err[-2000:]
    assert len(read_manifest(out / "manifest.jsonl").records) == 3 > done  # one line per finger


def test_training_state_on_a_full_disk_keeps_the_previous_one(small_disk) -> None:
    disk = small_disk(256 * 1024)
    path = disk.path / "training_state.pt"
    save_training_state(path, {"step": 1, "weights": torch.zeros(100)})
    with pytest.raises(OutputError, match=f"no space left on {path}"):
        save_training_state(path, {"step": 2, "weights": torch.zeros(200_000)})  # 800 KB
    assert load_training_state(path)["step"] == 1
    assert leftovers(disk.path) == []


def test_convert_on_a_full_disk(inputs: dict[str, Path], small_disk, cli_raw: Run) -> None:
    disk = small_disk(64 * 1024)
    disk.fill(leave=3 * PAGE)
    code, _, err = cli_raw("convert", str(inputs["G"]), str(disk.path / "native"))
    assert code == 2, err[-2000:]
    assert "no space left on" in one_error_line(err)
    assert leftovers(disk.path) == []


def test_manifest_line_that_does_not_fit_is_cut_off_again(small_disk) -> None:
    disk = small_disk(64 * 1024)
    path = disk.path / "manifest.jsonl"
    with ManifestWriter(path) as m:
        m.append({"seed": 0})
        disk.fill(leave=0)
        with pytest.raises(OutputError, match="no space left on"):
            m.append({"seed": 1, "pad": "x" * 20_000})
    assert path.read_bytes() == b'{"seed":0}\n'
    assert json.loads(path.read_text()) == {"seed": 0}


@pytest.mark.slow  # three tiny training runs (about 40 s of CPU)
def test_train_when_the_disk_fills_at_the_training_state(small_disk, cli_raw: Run, tmp_path: Path) -> None:
    """torch.save reported a full disk as '[enforce fail at inline_container.cc] unexpected pos 576 vs 534'."""
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        PIL.Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(data / f"{i}.png")
    args = ["train", "--data", str(data), "--kimg", "0.008", "--batch", "4", "--snap", "0.008", "--device", "cpu",
            "--grid", "4", "--outdir"]
    ref = tmp_path / "ref"
    assert cli_raw(*args, str(ref))[0] == 0
    state_pages = -(-(ref / "latest" / "training_state.pt").stat().st_size // PAGE)
    disk = small_disk(8 << 20)
    disk.fill(leave=(_pages(ref) - state_pages + 2) * PAGE)
    out = disk.path / "run"
    code, _, err = cli_raw(*args, str(out))
    assert code == 2, err[-3000:]
    line = one_error_line(err[err.rfind("error:"):]) if "error:" in err else err
    assert "no space left on" in line and "training_state.pt" in line, err[-3000:]
    assert "enforce fail" not in err and leftovers(disk.path) == []
    assert (out / "latest" / "model.safetensors").is_file()  # the snapshot written before is whole
    disk.resize(16 << 20)
    (disk.path / "filler.bin").unlink()
    code, _, err = cli_raw(*args, str(out))  # no state was saved: the same command starts again
    assert code == 0, err[-3000:]
    assert (out / "latest" / "training_state.pt").is_file() and leftovers(disk.path) == []
