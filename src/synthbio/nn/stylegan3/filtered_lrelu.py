"""The alias-free filtered leaky ReLU (Karras et al. 2021, sec. 3.2 and fig. 4b).

Per channel: add the bias, upsample by `up` with the low-pass filter fu,
apply leaky ReLU times `gain` and the clamp at the higher rate, low-pass with
fd and keep every `down`-th sample. `filtered_lrelu_reference` spells this out
as defined (zero insertion, padding, full-rate depthwise filtering, then
striding). `filtered_lrelu` computes the same values without the waste:

- upsampling as a strided transposed depthwise convolution per axis: only the
  filter taps that land on real samples are multiplied (polyphase), the
  padding of the definition becomes the transposed convolution's crop;
- downsampling as a strided depthwise convolution: only the kept outputs are
  computed;
- the activation gain folded into the upsampling taps (lrelu(g v) = g lrelu(v)
  for g > 0), activation and clamp in place when autograd is off;
- channels-last activations on CPU, where oneDNN's depthwise kernels vectorise
  over channels.

Both functions take filters as official checkpoints store them: fu [taps]
(separable) or None; fd [taps], [taps, taps] (radial, config R) or None.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.nn._resample import parse_padding, upfirdn2d


def _check(x: Tensor, fu: Tensor | None, fd: Tensor | None, b: Tensor | None, up: int, down: int) -> None:
    if x.ndim != 4:
        raise ValueError(f"filtered_lrelu expects [N,C,H,W], got shape {list(x.shape)}")
    if fu is not None and fu.ndim != 1:
        raise ValueError(f"the upsampling filter must be separable taps [K], got shape {list(fu.shape)}")
    if fd is not None and fd.ndim not in (1, 2):
        raise ValueError(f"the downsampling filter must be [K] or [K, K], got shape {list(fd.shape)}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"bias must be [{x.shape[1]}], got shape {list(b.shape)}")
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be >= 1, got {up} and {down}")


def output_size(in_size: int, *, up: int, down: int, pad0: int, pad1: int, up_taps: int, down_taps: int) -> int:
    """Length along one axis after filtered_lrelu."""
    return (in_size * up + pad0 + pad1 - (up_taps - 1) - (down_taps - 1) + (down - 1)) // down


def filtered_lrelu_reference(x: Tensor, fu: Tensor | None, fd: Tensor | None, b: Tensor | None = None, *,
                             up: int = 1, down: int = 1, padding: int | Sequence[int] = 0, gain: float = 2**0.5,
                             slope: float = 0.2, clamp: float | None = None) -> Tensor:
    """The definition, step by step: x [N,C,H,W] -> [N,C,H',W'] (see `output_size`).

    padding (x0, x1, y0, y1) is in upsampled pixels; negative values crop.
    """
    _check(x, fu, fd, b, up, down)
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    x = upfirdn2d(x, _full(fu), up=up, padding=padding, gain=up**2)
    x = F.leaky_relu(x, slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, _full(fd), down=down)


def _full(f: Tensor | None) -> Tensor | None:
    """A separable filter as its 2D outer product, so upfirdn2d runs the literal definition."""
    return torch.outer(f, f) if f is not None and f.ndim == 1 else f


def _axis_weight(taps: Tensor, channels: int, dim: int, dtype: torch.dtype, scale: float) -> Tensor:
    """Depthwise weight [C, 1, K, 1] (dim=2, along H) or [C, 1, 1, K] (dim=3, along W)."""
    k = (taps.to(torch.float64) * scale).to(dtype)
    shape = [channels, 1, 1, 1]
    shape[dim] = k.shape[0]
    return k.reshape([1, 1, -1, 1] if dim == 2 else [1, 1, 1, -1]).expand(shape).contiguous()


def _upsample_axis(x: Tensor, taps: Tensor | None, dim: int, *, up: int, pad0: int, pad1: int,
                   scale: float) -> Tensor:
    """Zero insertion by `up`, padding (pad0, pad1) and convolution with `taps` along `dim`, without
    materialising the zeros: a strided transposed depthwise convolution whose crop is the padding.

    The definition's output n equals the transposed convolution's output n + K - 1 - pad0.
    """
    c = x.shape[1]
    if taps is None:  # identity filter: only the zero insertion and the padding
        taps = torch.ones([1])
    k = taps.shape[0]
    length = x.shape[dim]
    start = k - 1 - pad0  # where the wanted range begins in the transposed convolution's output
    stop_crop = k - up - pad1  # how much of its end is not wanted
    crop = max(0, min(start, stop_crop))
    w = _axis_weight(taps, c, dim, x.dtype, scale)
    stride = (up, 1) if dim == 2 else (1, up)
    pad = (crop, 0) if dim == 2 else (0, crop)
    if up == 1 and k == 1:  # a plain scale (ToRGB): a new tensor either way, so later in-place ops are safe
        y = x * float(taps[0]) * scale
    else:
        y = F.conv_transpose2d(x, w, stride=stride, padding=pad, groups=c)
    lead, trail = start - crop, stop_crop - crop  # leftover crop (> 0) or zero padding (< 0)
    if lead or trail:
        pads = [0, 0, -lead, -trail] if dim == 2 else [-lead, -trail]
        y = F.pad(y, pads)
    expected = length * up + pad0 + pad1 - k + 1
    assert y.shape[dim] == expected, (y.shape, expected)
    return y


def _downsample(x: Tensor, fd: Tensor | None, *, down: int) -> Tensor:
    """Convolution with fd ([K] separable, [K, K], or None), keeping every `down`-th output."""
    c = x.shape[1]
    if fd is None:
        return x[:, :, ::down, ::down] if down > 1 else x
    if fd.ndim == 2:  # radial filter: one 2D depthwise pass
        w = fd.flip([0, 1]).to(x.dtype).reshape(1, 1, *fd.shape).expand(c, 1, *fd.shape).contiguous()
        return F.conv2d(x, w, stride=down, groups=c)
    taps = fd.flip([0])  # conv2d correlates; the definition convolves
    x = F.conv2d(x, _axis_weight(taps, c, 2, x.dtype, 1.0), stride=(down, 1), groups=c)
    return F.conv2d(x, _axis_weight(taps, c, 3, x.dtype, 1.0), stride=(1, down), groups=c)


def filtered_lrelu(x: Tensor, fu: Tensor | None, fd: Tensor | None, b: Tensor | None = None, *, up: int = 1,
                   down: int = 1, padding: int | Sequence[int] = 0, gain: float = 2**0.5, slope: float = 0.2,
                   clamp: float | None = None) -> Tensor:
    """Same values as `filtered_lrelu_reference` (to float rounding), computed polyphase.

    x: [N,C,H,W]; b: [C] or None; returns [N,C,H',W'] in x's memory format
    (channels-last on CPU from 16 channels on).
    """
    _check(x, fu, fd, b, up, down)
    px0, px1, py0, py1 = parse_padding(padding)
    if gain <= 0:
        raise ValueError(f"gain must be > 0, got {gain}")
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    if x.device.type == "cpu" and x.shape[1] >= 16:
        x = x.contiguous(memory_format=torch.channels_last)
    # Gain: up^2 of the upsampling (one `up` per axis) and the activation's gain, folded into the taps.
    x = _upsample_axis(x, fu, 3, up=up, pad0=px0, pad1=px1, scale=float(up))
    x = _upsample_axis(x, fu, 2, up=up, pad0=py0, pad1=py1, scale=float(up) * gain)
    inplace = not (torch.is_grad_enabled() and x.requires_grad)
    if slope != 1:
        x = F.leaky_relu_(x, slope) if inplace else F.leaky_relu(x, slope)
    if clamp is not None:
        x = x.clamp_(-clamp, clamp) if inplace else x.clamp(-clamp, clamp)
    return _downsample(x, fd, down=down)
