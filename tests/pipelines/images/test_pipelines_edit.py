"""`synthbio edit` as a job: layout, one run per folder (refuse another, resume the same)."""

import pytest
import torch

from synthbio.editing.directions import Direction
from synthbio.errors import InputError, OutputDirError
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.pipelines.images.edit import EditConfig, edit_with


@pytest.fixture(scope="module")
def G():
    return build_demo_generator(GeneratorConfig(img_resolution=8, z_dim=8, w_dim=8, channel_base=64, channel_max=8,
                                                mapping_layers=1, branches=(("img", 3), ("nir", 1))))


def _direction(sign: float = 1.0) -> Direction:
    return Direction(vector=sign * torch.nn.functional.normalize(torch.ones(8), dim=0), metadata={"layers": "0-1"})


def test_edit_job_multi_branch(G, tmp_path):
    cfg = EditConfig(model="tiny", outdir=str(tmp_path), direction="ones", strengths=(-1.0, 0.0, 1.0), seeds=(4,))
    res = edit_with(G, _direction(), cfg)
    assert res.layers == range(0, 2)  # the direction's own range when --layers is not given
    assert sorted(p.relative_to(tmp_path).as_posix() for p in res.strips) == ["img/strip_seed0004.png",
                                                                               "nir/strip_seed0004.png"]
    assert len(res.images) == 6 and (tmp_path / "nir" / "seed0004_edit02.png").is_file()
    _, samples = read_samples(res.samples)
    assert [s.attrs["strength"] for s in samples] == [-1.0, 0.0, 1.0]
    with pytest.raises(InputError, match="exactly one"):
        EditConfig(model="m", outdir="o", direction="d", strengths=(1.0,))


def test_edit_refuses_another_run_and_overwrite_leaves_one_run(G, tmp_path):
    first = EditConfig(model="tiny", outdir=str(tmp_path), direction="ones", strengths=(-1.0, 1.0), seeds=(1, 2))
    edit_with(G, _direction(), first)
    other = EditConfig(model="tiny", outdir=str(tmp_path), direction="ones", strengths=(0.5,), seeds=(3,))
    with pytest.raises(OutputDirError, match="--overwrite"):
        edit_with(G, _direction(), other)
    with pytest.raises(OutputDirError, match="direction_sha256"):  # same settings, another direction
        edit_with(G, _direction(-1.0), first)
    assert (tmp_path / "img" / "seed0001_edit01.png").is_file()  # refused: nothing touched
    res = edit_with(G, _direction(), EditConfig(**{**other.to_dict(), "seeds": (3,), "strengths": (0.5,),
                                                   "overwrite": True}))
    on_disk = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert on_disk == sorted(p.relative_to(tmp_path).as_posix() for p in res.images + res.strips)
    assert [r["source"] for r in read_manifest(tmp_path / "manifest.jsonl").records] == ["seed0003"]


def test_edit_resumes_the_same_run(G, tmp_path):
    cfg = EditConfig(model="tiny", outdir=str(tmp_path), direction="ones", strengths=(-1.0, 1.0), seeds=(1, 2, 3))
    first = edit_with(G, _direction(), cfg)
    before = {p.name: p.read_bytes() for p in first.images}
    (tmp_path / "nir" / "seed0002_edit01.png").unlink()  # as if killed before this sample was complete
    again = edit_with(G, _direction(), cfg)
    assert again.edited == ["seed0002"] and again.kept == ["seed0001", "seed0003"]
    assert {p.name: p.read_bytes() for p in again.images} == before
    assert len(read_manifest(tmp_path / "manifest.jsonl").records) == 3
