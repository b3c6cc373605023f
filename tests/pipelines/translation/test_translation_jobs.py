"""translate testbed / apply / sample / evaluate: layouts, manifests, resume, reports and bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthbio.errors import InputError, OutputDirError
from synthbio.io.images import read_png
from synthbio.io.manifest import read_manifest
from synthbio.pipelines.translation.apply import (
    SampleConfig,
    TranslateConfig,
    sample_grid,
    translate_folder,
)
from synthbio.pipelines.translation.evaluate import (
    TranslateEvaluateConfig,
    evaluate_translations,
)
from synthbio.pipelines.translation.testbed import (
    TranslationTestbedConfig,
    make_testbed,
)
from synthbio.translation.checkpoint import save_translator
from synthbio.translation.config import TranslatorConfig
from synthbio.translation.networks import build_generators

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"dim": 8, "style_dim": 4, "n_res": 1, "mlp_dim": 16, "d_dim": 8, "d_layers": 2, "d_scales": 2}


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tb") / "tb"
    make_testbed(TranslationTestbedConfig(outdir=out, train_identities=2, test_identities=3, samples=2, width=96, height=96))
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = TranslatorConfig(channels_a=1, channels_b=1, **TINY)
    return save_translator(tmp_path_factory.mktemp("m") / "model", cfg, build_generators(cfg, seed=1),
                           domains={"a": "clean", "b": "inked"})


def test_testbed_layout_pairs_and_resume(testbed: Path) -> None:
    rel = sorted(p.relative_to(testbed).as_posix() for p in testbed.rglob("*.png"))
    assert rel[:2] == ["test/A/00002/00.png", "test/A/00002/01.png"]
    assert "train/A/00000/00.png" in rel and "train/B/00001/01.png" in rel
    assert "train/B/00000/00.png" not in rel and "train/A/00001/00.png" not in rel  # unpaired training domains
    a, b = read_png(testbed / "test/A/00003/01.png"), read_png(testbed / "test/B/00003/01.png")
    assert a.shape == b.shape == (96, 96) and a.mean() > b.mean()  # clean light background vs grey inked
    # killed after some identities: the rerun completes only what is missing
    records = read_manifest(testbed / "manifest.jsonl").records
    (testbed / "test/B/00004/00.png").unlink()
    again = make_testbed(TranslationTestbedConfig(outdir=testbed, train_identities=2, test_identities=3, samples=2,
                                       width=96, height=96))
    assert (again.made, again.kept) == (1, len(records) - 1) and (testbed / "test/B/00004/00.png").is_file()
    with pytest.raises(OutputDirError, match="other settings.*--overwrite"):
        make_testbed(TranslationTestbedConfig(outdir=testbed, train_identities=2, test_identities=3, samples=3,
                                   width=96, height=96))


def test_testbed_overwrite_replaces_only_its_own_files(tmp_path: Path) -> None:
    out = tmp_path / "tb"
    make_testbed(TranslationTestbedConfig(outdir=out, train_identities=2, test_identities=1, samples=1, width=64,
                                          height=64))
    (out / "notes.txt").write_text("mine")
    made = make_testbed(TranslationTestbedConfig(outdir=out, train_identities=2, test_identities=1, samples=2,
                                                 width=64, height=64, overwrite=True))
    assert made.made == 3 and (out / "notes.txt").read_text() == "mine"  # one test bed, the user's file kept
    assert json.loads((out / "config.json").read_text())["config"]["samples"] == 2
    assert sorted(p.name for p in (out / "test" / "A" / "00002").iterdir()) == ["00.png", "01.png"]


def test_apply_keeps_layout_names_and_labels_and_resumes(testbed: Path, model: Path, tmp_path: Path) -> None:
    cfg = TranslateConfig(input=testbed / "test/A", model=model, outdir=tmp_path / "out", device="cpu", batch_size=4)
    result = translate_folder(cfg)
    assert (result.translated, result.kept, result.outputs) == (6, 0, 6)
    records = read_manifest(tmp_path / "out/manifest.jsonl").records
    assert [r["source"] for r in records] == [r["outputs"][0]["path"] for r in records]  # same names
    assert {r["label"] for r in records} == {"00002", "00003", "00004"}
    first = read_png(tmp_path / "out/00002/00.png")
    assert first.shape == (96, 96)
    (tmp_path / "out/00003/01.png").write_bytes(b"damaged")
    again = translate_folder(cfg)
    assert (again.translated, again.kept) == (1, 5)
    assert np.array_equal(read_png(tmp_path / "out/00002/00.png"), first)
    with pytest.raises(OutputDirError, match="other settings"):
        translate_folder(TranslateConfig(input=testbed / "test/A", model=model, outdir=tmp_path / "out", styles=2,
                                         device="cpu"))
    many = translate_folder(TranslateConfig(input=testbed / "test/A/00002", model=model, outdir=tmp_path / "many",
                                            styles=3, device="cpu"))
    assert many.outputs == 6 and (tmp_path / "many/00_s02.png").is_file()


def test_apply_errors(testbed: Path, model: Path, tmp_path: Path) -> None:
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(rgb / "x.png")
    with pytest.raises(InputError, match=r"3-channel images but domain A \(clean\).*--channels 1"):
        translate_folder(TranslateConfig(input=rgb, model=model, outdir=tmp_path / "o1", device="cpu"))
    Image.fromarray(np.zeros((8, 40), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match=r"smaller than 16x16 px: tiny\.png \(40x8\)"):
        translate_folder(TranslateConfig(input=tmp_path / "tiny.png", model=model, outdir=tmp_path / "o2",
                                         device="cpu"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        translate_folder(TranslateConfig(input=tmp_path / "empty", model=model, outdir=tmp_path / "o3", device="cpu"))
    with pytest.raises(OutputDirError, match="inside the input"):
        translate_folder(TranslateConfig(input=testbed / "test/A", model=model, outdir=testbed / "test/A/x",
                                         device="cpu"))


def test_sample_grid(testbed: Path, model: Path, tmp_path: Path) -> None:
    out = sample_grid(SampleConfig(input=testbed / "test/A", model=model, output=tmp_path / "g.png", styles=2,
                                   rows=3, reference=str(testbed / "test/B/00002/00.png"), device="cpu"))
    assert read_png(out).shape == (3 * 96, 4 * 96, 3)  # source + 2 styles + reference style


def test_evaluate_report(testbed: Path, model: Path, tmp_path: Path) -> None:
    translate_folder(TranslateConfig(input=testbed / "test/A", model=model, outdir=tmp_path / "t", device="cpu"))
    cfg = TranslateEvaluateConfig(translations=tmp_path / "t", target=str(testbed / "test/B"),
                                  extractor="fingerprint", identity_model="fingerprint-ridges",
                                  ground_truth=str(testbed / "test/B"), device="cpu")
    metrics = evaluate_translations(cfg)
    report = tmp_path / "t_evaluate"
    assert cfg.report_dir == report and (report / "index.html").is_file()
    assert {p.name for p in report.iterdir()} >= {"metrics.json", "scores_identity.png", "examples.png"}
    op = metrics["identity"]["vs_identity"]
    # 3 fingers x 2 impressions: each probe has 1 mate and 2 other fingers
    assert op["n_genuine_source"] == 6 and op["n_impostor_source"] == 12 and "model's own threshold" in op["threshold_from"]
    assert 0 <= op["gar_translated"] <= 1 and op["n_genuine_translated"] == 6
    assert metrics["realism"]["translated"]["num_fake"] == 6
    assert metrics["pixels"]["source"]["n"] == 6 and metrics["pixels"]["translated"]["psnr_db"] > 0
    saved = json.loads((report / "metrics.json").read_text())
    assert saved["identity"]["vs_source"]["n"] == 6
    html = (report / "index.html").read_text()
    assert "Identity preservation" in html and "scores_identity.png" in html
    with pytest.raises(InputError, match="not a folder written by `synthbio translate apply`"):
        evaluate_translations(TranslateEvaluateConfig(translations=testbed / "test/A", identity_model=None))


def test_branches_testbed_pairs_two_outputs_of_one_seed(tmp_path: Path) -> None:
    from synthbio.checkpoints import save_generator
    from synthbio.nn.config import GeneratorConfig
    from synthbio.pipelines.images import build_demo_generator

    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2,
                          branches=(("rgb", 3), ("nir", 1)))
    save_generator(build_demo_generator(cfg, noise_strength=0.3), tmp_path / "g")
    tb = tmp_path / "tb"
    make_testbed(TranslationTestbedConfig(outdir=tb, kind="branches", model=str(tmp_path / "g"), train_identities=2,
                                          test_identities=1, samples=4))
    rel = sorted(p.relative_to(tb).as_posix() for p in tb.rglob("*.png"))
    assert rel == ["test/A/00002/00.png", "test/B/00002/00.png", "train/A/00000/00.png", "train/B/00001/00.png"]
    assert read_png(tb / "test/A/00002/00.png").shape == (16, 16, 3) and read_png(tb / "test/B/00002/00.png").shape == (16, 16)
    with pytest.raises(InputError, match="needs a multi-branch generator"):
        TranslationTestbedConfig(outdir=tmp_path / "x", kind="branches")
