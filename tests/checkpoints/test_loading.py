"""Format detection, the common loaders and conversion to the native format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ckpt_helpers import perturb, tiny_d_config, tiny_g_config

from synthbio.checkpoints import convert_checkpoint, detect_format, load_discriminator, load_generator, save_generator
from synthbio.checkpoints.rosinality import synthbio_to_rosinality
from synthbio.errors import CheckpointError, OutputDirError
from synthbio.nn.discriminator import Discriminator
from synthbio.nn.generator import Generator


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_every_format_is_detected_and_loaded(official_pickle, tiny_G: Generator, tmp_path: Path) -> None:
    D = perturb(Discriminator(tiny_d_config()), 2)
    pkl = official_pickle(tiny_G, D=D)
    save_generator(tiny_G, tmp_path / "native", D=D)
    G1 = perturb(Generator(tiny_g_config(branches=(("img", 1),))), 3)
    torch.save(synthbio_to_rosinality(G1), tmp_path / "ros.pt")
    torch.save(synthbio_to_rosinality(G1), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert detect_format(pkl)[0] == "nvlabs-pkl"
    assert detect_format(tmp_path / "native") == ("native", tmp_path / "native")
    assert detect_format(tmp_path / "native" / "model.safetensors") == ("native", tmp_path / "native")
    assert detect_format(tmp_path / "ros.pt")[0] == detect_format(tmp_path / "legacy.pt")[0] == "rosinality-pt"
    for src in (pkl, tmp_path / "native"):
        assert _same(load_generator(src, device=torch.device("cpu")), tiny_G)
        assert _same(load_discriminator(src), D)
    for src in (tmp_path / "ros.pt", tmp_path / "legacy.pt"):
        assert _same(load_generator(src), G1)
    with pytest.raises(CheckpointError, match="rosinality discriminators"):
        load_discriminator(tmp_path / "ros.pt")


def test_unrecognised_file(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(CheckpointError, match=r"x\.png: unrecognised checkpoint format"):
        load_generator(tmp_path / "x.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a synthbio model folder"):
        load_generator(tmp_path / "empty")


def test_convert_pickle_records_provenance(official_pickle, tiny_G: Generator, tmp_path: Path) -> None:
    D = perturb(Discriminator(tiny_d_config()), 2)
    pkl = official_pickle(tiny_G, D=D)
    out = convert_checkpoint(pkl, tmp_path / "out")
    assert _same(load_generator(out), tiny_G) and _same(load_discriminator(out), D)
    prov = json.loads((out / "config.json").read_text())["provenance"]
    assert prov["source"] == str(pkl) and prov["source_format"] == "nvlabs-pkl" and prov["which"] == "G_ema"
    assert len(prov["source_sha256"]) == 64
    with pytest.raises(OutputDirError, match="--overwrite"):
        convert_checkpoint(pkl, out)
    convert_checkpoint(pkl, out, which="D", force=True)
    assert json.loads((out / "config.json").read_text())["format"] == "synthbio.discriminator"
    assert _same(load_discriminator(out), D)
