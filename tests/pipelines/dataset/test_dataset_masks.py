"""`dataset generate --masks CLASSIFIER`: an index mask beside every image of an identity dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from synthbio.checkpoints import load_generator, model_hash, save_generator
from synthbio.errors import InputError, OutputDirError
from synthbio.io.images import read_png, to_uint8
from synthbio.io.manifest import read_manifest
from synthbio.io.samples import read_samples
from synthbio.nn.config import GeneratorConfig
from synthbio.pipelines.dataset.config import DatasetConfig
from synthbio.pipelines.dataset.generate import generate_dataset
from synthbio.pipelines.dataset.merge import merge_datasets
from synthbio.pipelines.images.demo import build_demo_generator
from synthbio.segmentation.classes import classes_from_names, read_classes
from synthbio.segmentation.features import describe_layers, feature_modules
from synthbio.segmentation.pixel_classifier import (
    PixelClassifierConfig,
    PixelEnsemble,
    load_pixel_classifier,
    save_pixel_classifier,
)
from synthbio.segmentation.predict import synthesize_with_masks

CLASSES = classes_from_names(["background", "face", "hair"])


def _classifier(G, path: Path, model: str, seed: int = 0) -> Path:
    layers = describe_layers(G, list(feature_modules(G)))
    clf = PixelEnsemble(PixelClassifierConfig(layers=tuple(layers), height=16, width=16, num_classes=3, members=2,
                                              hidden=(8, 4)))
    clf.reset_parameters(torch.Generator().manual_seed(seed))
    save_pixel_classifier(clf.eval(), path, extra={
        "classes": [c.to_dict() for c in CLASSES], "generator": {"model": model, "model_sha256": model_hash(G)}})
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dsmasks")
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
    save_generator(build_demo_generator(cfg, noise_strength=0.3), root / "g")
    G = load_generator(root / "g")
    return {"root": root, "model": root / "g", "clf": _classifier(G, root / "clf", str(root / "g"))}


def _config(env: dict[str, Path], outdir: Path, **kw: object) -> DatasetConfig:
    base = dict(outdir=str(outdir), model=str(env["model"]), identity_model="pixel-random", identities=3,
                samples_per_identity=2, inter_threshold=0.3, noise_mode="random", device="cpu", seed=3,
                masks=str(env["clf"]), batch_size=1)
    base.update(kw)
    return DatasetConfig(**base)  # type: ignore[arg-type]


def test_a_mask_beside_every_image_belongs_to_that_image(env, tmp_path, one_thread) -> None:
    out = tmp_path / "ds"
    generate_dataset(_config(env, out))
    G = load_generator(env["model"])
    model, _ = load_pixel_classifier(env["clf"])
    records = read_manifest(out / "manifest.jsonl").records
    assert len(records) == 6 and read_classes(out / "classes.json") == CLASSES
    _, samples = read_samples(out / "samples.h5")
    for rec, s in zip(records, samples):
        assert rec["mask"] == rec["path"].replace(".png", "_mask.png")
        # Synthesised again from the written latents and seed: the same image, and the written mask.
        images, preds = synthesize_with_masks(G, model, torch.from_numpy(s.w_plus)[None], seeds=[rec["seed"]],
                                              noise_mode="random")
        image = to_uint8(images[G.branch_names[0]])[0]
        np.testing.assert_array_equal(read_png(out / rec["path"]), image[:, :, 0] if image.shape[2] == 1 else image)
        np.testing.assert_array_equal(read_png(out / rec["mask"]), preds[0].labels.numpy())
        assert rec["attrs"]["mask_uncertainty"] >= 0 and "mask_uncertainty" in s.attrs
    config = json.loads((out / "config.json").read_text())
    assert config["content"]["masks"] == str(env["clf"]) and len(config["masks_sha256"]) == 64

    # A lost mask makes its identity partial: redone, and the same bytes come back.
    first = records[0]
    before = (out / first["mask"]).read_bytes()
    (out / first["mask"]).unlink()
    again = generate_dataset(_config(env, out))
    assert again.redone == [first["identity"]] and (out / first["mask"]).read_bytes() == before

    other = _classifier(G, tmp_path / "clf2", str(env["model"]), seed=1)  # same settings, other weights
    with pytest.raises(OutputDirError, match="masks"):
        generate_dataset(_config(env, out, masks=str(other)))


def test_shards_merge_with_their_masks(env, tmp_path, one_thread) -> None:
    parts = []
    for k in range(2):
        cfg = _config(env, tmp_path / f"s{k}", shard=f"{k}/2")
        generate_dataset(cfg)
        parts.append(cfg.outdir)
    merged = merge_datasets(parts, tmp_path / "merged")
    assert merged.samples == 6
    for rec in read_manifest(tmp_path / "merged" / "manifest.jsonl").records:
        assert (tmp_path / "merged" / rec["mask"]).is_file()
    assert read_classes(tmp_path / "merged" / "classes.json") == CLASSES


def test_masks_need_a_generator_and_its_own_classifier(env, tmp_path) -> None:
    with pytest.raises(InputError, match="--masks reads a generator's features"):
        DatasetConfig(outdir=str(tmp_path), modality="fingerprint", variation_method="procedural",
                      identity_model="nbis-bozorth3", masks=str(env["clf"]))
    cfg = GeneratorConfig(img_resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=16, mapping_layers=2)
    save_generator(build_demo_generator(cfg, seed=5), tmp_path / "other")
    with pytest.raises(InputError, match="trained on another generator"):
        generate_dataset(_config(env, tmp_path / "ds", model=str(tmp_path / "other")))
    assert not (tmp_path / "ds" / "manifest.jsonl").exists()
