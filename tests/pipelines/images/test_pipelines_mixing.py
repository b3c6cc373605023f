import numpy as np
import pytest

from synthbio.errors import InputError, OutputDirError
from synthbio.io.images import read_png
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.pipelines.images.mix import MixConfig, style_mix_with


@pytest.fixture(scope="module")
def G():
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
    return build_demo_generator(cfg, seed=3, noise_strength=0.3)  # num_ws = 6


def test_grid_headers_and_mixes(G, tmp_path):
    res = style_mix_with(G, MixConfig(model="tiny", outdir=str(tmp_path), rows=(85, 100), cols=(55, 821, 7),
                                      styles=(0, 1, 2), truncation_psi=0.8))
    names = {p.name for p in res.images}
    assert {"85-55.png", "100-7.png", "85-85.png", "821-821.png"} <= names and len(names) == 5 + 6
    grid = read_png(tmp_path / "grid.png")
    assert grid.shape == (3 * 16, 4 * 16, 3)
    tile = lambda r, c: grid[16 * r : 16 * r + 16, 16 * c : 16 * c + 16]  # noqa: E731
    assert (tile(0, 0) == 0).all()
    np.testing.assert_array_equal(tile(0, 2), read_png(tmp_path / "821-821.png"))  # header row: column seeds
    np.testing.assert_array_equal(tile(2, 0), read_png(tmp_path / "100-100.png"))  # header column: row seeds
    np.testing.assert_array_equal(tile(1, 3), read_png(tmp_path / "85-7.png"))
    assert not np.array_equal(read_png(tmp_path / "85-55.png"), read_png(tmp_path / "85-85.png"))


def test_mixing_every_layer_gives_the_column_image(G, tmp_path):
    style_mix_with(G, MixConfig(model="tiny", outdir=str(tmp_path), rows=(1,), cols=(2,), styles=tuple(range(6))))
    np.testing.assert_array_equal(read_png(tmp_path / "1-2.png"), read_png(tmp_path / "2-2.png"))


def test_bad_styles(G, tmp_path):
    with pytest.raises(InputError, match="0-5"):
        style_mix_with(G, MixConfig(model="tiny", outdir=str(tmp_path), rows=(1,), cols=(2,), styles=(0, 6)))


def test_multi_branch_layout(tmp_path):
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16,
                          mapping_layers=2, branches=(("rgb", 3), ("nir", 1)))
    res = style_mix_with(build_demo_generator(cfg), MixConfig(model="t", outdir=str(tmp_path), rows=(1,), cols=(2,),
                                                              styles=(0,)))
    assert {p.name for p in res.grids} == {"grid_rgb.png", "grid_nir.png"}
    assert (tmp_path / "nir" / "1-2.png").is_file() and read_png(tmp_path / "grid_nir.png").shape == (32, 32)


def test_mix_refuses_another_run_resumes_the_same_and_overwrite_replaces(G, tmp_path):
    from synthbio.io.manifest import read_manifest

    cfg = MixConfig(model="tiny", outdir=str(tmp_path), rows=(1, 2), cols=(3,), styles=(0,))
    style_mix_with(G, cfg)
    grid = (tmp_path / "grid.png").read_bytes()
    style_mix_with(G, cfg)  # the same run again: accepted, same files
    assert (tmp_path / "grid.png").read_bytes() == grid
    other = MixConfig(model="tiny", outdir=str(tmp_path), rows=(5,), cols=(6,), styles=(0,))
    with pytest.raises(OutputDirError, match="--overwrite"):
        style_mix_with(G, other)
    assert (tmp_path / "2-3.png").is_file()  # refused: nothing touched
    res = style_mix_with(G, MixConfig(**{**other.to_dict(), "rows": (5,), "cols": (6,), "styles": (0,),
                                         "overwrite": True}))
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(["grid.png"] + [p.name for p in res.images])
    assert [(r["row"], r["col"]) for r in read_manifest(tmp_path / "manifest.jsonl").records] == [
        (5, 5), (6, 6), (5, 6)]


def test_mix_refuses_a_generate_folder(G, tmp_path):
    from synthbio.pipelines.images.generate import GenerateConfig, generate_with

    generate_with(G, GenerateConfig(model="tiny", outdir=str(tmp_path), seeds=(0,)))
    with pytest.raises(OutputDirError, match="`generate` results"):
        style_mix_with(G, MixConfig(model="tiny", outdir=str(tmp_path), rows=(1,), cols=(2,), styles=(0,)))
