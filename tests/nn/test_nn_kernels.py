"""The one-sample CPU inference path of the synthesis layers equals the general (autograd) path."""

from __future__ import annotations

import pytest
import torch

from synthbio.nn.layers import SynthesisLayer, ToRGBLayer


def randomized(layer: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.endswith("bias") or name.endswith("noise_strength"):
                p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return layer.eval()


# (in, out, res, up, nhwc): covers weight scaling (H*W >= O*k*k) and input scaling, the matmul
# path of tiny maps, NHWC with the prepacked shared weight, and the transposed conv + blur.
CASES = [(8, 8, 8, 1, False), (8, 8, 16, 1, True), (32, 32, 16, 1, True), (32, 32, 16, 1, False),
         (8, 8, 16, 2, False), (8, 8, 32, 2, True), (32, 32, 32, 2, True), (16, 8, 32, 2, False)]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_synthesis_layer_one_sample_equals_general_path(case, noise_mode: str) -> None:
    cin, cout, res, up, nhwc = case
    torch.manual_seed(0)
    layer = randomized(SynthesisLayer(cin, cout, w_dim=12, resolution=res, up=up, conv_clamp=0.8), 1)
    x = torch.randn([1, cin, res // up, res // up])
    if nhwc:
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn([1, 12])
    gen = (lambda: torch.Generator().manual_seed(3)) if noise_mode == "random" else (lambda: None)
    general = layer(x, w, noise_mode=noise_mode, generator=gen(), fused_modconv=False, gain=1.5)
    assert general.requires_grad  # autograd on: the batched general path ran
    with torch.no_grad():
        for _ in range(2):  # the second call reads the cached weight forms
            one = layer(x, w, noise_mode=noise_mode, generator=gen(), gain=1.5)
            torch.testing.assert_close(one, general.detach(), rtol=1e-5, atol=1e-5)
    assert float(one.abs().max()) <= 0.8 * 1.5 + 1e-6  # the clamp scales with the gain


def test_cached_weight_forms_follow_weight_updates() -> None:
    torch.manual_seed(0)
    layer = randomized(SynthesisLayer(32, 32, w_dim=12, resolution=16), 1)
    x = torch.randn([1, 32, 16, 16]).contiguous(memory_format=torch.channels_last)
    w = torch.randn([1, 12])
    with torch.no_grad():
        before = layer(x, w, noise_mode="none")
        layer.weight.mul_(2)  # demodulation cancels a global weight scale ...
        torch.testing.assert_close(layer(x, w, noise_mode="none"), before, rtol=1e-5, atol=1e-5)
        layer.weight[0].neg_()  # ... but not a sign flip of one filter: the caches must not go stale
        after = layer(x, w, noise_mode="none")
    expect = layer(x, w, noise_mode="none").detach()
    torch.testing.assert_close(after, expect, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(after, before)


@pytest.mark.parametrize("res", [8, 16])
def test_torgb_one_sample_equals_general_path(res: int) -> None:
    torch.manual_seed(0)
    layer = randomized(ToRGBLayer(16, 3, w_dim=12, conv_clamp=0.5), 2)
    x = torch.randn([1, 16, res, res]).contiguous(memory_format=torch.channels_last)
    w = torch.randn([1, 12])
    general = layer(x, w, fused_modconv=False)
    with torch.no_grad():
        torch.testing.assert_close(layer(x, w), general.detach(), rtol=1e-5, atol=1e-5)


def test_prepacked_onednn_path_runs_where_onednn_exists() -> None:
    from synthbio.nn import _kernels

    if not torch.backends.mkldnn.is_available():
        pytest.skip("this torch build has no oneDNN: the plain convolutions run instead")
    torch.manual_seed(0)
    layer = randomized(SynthesisLayer(32, 32, w_dim=12, resolution=8, up=2), 1)  # 4x4 input: input scaling
    with torch.no_grad():
        layer(torch.randn([1, 32, 4, 4]), torch.randn([1, 12]), noise_mode="none")
    assert _kernels._PREPACKED_OK
    assert any(k.startswith("_wpacked_t_") for k in layer.__dict__)  # the transposed conv used a packed weight
