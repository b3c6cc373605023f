"""Tests of the StyleGAN2 discriminator: official names, shapes, conditioning, mbstd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthbio.errors import InputError
from synthbio.nn import Discriminator, DiscriminatorConfig


def tiny(**kw: object) -> DiscriminatorConfig:
    base = dict(img_resolution=16, img_channels=3, channel_base=64, channel_max=8, mapping_layers=2,
                mbstd_group_size=2)
    base.update(kw)
    return DiscriminatorConfig(**base)  # type: ignore[arg-type]


def test_state_dict_names_match_official() -> None:
    d = Discriminator(tiny(c_dim=3, img_resolution=8))
    got = {k: tuple(v.shape) for k, v in d.state_dict().items()}
    conv = lambda p, o, i, k, bias=True: {f"{p}.weight": (o, i, k, k), f"{p}.resample_filter": (4, 4),  # noqa: E731
                                          **({f"{p}.bias": (o,)} if bias else {})}
    expect = {
        "b8.resample_filter": (4, 4),
        **conv("b8.fromrgb", 8, 3, 1), **conv("b8.conv0", 8, 8, 3), **conv("b8.conv1", 8, 8, 3),
        **conv("b8.skip", 8, 8, 1, bias=False),
        "mapping.embed.weight": (8, 3), "mapping.embed.bias": (8,),
        "mapping.fc0.weight": (8, 8), "mapping.fc0.bias": (8,),
        "mapping.fc1.weight": (8, 8), "mapping.fc1.bias": (8,),
        **conv("b4.conv", 8, 9, 3), "b4.fc.weight": (8, 128), "b4.fc.bias": (8,),
        "b4.out.weight": (8, 8), "b4.out.bias": (8,),
    }
    assert got == expect


@pytest.mark.parametrize("arch", ["resnet", "skip", "orig"])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(arch: str, channels: int) -> None:
    d = Discriminator(tiny(architecture=arch, img_channels=channels))
    logits = d(torch.randn([4, channels, 16, 16]))
    assert logits.shape == (4, 1) and logits.dtype == torch.float32
    logits.sum().backward()
    assert d.b16.fromrgb.weight.grad is not None


def test_conditional_projection() -> None:
    torch.manual_seed(0)
    d = Discriminator(tiny(c_dim=4, cmap_dim=6)).eval()
    img = torch.randn([2, 3, 16, 16])
    c = torch.eye(4)[:2]
    captured = {}
    d.b4.out.register_forward_hook(lambda _m, _i, out: captured.setdefault("out", out))
    logits = d(img, c)
    cmap = d.mapping(None, c)
    assert captured["out"].shape == (2, 6) and cmap.shape == (2, 6)
    expect = (captured["out"] * cmap).sum(dim=1, keepdim=True) / np.sqrt(6)
    torch.testing.assert_close(logits, expect)
    assert not torch.allclose(d(img, torch.eye(4)[2:]), logits)
    with pytest.raises(InputError, match="c of shape"):
        d(img)


def test_mbstd_group_sizes_and_errors() -> None:
    d4 = Discriminator(tiny(mbstd_group_size=4))
    assert d4(torch.randn([8, 3, 16, 16])).shape == (8, 1)
    assert d4(torch.randn([2, 3, 16, 16])).shape == (2, 1)  # group clipped to the batch
    with pytest.raises(ValueError, match="does not divide"):
        d4(torch.randn([6, 3, 16, 16]))
    whole = Discriminator(tiny(mbstd_group_size=None))
    assert whole(torch.randn([5, 3, 16, 16])).shape == (5, 1)
    off = Discriminator(tiny(mbstd_num_channels=0))
    assert off.b4.mbstd is None and off(torch.randn([3, 3, 16, 16])).shape == (3, 1)


def test_bad_images_raise_input_error() -> None:
    d = Discriminator(tiny())
    with pytest.raises(InputError, match="img must have shape"):
        d(torch.randn([2, 1, 16, 16]))
    with pytest.raises(InputError, match="img contains NaN"):
        d(torch.full([2, 3, 16, 16], float("nan")))
