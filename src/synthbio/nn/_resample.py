"""FIR resampling (upfirdn2d) in plain PyTorch, with a fast separable path.

upfirdn2d follows the definition used by StyleGAN2 (and scipy.signal.upfirdn):
insert up-1 zeros after each pixel, pad (negative = crop), convolve with the
FIR filter, keep every down-th pixel. A full 2D filter runs as a depthwise
convolution exactly as defined. A separable filter (`FilterTaps`) runs one axis
at a time in polyphase form: each output phase is a short sum of shifted input
slices times Python-float taps, so the inserted zeros are never materialised
and no depthwise convolution (slow on CPU) is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.nn import conv_gradfix


class FilterTaps(NamedTuple):
    """A separable filter f[y, x] = y_taps[y] * x_taps[x] as Python floats (no flip, no gain)."""

    x: tuple[float, ...]
    y: tuple[float, ...]


FilterLike = Union[Tensor, FilterTaps, None]

# From this many channels a plain filtering pass runs as a depthwise conv (see _upfirdn2d_separable).
_DEPTHWISE_MIN_CHANNELS = 16


def parse_pair(v: int | Sequence[int]) -> tuple[int, int]:
    """An int or (x, y) pair of ints >= 1 (an up/down factor)."""
    sx, sy = (v, v) if isinstance(v, int) else tuple(v)
    if not (isinstance(sx, int) and isinstance(sy, int) and sx >= 1 and sy >= 1):
        raise ValueError(f"resampling factors must be ints >= 1, got {v!r}")
    return sx, sy


def parse_padding(p: int | Sequence[int]) -> tuple[int, int, int, int]:
    """int, (x, y) or (x0, x1, y0, y1) -> (x0, x1, y0, y1); negative values crop."""
    if isinstance(p, int):
        return p, p, p, p
    p = tuple(int(v) for v in p)
    if len(p) == 2:
        return p[0], p[0], p[1], p[1]
    if len(p) == 4:
        return p  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, (x, y) or (x0, x1, y0, y1), got {p!r}")


def filter_size(f: FilterLike) -> tuple[int, int]:
    """(width, height) of a filter; None is the 1x1 identity."""
    if f is None:
        return 1, 1
    if isinstance(f, FilterTaps):
        return len(f.x), len(f.y)
    if f.ndim == 1:
        return int(f.shape[0]), int(f.shape[0])
    if f.ndim == 2:
        return int(f.shape[1]), int(f.shape[0])
    raise ValueError(f"a filter must be 1D or 2D, got shape {list(f.shape)}")


def setup_filter(f: object, *, device: torch.device | str | None = None, normalize: bool = True,
                 flip_filter: bool = False, gain: float = 1, separable: bool | None = None) -> Tensor:
    """Prepare a float32 FIR filter as StyleGAN2 stores it.

    f: taps, a 2D array, a scalar, or None (identity). 1D taps become the 2D
    outer product unless `separable` (default: only for 8 taps or more), so
    (1,3,3,1) gives the [4,4] buffer of official checkpoints. normalize makes
    the filter sum to 1 (unit DC gain); gain scales the 2D response.
    """
    t = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if t.ndim > 2 or t.numel() == 0:
        raise ValueError(f"filter must be a non-empty scalar, 1D or 2D array, got shape {list(t.shape)}")
    if t.ndim == 0:
        t = t[None]
    if separable is None:
        separable = t.ndim == 1 and t.numel() >= 8
    if t.ndim == 1 and not separable:
        t = torch.outer(t, t)
    if normalize:
        t = t / t.sum()
    if flip_filter:
        t = t.flip(list(range(t.ndim)))
    t = t * (gain ** (t.ndim / 2))
    return t.to(device=device) if device is not None else t


def filter_taps(f: FilterLike) -> FilterTaps | None:
    """Separable taps of a filter tensor, or None when it is 2D and not rank one.

    A rank-one f = u v^T is recovered exactly for dyadic taps such as
    (1,3,3,1)/8: rows sum to u * sum(v), columns to v * sum(u).
    """
    if f is None or isinstance(f, FilterTaps):
        return f
    if f.device.type == "meta":
        return None
    a = f.detach().to(device="cpu", dtype=torch.float64)
    if a.ndim == 1:
        taps = tuple(a.tolist())
        return FilterTaps(taps, taps)
    total = float(a.sum())
    if total == 0.0:
        return None
    ty = a.sum(dim=1)
    tx = a.sum(dim=0) / total
    if not torch.allclose(torch.outer(ty, tx), a, rtol=1e-6, atol=1e-9 * float(a.abs().max())):
        return None
    return FilterTaps(tuple(tx.tolist()), tuple(ty.tolist()))


def _axis_slice(x: Tensor, dim: int, start: int, stop: int, step: int = 1) -> Tensor:
    idx = [slice(None)] * x.ndim
    idx[dim] = slice(start, stop, step)
    return x[tuple(idx)]


def _pad_axis(x: Tensor, dim: int, before: int, after: int) -> Tensor:
    """Zero-pad (or crop, when negative) one of the last two axes."""
    if before == 0 and after == 0:
        return x
    pads = [0, 0, 0, 0]
    k = 0 if dim == x.ndim - 1 else 2
    pads[k], pads[k + 1] = before, after
    return F.pad(x, pads)


def _weighted_sum(terms: list[tuple[float, Tensor]]) -> Tensor:
    coef, first = terms[0]
    y = first * coef
    for coef, t in terms[1:]:
        y.add_(t, alpha=coef)
    return y


def _upfirdn1d(x: Tensor, dim: int, taps: Sequence[float], *, up: int, down: int, pad0: int, pad1: int) -> Tensor:
    """upfirdn along one axis. `taps` are correlation taps: y[n] = sum_k taps[k] U[n*down + k - pad0],
    U = x with up-1 zeros inserted after each sample (zero outside its range)."""
    length = x.shape[dim]
    fw = len(taps)
    out_len = (length * up + pad0 + pad1 - fw) // down + 1
    if out_len <= 0:
        raise ValueError("upfirdn2d: padding and filter leave an empty output")
    if up == 1:
        xp = _pad_axis(x, dim, pad0, pad1)
        return _weighted_sum([(c, _axis_slice(xp, dim, k, k + down * (out_len - 1) + 1, down))
                              for k, c in enumerate(taps) if c != 0.0])
    full_len = length * up + pad0 + pad1 - fw + 1  # output length before keeping every down-th
    m = -(-full_len // up)  # samples per phase
    # Phase r holds outputs n = up*i + r; tap k reads input i + (r + k - pad0) / up when that divides.
    phases = [[(c, (r + k - pad0) // up) for k, c in enumerate(taps) if (r + k - pad0) % up == 0 and c != 0.0]
              for r in range(up)]
    offsets = [o for ph in phases for _, o in ph] or [0]
    left = max(0, -min(offsets))
    right = max(0, m - 1 + max(offsets) - (length - 1))
    xp = _pad_axis(x, dim, left, right)
    outs = []
    for ph in phases:
        if ph:
            outs.append(_weighted_sum([(c, _axis_slice(xp, dim, o + left, o + left + m)) for c, o in ph]))
        else:
            outs.append(torch.zeros_like(_axis_slice(xp, dim, 0, m)))
    y = torch.stack(outs, dim=dim + 1).flatten(dim, dim + 1)  # interleave the phases
    return _axis_slice(y, dim, 0, full_len, down)


def _upfirdn2d_separable(x: Tensor, taps: FilterTaps, *, up: tuple[int, int], down: tuple[int, int],
                         padding: tuple[int, int, int, int], flip_filter: bool, gain: float) -> Tensor:
    px0, px1, py0, py1 = padding
    if up == (1, 1) and down == (1, 1) and x.shape[1] >= _DEPTHWISE_MIN_CHANNELS \
            and px0 == px1 >= 0 and py0 == py1 >= 0 and x.dtype != torch.float64:
        # Many channels, no resampling: one depthwise conv reads and writes the tensor once,
        # where the slice sums would pass over it once per tap (memory bound on CPU).
        ty = torch.tensor(taps.y if flip_filter else taps.y[::-1], dtype=torch.float64)
        tx = torch.tensor(taps.x if flip_filter else taps.x[::-1], dtype=torch.float64)
        k = (torch.outer(ty, tx) * gain).to(device=x.device, dtype=x.dtype)
        c = x.shape[1]
        return conv_gradfix.conv2d(x, k[None, None].expand(c, 1, *k.shape), padding=(py0, px0), groups=c)
    g = math.sqrt(gain)  # split the 2D gain evenly between the axes
    # conv2d correlates; a true convolution (flip_filter=False) reverses the taps.
    tx = [t * g for t in (taps.x if flip_filter else taps.x[::-1])]
    ty = [t * g for t in (taps.y if flip_filter else taps.y[::-1])]
    x = _upfirdn1d(x, x.ndim - 1, tx, up=up[0], down=down[0], pad0=px0, pad1=px1)
    return _upfirdn1d(x, x.ndim - 2, ty, up=up[1], down=down[1], pad0=py0, pad1=py1)


def _upfirdn2d_full(x: Tensor, f: Tensor, *, up: tuple[int, int], down: tuple[int, int],
                    padding: tuple[int, int, int, int], flip_filter: bool, gain: float) -> Tensor:
    """The definition step by step with a 2D filter as a depthwise conv."""
    n, c, h, w = x.shape
    (upx, upy), (dx, dy), (px0, px1, py0, py1) = up, down, padding
    if upx > 1 or upy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1]).reshape(n, c, h * upy, w * upx)
    x = F.pad(x, [px0, px1, py0, py1])  # negative values crop
    f = (f * gain).to(x.dtype)
    if not flip_filter:
        f = f.flip([0, 1])
    x = conv_gradfix.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
    return x[:, :, ::dy, ::dx]


def upfirdn2d(x: Tensor, f: FilterLike, *, up: int | Sequence[int] = 1, down: int | Sequence[int] = 1,
              padding: int | Sequence[int] = 0, flip_filter: bool = False, gain: float = 1) -> Tensor:
    """Upsample (zero insertion), pad, FIR-filter and downsample [N,C,H,W] images.

    f: [fh,fw] 2D filter, [taps] separable filter, `FilterTaps`, or None (identity).
    padding is in upsampled pixels: int, (x, y) or (x0, x1, y0, y1); negative crops.
    flip_filter=False convolves (the filter is flipped), True correlates.
    gain scales the output. Output size: (H*up + py0 + py1 - fh) // down + 1 (same for W).
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects [N,C,H,W], got shape {list(x.shape)}")
    ups, downs, pads = parse_pair(up), parse_pair(down), parse_padding(padding)
    if f is None:
        f = FilterTaps((1.0,), (1.0,))
    if isinstance(f, Tensor) and f.ndim == 1:
        f = filter_taps(f)
    if isinstance(f, FilterTaps):
        return _upfirdn2d_separable(x, f, up=ups, down=downs, padding=pads, flip_filter=flip_filter, gain=gain)
    if f.ndim != 2:
        raise ValueError(f"a filter must be 1D or 2D, got shape {list(f.shape)}")
    return _upfirdn2d_full(x, f, up=ups, down=downs, padding=pads, flip_filter=flip_filter, gain=gain)

