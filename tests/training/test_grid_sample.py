"""grid_sample_twice: same values, gradients and second derivatives (through the input)
as PyTorch's own grid_sample, whose CPU kernel does have a double backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synthbio.training._grid_sample import grid_sample_twice


def _case(seed: int, *, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 9, 7, generator=g, dtype=dtype)
    grid = torch.rand(2, 6, 5, 2, generator=g, dtype=dtype) * 2.4 - 1.2  # some samples fall outside
    return x, grid


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_values_and_first_derivatives_match_torch(padding_mode: str) -> None:
    x, grid = _case(0)
    xa, ga = x.clone().requires_grad_(), grid.clone().requires_grad_()
    xb, gb = x.clone().requires_grad_(), grid.clone().requires_grad_()
    ya = grid_sample_twice(xa, ga, padding_mode=padding_mode)
    yb = F.grid_sample(xb, gb, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    torch.testing.assert_close(ya, yb, rtol=0, atol=0)
    w = torch.randn_like(ya)
    (ya * w).sum().backward()
    (yb * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ga.grad, gb.grad, rtol=1e-12, atol=1e-12)


def test_r1_style_second_derivative_matches_torch() -> None:
    """The R1 pattern: |d f(A x) / dx|^2 differentiated again with respect to x."""
    x, grid = _case(1)
    grads = []
    for fn in (grid_sample_twice, lambda a, g, **kw: F.grid_sample(a, g, align_corners=False, **kw)):
        xi = x.clone().requires_grad_()
        y = fn(xi, grid, padding_mode="reflection")
        (g1,) = torch.autograd.grad((y.tanh() ** 2).sum(), xi, create_graph=True)
        (g2,) = torch.autograd.grad(g1.square().sum(), xi)
        grads.append(g2)
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_gradgradcheck_through_the_input() -> None:
    x, grid = _case(2)
    x = x[:1, :1].clone().requires_grad_()
    grid = grid[:1]
    assert torch.autograd.gradgradcheck(lambda a: grid_sample_twice(a, grid, padding_mode="border"), (x,))


def test_second_derivative_through_the_grid_is_refused() -> None:
    x, grid = _case(3)
    xi, gi = x.clone().requires_grad_(), grid.clone().requires_grad_()
    y = grid_sample_twice(xi, gi)
    (gg,) = torch.autograd.grad((y ** 2).sum(), gi, create_graph=True)
    with pytest.raises(RuntimeError, match="grid"):
        gg.sum().backward()


def test_bad_arguments() -> None:
    x, grid = _case(4)
    with pytest.raises(ValueError, match="padding_mode"):
        grid_sample_twice(x, grid, padding_mode="wrap")
    with pytest.raises(ValueError, match="4-D"):
        grid_sample_twice(x[0], grid)
