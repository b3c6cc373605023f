"""Inference on CPU gives every sample the same bits whatever the batch size (synthbio.nn._per_sample)."""

from __future__ import annotations

import pytest
import torch

from synthbio.nn import Generator, GeneratorConfig

BATCH_SIZES = (1, 2, 3, 5, 8)
N = max(BATCH_SIZES)


def make_g(**kw: object) -> Generator:
    # Odd widths (w_dim 24, 20 channels) leave remainders in vectorised loops and matmul blockings.
    base = dict(z_dim=24, w_dim=24, img_resolution=16, channel_base=160, channel_max=20, mapping_layers=3,
                branches=(("rgb", 3), ("nir", 1)))
    base.update(kw)
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(**base)).eval()  # type: ignore[arg-type]
    with torch.no_grad():  # non-zero noise strengths, biases and w_avg so every path matters
        for name, p in g.named_parameters():
            if name.endswith("noise_strength") or name.endswith(".bias"):
                p.add_(0.3 * torch.randn(p.shape))
        g.mapping.w_avg.copy_(torch.randn(g.w_dim))
    return g


def per_batch_size(run) -> dict[int, list[torch.Tensor]]:
    """run(indices) -> tensor [len, ...]; returns, per batch size, the N per-sample outputs."""
    out = {}
    for bs in BATCH_SIZES:
        rows: list[torch.Tensor] = []
        for start in range(0, N, bs):
            rows.extend(run(list(range(start, min(start + bs, N)))).unbind(0))
        out[bs] = rows
    return out


def assert_bit_identical(results: dict[int, list[torch.Tensor]]) -> None:
    ref = results[1]
    for bs, rows in results.items():
        for i, (a, b) in enumerate(zip(ref, rows)):
            assert torch.equal(a, b), f"sample {i}: batch size {bs} differs from batch size 1 " \
                                      f"by {float((a - b).abs().max()):.3g}"


@pytest.mark.parametrize("c_dim", [0, 3])
def test_mapping_is_batch_invariant(c_dim: int) -> None:
    g = make_g(c_dim=c_dim)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn([N, g.z_dim], generator=gen)
    c = torch.nn.functional.one_hot(torch.arange(N) % 3, 3).float() if c_dim else None
    with torch.no_grad():
        for psi, cutoff in [(1.0, None), (0.7, None), (0.5, 2)]:
            assert_bit_identical(per_batch_size(lambda idx: g.mapping(
                z[idx], None if c is None else c[idx], truncation_psi=psi, truncation_cutoff=cutoff)))


@pytest.mark.parametrize("noise_mode", ["const", "random", "none"])
def test_synthesis_and_generator_are_batch_invariant(noise_mode: str) -> None:
    g = make_g()
    z = torch.randn([N, g.z_dim], generator=torch.Generator().manual_seed(2))
    ws = torch.randn([N, g.num_ws, g.w_dim], generator=torch.Generator().manual_seed(3))

    def gens(idx: list[int]) -> list[torch.Generator] | None:
        return [torch.Generator().manual_seed(100 + i) for i in idx] if noise_mode == "random" else None

    def both(out: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([out["rgb"], out["nir"]], dim=1)

    with torch.inference_mode():
        assert_bit_identical(per_batch_size(
            lambda idx: both(g.synthesis(ws[idx], noise_mode=noise_mode, generator=gens(idx)))))
    if noise_mode != "none":  # G(z) = synthesis(mapping(z)): both invariant, so is the whole
        with torch.no_grad():
            assert_bit_identical(per_batch_size(
                lambda idx: both(g(z[idx], truncation_psi=0.7, noise_mode=noise_mode, generator=gens(idx)))))


def test_one_sample_path_equals_batched_path() -> None:
    """The per-sample path computes what the batched (autograd) path computes, noise draws included."""
    g = make_g(branches=(("img", 3),))
    z = torch.randn([3, g.z_dim], generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        fast = g(z, truncation_psi=0.6, noise_mode="random", generator=torch.Generator().manual_seed(9))
        ws_fast = g.mapping(z, truncation_psi=0.6)
    ws = g.mapping(z, truncation_psi=0.6)  # autograd on: batched kernels
    batched = g.synthesis(ws, noise_mode="random", generator=torch.Generator().manual_seed(9))
    assert batched.requires_grad
    torch.testing.assert_close(ws_fast, ws.detach(), rtol=1e-5, atol=1e-5)
    # One generator for the whole batch draws layer by layer in both paths: the same noise.
    torch.testing.assert_close(fast, batched.detach(), rtol=1e-4, atol=1e-4)


def test_update_emas_uses_the_batch_mean_in_inference() -> None:
    g = make_g()
    z = torch.randn([4, g.z_dim], generator=torch.Generator().manual_seed(5))
    before = g.mapping.w_avg.clone()
    with torch.no_grad():
        w = g.mapping(z, update_emas=True)[:, 0]
    torch.testing.assert_close(g.mapping.w_avg, w.mean(dim=0).lerp(before, g.mapping.w_avg_beta))


def test_training_keeps_batched_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    import synthbio.nn.mapping as mapping_mod
    import synthbio.nn.synthesis as synthesis_mod

    calls: list[int] = []

    def counting_copy(t: torch.Tensor, i: int) -> torch.Tensor:
        calls.append(i)
        return t[i:i + 1].clone()

    monkeypatch.setattr(mapping_mod, "sample_copy", counting_copy)
    monkeypatch.setattr(synthesis_mod, "sample_copy", counting_copy)
    g = make_g()
    z = torch.randn([3, g.z_dim])
    with torch.no_grad():
        g.train()(z)  # e.g. fakes for the discriminator step: train mode, no autograd
        assert calls == []
        g.eval()(z)
    assert calls  # eval + no_grad on CPU: one sample at a time
    calls.clear()
    g(z)  # autograd on
    assert calls == []
