"""FID Inception-v3: structure and key names of the pytorch-fid weights, loading, preprocessing, TF pooling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from synthbio.checkpoints.registry import REGISTRY, cache_path, resolve_model
from synthbio.errors import CheckpointError, InputError, ModelNotFoundError
from synthbio.metrics.inception import (
    FID_WEIGHTS_NAME,
    FIDInceptionV3,
    InceptionA,
    InceptionE,
    fid_preprocess,
    load_fid_inception,
)

# Module -> branch convolutions, as in pytorch-fid's FID Inception (torchvision's Inception3 names).
_A = ["branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool"]
_B = ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]
_C = ["branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3", "branch7x7dbl_1", "branch7x7dbl_2",
      "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool"]
_D = ["branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"]
_E = ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
      "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"]
PYTORCH_FID_LAYOUT = {
    **{stem: [""] for stem in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")},
    "Mixed_5b": _A, "Mixed_5c": _A, "Mixed_5d": _A, "Mixed_6a": _B,
    "Mixed_6b": _C, "Mixed_6c": _C, "Mixed_6d": _C, "Mixed_6e": _C,
    "Mixed_7a": _D, "Mixed_7b": _E, "Mixed_7c": _E,
}


def _pytorch_fid_keys() -> set[str]:
    keys = {"fc.weight", "fc.bias"}
    for module, convs in PYTORCH_FID_LAYOUT.items():
        for conv in convs:
            prefix = f"{module}.{conv}." if conv else f"{module}."
            keys.add(prefix + "conv.weight")
            keys |= {prefix + f"bn.{p}" for p in ("weight", "bias", "running_mean", "running_var")}
    return keys


@pytest.fixture(scope="module")
def model() -> FIDInceptionV3:
    torch.manual_seed(0)
    m = FIDInceptionV3().eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so loading them is visible in the output
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m


def test_state_dict_keys_and_shapes_match_pytorch_fid(model: FIDInceptionV3) -> None:
    own = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert own == _pytorch_fid_keys()
    sd = model.state_dict()
    assert sd["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert sd["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert sd["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
    assert sd["fc.weight"].shape == (1008, 2048)
    # torchvision's inception_v3 has 27,161,264 parameters; without AuxLogits (3,326,696) and with
    # the 2015 graph's 1008 classes (+8 x 2049) that leaves 23,850,960.
    assert sum(p.numel() for p in model.parameters()) == 27_161_264 - 3_326_696 + 8 * 2049
    assert model.Mixed_7b.pool == "avg" and model.Mixed_7c.pool == "max"


def test_forward_shape_and_grayscale(model: FIDInceptionV3) -> None:
    gray = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        feats = model(gray)
    assert feats.shape == (2, 2048) and feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert (feats >= 0).all()  # pool_3 averages ReLU outputs
    # Grayscale is exactly the RGB image with three equal channels.
    torch.testing.assert_close(fid_preprocess(gray), fid_preprocess(gray.repeat(1, 3, 1, 1)), rtol=0, atol=0)


def test_preprocess_resize_and_range() -> None:
    x = torch.rand(1, 3, 299, 299) * 2 - 1
    assert torch.equal(fid_preprocess(x), x)  # already 299: untouched
    const = torch.full((1, 3, 40, 60), 0.25)
    y = fid_preprocess(const)
    assert y.shape == (1, 3, 299, 299) and torch.allclose(y, torch.full_like(y, 0.25))
    # [-1, 1] in, [-1, 1] out: bilinear resizing is a convex combination.
    z = fid_preprocess(torch.rand(2, 3, 17, 23) * 2 - 1)
    assert z.min() >= -1 and z.max() <= 1
    # pytorch-fid scales [0, 1] to [-1, 1] after resizing; resizing first gives the same (linear).
    u = torch.rand(1, 3, 50, 50)
    ref = 2 * torch.nn.functional.interpolate(u, size=(299, 299), mode="bilinear", align_corners=False) - 1
    torch.testing.assert_close(fid_preprocess(2 * u - 1), ref, rtol=0, atol=1e-6)
    with pytest.raises(InputError, match=r"\[-1, 1\]"):
        fid_preprocess(torch.full((1, 3, 8, 8), 255.0))
    with pytest.raises(InputError, match="1 or 3"):
        fid_preprocess(torch.zeros(1, 4, 8, 8))


def _identity_pool_branch(block: torch.nn.Module) -> None:
    """Make block.branch_pool pass input channel 0 through (conv picks it, batch norm ~ identity)."""
    with torch.no_grad():
        bp = block.branch_pool
        bp.conv.weight.zero_()
        bp.conv.weight[0, 0] = 1.0
        bp.bn.running_mean.zero_()
        bp.bn.running_var.fill_(1.0 - bp.bn.eps)
        bp.bn.weight.fill_(1.0)
        bp.bn.bias.zero_()


def test_average_pool_branches_exclude_padding() -> None:
    # TensorFlow's SAME average pooling divides by the pixels inside the image: a constant
    # input stays constant at the border (torchvision's default would give 4/9 in the corner).
    block = InceptionA(4, pool_features=2).eval()
    _identity_pool_branch(block)
    with torch.no_grad():
        out = block(torch.full((1, 4, 5, 5), 2.0))[:, -2]  # first pool-branch channel
    torch.testing.assert_close(out, torch.full_like(out, 2.0))


def test_last_block_max_pools() -> None:
    x = torch.zeros(1, 8, 5, 5)
    x[0, 0, 2, 2] = 3.0
    outs = {}
    for pool in ("avg", "max"):
        block = InceptionE(8, pool=pool).eval()
        _identity_pool_branch(block)
        with torch.no_grad():
            outs[pool] = block(x)[0, -192]  # first pool-branch channel
    expected = torch.zeros(5, 5)
    expected[1:4, 1:4] = 3.0
    torch.testing.assert_close(outs["max"], expected)
    torch.testing.assert_close(outs["avg"], expected / 9)


def test_weights_round_trip_and_legacy_state_dicts(model: FIDInceptionV3, tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(model.state_dict(), path)
    loaded = load_fid_inception(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    reference = model.state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, reference[key]), key
    # State dicts saved before PyTorch 0.4.1 have no num_batches_tracked counters.
    legacy = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"state_dict": legacy}, tmp_path / "legacy.pth")
    assert load_fid_inception(tmp_path / "legacy.pth").fc.weight.equal(model.fc.weight)


def test_bad_state_dicts_are_named(model: FIDInceptionV3, tmp_path: Path) -> None:
    sd = dict(model.state_dict())
    del sd["Mixed_6c.branch7x7_2.conv.weight"]
    sd["AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_fid_inception(tmp_path / "bad.pth")
    msg = str(err.value)
    assert "bad.pth" in msg and "missing keys (1): Mixed_6c.branch7x7_2.conv.weight" in msg
    assert "unexpected keys (1): AuxLogits.fc.weight" in msg
    sd = dict(model.state_dict())
    sd["fc.weight"] = torch.zeros(1000, 2048)
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"fc.weight: shape \(1000, 2048\), expected \(1008, 2048\)"):
        load_fid_inception(tmp_path / "shape.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_fid_inception(tmp_path / "junk.pth")


def test_published_file_name_checks_digest_prefix(model: FIDInceptionV3, tmp_path: Path) -> None:
    # A file named like the release must have the sha256 prefix its name carries.
    fake = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(model.state_dict(), fake)
    with pytest.raises(CheckpointError, match="does not start with 6726825d"):
        load_fid_inception(fake)


def test_registry_entry_and_offline_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = REGISTRY[FID_WEIGHTS_NAME]
    assert entry.url == ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                         "pt_inception-2015-12-05-6726825d.pth")
    assert entry.kind == "feature-extractor" and entry.resolution == 299 and entry.sha256 is None
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path))
    monkeypatch.setenv("SYNTHBIO_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as err:
        load_fid_inception()
    assert entry.url in str(err.value) and str(cache_path(entry)) in str(err.value)
    assert cache_path(entry) == tmp_path / "models" / FID_WEIGHTS_NAME / "pt_inception-2015-12-05-6726825d.pth"
    # A file placed there by hand is found without network.
    cache_path(entry).parent.mkdir(parents=True)
    cache_path(entry).write_bytes(b"x")
    assert resolve_model(FID_WEIGHTS_NAME) == cache_path(entry)
