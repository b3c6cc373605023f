import pytest
import torch
import torch.nn.functional as F

from synthbio.errors import InputError
from synthbio.generation.sampling import map_seeds, synthesize
from synthbio.segmentation.features import (
    bilinear_taps,
    describe_layers,
    feature_modules,
    gather_pixel_features,
    select_layers,
    synthesize_with_features,
    tap_feature_maps,
)


@pytest.mark.parametrize(("out_size", "in_size"), [(32, 4), (32, 8), (17, 5), (20, 32), (16, 16), (7, 1)])
def test_bilinear_taps_reproduce_interpolate(out_size, in_size):
    x = torch.randn(3, in_size, in_size, generator=torch.Generator().manual_seed(0))
    want = F.interpolate(x[None], size=(out_size, out_size), mode="bilinear", align_corners=False)[0]
    i0, i1, w1 = bilinear_taps(out_size, in_size)
    rows = x[:, i0] * (1 - w1)[None, :, None] + x[:, i1] * w1[None, :, None]
    got = rows[:, :, i0] * (1 - w1) + rows[:, :, i1] * w1
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)  # float32 vs float64 source coordinates


def test_gathered_pixel_features_equal_resized_concatenated_maps():
    g = torch.Generator().manual_seed(1)
    maps = [torch.randn(5, 4, 4, generator=g), torch.randn(3, 9, 9, generator=g), torch.randn(2, 24, 24, generator=g)]
    ys = torch.randint(0, 24, (200,), generator=g)
    xs = torch.randint(0, 24, (200,), generator=g)
    full = torch.cat([F.interpolate(m[None], size=(24, 24), mode="bilinear", align_corners=False)[0] for m in maps])
    got = gather_pixel_features(maps, ys, xs, out_height=24, out_width=24)
    assert got.shape == (200, 10)
    torch.testing.assert_close(got, full[:, ys, xs].t(), atol=1e-6, rtol=1e-6)
    half = gather_pixel_features(maps, ys, xs, out_height=24, out_width=24, dtype=torch.float16)
    assert half.dtype == torch.float16


def test_feature_layers_of_stylegan2_synthesis(G32):
    names = list(feature_modules(G32))
    assert names == ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1", "b32.conv0", "b32.conv1"]
    layers = describe_layers(G32, names)
    assert [(x.height, x.channels) for x in layers][-1] == (32, G32.synthesis.b32.conv1.out_channels)
    assert [x.height for x in layers] == [4, 8, 8, 16, 16, 32, 32]


def test_select_layers_by_name_and_glob():
    names = ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0"]
    assert select_layers(names) == names
    assert select_layers(names, ["b8.*"]) == ["b8.conv0", "b8.conv1"]
    assert select_layers(names, ["b16.conv0", "b4.conv1"]) == ["b4.conv1", "b16.conv0"]  # forward order
    with pytest.raises(InputError, match="b64.conv0.*matches none.*b4.conv1"):
        select_layers(names, ["b64.conv0"])


def test_tapped_maps_come_with_the_same_images_and_do_not_depend_on_the_batch(G32):
    _, ws = map_seeds(G32, [3, 4, 5], truncation_psi=0.7)
    names = list(feature_modules(G32))
    images, maps = synthesize_with_features(G32, ws, layers=names, seeds=[3, 4, 5], noise_mode="random")
    plain = synthesize(G32, ws, seeds=[3, 4, 5], noise_mode="random")
    for b in plain:
        assert torch.equal(images[b], plain[b])
    _, alone = synthesize_with_features(G32, ws[1:2], layers=names, seeds=[4], noise_mode="random")
    for m, a in zip(maps, alone):
        assert m.shape[0] == 3
        assert torch.equal(m[1:2], a)
    # The last map is what the output heads read: its channels drive the images.
    assert maps[-1].abs().sum() > 0


def test_hooks_are_removed_after_tapping(G32):
    modules = feature_modules(G32)
    with tap_feature_maps(G32, ["b8.conv0"]):
        assert len(modules["b8.conv0"]._forward_hooks) == 1
    assert len(modules["b8.conv0"]._forward_hooks) == 0


def test_margin_of_a_tapped_layer_is_cropped(G32):
    layer = feature_modules(G32)["b16.conv1"]
    layer.feature_margin = 2
    try:
        _, maps = synthesize_with_features(G32, G32.mapping.w_avg.reshape(1, 1, -1).expand(1, G32.num_ws, -1),
                                           layers=["b16.conv1"], seeds=[0])
    finally:
        del layer.feature_margin
    assert maps[0].shape[-2:] == (12, 12)


def test_a_generator_without_feature_layers_is_refused():
    class NoTaps(torch.nn.Module):
        synthesis = torch.nn.Identity()

    with pytest.raises(InputError, match="offers no feature layers"):
        feature_modules(NoTaps())
