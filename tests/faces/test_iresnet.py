"""IResNet: official key layouts (arcface_torch, AdaFace) load, and the forward matches a reference.

The state dicts are built here, key by key, from the official layouts (random
weights, tiny widths), and the reference forward is written independently
with torch.nn.functional on the raw dict.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import CheckpointError, ModelNotFoundError
from synthbio.faces.iresnet import IResNetConfig, infer_config, load_iresnet
from synthbio.identity.models import IdentityModel, build_identity_model

WIDTHS = (4, 8, 12, 16)
UNITS = (2, 1, 2, 1)
EMB = 8
SIZE = 32  # final map 2x2


def _bn(sd: dict, prefix: str, c: int, gen: torch.Generator, *, affine: bool = True) -> None:
    if affine:
        sd[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(c, generator=gen)
        sd[f"{prefix}.bias"] = 0.1 * torch.randn(c, generator=gen)
    sd[f"{prefix}.running_mean"] = 0.1 * torch.randn(c, generator=gen)
    sd[f"{prefix}.running_var"] = 1 + 0.2 * torch.rand(c, generator=gen)
    sd[f"{prefix}.num_batches_tracked"] = torch.tensor(7)


def _conv(sd: dict, key: str, c_out: int, c_in: int, k: int, gen: torch.Generator) -> None:
    sd[key] = torch.randn(c_out, c_in, k, k, generator=gen) * (2.0 / (c_in * k * k)) ** 0.5


def arcface_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Keys as insightface arcface_torch iresnet writes them."""
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    _conv(sd, "conv1.weight", WIDTHS[0], 3, 3, gen)
    _bn(sd, "bn1", WIDTHS[0], gen)
    sd["prelu.weight"] = 0.25 + 0.05 * torch.randn(WIDTHS[0], generator=gen)
    c_in = WIDTHS[0]
    for i, (units, w) in enumerate(zip(UNITS, WIDTHS), start=1):
        for j in range(units):
            p = f"layer{i}.{j}"
            cin = c_in if j == 0 else w
            _bn(sd, f"{p}.bn1", cin, gen)
            _conv(sd, f"{p}.conv1.weight", w, cin, 3, gen)
            _bn(sd, f"{p}.bn2", w, gen)
            sd[f"{p}.prelu.weight"] = 0.25 + 0.05 * torch.randn(w, generator=gen)
            _conv(sd, f"{p}.conv2.weight", w, w, 3, gen)
            _bn(sd, f"{p}.bn3", w, gen)
            if j == 0:  # stride 2 at every stage start
                _conv(sd, f"{p}.downsample.0.weight", w, cin, 1, gen)
                _bn(sd, f"{p}.downsample.1", w, gen)
        c_in = w
    _bn(sd, "bn2", c_in, gen)
    sd["fc.weight"] = torch.randn(EMB, c_in * 4, generator=gen) * 0.1
    sd["fc.bias"] = torch.randn(EMB, generator=gen) * 0.1
    _bn(sd, "features", EMB, gen)
    return sd


def adaface_checkpoint(seed: int = 1) -> dict:
    """A Lightning checkpoint as AdaFace ships it: state_dict with model./head. keys."""
    gen = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    _conv(sd, "input_layer.0.weight", WIDTHS[0], 3, 3, gen)
    _bn(sd, "input_layer.1", WIDTHS[0], gen)
    sd["input_layer.2.weight"] = 0.25 + 0.05 * torch.randn(WIDTHS[0], generator=gen)
    c_in, b = WIDTHS[0], 0
    for units, w in zip(UNITS, WIDTHS):
        for j in range(units):
            p = f"body.{b}"
            cin = c_in if j == 0 else w
            _bn(sd, f"{p}.res_layer.0", cin, gen)
            _conv(sd, f"{p}.res_layer.1.weight", w, cin, 3, gen)
            _bn(sd, f"{p}.res_layer.2", w, gen)
            sd[f"{p}.res_layer.3.weight"] = 0.25 + 0.05 * torch.randn(w, generator=gen)
            _conv(sd, f"{p}.res_layer.4.weight", w, w, 3, gen)
            _bn(sd, f"{p}.res_layer.5", w, gen)
            if cin != w:
                _conv(sd, f"{p}.shortcut_layer.0.weight", w, cin, 1, gen)
                _bn(sd, f"{p}.shortcut_layer.1", w, gen)
            b += 1
        c_in = w
    _bn(sd, "output_layer.0", c_in, gen)
    sd["output_layer.3.weight"] = torch.randn(EMB, c_in * 4, generator=gen) * 0.1
    sd["output_layer.3.bias"] = torch.randn(EMB, generator=gen) * 0.1
    _bn(sd, "output_layer.4", EMB, gen, affine=False)
    state = {f"model.{k}": v for k, v in sd.items()}
    state["head.kernel"] = torch.randn(EMB, 5, generator=gen)
    return {"epoch": 3, "state_dict": state}


def _ref_bn(x: torch.Tensor, sd: dict, p: str) -> torch.Tensor:
    return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd.get(f"{p}.weight"), sd.get(f"{p}.bias"),
                        training=False, eps=1e-5)


