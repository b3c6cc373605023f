"""Exponential moving average of the generator weights (G_ema), with the StyleGAN2-ADA ramp-up."""

from __future__ import annotations

import torch


def ema_beta(*, batch_size: int, ema_kimg: float, cur_nimg: int, ema_rampup: float | None = None) -> float:
    """Decay per step so that the average has a half-life of `ema_kimg` thousand images.

    beta = 0.5 ** (batch / ema_nimg). With a ramp-up the half-life is at most
    `ema_rampup * cur_nimg` images, so early in training G_ema follows G closely
    (at cur_nimg = 0, beta = 0 and G_ema is a copy of G).
    """
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    """p_ema <- p + beta (p_ema - p) for every parameter; buffers (w_avg, noise) are copied.

    Both modules must have the same architecture (parameters in the same order).
    """
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)
