"""The fingerprint evaluation report: FVC protocol, metrics with their counts, files, cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from synthbio.errors import InputError
from synthbio.pipelines.fingerprints.generate import FingerprintDatasetConfig, generate_dataset
from synthbio.pipelines.fingerprints.evaluate import (
    FingerprintReportConfig,
    compute_metrics,
    evaluate_dataset,
    fvc_pairs,
    render_html,
)


def test_fvc_pairs() -> None:
    genuine, impostor = fvc_pairs({0: [0, 1, 2], 1: [1, 0], 2: [0]})
    assert genuine == [((0, 0), (0, 1)), ((0, 0), (0, 2)), ((0, 1), (0, 2)), ((1, 0), (1, 1))]
    assert impostor == [((0, 0), (1, 0)), ((0, 0), (2, 0)), ((1, 0), (2, 0))]


def _fake_result(finger: int, index: int, *, nfiq: int, truth: int, leader: tuple[int, int], mindtct: tuple[int, int]) -> dict:
    return {
        "finger": finger, "index": index, "nfiq2": nfiq, "n_truth": truth,
        "pairing": {"leader": {"paired": leader[0], "found": leader[1], "same_kind": leader[0]},
                    "mindtct": {"paired": mindtct[0], "found": mindtct[1], "same_kind": 0}},
        "templates": {},
    }


def test_metrics_and_summary_on_fake_results() -> None:
    config = FingerprintReportConfig(dataset="unused", extractors=("leader", "mindtct"))
    results = [
        _fake_result(0, 0, nfiq=40, truth=40, leader=(30, 40), mindtct=(20, 50)),
        _fake_result(0, 1, nfiq=70, truth=60, leader=(50, 50), mindtct=(40, 60)),
    ]
    gen = np.array([3.0, 5.0, 7.0])
    imp = np.array([1.0, 3.0, 4.0, 6.0])
    scores = {"leader": {"genuine": gen, "impostor": imp}, "mindtct": {"genuine": gen + 100, "impostor": imp}}
    m = compute_metrics(config, {0: "whorl", 1: "arch"}, results, scores)
    assert m["extractors"]["leader"]["recall"] == pytest.approx(80 / 100)  # pooled over impressions
    assert m["extractors"]["leader"]["precision"] == pytest.approx(80 / 90)
    assert m["extractors"]["mindtct"]["recall"] == pytest.approx(60 / 100)
    assert m["extractors"]["leader"]["verification"]["eer"] == pytest.approx(1 / 3)
    assert m["extractors"]["mindtct"]["verification"]["eer"] == 0.0
    assert m["classes"]["whorl"] == 1 and m["classes"]["arch"] == 1 and m["classes"]["left_loop"] == 0
    summary = {t["name"]: t for t in m["summary"]}
    # every figure says what stands behind it; no grade against the project's own development targets
    assert summary["EER (MINDTCT + Bozorth3)"]["value"] == 0.0
    assert summary["EER (MINDTCT + Bozorth3)"]["based_on"] == "3 genuine and 4 impostor comparisons"
    assert summary["FMR1000 (MINDTCT + Bozorth3)"]["value"] is None  # 4 impostor scores cannot show 0.1%
    assert summary["FMR1000 (MINDTCT + Bozorth3)"]["based_on"] == "4 impostor comparisons; it needs at least 1000"
    assert summary["LEADER minutiae recall"]["value"] == pytest.approx(0.8)
    assert summary["mean NFIQ2"]["based_on"] == "2 impressions"
    assert "targets" not in m and m["extractors"]["leader"]["verification"]["fmr100"] is None
    page = render_html(config, m, [("nfiq2.png", "NFIQ2")])
    assert "target" not in page.lower() and 'class="met"' not in page and "NOT met" not in page
    assert '<img src="nfiq2.png"' in page and "80.00%" in page and "not reported" in page


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fp") / "ds"
    generate_dataset(FingerprintDatasetConfig(outdir=str(out), fingers=3, impressions=2, width=256, height=320, seed=3),
                     progress=False)
    return out


def test_evaluate_writes_report_and_uses_cache(tiny_dataset: Path) -> None:
    config = FingerprintReportConfig(dataset=str(tiny_dataset), extractors=("mindtct",))
    rep = evaluate_dataset(config, progress=False)
    report = tiny_dataset.with_name(tiny_dataset.name + "_report")  # beside the dataset, not inside
    assert rep.html == report / "index.html" and rep.metrics_json == report / "metrics.json"
    assert not (tiny_dataset / "report").exists()
    m = json.loads(rep.metrics_json.read_text())  # strict JSON (no NaN / Infinity)
    v = m["extractors"]["mindtct"]["verification"]
    assert (v["n_genuine"], v["n_impostor"]) == (3, 3)
    assert m["fingers"] == 3 and m["impressions"] == 6
    assert 0 <= m["extractors"]["mindtct"]["recall"] <= 1
    assert "LEADER minutiae recall" not in {t["name"] for t in m["summary"]}  # LEADER not run
    page = rep.html.read_text()
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (report / src).is_file(), src
    assert {"nfiq2.png", "det.png", "classes.png", "minutiae_counts.png", "scores_mindtct.png"} <= {
        p.name for p in report.iterdir()
    }
    caches = sorted((report / "cache").glob("*.json"))
    assert len(caches) == 6
    # a rerun reads the cache: a value planted there shows up in the metrics
    data = json.loads(caches[0].read_text())
    data["nfiq2"] = 0
    caches[0].write_text(json.dumps(data))
    m2 = evaluate_dataset(config, progress=False).metrics
    assert m2["nfiq2"]["min"] == 0
    # ... unless the image changed: an entry for another image is ignored
    data["png_sha256"] = "0" * 64
    caches[0].write_text(json.dumps(data))
    m3 = evaluate_dataset(config, progress=False).metrics
    assert m3["nfiq2"]["min"] == m["nfiq2"]["min"]


def test_leader_recall_target_is_evaluated(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    generate_dataset(FingerprintDatasetConfig(outdir=str(out), fingers=2, impressions=1, width=256, height=320, seed=5),
                     progress=False)
    m = evaluate_dataset(FingerprintReportConfig(dataset=str(out), extractors=("leader",), outdir=str(tmp_path / "r")),
                         progress=False).metrics
    assert (tmp_path / "r" / "index.html").is_file()
    recall = {t["name"]: t for t in m["summary"]}["LEADER minutiae recall"]
    assert 0.5 <= recall["value"] <= 1.0
    assert m["extractors"]["leader"]["verification"] is None  # one impression per finger: no genuine pair


def test_bad_config(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="extractor"):
        FingerprintReportConfig(dataset="x", extractors=("fingerjet",))
    with pytest.raises(InputError, match="manifest"):
        evaluate_dataset(FingerprintReportConfig(dataset=str(tmp_path), extractors=("mindtct",)), progress=False)


def test_evaluate_real_prints_from_a_database(tiny_dataset: Path, tmp_path: Path) -> None:
    """The same prints as FVC-named files of a database: the same scores, without ground-truth measures."""
    import shutil

    from synthbio.io.databases import build_database
    from synthbio.pipelines.fingerprints.generate import load_dataset_index

    index = load_dataset_index(tiny_dataset)
    for f in index.fingers:
        for imp in index.impressions[f]:
            shutil.copy(imp.files["png"], tmp_path / f"{f + 1}_{imp.index + 1}.png")
    (tmp_path / "other").mkdir()  # names that are not <finger>_<impression> are not prints of the database
    build_database("fvc", tmp_path).write(tmp_path / "fvc.sqlite")
    synthetic = evaluate_dataset(FingerprintReportConfig(dataset=str(tiny_dataset), extractors=("mindtct",)),
                                 progress=False).metrics
    rep = evaluate_dataset(FingerprintReportConfig(dataset=str(tmp_path / "fvc.sqlite"), protocol="fvc",
                                                   group="eval", extractors=("mindtct",)), progress=False)
    assert rep.html == tmp_path / "fvc_report" / "index.html"
    m = rep.metrics
    for key in ("nfiq2",):
        assert m[key] == synthetic[key]
    real, synth = m["extractors"]["mindtct"], synthetic["extractors"]["mindtct"]
    assert real["genuine_scores"] == synth["genuine_scores"] and real["impostor_scores"] == synth["impostor_scores"]
    assert real["recall"] is None or real["recall"] != real["recall"]  # no ground truth: not measured
    assert {t["name"] for t in m["summary"]}.isdisjoint({"MINDTCT minutiae recall",
                                                         "ground-truth minutiae per impression (mean)"})
    assert not (tmp_path / "fvc_report" / "classes.png").exists()
    with pytest.raises(InputError, match="select real prints of a database index"):
        FingerprintReportConfig(dataset=str(tiny_dataset), protocol="fvc")


def test_reports_never_become_part_of_the_dataset(tiny_dataset: Path, tmp_path: Path) -> None:
    """A report beside or (asked for) inside the dataset: training still sees only the 6 grayscale impressions."""
    from synthbio.training.data import DatasetConfig, ImageDataset

    evaluate_dataset(FingerprintReportConfig(dataset=str(tiny_dataset), extractors=("mindtct",)), progress=False)
    evaluate_dataset(FingerprintReportConfig(dataset=str(tiny_dataset), extractors=("mindtct",),
                                             outdir=str(tiny_dataset / "my_report")), progress=False)
    assert len(list((tiny_dataset / "my_report").glob("*.png"))) >= 4  # RGB figures inside the dataset folder
    data = ImageDataset(DatasetConfig(path=str(tiny_dataset), resolution=64, resize_mode="center-crop"))
    assert len(data) == 6 and data.branches == (("img", 1),)
    assert all(k.split("/")[0].isdigit() for k in data.keys)
