"""`synthbio convert` and `synthbio models list` through the command-line layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from synthbio.checkpoints import load_generator
from synthbio.checkpoints.rosinality import synthbio_to_rosinality
from synthbio.cli import convert, models
from synthbio.errors import CheckpointError, ModelNotFoundError
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.generator import Generator


def _app() -> typer.Typer:
    app = typer.Typer()
    convert.register(app)
    models.register(app)
    return app


@pytest.fixture
def ros_pt(tmp_path: Path) -> tuple[Path, Generator]:
    G = Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=8, channel_base=64, channel_max=16,
                                  mapping_layers=2)).eval()
    torch.save(synthbio_to_rosinality(G), tmp_path / "ros.pt")
    return tmp_path / "ros.pt", G


def test_convert_writes_native_folder(ros_pt, tmp_path: Path) -> None:
    src, G = ros_pt
    result = CliRunner().invoke(_app(), ["convert", str(src), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out" / "config.json").read_text())
    assert meta["provenance"]["source_format"] == "rosinality-pt"
    loaded = load_generator(tmp_path / "out")
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_bad_inputs_raise_synthbio_errors(ros_pt, tmp_path: Path) -> None:
    src, _ = ros_pt
    cut = tmp_path / "cut.pt"
    cut.write_bytes(src.read_bytes()[:200])
    result = CliRunner().invoke(_app(), ["convert", str(cut), str(tmp_path / "o1")])
    assert isinstance(result.exception, CheckpointError) and "cut.pt" in str(result.exception)
    result = CliRunner().invoke(_app(), ["convert", "sg2ada-ffhqq", str(tmp_path / "o2")])
    assert isinstance(result.exception, ModelNotFoundError)


def test_main_maps_errors_to_exit_code_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from synthbio.cli import main as cli_main

    monkeypatch.setattr("sys.argv", ["synthbio", "convert", "no-such-model", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as info:
        cli_main.main()
    assert info.value.code == 2
    assert "no-such-model" in capsys.readouterr().err


def test_models_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    cached = tmp_path / "models" / "sg2ada-cifar10" / "cifar10.pkl"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    result = CliRunner().invoke(_app(), ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()  # off a terminal: tab-separated, one whole line per model
    ffhq = next(line.split("\t") for line in lines if line.startswith("sg2ada-ffhq\t"))
    assert ffhq[2:5] == ["1024", "nvlabs-pkl", "no"]
    assert "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl" in result.output
    assert str(cached) in result.output


def test_error_message_prints_user_input_verbatim(run_cli, tmp_path) -> None:
    """Rich must not turn ':b:' into an emoji or '[bold]' into markup in an echoed input."""
    name = "x:b:[bold]y"
    code, _, err = run_cli("generate", "--model", name, "--seeds", "0", "--outdir", str(tmp_path / "o"))
    assert code == 2
    assert name in err
