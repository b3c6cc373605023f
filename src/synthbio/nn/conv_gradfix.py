"""2D convolutions whose first and second derivatives are plain convolutions.

R1 (the gradient of D with respect to its input) and path-length
regularisation (the gradient of G's output with respect to w) differentiate
every convolution twice. PyTorch's own double backward of a convolution goes
through ``aten::_convolution_double_backward``; on CUDA that runs one slow
cuDNN kernel (58% of a StyleGAN2 training step at 256 px on an H100 in our
profile). Here the backward of a convolution is written as two convolutions:

- the input gradient is the adjoint convolution: ``conv_transpose2d`` of the
  output gradient for a ``conv2d``, ``conv2d`` for a ``conv_transpose2d``;
- the weight gradient is the correlation of the input with the output
  gradient (``aten::convolution_backward`` with only the weight requested),
  and its own backward is again a forward and an adjoint convolution.

Every piece is one of the autograd functions below, so any order of
derivative stays in plain convolution calls. The same idea is NVIDIA's
``conv2d_gradfix`` in StyleGAN2-ADA; this is an independent implementation.

:func:`no_weight_gradients` skips the weight gradient of the inner backward
where only an input gradient is wanted (R1 asks for d D / d x, not for
d D / d weights), which the engine would otherwise compute and discard.

Off by default: :func:`enabled` turns it on (the trainer does for CUDA), and
the results equal PyTorch's to float rounding (``tests/nn/test_conv_gradfix.py``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

_state = {"enabled": False, "no_weight_grad": False}


@contextlib.contextmanager
def enabled(on: bool = True) -> Iterator[None]:
    """Route :func:`conv2d` / :func:`conv_transpose2d` through the plain-convolution backward inside the block."""
    old = _state["enabled"]
    _state["enabled"] = bool(on)
    try:
        yield
    finally:
        _state["enabled"] = old


def is_enabled() -> bool:
    return bool(_state["enabled"])


@contextlib.contextmanager
def no_weight_gradients(on: bool = True) -> Iterator[None]:
    """Inside the block, the backward of a gradfix convolution returns no weight gradient.

    For ``torch.autograd.grad(..., inputs=[x], create_graph=True)`` (R1, path
    length): the weight gradient of that first backward is never used.
    """
    old = _state["no_weight_grad"]
    _state["no_weight_grad"] = bool(on)
    try:
        yield
    finally:
        _state["no_weight_grad"] = old


def _pair(v: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, *, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] = 0, groups: int = 1) -> Tensor:
    """``F.conv2d`` (x [N, I, H, W], weight [O, I/groups, kh, kw]); plain-conv derivatives when enabled."""
    if not _state["enabled"] or not torch.is_grad_enabled():
        return F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=groups)
    op = _conv_op(False, _pair(stride), _pair(padding), (0, 0), int(groups))
    y = op.apply(x, weight)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, *, stride: int | tuple[int, int] = 1,
                     padding: int | tuple[int, int] = 0, output_padding: int | tuple[int, int] = 0,
                     groups: int = 1) -> Tensor:
    """``F.conv_transpose2d`` (weight [I, O/groups, kh, kw]); plain-conv derivatives when enabled."""
    if not _state["enabled"] or not torch.is_grad_enabled():
        return F.conv_transpose2d(x, weight, bias, stride=stride, padding=padding, output_padding=output_padding,
                                  groups=groups)
    op = _conv_op(True, _pair(stride), _pair(padding), _pair(output_padding), int(groups))
    y = op.apply(x, weight)
    return y if bias is None else y + bias.reshape(1, -1, 1, 1)


def _run(transpose: bool, x: Tensor, w: Tensor, stride: tuple[int, int], padding: tuple[int, int],
         output_padding: tuple[int, int], groups: int) -> Tensor:
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, output_padding=output_padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _adjoint_output_padding(transpose: bool, x_shape: torch.Size, y_shape: torch.Size, w_shape: torch.Size,
                            stride: tuple[int, int], padding: tuple[int, int]) -> tuple[int, int]:
    """output_padding that makes the adjoint of a conv2d return exactly x's size (0 for a transposed conv)."""
    if transpose:
        return (0, 0)
    out = []
    for d in range(2):
        natural = (y_shape[2 + d] - 1) * stride[d] - 2 * padding[d] + w_shape[2 + d]
        out.append(int(x_shape[2 + d] - natural))
    return (out[0], out[1])


@functools.lru_cache(maxsize=None)
def _conv_op(transpose: bool, stride: tuple[int, int], padding: tuple[int, int], output_padding: tuple[int, int],
             groups: int) -> type[torch.autograd.Function]:
    """The autograd function of one convolution configuration (cached: one class per configuration)."""

    class GradfixConv(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: Tensor, w: Tensor) -> Tensor:  # type: ignore[override]
            y = _run(transpose, x, w, stride, padding, output_padding, groups)
            ctx.save_for_backward(x if w.requires_grad else None, w if x.requires_grad else None)
            ctx.x_shape, ctx.w_shape = x.shape, w.shape
            return y

        @staticmethod
        def backward(ctx, gy: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
            x, w = ctx.saved_tensors
            gx = gw = None
            if ctx.needs_input_grad[0]:
                # Adjoint convolution: itself a gradfix op, so its backward is plain convs too.
                op = _adjoint_output_padding(transpose, ctx.x_shape, gy.shape, ctx.w_shape, stride, padding)
                gx = _conv_op(not transpose, stride, padding, op, groups).apply(gy, w)
            if ctx.needs_input_grad[1] and not _state["no_weight_grad"]:
                gw = _weight_grad_op(transpose, stride, padding, output_padding, groups).apply(gy, x, ctx.w_shape)
            return gx, gw

    return GradfixConv


@functools.lru_cache(maxsize=None)
def _weight_grad_op(transpose: bool, stride: tuple[int, int], padding: tuple[int, int],
                    output_padding: tuple[int, int], groups: int) -> type[torch.autograd.Function]:
    """d loss / d weight = correlation of the input with the output gradient, differentiable in both."""

    class GradfixWeightGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, gy: Tensor, x: Tensor, w_shape: torch.Size) -> Tensor:  # type: ignore[override]
            w0 = x.new_empty(w_shape)  # only its shape is read
            gw = torch.ops.aten.convolution_backward(
                gy, x, w0, None, list(stride), list(padding), [1, 1], transpose, list(output_padding), groups,
                [False, True, False])[1]
            ctx.save_for_backward(gy, x)
            return gw

        @staticmethod
        def backward(ctx, ggw: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
            gy, x = ctx.saved_tensors
            ggy = gx = None
            # <ggw, gw(gy, x)> is bilinear: in gy it is the forward conv of x with ggw,
            # in x the adjoint conv of gy with ggw.
            if ctx.needs_input_grad[0]:
                ggy = _conv_op(transpose, stride, padding, output_padding, groups).apply(x, ggw)
            if ctx.needs_input_grad[1]:
                op = _adjoint_output_padding(transpose, x.shape, gy.shape, ggw.shape, stride, padding)
                gx = _conv_op(not transpose, stride, padding, op, groups).apply(gy, ggw)
            return ggy, gx, None

    return GradfixWeightGrad
