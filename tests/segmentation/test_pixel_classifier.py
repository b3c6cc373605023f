import json

import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import CheckpointError, InputError
from synthbio.segmentation import pixel_classifier as pc
from synthbio.segmentation.features import FeatureLayer, gather_pixel_features
from synthbio.segmentation.pixel_classifier import (
    PixelClassifierConfig,
    PixelEnsemble,
    load_pixel_classifier,
    save_pixel_classifier,
)
from synthbio.segmentation.uncertainty import js_divergence

LAYERS = (FeatureLayer("a", 6, 4, 4), FeatureLayer("b", 5, 8, 8), FeatureLayer("c", 3, 8, 8),
          FeatureLayer("d", 4, 16, 16))


def _trained_like(config: PixelClassifierConfig, seed: int = 0) -> PixelEnsemble:
    """An ensemble with random weights AND non-trivial feature / batch-norm statistics (as after training)."""
    g = torch.Generator().manual_seed(seed)
    model = PixelEnsemble(config)
    model.reset_parameters(g)
    d = config.in_features
    model.set_feature_stats(torch.randn(d, generator=g), torch.rand(d, generator=g) + 0.5)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.startswith("bn_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g) * 0.3)
            elif name.startswith("bn_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
        for name, p in model.named_parameters():
            if name.startswith("bn_"):
                p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return model.eval()


def _maps(seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(x.channels, x.height, x.width, generator=g) for x in LAYERS]


def _reference_probs(model: PixelEnsemble, maps) -> torch.Tensor:
    """The reference path: every map resized to the output, concatenated per pixel, each member's MLP -> [M, K, H, W]."""
    cfg = model.config
    full = torch.cat([F.interpolate(m[None], size=(cfg.height, cfg.width), mode="bilinear",
                                    align_corners=False)[0] for m in maps])  # [D, H, W]
    x = full.reshape(full.shape[0], -1).t()
    logits = model.logits(x)  # [H*W, M, K]
    return logits.softmax(-1).permute(1, 2, 0).reshape(cfg.members, cfg.num_classes, cfg.height, cfg.width)


@pytest.mark.parametrize("rank", [0, 3])
def test_first_layer_at_native_resolution_equals_the_reference_per_pixel_features(rank):
    cfg = PixelClassifierConfig(layers=LAYERS, height=16, width=16, num_classes=5, members=3, hidden=(8, 6),
                                rank=rank)
    model = _trained_like(cfg)
    maps = _maps()
    pred = model.predict_maps(maps)
    ref = _reference_probs(model, maps)
    torch.testing.assert_close(pred.probs, ref.mean(0), atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(pred.js, js_divergence(ref), atol=2e-6, rtol=1e-4)
    assert torch.equal(pred.labels, ref.mean(0).argmax(0))
    votes = F.one_hot(ref.argmax(1), 5).sum(0).permute(2, 0, 1)
    assert torch.equal(model.predict_maps(maps, vote="majority").labels, votes.argmax(0))


def test_member_chunks_give_the_same_prediction(monkeypatch):
    cfg = PixelClassifierConfig(layers=LAYERS, height=16, width=16, num_classes=3, members=4, hidden=(8, 4))
    model = _trained_like(cfg, seed=3)
    maps = _maps(2)
    whole = model.predict_maps(maps)
    monkeypatch.setattr(pc, "CHUNK_BYTES", 1)  # one member at a time
    monkeypatch.setattr(pc, "PIXEL_BLOCK", 100)  # blocks that do not divide the 256 pixels
    chunked = model.predict_maps(maps)
    torch.testing.assert_close(chunked.probs, whole.probs, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(chunked.js, whole.js, atol=1e-6, rtol=1e-6)


def test_standardisation_is_applied_to_raw_features():
    cfg = PixelClassifierConfig(layers=LAYERS[:1], height=4, width=4, num_classes=2, members=1, hidden=(3,))
    model = _trained_like(cfg)
    x = torch.randn(10, 6)
    shifted = PixelEnsemble(cfg)
    shifted.load_state_dict(model.state_dict())
    shifted.set_feature_stats(model.feature_mean + 1, 1 / model.feature_inv_std)
    shifted.eval()
    torch.testing.assert_close(shifted.logits(x + 1), model.logits(x))


@pytest.mark.parametrize("rank", [0, 5])
def test_save_load_round_trip(tmp_path, rank):
    cfg = PixelClassifierConfig(layers=LAYERS, height=16, width=16, num_classes=4, members=2, hidden=(8, 4),
                                rank=rank)
    model = _trained_like(cfg)
    save_pixel_classifier(model, tmp_path / "clf", extra={"classes": ["a", "b", "c", "d"]})
    loaded, meta = load_pixel_classifier(tmp_path / "clf")
    assert meta["classes"] == ["a", "b", "c", "d"]
    assert loaded.config == cfg
    maps = _maps()
    torch.testing.assert_close(loaded.predict_maps(maps).probs, model.predict_maps(maps).probs, atol=0, rtol=0)


def test_loading_something_else_names_the_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        load_pixel_classifier(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "synthbio.generator"}))
    with pytest.raises(CheckpointError, match="not a pixel classifier.*synthbio.generator"):
        load_pixel_classifier(tmp_path)


def test_wrong_maps_are_refused():
    cfg = PixelClassifierConfig(layers=LAYERS, height=16, width=16, num_classes=4, members=1, hidden=(4,))
    model = _trained_like(cfg)
    with pytest.raises(InputError, match="3 feature maps"):
        model.predict_maps(_maps()[:3])
    bad = _maps()
    bad[1] = bad[1][:2]
    with pytest.raises(InputError, match="feature map b is"):
        model.predict_maps(bad)
    with pytest.raises(InputError, match="pixel features must be"):
        model.logits(torch.zeros(3, 5))


def test_gathered_features_feed_the_same_logits_as_maps():
    cfg = PixelClassifierConfig(layers=LAYERS, height=16, width=16, num_classes=3, members=2, hidden=(8, 4))
    model = _trained_like(cfg)
    maps = _maps(4)
    ys, xs = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    x = gather_pixel_features(maps, ys.reshape(-1), xs.reshape(-1), out_height=16, out_width=16)
    probs = model.logits(x).softmax(-1).mean(1).t().reshape(3, 16, 16)
    torch.testing.assert_close(probs, model.predict_maps(maps).probs, atol=2e-6, rtol=1e-5)
