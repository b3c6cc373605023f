"""Batch-invariant inference on CPU: every sample runs alone, through the same kernels.

Why: CPU math libraries pick kernels and blockings by shape. Measured with
torch 2.13 (MKL + oneDNN, AVX-512): a [N,512] @ [512,512] matmul (mapping
layers, affine layers, demodulation) gives a row that differs by up to ~2e-6
between N = 1 and N > 1 (gemv for one row, gemm with 4-row blocks otherwise);
oneDNN convolutions with few channels (16) pick another kernel for N = 1 than
for N > 1 (1x1 toRGB and the transposed upsampling conv differ by ~1e-6); and
vectorised elementwise ops handle the last `numel % 16` elements with scalar
code, whose rounding (e.g. with or without FMA) may differ. Enough to flip
uint8 pixels, so the same seed gave other bytes in another batch size.

The fix at the root: in inference on CPU (eval mode, autograd off, not compiling), the
mapping and synthesis networks run each sample by itself, starting from a
fresh, contiguous, 64-byte-aligned copy of its inputs. Every kernel then sees
exactly the shapes, strides and alignment it sees for a batch of one, whatever
the batch size, so the outputs are bit-identical per sample (given the same
torch build, CPU and thread count, as for any run-to-run reproducibility).
On this 2-core CPU one sample at a time is as fast as a batch (the large
convolutions already fill both cores for one sample; small ones are bound by
reading their weights), see bench/RESULTS.md.

In training (train mode or autograd on; e.g. fakes for the D step drawn under
no_grad) and on other devices, the batched kernels run unchanged: on CUDA,
cuBLAS/cuDNN also choose algorithms per shape, so there a row is reproducible
for a fixed batch shape but may change (~1e-6) with the batch size.
"""

from __future__ import annotations

import torch
from torch import Tensor


def runs_per_sample(module: torch.nn.Module, t: Tensor) -> bool:
    """Whether `module` takes the batch-invariant one-sample-at-a-time path for input `t`.

    Inference only: eval mode, autograd off, on CPU, not while compiling.
    """
    return (t.device.type == "cpu" and not module.training and not torch.is_grad_enabled()
            and not torch.compiler.is_compiling())


def sample_copy(t: Tensor, i: int) -> Tensor:
    """Row i of `t` as a new contiguous tensor [1, ...] (fresh storage, so always equally aligned)."""
    return t[i:i + 1].clone(memory_format=torch.contiguous_format)
