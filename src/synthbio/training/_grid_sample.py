"""Bilinear `grid_sample` that can be differentiated twice with respect to its input.

ADA's geometric augmentations resample the real images with `grid_sample`, and R1
penalises the gradient of D with respect to those reals, so the backward pass of
`grid_sample` is itself differentiated. PyTorch's CUDA build has no derivative for
`grid_sampler_2d_backward` (RuntimeError on the first R1 step with ADA p > 0).

The sampling grid never needs a gradient here (it is built from random augmentation
parameters), so the second-order term needed is only the one through the incoming
gradient: grid_sample is linear in its input, x -> A x with A fixed by the grid, so
its input gradient is A^T g, linear in g, and the derivative of A^T g with respect
to g applied to a vector v is A v, i.e. grid_sample of v on the same grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, grid: Tensor, mode: str, padding_mode: str, align_corners: bool) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, grid)
        ctx.options = (mode, padding_mode, align_corners)
        return F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        x, grid = ctx.saved_tensors
        grad_x, grad_grid = _GridSampleBackward.apply(grad_out, x, grid, *ctx.options)
        return grad_x, grad_grid, None, None, None


class _GridSampleBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, grad_out: Tensor, x: Tensor, grid: Tensor, mode: str, padding_mode: str,  # type: ignore[override]
                align_corners: bool) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(grid)
        ctx.options = (mode, padding_mode, align_corners)
        ctx.grid_requires_grad = grid.requires_grad
        grad_x, grad_grid = torch.ops.aten.grid_sampler_2d_backward(
            grad_out, x, grid, _MODES[mode], _PADDING[padding_mode], align_corners,
            [x.requires_grad, grid.requires_grad])
        if grad_grid is None:
            grad_grid = torch.zeros_like(grid)
        if grad_x is None:
            grad_x = torch.zeros_like(x)
        return grad_x, grad_grid

    @staticmethod
    def backward(ctx, grad2_x: Tensor, grad2_grid: Tensor):  # type: ignore[override]
        (grid,) = ctx.saved_tensors
        if ctx.grid_requires_grad and ctx.needs_input_grad[2]:
            raise RuntimeError("grid_sample_twice: second derivatives with respect to the grid are not supported")
        grad2_out = None
        if ctx.needs_input_grad[0]:
            # d(A^T g)/dg applied to grad2_x is A grad2_x: the forward resampling again.
            grad2_out = _GridSample.apply(grad2_x, grid, *ctx.options)
        return grad2_out, None, None, None, None, None


def grid_sample_twice(x: Tensor, grid: Tensor, *, mode: str = "bilinear", padding_mode: str = "zeros",
                      align_corners: bool = False) -> Tensor:
    """`F.grid_sample` for [N, C, H, W] inputs whose input gradient can be differentiated
    again (R1 through ADA). Same values and first derivatives as `F.grid_sample`;
    second derivatives only through the input, not the grid."""
    if mode not in _MODES or padding_mode not in _PADDING:
        raise ValueError(f"grid_sample_twice: unsupported mode {mode!r} / padding_mode {padding_mode!r}")
    if x.ndim != 4:
        raise ValueError(f"grid_sample_twice: expected a 4-D input, got shape {tuple(x.shape)}")
    return _GridSample.apply(x, grid, mode, padding_mode, align_corners)
