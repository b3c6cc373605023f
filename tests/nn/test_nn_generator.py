"""Tests of the StyleGAN2 generator: official names, truncation, noise, branches, errors."""

from __future__ import annotations

import pytest
import torch

from synthbio.errors import InputError
from synthbio.nn import Generator, GeneratorConfig


def tiny_config(**kw: object) -> GeneratorConfig:
    base = dict(z_dim=8, w_dim=8, img_resolution=8, channel_base=32, channel_max=8, mapping_layers=2)
    base.update(kw)
    return GeneratorConfig(**base)  # type: ignore[arg-type]


def make_g(seed: int = 0, **kw: object) -> Generator:
    torch.manual_seed(seed)  # tests may seed the global RNG for init; forward never uses it
    g = Generator(tiny_config(**kw)).eval()
    with torch.no_grad():  # non-zero noise strengths and biases so every path matters
        for name, p in g.named_parameters():
            if name.endswith("noise_strength") or name.endswith(".bias"):
                p.add_(0.3 * torch.randn(p.shape))
        g.mapping.w_avg.copy_(torch.randn(g.w_dim))
    return g


def layer_keys(prefix: str, in_ch: int, out_ch: int, res: int, w_dim: int, k: int = 3) -> dict[str, tuple]:
    return {
        f"{prefix}.weight": (out_ch, in_ch, k, k), f"{prefix}.bias": (out_ch,),
        f"{prefix}.affine.weight": (in_ch, w_dim), f"{prefix}.affine.bias": (in_ch,),
        f"{prefix}.noise_const": (res, res), f"{prefix}.noise_strength": (),
        f"{prefix}.resample_filter": (4, 4),
    }


def rgb_keys(prefix: str, in_ch: int, out_ch: int, w_dim: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (out_ch, in_ch, 1, 1), f"{prefix}.bias": (out_ch,),
            f"{prefix}.affine.weight": (in_ch, w_dim), f"{prefix}.affine.bias": (in_ch,)}


def test_state_dict_names_and_shapes_match_official() -> None:
    g = Generator(tiny_config(c_dim=2))
    expect = {
        "mapping.embed.weight": (8, 2), "mapping.embed.bias": (8,),
        "mapping.fc0.weight": (8, 16), "mapping.fc0.bias": (8,),
        "mapping.fc1.weight": (8, 8), "mapping.fc1.bias": (8,),
        "mapping.w_avg": (8,),
        "synthesis.b4.const": (8, 4, 4), "synthesis.b4.resample_filter": (4, 4),
        "synthesis.b8.resample_filter": (4, 4),
        **layer_keys("synthesis.b4.conv1", 8, 8, 4, 8),
        **rgb_keys("synthesis.b4.torgb", 8, 3, 8),
        **layer_keys("synthesis.b8.conv0", 8, 4, 8, 8),
        **layer_keys("synthesis.b8.conv1", 4, 4, 8, 8),
        **rgb_keys("synthesis.b8.torgb", 4, 3, 8),
    }
    got = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    assert got == expect
    assert g.num_ws == 4 and g.img_channels == 3 and g.branch_names == ("img",)
    assert (g.z_dim, g.c_dim, g.w_dim, g.img_resolution) == (8, 2, 8, 8)


def test_init_follows_official() -> None:
    g = Generator(tiny_config())
    layer = g.synthesis.b8.conv0
    assert float(layer.noise_strength.detach()) == 0.0
    assert torch.all(layer.bias == 0) and torch.all(layer.affine.bias == 1)
    assert torch.all(g.mapping.fc0.bias == 0) and torch.all(g.mapping.w_avg == 0)
    # Mapping weights are stored as randn / lr_multiplier (0.01): std ~ 100.
    assert 50 < float(g.mapping.fc1.weight.detach().std()) < 200


def test_truncation_semantics() -> None:
    g = make_g()
    z = torch.randn([3, 8])
    with torch.no_grad():
        ws = g.mapping(z)
        assert ws.shape == (3, 4, 8)
        torch.testing.assert_close(ws[:, 0], ws[:, 3])  # broadcast of one w
        avg = g.mapping.w_avg
        torch.testing.assert_close(g.mapping(z, truncation_psi=0), avg.expand(3, 4, 8))
        half = g.mapping(z, truncation_psi=0.5)
        torch.testing.assert_close(half, avg + 0.5 * (ws - avg))
        cut = g.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
        torch.testing.assert_close(cut[:, :2], half[:, :2])
        torch.testing.assert_close(cut[:, 2:], ws[:, 2:])


def test_update_emas_moves_w_avg_only_when_asked() -> None:
    g = make_g()
    before = g.mapping.w_avg.clone()
    g.mapping(torch.randn([4, 8]))
    torch.testing.assert_close(g.mapping.w_avg, before)
    w = g.mapping(torch.randn([4, 8]), update_emas=True)
    torch.testing.assert_close(g.mapping.w_avg, w[:, 0].mean(0).lerp(before, 0.995))


def test_bad_inputs_raise_input_error() -> None:
    g = make_g()
    z = torch.randn([2, 8])
    with pytest.raises(InputError, match="z contains NaN"):
        g(torch.full([2, 8], float("nan")))
    with pytest.raises(InputError, match="z must have shape"):
        g(torch.randn([2, 7]))
    with pytest.raises(InputError, match="ws contains NaN"):
        g.synthesis(torch.full([2, 4, 8], float("inf")))
    with pytest.raises(InputError, match="ws must have shape"):
        g.synthesis(torch.randn([2, 3, 8]))
    with pytest.raises(InputError, match="noise_mode"):
        g(z, noise_mode="fixed")
    with pytest.raises(InputError, match="generator"):
        g(z, noise_mode="random")
    with pytest.raises(InputError, match="one per sample"):
        g(z, noise_mode="random", generator=[torch.Generator()])
    with pytest.raises(InputError, match="unconditional"):
        g(z, torch.randn([2, 3]))
    gc = make_g(c_dim=3)
    with pytest.raises(InputError, match="c of shape"):
        gc(z)
    with pytest.raises(InputError, match="c must have shape"):
        gc(z, torch.randn([2, 4]))
    with pytest.raises(InputError, match="c must have shape"):
        gc(z, torch.randn([3, 3]))


