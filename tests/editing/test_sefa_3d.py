"""SeFa on StyleGAN3 and EG3D generators, and the directions / edit / mix commands on them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_generators import tiny_eg3d, tiny_sg3

from synthbio.checkpoints import save_generator
from synthbio.editing.sefa import sefa, style_layers


def test_stylegan3_style_layers_skip_the_input_and_torgb() -> None:
    G = tiny_sg3()
    layers = style_layers(G)
    assert [s.ws_index for s in layers] == list(range(1, G.num_ws - 1))
    assert layers[0].name == f"synthesis.{G.synthesis.layer_names[0]}.affine"
    assert all("input" not in s.name and s.name.split(".")[1] != G.synthesis.layer_names[-1] for s in layers)
    result = sefa(G, num_directions=3)
    assert result.directions.shape == (3, G.w_dim)
    assert torch.allclose(result.directions.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.all(result.eigenvalues[:-1] >= result.eigenvalues[1:])
    assert sefa(G, layers=range(2, 3), num_directions=1).layer_names == (f"synthesis.{G.synthesis.layer_names[1]}.affine",)


def test_eg3d_style_layers_are_the_backbone_convs() -> None:
    G = tiny_eg3d()
    names = [s.name for s in style_layers(G)]
    assert names[0] == "backbone.synthesis.b4.conv1.affine" and all(n.startswith("backbone.synthesis.b") for n in names)
    assert sefa(G, num_directions=2).directions.shape == (2, G.w_dim)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"sg3": save_generator(tiny_sg3(), root / "sg3"), "eg3d": save_generator(tiny_eg3d(), root / "eg3d")}


@pytest.mark.parametrize("kind", ["sg3", "eg3d"])
def test_directions_edit_and_mix_commands(run_cli, models, tmp_path: Path, kind: str) -> None:
    model = str(models[kind])
    code, _, err = run_cli("directions", "sefa", "-m", model, "-o", str(tmp_path / "dirs"), "--num", "2")
    assert code == 0, err
    code, _, err = run_cli("edit", "-m", model, "-d", str(tmp_path / "dirs" / "sefa_0.direction.safetensors"),
                           "--seeds", "0-1", "--strengths=-2:2:3", "-o", str(tmp_path / "edits"))
    assert code == 0, err
    assert len(list((tmp_path / "edits").rglob("*.png"))) >= 6
    code, _, err = run_cli("mix", "-m", model, "--rows", "1,2", "--cols", "3", "--styles", "0-3",
                           "-o", str(tmp_path / "mix"))
    assert code == 0, err
    assert len(list((tmp_path / "mix").rglob("*.png"))) >= 2


def test_svm_reads_the_recorded_w_of_anchored_stylegan3_projections(tmp_path: Path) -> None:
    """An anchored StyleGAN3 projection has ws[:, 0] = w_avg for every sample; the SVM must read the w
    the samples.h5 records (the projected w), or every sample would look the same."""
    import numpy as np

    from synthbio.editing.svm_directions import join_labels
    from synthbio.io.samples import SampleLatents, write_samples

    rng = np.random.default_rng(0)
    w_avg = rng.standard_normal(8).astype(np.float32)
    rows, lines = [], ["filename,smile"]
    for i in range(6):
        w = rng.standard_normal(8).astype(np.float32)
        ws = np.stack([w_avg] + [w] * 5)
        rows.append(SampleLatents(identity=i, label="projected", z=np.full(8, np.nan, dtype=np.float32), w=w,
                                  w_plus=ws))  # as the project job writes them
        lines.append(f"{i},{i % 2}")
    write_samples(tmp_path / "samples.h5", rows)
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    got = join_labels(str(tmp_path / "samples.h5"), str(tmp_path / "labels.csv"), label="smile")
    assert np.array_equal(got.latents.numpy(), np.stack([r.w for r in rows]))
