import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synthbio.checkpoints import model_hash
from synthbio.errors import InputError, OutputDirError
from synthbio.io.images import read_png, to_uint8
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.pipelines.images.generate import GenerateConfig, generate_with
from synthbio.utils.hashing import sha256_file
from synthbio.utils.seeds import z_from_seeds

TINY = dict(z_dim=16, w_dim=16, channel_base=512, channel_max=16, mapping_layers=2)


def tiny(*, res=32, branches=(("img", 3),), c_dim=0, seed=0):
    cfg = GeneratorConfig(img_resolution=res, c_dim=c_dim, branches=branches, **TINY)
    return build_demo_generator(cfg, seed=seed, noise_strength=0.3)


@pytest.fixture(scope="module")
def G_multi():
    return tiny(branches=(("rgb", 3), ("nir", 1)))


@pytest.fixture(scope="module")
def G_single():
    return tiny(res=16)


def cfg(outdir, **kw):
    base = dict(model="tiny", outdir=str(outdir), seeds=tuple(range(7)), truncation_psi=0.7)
    return GenerateConfig(**{**base, **kw})


def png_bytes(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*.png"))}


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_same_bytes_for_every_batch_size(G_multi, tmp_path, noise_mode):
    outs = []
    for bs in (1, 3, 5):
        d = tmp_path / f"b{bs}"
        generate_with(G_multi, cfg(d, batch_size=bs, noise_mode=noise_mode, seeds=tuple(range(11))))
        outs.append(png_bytes(d))
    assert len(outs[0]) == 22 and outs[0] == outs[1] == outs[2]


def test_images_equal_the_official_recipe(G_single, tmp_path):
    # One seed through G(z) with z = RandomState(seed).randn(1, z_dim), uint8 as the official tool.
    generate_with(G_single, cfg(tmp_path, seeds=(3, 17), noise_mode="random"))
    for seed in (3, 17):
        with torch.no_grad():
            x = G_single(z_from_seeds([seed], 16), None, truncation_psi=0.7, noise_mode="random",
                         generator=torch.Generator().manual_seed(seed))
        np.testing.assert_array_equal(read_png(tmp_path / f"seed{seed:04d}.png"), to_uint8(x)[0])


def test_layout_manifest_latents_config(G_multi, tmp_path):
    c = cfg(tmp_path, seeds=(5, 0, 12), grid=True)
    res = generate_with(G_multi, c)
    assert res.generated == [5, 0, 12] and res.kept == []
    assert {p.name for p in res.grids} == {"grid_rgb.png", "grid_nir.png"}
    assert read_png(tmp_path / "grid_rgb.png").shape == (64, 64, 3)  # 2x2 tiles of 32 px
    assert read_png(tmp_path / "grid_nir.png").shape == (64, 64)
    recs = read_manifest(tmp_path / "manifest.jsonl").records
    assert [r["seed"] for r in recs] == [5, 0, 12]
    for r in recs:
        assert r["truncation_psi"] == 0.7 and r["noise_mode"] == "const" and r["label"] == "reference"
        assert r["model_sha256"] == model_hash(G_multi)
        assert set(r["files"]) == {"rgb", "nir"}
        assert r["files"]["nir"]["path"] == f"nir/seed{r['seed']:04d}.png"
        for f in r["files"].values():
            assert sha256_file(tmp_path / f["path"]) == f["sha256"]
    attrs, samples = read_samples(tmp_path / "samples.h5")
    assert attrs["generator_sha256"] == model_hash(G_multi) and attrs["generator_path"] == "tiny"
    assert [s.identity for s in samples] == [0, 5, 12]
    with torch.no_grad():
        ws = G_multi.mapping(z_from_seeds([0, 5, 12], 16), None, truncation_psi=0.7)
    for i, s in enumerate(samples):
        np.testing.assert_array_equal(s.z, z_from_seeds([s.identity], 16)[0].numpy())
        np.testing.assert_allclose(s.w_plus, ws[i].numpy(), atol=1e-5)
        np.testing.assert_array_equal(s.w, s.w_plus[0])
        assert s.attrs["seed"] == s.identity
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["config"] == c.to_dict() and saved["run"]["model_sha256"] == model_hash(G_multi)


def test_other_channel_counts_get_a_png_per_channel(tmp_path):
    G = tiny(res=16, branches=(("x", 2),))
    generate_with(G, cfg(tmp_path, seeds=(1,), grid=True))
    assert sorted(png_bytes(tmp_path)) == ["grid_c0.png", "grid_c1.png", "seed0001_c0.png", "seed0001_c1.png"]
    assert set(read_manifest(tmp_path / "manifest.jsonl").records[0]["files"]) == {"x_c0", "x_c1"}


def test_resume_keeps_intact_and_redoes_damaged(G_single, tmp_path):
    generate_with(G_single, cfg(tmp_path, seeds=tuple(range(6))))
    before = png_bytes(tmp_path)
    (tmp_path / "seed0001.png").unlink()
    (tmp_path / "seed0002.png").write_bytes(b"garbage")
    (tmp_path / ".seed0009.png.abc.tmp").write_bytes(b"left by a kill")
    with open(tmp_path / "manifest.jsonl", "ab") as f:
        f.write(b'{"seed": 7, "files"')  # partial line of a killed run
    res = generate_with(G_single, cfg(tmp_path, seeds=tuple(range(8)), batch_size=3))
    assert sorted(res.generated) == [1, 2, 6, 7] and res.kept == [0, 3, 4, 5] and sorted(res.redone) == [1, 2]
    after = png_bytes(tmp_path)
    assert all(after[k] == v for k, v in before.items())
    assert not list(tmp_path.glob(".*.tmp"))
    c = read_manifest(tmp_path / "manifest.jsonl")
    assert c.dropped_lines == 0 and sorted(r["seed"] for r in c.records) == list(range(8))
    assert len(read_samples(tmp_path / "samples.h5")[1]) == 8


def test_other_run_in_outdir_is_refused(G_single, tmp_path):
    generate_with(G_single, cfg(tmp_path, seeds=(0, 1)))
    for change in (dict(truncation_psi=0.5), dict(noise_mode="random"), dict(truncation_cutoff=2)):
        with pytest.raises(OutputDirError, match="--overwrite"):
            generate_with(G_single, cfg(tmp_path, seeds=(0, 1), **change))
    with pytest.raises(OutputDirError, match="model_sha256"):
        generate_with(tiny(res=16, seed=9), cfg(tmp_path, seeds=(0, 1)))
    res = generate_with(G_single, cfg(tmp_path, seeds=(3,), truncation_psi=0.5, overwrite=True))
    assert res.generated == [3]
    assert sorted(png_bytes(tmp_path)) == ["seed0003.png"]  # the other run's files are gone
    # More seeds with the same settings extend the directory.
    res = generate_with(G_single, cfg(tmp_path, seeds=(3, 4), truncation_psi=0.5))
    assert res.kept == [3] and res.generated == [4]


def test_conditional_model(tmp_path):
    G = tiny(res=16, c_dim=3)
    with pytest.raises(InputError, match="conditional"):
        generate_with(G, cfg(tmp_path / "a"))
    with pytest.raises(InputError, match="out of range"):
        generate_with(G, cfg(tmp_path / "b", class_idx=3))
    assert not (tmp_path / "b").exists()  # refused before writing anything
    generate_with(G, cfg(tmp_path / "c0", class_idx=0, seeds=(1,)))
    generate_with(G, cfg(tmp_path / "c1", class_idx=1, seeds=(1,)))
    assert png_bytes(tmp_path / "c0") != png_bytes(tmp_path / "c1")
    assert read_samples(tmp_path / "c1" / "samples.h5")[1][0].attrs["class_idx"] == 1


def test_config_validation():
    with pytest.raises(InputError):
        GenerateConfig(model="m", outdir="o", seeds=())
    with pytest.raises(InputError):
        GenerateConfig(model="m", outdir="o", seeds=(1, 1))
    with pytest.raises(InputError):
        GenerateConfig(model="m", outdir="o", seeds=(1,), noise_mode="fixed")
    with pytest.raises(InputError):
        GenerateConfig(model="m", outdir="o", seeds=(1,), batch_size=0)
    with pytest.raises(InputError):
        GenerateConfig(model="m", outdir="o", seeds=(-1,))