def test_conditional_generator_uses_c() -> None:
    g = make_g(c_dim=3)
    z = torch.randn([2, 8]).repeat(2, 1)
    c = torch.eye(3)[[0, 0, 1, 2]]
    with torch.no_grad():
        img = g(z, c)
    assert img.shape == (4, 3, 8, 8)
    assert not torch.allclose(img[0], img[2])


def test_noise_modes() -> None:
    g = make_g()
    z = torch.randn([2, 8])
    with torch.no_grad():
        const1, const2 = g(z), g(z, noise_mode="const")
        none = g(z, noise_mode="none")
        r1 = g(z, noise_mode="random", generator=torch.Generator().manual_seed(5))
        r2 = g(z, noise_mode="random", generator=torch.Generator().manual_seed(5))
        r3 = g(z, noise_mode="random", generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(const1, const2)
    assert not torch.allclose(const1, none)
    torch.testing.assert_close(r1, r2)
    assert not torch.allclose(r1, r3) and not torch.allclose(r1, const1)
    # With zero noise strength every mode gives the same image.
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.zero_()
        torch.testing.assert_close(g(z), g(z, noise_mode="none"))
        torch.testing.assert_close(g(z, noise_mode="random", generator=torch.Generator()), g(z))


def test_same_seed_same_image_whatever_the_batch() -> None:
    g = make_g()
    seeds = [11, 12, 13]
    z = torch.cat([torch.randn([1, 8], generator=torch.Generator().manual_seed(s)) for s in seeds])
    rng_before = torch.get_rng_state()
    with torch.no_grad():
        batch = g(z, noise_mode="random", generator=[torch.Generator().manual_seed(s) for s in seeds])
        singles = [g(z[i:i + 1], noise_mode="random", generator=[torch.Generator().manual_seed(s)])
                   for i, s in enumerate(seeds)]
        pair = g(z[1:], noise_mode="random", generator=[torch.Generator().manual_seed(s) for s in seeds[1:]])
    assert torch.equal(torch.get_rng_state(), rng_before)  # the global RNG is never touched
    torch.testing.assert_close(batch, torch.cat(singles), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch[1:], pair, rtol=1e-5, atol=1e-5)


def test_fused_and_nonfused_synthesis_agree() -> None:
    g = make_g()
    ws = torch.randn([3, g.num_ws, 8])
    with torch.no_grad():
        a = g.synthesis(ws, fused_modconv=True)
        b = g.synthesis(ws, fused_modconv=False)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_multi_branch_outputs_and_primary_branch_equals_single() -> None:
    multi = make_g(branches=(("rgb", 3), ("nir", 1)))
    keys = multi.state_dict().keys()
    assert "synthesis.b8.torgb_nir.weight" in keys and "synthesis.b4.torgb_nir.affine.weight" in keys
    assert multi.num_ws == 4 and multi.branch_names == ("rgb", "nir")
    single = Generator(tiny_config(branches=(("rgb", 3),))).eval()
    single.load_state_dict({k: v for k, v in multi.state_dict().items() if "torgb_nir" not in k}, strict=True)
    z = torch.randn([2, 8])
    with torch.no_grad():
        out = multi(z, truncation_psi=0.7)
        ref = single(z, truncation_psi=0.7)
        ws = multi.mapping(z)
        syn = multi.synthesis(ws, noise_mode="none")
    assert isinstance(out, dict) and set(out) == {"rgb", "nir"}
    assert out["rgb"].shape == (2, 3, 8, 8) and out["nir"].shape == (2, 1, 8, 8)
    assert isinstance(syn, dict) and syn["nir"].shape == (2, 1, 8, 8)
    torch.testing.assert_close(out["rgb"], ref)


def test_bf16_autocast_runs_close_to_fp32() -> None:
    g = make_g()
    z = torch.randn([2, 8])
    with torch.no_grad():
        ref = g(z)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = g(z)
    assert low.shape == ref.shape and torch.isfinite(low).all()
    assert float((low.float() - ref).abs().max()) < 0.1 * float(ref.abs().max()) + 0.1


def test_autocast_keeps_w_float32_so_truncation_works() -> None:
    g = make_g()
    z = torch.randn([2, 8])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ws = g.mapping(z, None, truncation_psi=0.7, truncation_cutoff=2)
        img = g(z, truncation_psi=0.7)
    assert ws.dtype == torch.float32
    assert torch.isfinite(img).all()


def test_gradients_flow_in_training_mode() -> None:
    g = make_g().train()
    img = g(torch.randn([2, 8]), noise_mode="random", generator=torch.Generator().manual_seed(0))
    img.square().mean().backward()
    assert g.synthesis.b4.const.grad is not None and g.mapping.fc0.weight.grad is not None


def test_torch_compile_matches_eager() -> None:
    if not hasattr(torch, "compile"):
        pytest.skip("this torch has no torch.compile")
    import importlib.util

    if importlib.util.find_spec("torch._inductor") is None:  # pragma: no cover - platform dependent
        pytest.skip("torch.compile's inductor backend is not part of this torch build")
    g = make_g(img_resolution=8)
    ws = torch.randn([2, g.num_ws, 8])
    compiled = torch.compile(g.synthesis, dynamic=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(ws), g.synthesis(ws), rtol=1e-4, atol=1e-4)
