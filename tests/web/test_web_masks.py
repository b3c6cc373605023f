"""`synthbio serve` over the masks jobs' folders: a `masks generate` run (one mask on every branch,
sorted by uncertainty, dropped samples filtered) and a `masks export` folder with a painted annotation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import PIL.Image
import pytest

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("httpx2", reason="starlette's test client needs httpx2 (test extra)")

from starlette.testclient import TestClient  # noqa: E402

from synthbio.web.app import create_app  # noqa: E402
from synthbio.web.config import ServeConfig  # noqa: E402


@pytest.fixture(scope="module")
def mask_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """served/{model, gen (masks generate, 2 branches, 6 seeds, 2 dropped), ann (masks export, 1 painted)}."""
    import torch

    from synthbio.checkpoints import model_hash, save_generator
    from synthbio.io.manifest import read_manifest
    from synthbio.nn.config import GeneratorConfig
    from synthbio.pipelines.images import build_demo_generator
    from synthbio.pipelines.masks import ExportConfig, MasksGenerateConfig, export_annotations, generate_masks
    from synthbio.segmentation.annotations import write_annotation_png
    from synthbio.segmentation.classes import classes_from_names
    from synthbio.segmentation.features import describe_layers, feature_modules
    from synthbio.segmentation.pixel_classifier import PixelClassifierConfig, PixelEnsemble, save_pixel_classifier

    root = tmp_path_factory.mktemp("served_masks") / "served"
    root.mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = GeneratorConfig(z_dim=16, w_dim=16, img_resolution=16, branches=(("rgb", 3), ("nir", 1)),
                              channel_base=128, channel_max=16, mapping_layers=2)
        G = build_demo_generator(cfg)
        save_generator(G, root / "model")
        classes = classes_from_names(["skin", "iris", "pupil"])
        clf = PixelEnsemble(PixelClassifierConfig(layers=tuple(describe_layers(G, list(feature_modules(G)))),
                                                  height=16, width=16, num_classes=3, members=2, hidden=(8, 4)))
        clf.reset_parameters(torch.Generator().manual_seed(0))
        clf_dir = tmp_path_factory.mktemp("clf") / "clf"  # outside the served folder
        save_pixel_classifier(clf.eval(), clf_dir, extra={
            "classes": [c.to_dict() for c in classes],
            "generator": {"model": str(root / "model"), "model_sha256": model_hash(G)},
            "run": {"truncation_psi": 0.7, "truncation_cutoff": None, "class_idx": None, "noise_mode": "const"}})
        generate_masks(MasksGenerateConfig(classifier=str(clf_dir), outdir=str(root / "gen"), seeds=tuple(range(6)),
                                           drop_fraction=1 / 3, device="cpu"))
        export_annotations(ExportConfig(model=str(root / "model"), outdir=str(root / "ann"), seeds=(0, 1),
                                        classes=classes, device="cpu"))
    finally:
        torch.set_num_threads(threads)
    painted = np.zeros([16, 16], dtype=np.uint8)
    painted[4:12, 4:12] = 2
    write_annotation_png(root / "ann" / "seed0001_annotation.png", painted, classes)
    assert sum(r["dropped"] for r in read_manifest(root / "gen" / "manifest.jsonl").records) == 2
    return root


@pytest.fixture(scope="module")
def client(mask_root: Path, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    cache = tmp_path_factory.mktemp("cache")
    return TestClient(create_app(ServeConfig(roots=(str(mask_root),), cache_dir=str(cache))),
                      base_url="http://127.0.0.1:8000")


def test_mask_folders_are_found_as_their_kinds(client: TestClient) -> None:
    kinds = {d["ref"]: d["kind"] for d in client.get("/api/overview").json()["datasets"]}
    assert kinds == {"served/gen": "mask-dataset", "served/ann": "mask-annotations"}


def test_one_mask_over_every_branch_uncertainty_sort_and_dropped_filter(client: TestClient, mask_root: Path) -> None:
    from synthbio.io.manifest import read_manifest

    records = {f"{r['seed']:04d}": r for r in read_manifest(mask_root / "gen" / "manifest.jsonl").records}
    listed = client.get("/api/items", params={"ds": "served/gen", "sort": "uncertain"}).json()
    assert listed["total"] == 6
    scores = [it["badges"]["uncertainty"] for it in listed["items"]]
    assert scores == sorted(scores, reverse=True)
    assert {it["key"] for it in listed["items"] if it["badges"].get("dropped")} == \
        {k for k, r in records.items() if r["dropped"]}
    assert all(it["thumb"].endswith(f"seed{it['key']}.png") for it in listed["items"])  # an image, not a mask
    dropped = client.get("/api/items", params={"ds": "served/gen", "filter.dropped": "yes"}).json()
    assert {it["key"] for it in dropped["items"]} == {k for k, r in records.items() if r["dropped"]}
    summary = client.get("/api/dataset", params={"ds": "served/gen"}).json()
    assert summary["filters"] == {"dropped": ["no", "yes"]} and summary["facts"]["classes"] == "skin, iris, pupil"

    key = next(k for k, r in records.items() if r["dropped"])
    s = client.get("/api/item", params={"ds": "served/gen", "key": key}).json()["samples"][0]
    assert s["branches"] == {"rgb": f"served/gen/dropped/rgb/seed{key}.png",
                             "nir": f"served/gen/dropped/nir/seed{key}.png"}
    assert s["mask"] == f"served/gen/dropped/masks/seed{key}_mask.png"
    assert s["meta"]["uncertainty"] == records[key]["uncertainty"]
    rgba = np.asarray(PIL.Image.open(io.BytesIO(client.get("/api/mask", params={"f": s["mask"]}).content)))
    labels = np.asarray(PIL.Image.open(mask_root / "gen" / "dropped" / "masks" / f"seed{key}_mask.png"))
    assert rgba.shape == (16, 16, 4) and ((rgba[..., 3] == 0) == (labels == 0)).all()


def test_annotation_folder_overlays_only_painted_annotations(client: TestClient) -> None:
    blank = client.get("/api/item", params={"ds": "served/ann", "key": "0000"}).json()["samples"][0]
    painted = client.get("/api/item", params={"ds": "served/ann", "key": "0001"}).json()["samples"][0]
    assert blank["mask"] is None and blank["meta"]["painted"] is False
    assert painted["mask"] == "served/ann/seed0001_annotation.png" and list(painted["branches"]) == ["rgb", "nir"]
    rgba = np.asarray(PIL.Image.open(io.BytesIO(client.get("/api/mask", params={"f": painted["mask"]}).content)))
    assert rgba[8, 8, 3] == 255 and rgba[0, 0, 3] == 0
