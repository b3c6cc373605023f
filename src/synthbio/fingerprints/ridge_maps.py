"""Differentiable ridge maps of fingerprint images in PyTorch: orientation field and ridge pattern.

Both work on image batches [N, C, H, W] in [-1, 1] (channels averaged to
grey), keep gradients to the images, and stay in the inputs' precision under
a caller's autocast (local variances lose every digit in bf16).

- `orientation_field`: the doubled-angle ridge orientation from the smoothed
  structure tensor, with its coherence (Kass & Witkin 1987; Bazen & Gerez 2002).
- `ridge_pattern`: the ridge/valley pattern with the impression's look taken
  out: band-passed around the ridge frequency and divided by the local
  contrast, so ink, pressure, background, blur and sensor noise change it
  little while ridge positions (and so minutiae) define it.

Lengths are pixels; `period_px` is the mean ridge period (about 9 px at 500 dpi).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError

DEFAULT_PERIOD_PX = 9.0  # mean inter-ridge distance of adult fingers at 500 dpi (~0.46 mm)


def grayscale(images: Tensor) -> Tensor:
    """[N, C, H, W] -> [N, 1, H, W]: channel mean (fingerprints are grey; RGB is averaged)."""
    if images.ndim != 4:
        raise InputError(f"fingerprint images must be [N, C, H, W], got {tuple(images.shape)}")
    return images.mean(dim=1, keepdim=True)


def _no_autocast(x: Tensor) -> torch.autocast:
    return torch.autocast(device_type=x.device.type, enabled=False)


def gaussian_taps(size: int, sigma: float, *, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Normalised 1-D Gaussian of `size` (odd) taps [size]."""
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_smooth(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian of every channel of [N, C, H, W] (radius 3 sigma, replicate borders)."""
    radius = max(1, math.ceil(3 * sigma))
    k = 2 * radius + 1
    taps = gaussian_taps(k, sigma, device=x.device, dtype=x.dtype)
    c = x.shape[1]
    with _no_autocast(x):
        x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
        x = F.conv2d(x, taps.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
        return F.conv2d(x, taps.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def sobel(gray: Tensor) -> tuple[Tensor, Tensor]:
    """Sobel derivatives d/dx, d/dy of [N, 1, H, W] ([1,2,1] smoothing, /8 so a unit ramp gives 1)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=gray.device,
                      dtype=gray.dtype) / 8
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    with _no_autocast(padded):
        gx = F.conv2d(padded, kx.view(1, 1, 3, 3))
        gy = F.conv2d(padded, kx.t().contiguous().view(1, 1, 3, 3))
    return gx, gy


def orientation_field(images: Tensor, *, sigma: float = 4.0, eps: float = 1e-4) -> tuple[Tensor, Tensor]:
    """Doubled-angle orientation field of images [N, C, H, W] in [-1, 1].

    With Sobel gradients gx, gy and Gaussian smoothing S of width `sigma`
    (about half a ridge period), v = (S(gx^2 - gy^2), S(2 gx gy)) points along
    the doubled gradient angle 2*phi; ridges run at phi + 90 degrees, which
    changes v's sign only. Returns (u [N, 2, H, W], coherence [N, 1, H, W]):
    u = v / sqrt(|v|^2 + eps^2) (about unit where there is structure,
    shrinking to 0 on flat areas, so gradients stay finite), coherence =
    |v| / S(gx^2 + gy^2) in [0, 1]. `eps` is in squared-gradient units.
    """
    gx, gy = sobel(grayscale(images))
    smooth = gaussian_smooth(torch.cat([gx * gx - gy * gy, 2 * gx * gy, gx * gx + gy * gy], dim=1), sigma)
    v, energy = smooth[:, :2], smooth[:, 2:]
    norm = (v.square().sum(dim=1, keepdim=True) + eps**2).sqrt()
    coherence = (norm - eps) / (energy + eps)  # |v| <= energy (Cauchy-Schwarz): in [0, 1)
    return v / norm, coherence.clamp(0, 1)


def ridge_pattern(images: Tensor, *, period_px: float = DEFAULT_PERIOD_PX, eps: float = 1e-3
                  ) -> tuple[Tensor, Tensor]:
    """Contrast-normalised ridge pattern [N, 1, H, W] and local contrast [N, 1, H, W] of images in [-1, 1].

    A difference of Gaussians passes the ridge frequency (the fine scale
    period / 6 removes pixel noise, the coarse scale one period removes
    background and ink level); dividing by the local RMS of the result (over
    about a period) makes the pattern about +-1.4 wherever ridges are
    visible, whatever their contrast. Dark ridges give negative values.
    The returned contrast (local RMS, grey units of [-1, 1]) tells where the
    pattern means something: it is ~0 on blank background.
    """
    if not period_px > 0:
        raise InputError(f"ridge period must be > 0 px, got {period_px}")
    gray = grayscale(images)
    band = gaussian_smooth(gray, period_px / 6) - gaussian_smooth(gray, period_px)
    # sqrt(energy + eps^2), not sqrt(energy) + eps: finite gradients where the image is blank
    contrast = (gaussian_smooth(band.square(), period_px).clamp_min(0) + eps**2).sqrt()
    return band / contrast, contrast
