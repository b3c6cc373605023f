"""Reconstruction from minutiae: geometry back to the template frame, the encoder -> G path, the file job."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from synthbio.checkpoints.encoders import save_encoder
from synthbio.checkpoints.native import save_generator
from synthbio.errors import CheckpointError, InputError
from synthbio.fingerprints.minutiae import TemplateError, write_template
from synthbio.fingerprints.minutiae_map import render_minutiae_maps, template_to_canvas
from synthbio.pipelines.fingerprints.reconstruct import ReconstructConfig, collect_templates, reconstruct_files
from synthbio.fingerprints.reconstruction import check_compatible, load_reconstruction_models, reconstruct
from synthbio.fingerprints.minutiae_map import minutiae_map_preview, output_size, to_template_geometry
from synthbio.fingerprints.types import Minutia, MinutiaeTemplate, Singularity
from synthbio.nn.config import GeneratorConfig
from synthbio.nn.encoders import Encoder, EncoderConfig
from synthbio.nn.generator import Generator


def tiny_models(res: int = 32, seed: int = 0) -> tuple[Encoder, Generator]:
    torch.manual_seed(seed)  # weight init only; the code under test never draws random numbers
    G = Generator(GeneratorConfig(z_dim=8, w_dim=8, img_resolution=res, branches=(("img", 1),), channel_base=64,
                                  channel_max=8, mapping_layers=2)).eval()
    enc = Encoder(EncoderConfig(in_channels=3, resolution=res, num_ws=G.num_ws, w_dim=8, channels=(4, 4, 8, 8),
                                blocks=(1, 1, 1, 1), head_channels=8, offset_gain=1.0), w_avg=G.mapping.w_avg)
    return enc.eval(), G


def template(n: int = 12, *, width: int = 256, height: int = 320, seed: int = 0) -> MinutiaeTemplate:
    rng = np.random.default_rng(seed)
    minutiae = [Minutia(x=float(rng.uniform(10, width - 10)), y=float(rng.uniform(10, height - 10)),
                        angle=float(rng.uniform(0, 2 * math.pi)), kind="ending" if k % 2 else "bifurcation")
                for k in range(n)]
    return MinutiaeTemplate(minutiae=minutiae, width=width, height=height, dpi=500)


# --- geometry -----------------------------------------------------------------------------


@pytest.mark.parametrize("size, width, height, point", [
    (256, 416, 560, (100.0, 400.0)),  # upsampling, tall template
    (512, 200, 120, (150.0, 30.0)),   # downsampling (antialiased first), wide template
])
def test_map_point_lands_on_its_template_pixel(size: int, width: int, height: int, point: tuple[float, float]) -> None:
    # A core without angle is a plain Gaussian blob at the mapped point of the minutiae map.
    t = MinutiaeTemplate(minutiae=[], width=width, height=height,
                         singularities=[Singularity(x=point[0], y=point[1], kind="core")])
    canvas = render_minutiae_maps([t], size=size)[0, 2:3]  # [1, R, R]
    framed = to_template_geometry(canvas, t)
    assert framed.shape == (1, height, width)
    assert _centroid(framed[0]) == pytest.approx(point, abs=0.1)
    half = to_template_geometry(canvas, t, dpi_out=250)  # half the resolution: half the coordinates
    assert half.shape == (1, round(height / 2), round(width / 2))
    # pixel centres scale: x_out = (x + 0.5) * f - 0.5
    assert _centroid(half[0]) == pytest.approx(((point[0] + 0.5) / 2 - 0.5, (point[1] + 0.5) / 2 - 0.5), abs=0.1)


def _centroid(img: torch.Tensor) -> tuple[float, float]:
    """(x, y) intensity centroid of the 31x31 window around the brightest pixel."""
    a = img.numpy().astype(np.float64)
    y0, x0 = np.unravel_index(int(a.argmax()), a.shape)
    ys, xs = slice(max(y0 - 15, 0), y0 + 16), slice(max(x0 - 15, 0), x0 + 16)
    w = a[ys, xs]
    yy, xx = np.mgrid[ys, xs]
    return float((w * xx).sum() / w.sum()), float((w * yy).sum() / w.sum())


def test_geometry_is_exact_on_a_matching_canvas() -> None:
    # Square template of the canvas size: the mapping is the identity.
    t = MinutiaeTemplate(minutiae=[], width=32, height=32)
    img = torch.rand(1, 32, 32) * 2 - 1
    assert torch.allclose(to_template_geometry(img, t), img, atol=1e-5)
    assert template_to_canvas(t, 32) == (1.0, 0.0, 0.0)


def test_output_size_and_errors() -> None:
    t = template(width=416, height=560)
    assert output_size(t) == (560, 416)
    assert output_size(t, dpi_out=1000) == (1120, 832)
    with pytest.raises(InputError, match="dpi_out"):
        output_size(t, dpi_out=0)
    with pytest.raises(InputError, match="square canvas"):
        to_template_geometry(torch.zeros(1, 8, 16), t)


def test_minutiae_map_preview_is_rgb_in_template_frame() -> None:
    p = minutiae_map_preview(template(width=100, height=140), size=32)
    assert p.shape == (140, 100, 3) and p.dtype == np.uint8 and p.max() == 255


# --- networks -----------------------------------------------------------------------------


def test_reconstruct_shape_determinism_and_batch_independence() -> None:
    enc, G = tiny_models()
    ts = [template(seed=s) for s in range(3)]
    a = reconstruct(ts, encoder=enc, generator=G, batch_size=3)
    assert a.shape == (3, 1, 32, 32) and a.dtype == torch.float32
    assert float(a.min()) >= -1 and float(a.max()) <= 1
    b = reconstruct(ts, encoder=enc, generator=G, batch_size=1)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    c = reconstruct(ts[1:2], encoder=enc, generator=G)
    torch.testing.assert_close(a[1:2], c, rtol=0, atol=1e-6)
    assert not torch.allclose(a[0], a[1])  # the template drives the image
    assert reconstruct([], encoder=enc, generator=G).shape == (0, 1, 32, 32)


def test_reconstruct_with_any_module_mapping_maps_to_ws() -> None:
    _, G = tiny_models()

    class Constant(torch.nn.Module):  # no .config: only the ws shape is checked
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return G.mapping.w_avg.expand(x.shape[0], G.num_ws, -1)

    out = reconstruct([template()], encoder=Constant(), generator=G)
    ref = G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1), noise_mode="const")
    torch.testing.assert_close(out, ref.clamp(-1, 1))

    class Wrong(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 3, 8)

    with pytest.raises(CheckpointError, match="ws of shape"):
        reconstruct([template()], encoder=Wrong(), generator=G)


def test_incompatible_encoder_is_refused() -> None:
    enc, _ = tiny_models(res=32)
    _, G64 = tiny_models(res=64)
    with pytest.raises(CheckpointError, match="resolution 32 .generator needs 64"):
        check_compatible(enc, G64)


# --- loading and files --------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("models")
    enc, G = tiny_models()
    gdir = save_generator(G, root / "G")
    edir = save_encoder(enc, root / "enc", task="minutiae", generator=str(gdir), provenance={})
    return edir, gdir


def test_load_models_uses_the_generator_the_encoder_names(saved_models: tuple[Path, Path], tmp_path: Path) -> None:
    edir, gdir = saved_models
    m = load_reconstruction_models(str(edir))
    assert m.generator_source == str(gdir) and m.generator.img_resolution == 32
    enc, G = tiny_models()
    bad = save_encoder(enc, tmp_path / "inv", task="invert", generator=str(gdir), provenance={})
    with pytest.raises(CheckpointError, match="task 'invert'"):
        load_reconstruction_models(str(bad))


def _dataset_like(root: Path) -> list[MinutiaeTemplate]:
    ts = []
    for f in range(2):
        for k in range(2):
            t = template(seed=10 * f + k, width=200, height=240)
            for ext in ("json", "iso", "xyt"):
                write_template(t, root / f"{f:05d}" / f"{k:02d}.{ext}")
            ts.append(t)
    (root / "config.json").write_text(json.dumps({"config": {"fingers": 2}}))  # not a template: ignored
    return ts


def test_reconstruct_files_mirrors_folders(saved_models: tuple[Path, Path], tmp_path: Path) -> None:
    edir, _ = saved_models
    src = tmp_path / "templates"
    for d in ("00000", "00001"):
        (src / d).mkdir(parents=True)
    _dataset_like(src)
    items, skipped = collect_templates(src)
    assert [rel.as_posix() for _, rel in items] == ["00000/00.png", "00000/01.png", "00001/00.png", "00001/01.png"]
    assert all(p.suffix == ".json" for p, _ in items) and len(skipped) == 8  # .iso/.xyt of the same stems
    res = reconstruct_files(ReconstructConfig(method="encoder", template=str(src), out=str(tmp_path / "out"), encoder=str(edir),
                                              device="cpu", batch_size=3))
    assert len(res.written) == 4
    with PIL.Image.open(tmp_path / "out" / "00001" / "01.png") as im:
        assert im.size == (200, 240) and im.mode == "L" and round(im.info["dpi"][0]) == 500
    one = reconstruct_files(ReconstructConfig(method="encoder", template=str(src / "00001" / "01.iso"), out=str(tmp_path / "one.png"),
                                              encoder=str(edir), device="cpu", dpi_out=1000))
    with PIL.Image.open(one.written[0]) as im:
        assert im.size == (400, 480) and round(im.info["dpi"][0]) == 1000


def test_malformed_template_fails_before_writing(saved_models: tuple[Path, Path], tmp_path: Path) -> None:
    edir, _ = saved_models
    src = tmp_path / "t"
    src.mkdir()
    write_template(template(), src / "a.json")
    (src / "b.iso").write_bytes(b"FMR\x00 20\x00garbage")
    with pytest.raises(TemplateError, match="b.iso"):
        reconstruct_files(ReconstructConfig(method="encoder", template=str(src), out=str(tmp_path / "out"), encoder=str(edir),
                                            device="cpu"))
    assert not (tmp_path / "out").exists()
