"""Data-parallel training over torch.distributed (torchrun): gloo on CPU, nccl on CUDA.

Gradients are averaged with explicit all-reduces after each phase's backward
pass instead of wrapping the networks in DistributedDataParallel: the R1 and
path-length terms differentiate through `torch.autograd.grad`, which DDP's
hooks do not follow, and an explicit reduce keeps every rank's update
bit-identical (same summed gradients, same Adam state).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class DistInfo:
    """rank / world_size of this process (0 / 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> DistInfo:
    """Rank and world size from the torchrun environment variables (defaults: single process)."""
    return DistInfo(rank=int(os.environ.get("RANK", 0)), world_size=int(os.environ.get("WORLD_SIZE", 1)),
                    local_rank=int(os.environ.get("LOCAL_RANK", 0)))


def init_process_group(info: DistInfo, device: torch.device) -> None:
    """Join the process group (env:// rendezvous) unless already joined or single-process."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _flat_grads(params: list[torch.nn.Parameter]) -> Tensor:
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])


def all_reduce_grads(params: Iterable[torch.nn.Parameter], info: DistInfo) -> None:
    """Average the gradients of `params` over all ranks (missing grads count as zeros).

    One flat buffer, one all-reduce: the same sum reaches every rank, so the
    optimiser steps stay identical across ranks.
    """
    if not info.enabled:
        return
    params = [p for p in params if p.requires_grad or p.grad is not None]
    if not params:
        return
    flat = _flat_grads(params)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat.div_(info.world_size)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def broadcast_module(module: torch.nn.Module, info: DistInfo, *, src: int = 0) -> None:
    """Copy parameters and buffers of rank `src` to every rank."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=src)


def average_tensor_(t: Tensor, info: DistInfo) -> Tensor:
    """In-place mean of a tensor over ranks (used for the tracked w_avg buffer)."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t.div_(info.world_size)
    return t


def all_gather_cat(t: Tensor, info: DistInfo) -> Tensor:
    """Concatenate equal-shape tensors of all ranks along dim 0 (rank order)."""
    if not info.enabled:
        return t
    parts = [torch.empty_like(t) for _ in range(info.world_size)]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is true on at least one (a consistent stop decision)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every rank's `obj` (picklable, small: RNG states) in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