def _ref_unit(x, sd, p, names, stride, shortcut):  # noqa: ANN001, ANN202 - test helper
    bn1, conv1, bn2, prelu, conv2, bn3 = (f"{p}.{n}" for n in names)
    y = F.conv2d(_ref_bn(x, sd, bn1), sd[f"{conv1}.weight"], padding=1)
    y = F.prelu(_ref_bn(y, sd, bn2), sd[f"{prelu}.weight"])
    y = _ref_bn(F.conv2d(y, sd[f"{conv2}.weight"], stride=stride, padding=1), sd, bn3)
    return y + shortcut(x)


def reference_arcface(sd: dict, x: torch.Tensor) -> torch.Tensor:
    x = F.prelu(_ref_bn(F.conv2d(x, sd["conv1.weight"], padding=1), sd, "bn1"), sd["prelu.weight"])
    for i, units in enumerate(UNITS, start=1):
        for j in range(units):
            p = f"layer{i}.{j}"
            if j == 0:
                def short(t, p=p):  # noqa: ANN001, ANN202
                    return _ref_bn(F.conv2d(t, sd[f"{p}.downsample.0.weight"], stride=2), sd, f"{p}.downsample.1")
            else:
                def short(t):  # noqa: ANN001, ANN202
                    return t
            x = _ref_unit(x, sd, p, ("bn1", "conv1", "bn2", "prelu", "conv2", "bn3"), 2 if j == 0 else 1, short)
    x = _ref_bn(x, sd, "bn2").flatten(1)
    return _ref_bn(F.linear(x, sd["fc.weight"], sd["fc.bias"]), sd, "features")


def reference_adaface(sd: dict, x: torch.Tensor) -> torch.Tensor:
    x = F.prelu(_ref_bn(F.conv2d(x, sd["input_layer.0.weight"], padding=1), sd, "input_layer.1"), sd["input_layer.2.weight"])
    b = 0
    for units in UNITS:
        for j in range(units):
            p, stride = f"body.{b}", 2 if j == 0 else 1
            if f"{p}.shortcut_layer.0.weight" in sd:
                def short(t, p=p, s=stride):  # noqa: ANN001, ANN202
                    return _ref_bn(F.conv2d(t, sd[f"{p}.shortcut_layer.0.weight"], stride=s), sd, f"{p}.shortcut_layer.1")
            else:
                def short(t, s=stride):  # noqa: ANN001, ANN202
                    return t[:, :, ::s, ::s]
            x = _ref_unit(x, sd, p, tuple(f"res_layer.{k}" for k in range(6)), stride, short)
            b += 1
    x = _ref_bn(x, sd, "output_layer.0").flatten(1)
    return _ref_bn(F.linear(x, sd["output_layer.3.weight"], sd["output_layer.3.bias"]), sd, "output_layer.4")


def _input(seed: int = 5) -> torch.Tensor:
    return torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_arcface_layout_loads_and_matches_reference(tmp_path) -> None:
    sd = arcface_state_dict()
    path = tmp_path / "backbone.pth"
    torch.save(sd, path)
    net = load_iresnet(path)
    assert net.config == IResNetConfig(layout="arcface", units=UNITS, widths=WIDTHS, embedding_dim=EMB, input_size=SIZE)
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference_arcface(sd, x), atol=1e-5, rtol=1e-5)


def test_adaface_checkpoint_loads_and_matches_reference(tmp_path) -> None:
    ckpt = adaface_checkpoint()
    path = tmp_path / "adaface_ir.ckpt"
    torch.save(ckpt, path)
    net = load_iresnet(path)
    assert net.config.layout == "adaface" and net.config.units == UNITS
    sd = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference_adaface(sd, x), atol=1e-5, rtol=1e-5)


def test_identity_model_from_weights(tmp_path) -> None:
    path = tmp_path / "backbone.pth"
    torch.save(arcface_state_dict(), path)
    m = build_identity_model("arcface-r100", weights=path)
    assert isinstance(m, IdentityModel) and (m.name, m.embedding_dim, m.kind) == ("arcface-r100", EMB, "vector")
    x = (torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1).requires_grad_(True)
    e = m.embed(x)
    assert e.shape == (2, EMB)
    assert m.preprocess(x).shape == (2, 3, SIZE, SIZE)
    (1 - m.similarity(e[:1], e[1:])).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    # AdaFace sees BGR: its network flips the channels of the aligned RGB input
    ada = tmp_path / "ada.ckpt"
    torch.save(adaface_checkpoint(), ada)
    a = build_identity_model("adaface-ir101", weights=ada)
    aligned = _input()
    with torch.no_grad():
        torch.testing.assert_close(a.embed_aligned(aligned), a.net(aligned.flip(1)))


def test_bad_weights(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError):
        build_identity_model("arcface-r100", weights=tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_iresnet(junk)
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="layout"):
        load_iresnet(other)
    wrong = tmp_path / "wrong.pth"
    torch.save(arcface_state_dict(), wrong)
    with pytest.raises(CheckpointError, match="arcface"):
        build_identity_model("adaface-ir101", weights=wrong)
    sd = arcface_state_dict()
    del sd["layer1.0.bn1.weight"]
    torch.save(sd, other)
    with pytest.raises(CheckpointError, match="missing"):
        load_iresnet(other)


def test_infer_config_of_full_size_layouts() -> None:
    from synthbio.faces.iresnet import IResNet

    for layout in ("arcface", "adaface"):
        cfg = IResNetConfig(layout=layout)
        with torch.device("meta"):  # shapes only, no 65M-parameter allocation
            sd = IResNet(cfg).state_dict()
        assert infer_config(sd) == cfg
