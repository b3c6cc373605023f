import numpy as np
import PIL.Image
import pytest
import torch
from masks_job_helpers import CLASSES

from synthbio.errors import OutputDirError
from synthbio.generation.sampling import map_seeds, synthesize
from synthbio.io.images import read_png, to_uint8
from synthbio.io.manifest import read_manifest
from synthbio.pipelines.masks import ExportConfig, export_annotations
from synthbio.segmentation.annotations import read_annotation, write_index_png
from synthbio.segmentation.classes import read_classes


def test_export_writes_every_branch_the_latents_and_a_blank_annotation(masks_env, tmp_path, one_thread):
    G, out = masks_env["G"], tmp_path / "ann"
    result = export_annotations(ExportConfig(model=str(masks_env["model"]), outdir=str(out), seeds=(5, 7),
                                             classes=CLASSES, truncation_psi=0.5, device="cpu"))
    assert result.exported == [5, 7] and result.painted == []
    _, ws = map_seeds(G, [5, 7], truncation_psi=0.5)
    images = synthesize(G, ws, seeds=[5, 7], noise_mode="const")
    for i, seed in enumerate((5, 7)):
        np.testing.assert_array_equal(np.load(out / f"seed{seed:04d}_ws.npy"), ws[i].numpy())
        np.testing.assert_array_equal(read_png(out / f"seed{seed:04d}_rgb.png"), to_uint8(images["rgb"])[i])
        np.testing.assert_array_equal(read_png(out / f"seed{seed:04d}_nir.png"), to_uint8(images["nir"])[i][:, :, 0])
        blank = out / f"seed{seed:04d}_annotation.png"
        with PIL.Image.open(blank) as img:  # a palette PNG in the class colours, all class 0
            assert img.mode == "P" and img.size == (32, 32)
            assert img.getpalette()[:9] == [c for cls in CLASSES for c in cls.color]
        assert (read_annotation(blank, CLASSES, height=32, width=32) == 0).all()
    assert read_classes(out / "classes.json") == CLASSES
    assert "seedNNNN_annotation.png" in (out / "README.txt").read_text()
    assert [r["seed"] for r in read_manifest(out / "manifest.jsonl").records] == [5, 7]


def test_rerun_adds_seeds_and_never_replaces_painted_annotations(masks_env, tmp_path, one_thread):
    out = tmp_path / "ann"
    cfg = ExportConfig(model=str(masks_env["model"]), outdir=str(out), seeds=(1, 2), classes=CLASSES, device="cpu")
    export_annotations(cfg)
    painted = np.random.default_rng(0).integers(0, 3, [32, 32]).astype(np.uint8)
    write_index_png(out / "seed0001_annotation.png", painted)
    again = export_annotations(ExportConfig(**{**cfg.__dict__, "seeds": (1, 2, 3)}))
    assert again.exported == [3] and again.kept == [1, 2] and again.painted == [1]
    np.testing.assert_array_equal(read_annotation(out / "seed0001_annotation.png", CLASSES, height=32, width=32),
                                  painted)

    other = ExportConfig(**{**cfg.__dict__, "truncation_psi": 0.9})
    with pytest.raises(OutputDirError, match="holds another run.*truncation_psi 0.7 there vs 0.9 now"):
        export_annotations(other)
    with pytest.raises(OutputDirError, match="holds 1 painted annotations of another export \\(seeds 1\\)"):
        export_annotations(ExportConfig(**{**other.__dict__, "overwrite": True}))
    (out / "seed0001_annotation.png").unlink()  # the person moved their work away: now it may be replaced
    replaced = export_annotations(ExportConfig(**{**other.__dict__, "overwrite": True}))
    assert replaced.exported == [1, 2]
    assert not (out / "seed0003_ws.npy").exists()
    assert torch.equal(torch.from_numpy(np.load(out / "seed0001_ws.npy")),
                       map_seeds(masks_env["G"], [1], truncation_psi=0.9)[1][0])
