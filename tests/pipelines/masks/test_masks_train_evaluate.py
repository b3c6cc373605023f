import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from masks_job_helpers import CLASSES, FAST_FIT, paint_planted, tiny_generator

from synthbio.checkpoints import save_generator
from synthbio.errors import InputError
from synthbio.pipelines.masks import (
    ExportConfig,
    MasksEvaluateConfig,
    MasksTrainConfig,
    evaluate_masks,
    export_annotations,
    train_masks,
)
from synthbio.pipelines.masks.layout import read_annotation_folder
from synthbio.segmentation.annotations import write_index_png
from synthbio.segmentation.pixel_classifier import load_pixel_classifier
from synthbio.segmentation.training import predict_samples, score_masks

CHROMIUM = Path("/usr/bin/chromium")


def test_classifier_folder_with_held_out_scores(masks_env, tmp_path, one_thread):
    r = train_masks(MasksTrainConfig(annotations=str(masks_env["ann"]), outdir=str(tmp_path / "clf"), fit=FAST_FIT,
                                     holdout=1, device="cpu"))
    assert r.annotated == [0, 1, 2] and r.not_annotated == []
    assert r.validation["method"] == "1 held-out annotations" and r.validation["seeds"] == [3]
    model, meta = load_pixel_classifier(tmp_path / "clf")
    assert [c["name"] for c in meta["classes"]] == [c.name for c in CLASSES]
    assert meta["run"] == {"truncation_psi": 0.7, "truncation_cutoff": None, "class_idx": None, "noise_mode": "const"}
    assert meta["generator"]["model"] == str(masks_env["model"]) and meta["generator"]["img_resolution"] == 32
    report = json.loads((tmp_path / "clf" / "report.json").read_text())
    assert report["peak_rss_mib"] > 0 and report["fit"]["pixels_train"] + report["fit"]["pixels_val"] == 3 * 256
    assert (tmp_path / "clf" / "annotations.png").is_file() and (tmp_path / "clf" / "classes.json").is_file()
    # The reported held-out score is the saved classifier's on the held-out sample.
    held = [s for s in read_annotation_folder(masks_env["ann"]).annotated()[0] if s.seed == 3]
    scores = score_masks(predict_samples(masks_env["G"], model, held, noise_mode="const"), [held[0].labels], 3)
    assert r.validation["miou"] == pytest.approx(scores.miou)
    with pytest.raises(Exception, match="already holds a classifier"):
        train_masks(MasksTrainConfig(annotations=str(masks_env["ann"]), outdir=str(tmp_path / "clf"), device="cpu"))


def test_bad_annotations_unpainted_folders_and_other_generators_are_refused(masks_env, tmp_path, one_thread):
    ann = tmp_path / "ann"
    shutil.copytree(masks_env["ann"], ann)
    bad = np.zeros([32, 32], dtype=np.uint8)
    bad[:2, :3] = 7
    write_index_png(ann / "seed0002_annotation.png", bad)
    with pytest.raises(InputError, match=r"seed0002_annotation\.png holds pixel values 7 \(6 px\).*0-2"):
        train_masks(MasksTrainConfig(annotations=str(ann), outdir=str(tmp_path / "c1"), fit=FAST_FIT, device="cpu"))
    np.save(ann / "seed0001_annotation.npy", np.zeros([16, 32], dtype=np.int64))  # .npy wins over the PNG
    with pytest.raises(InputError, match=r"seed0001_annotation\.npy is 32x16 pixels, its sample is 32x32"):
        train_masks(MasksTrainConfig(annotations=str(ann), outdir=str(tmp_path / "c1"), fit=FAST_FIT, device="cpu"))

    blank = tmp_path / "blank"
    export_annotations(ExportConfig(model=str(masks_env["model"]), outdir=str(blank), seeds=(9,), classes=CLASSES,
                                    device="cpu"))
    with pytest.raises(InputError, match="no painted annotations in .*blank"):
        train_masks(MasksTrainConfig(annotations=str(blank), outdir=str(tmp_path / "c2"), device="cpu"))
    with pytest.raises(InputError, match="not a folder made by `synthbio masks export`"):
        train_masks(MasksTrainConfig(annotations=str(tmp_path), outdir=str(tmp_path / "c3"), device="cpu"))
    save_generator(tiny_generator(seed=5), tmp_path / "other")
    with pytest.raises(InputError, match="is not the one .* was exported from"):
        train_masks(MasksTrainConfig(annotations=str(masks_env["ann"]), outdir=str(tmp_path / "c4"),
                                     model=str(tmp_path / "other"), device="cpu"))


@pytest.fixture(scope="module")
def evaluation(masks_env, tmp_path_factory):
    """The classifier of masks_env scored on 3 unseen painted samples: (evaluation, export folder)."""
    test = tmp_path_factory.mktemp("evaluate") / "test"
    export_annotations(ExportConfig(model=str(masks_env["model"]), outdir=str(test), seeds=(20, 21, 22),
                                    classes=CLASSES, device="cpu"))
    paint_planted(test, masks_env["G"])
    return evaluate_masks(MasksEvaluateConfig(classifier=str(masks_env["clf"]), annotations=str(test), device="cpu")), test


def test_evaluate_report_on_unseen_annotations(masks_env, evaluation, tmp_path, one_thread):
    ev, test = evaluation
    assert ev.report_dir == test.parent / "test_report"  # beside the annotations, never inside
    m = json.loads(ev.metrics_json.read_text())
    samples, _ = read_annotation_folder(test).annotated()
    model, _ = load_pixel_classifier(masks_env["clf"])
    scores = score_masks(predict_samples(masks_env["G"], model, samples, noise_mode="const"),
                         [s.labels for s in samples], 3)
    assert m["samples"] == 3 and m["miou"] == pytest.approx(scores.miou)
    assert m["confusion"] == scores.confusion.tolist() and sum(map(sum, m["confusion"])) == 3 * 32 * 32
    assert set(m["iou"]) == {"background", "part", "edge"} and len(m["uncertainty"]) == 3
    html = ev.html.read_text()
    for name in ("overlays.png", "confusion.png", "iou.png", "uncertainty.png"):
        assert (ev.report_dir / name).is_file() and name in html
    assert "IoU per class" in html and "metrics.json" in html

    with pytest.raises(InputError, match="were used to train the classifier"):
        evaluate_masks(MasksEvaluateConfig(classifier=str(masks_env["clf"]), annotations=str(masks_env["ann"]),
                                           outdir=str(tmp_path / "r"), device="cpu"))


def test_evaluate_report_in_a_real_browser(evaluation):
    """The page in Debian's chromium: no console error, every figure decodes, one IoU row per class."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    ev, _ = evaluation
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            problems = []
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(ev.html.resolve().as_uri())
            page.wait_for_load_state("load")
            sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])")
            assert {src for src, _ in sizes} == {"overlays.png", "confusion.png", "iou.png", "uncertainty.png"}
            assert all(width > 0 for _, width in sizes), sizes
            assert "mIoU" in page.inner_text("body")
            rows = page.eval_on_selector_all("table", "ts => ts.map(t => t.querySelectorAll('tr').length)")
            assert 3 + 1 in rows  # header + background, part, edge
        finally:
            browser.close()
    assert not problems, problems
