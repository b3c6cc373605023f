"""VGG16 feature taps: torchvision key layout, reference forward, weight-file errors, LPIPS heads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import CheckpointError, InputError, ModelNotFoundError
from synthbio.checkpoints.vgg import load_lpips_heads, load_vgg16
from synthbio.nn.vgg import TAP_NAMES, VGG16Features

# torchvision VGG16 `features` indices of the 13 convolutions, their (in, out) channels,
# and the ReLU outputs LPIPS taps; written out independently of synthbio.nn.vgg.
_CONVS = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256),
          14: (256, 256), 17: (256, 512), 19: (512, 512), 21: (512, 512), 24: (512, 512),
          26: (512, 512), 28: (512, 512)}
_POOL_BEFORE = {5, 10, 17, 24}  # a 2x2 max pool precedes these convs
_TAP_AFTER = {2, 7, 14, 21, 28}  # the ReLU after these convs is a tap


def _torchvision_state(seed: int) -> dict[str, torch.Tensor]:
    """Random He-scaled VGG16 weights under torchvision's key names, plus stray classifier keys."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for idx, (cin, cout) in _CONVS.items():
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"features.{idx}.bias"] = torch.randn(cout, generator=g) * 0.1
    state["classifier.0.weight"] = torch.zeros(4, 3)  # the real file has these; the loader ignores them
    state["classifier.6.bias"] = torch.zeros(4)
    return state


def _reference_taps(state: dict[str, torch.Tensor], images: torch.Tensor) -> list[torch.Tensor]:
    """VGG16 conv trunk with plain F.conv2d on ImageNet-normalised input."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = ((images + 1) / 2 - mean) / std
    taps = []
    for idx in sorted(_CONVS):
        if idx in _POOL_BEFORE:
            x = F.max_pool2d(x, 2)
        x = F.relu(F.conv2d(x, state[f"features.{idx}.weight"], state[f"features.{idx}.bias"], padding=1))
        if idx in _TAP_AFTER:
            taps.append(x)
    return taps


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    state = _torchvision_state(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    torch.save(state, path)
    return path, state


def test_torchvision_state_dict_loads_and_matches_reference_forward(vgg_file) -> None:  # type: ignore[no-untyped-def]
    path, state = vgg_file
    vgg = load_vgg16(path)
    assert not any(p.requires_grad for p in vgg.parameters()) and not vgg.training
    images = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        got = vgg(images)
        want = _reference_taps(state, images)
    assert len(got) == len(TAP_NAMES) == 5
    for g, w in zip(got, want):
        assert g.shape == w.shape
        # ours may run channels-last and the reference NCHW: other kernels, other summation order,
        # so allow float32 rounding relative to the tap's scale (a wrong layer is off by O(scale)).
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4 * float(w.abs().max()))
    assert [t.shape[1] for t in got] == [64, 128, 256, 512, 512]
    assert [t.shape[2] for t in got] == [32, 16, 8, 4, 2]


def test_grayscale_is_repeated_to_rgb() -> None:
    vgg = VGG16Features(widths=(4, 4, 8, 8, 8))
    gray = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        for a, b in zip(vgg(gray), vgg(gray.expand(-1, 3, -1, -1))):
            torch.testing.assert_close(a, b)


def test_wrong_keys_and_shapes_name_the_file(vgg_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = dict(vgg_file[1])
    state["features.1.weight"] = state.pop("features.0.weight")  # key moved to a ReLU index
    bad = tmp_path / "renamed.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=r"renamed\.pth.*missing keys.*features\.0\.weight"):
        load_vgg16(bad)
    state = dict(vgg_file[1])
    state["features.28.bias"] = torch.zeros(7)
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=r"features\.28\.bias: shape \(7,\), expected \(512,\)"):
        load_vgg16(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="junk.pth: cannot read"):
        load_vgg16(junk)


def test_published_file_name_must_carry_its_digest_prefix(
        vgg_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "vgg16-397923af.pth"
    fake.write_bytes(vgg_file[0].read_bytes())
    with pytest.raises(CheckpointError, match="does not start with 397923af"):
        load_vgg16(fake)


def test_registry_name_offline_names_url_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNTHBIO_OFFLINE", "1")
    monkeypatch.setenv("SYNTHBIO_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as info:
        load_vgg16()
    message = str(info.value)
    assert "https://download.pytorch.org/models/vgg16-397923af.pth" in message
    assert str(tmp_path / "models" / "vgg16-imagenet" / "vgg16-397923af.pth") in message
    with pytest.raises(ModelNotFoundError, match="PerceptualSimilarity.*lpips/weights/v0.1/vgg.pth"):
        load_lpips_heads()


def test_lpips_heads_load_by_their_key_names(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(3)
    widths = (64, 128, 256, 512, 512)
    state = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(widths)}
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    heads = load_lpips_heads(path)
    assert heads.widths == widths
    for k, w in enumerate(heads.layer_weights()):
        torch.testing.assert_close(w, state[f"lin{k}.model.1.weight"].flatten())
    state["lin2.model.1.weight"] = -state["lin2.model.1.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"lin2\.model\.1\.weight: negative"):
        load_lpips_heads(path)
    del state["lin4.model.1.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"missing keys: lin4\.model\.1\.weight"):
        load_lpips_heads(path)


def test_bad_inputs_are_refused() -> None:
    vgg = VGG16Features(widths=(2, 2, 2, 2, 2))
    with pytest.raises(InputError, match="at least 16x16"):
        vgg(torch.zeros(1, 3, 8, 8))
    with pytest.raises(InputError, match=r"1 or 3"):
        vgg(torch.zeros(1, 2, 16, 16))
    with pytest.raises(InputError, match="5 positive stage widths"):
        VGG16Features(widths=(4, 4))
