"""conv_gradfix: plain-convolution first and second derivatives equal autograd's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from synthbio.nn import conv_gradfix

# (transpose, stride, padding, output_padding, groups, x shape, w shape)
CASES = [
    (False, 1, 1, 0, 1, (2, 2, 5, 4), (3, 2, 3, 3)),
    (False, 2, 0, 0, 1, (1, 2, 6, 5), (2, 2, 3, 3)),  # odd size: the adjoint needs output padding
    (False, 1, 0, 0, 2, (2, 4, 3, 3), (4, 2, 1, 1)),
    (True, 2, 0, 0, 1, (1, 2, 3, 4), (2, 2, 3, 3)),
    (True, 2, 1, 1, 2, (1, 4, 3, 3), (4, 1, 3, 3)),
]


def _fn(transpose: bool, stride: int, padding: int, output_padding: int, groups: int):
    def fix(x, w):
        if transpose:
            return conv_gradfix.conv_transpose2d(x, w, stride=stride, padding=padding, output_padding=output_padding,
                                                 groups=groups)
        return conv_gradfix.conv2d(x, w, stride=stride, padding=padding, groups=groups)

    def ref(x, w):
        if transpose:
            return F.conv_transpose2d(x, w, stride=stride, padding=padding, output_padding=output_padding, groups=groups)
        return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)

    return fix, ref


def _inputs(xs, ws, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(xs, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(ws, generator=g, dtype=torch.float64, requires_grad=True)
    return x, w


@pytest.mark.parametrize("case", CASES)
def test_gradcheck_and_gradgradcheck(case) -> None:
    transpose, s, p, op, groups, xs, ws = case
    fix, _ = _fn(transpose, s, p, op, groups)
    x, w = _inputs(xs, ws)
    with conv_gradfix.enabled():
        assert torch.autograd.gradcheck(fix, (x, w))
        assert torch.autograd.gradgradcheck(fix, (x, w))


@pytest.mark.parametrize("case", CASES)
def test_r1_style_double_backward_equals_autograd(case) -> None:
    """||d sum(f(x)^2) / dx||^2 back into the weight and the input, as R1 does, against PyTorch's own."""
    transpose, s, p, op, groups, xs, ws = case
    fix, ref = _fn(transpose, s, p, op, groups)
    results = []
    for f, on in ((ref, False), (fix, True)):
        x, w = _inputs(xs, ws, seed=1)
        with conv_gradfix.enabled(on):
            y = f(x, w)
            (gx,) = torch.autograd.grad((y.square() * 0.5).sum(), [x], create_graph=True)
            penalty = gx.square().sum()
            dw, dx = torch.autograd.grad(penalty, [w, x])
        results.append((y.detach(), gx.detach(), dw, dx))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_no_weight_gradients_skips_only_the_weight() -> None:
    x, w = _inputs((1, 2, 6, 6), (3, 2, 3, 3))
    with conv_gradfix.enabled(), conv_gradfix.no_weight_gradients():
        y = conv_gradfix.conv2d(x, w, padding=1)
        gx, gw = torch.autograd.grad(y.sum(), [x, w], allow_unused=True, materialize_grads=False)
    assert gw is None
    torch.testing.assert_close(gx, torch.autograd.grad(F.conv2d(x, w, padding=1).sum(), [x])[0])


def test_disabled_is_plain_pytorch_and_bias_is_added() -> None:
    x, w = _inputs((1, 2, 5, 5), (3, 2, 3, 3))
    b = torch.randn(3, dtype=torch.float64)
    ref = F.conv2d(x, w, b, padding=1)
    assert conv_gradfix.conv2d(x, w, b, padding=1).grad_fn.name() == ref.grad_fn.name()
    with conv_gradfix.enabled():
        out = conv_gradfix.conv2d(x, w, b, padding=1)
        assert "GradfixConv" in out.grad_fn.next_functions[0][0].name()
    torch.testing.assert_close(out, ref)
    assert not conv_gradfix.is_enabled()
