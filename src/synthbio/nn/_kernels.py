"""Convolution kernels picked for the CPU, and the one-sample inference path of the synthesis layers.

`conv` runs conv2d / conv_transpose2d, as one matmul on tiny maps (see
`_GEMM_MAX_PIXELS`). `inference_cached` keeps weight-derived tensors while
autograd is off.

`synthesis_layer_one` / `torgb_one` compute a `SynthesisLayer` / `ToRGBLayer`
for a single sample on CPU, the case every inference pass on CPU reduces to
(see `_per_sample`). With one sample, modulation and demodulation (Karras et
al. 2020, eqs. 1-3) can act on the weights: w'_oi = w_oi * s_i * d_o * g costs
O*I*k*k multiplies, less than scaling the input (I*H*W) and the output
(O*H*W) once H*W >= O*k*k (from 64x64 up in the 256x256 bench config).
Below that the activations are scaled, with the demodulation folded into the
blur of the upsampling conv or into one in-place multiply-add. The bias goes
into the convolution call, the gain g = act_gain * gain is folded in before the
activation (lrelu(a) * g == lrelu(a * g) for g > 0), and noise and activation
are in-place passes over the NHWC output. Same arithmetic as the official
layer up to float rounding (bench/reference_parity.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.nn import conv_gradfix
from synthbio.nn._resample import FilterTaps

# On CPU, convolutions over at most this many pixels run as one matmul: oneDNN re-lays out
# the whole weight on every call, which costs more than the arithmetic on 4x4 and 8x8 maps.
_GEMM_MAX_PIXELS = 64


def conv(x: Tensor, w: Tensor, *, stride: int = 1, padding: tuple[int, int] = (0, 0), groups: int = 1,
         transpose: bool = False, flip_weight: bool = True, bias: Tensor | None = None) -> Tensor:
    """conv2d (a correlation) or its transpose; flip_weight=False turns it into a true convolution.

    w: [O, I/groups, kh, kw], or [I, O/groups, kh, kw] when transposed; bias: [O] or None.
    """
    if not flip_weight:
        w = w.flip([2, 3])
    if groups == 1 and x.device.type == "cpu" and x.shape[-2] * x.shape[-1] <= _GEMM_MAX_PIXELS \
            and padding in ((0, 0), (w.shape[2] // 2, w.shape[3] // 2)):
        y = conv_gemm(x, w, stride=stride, padding=padding, transpose=transpose)
        return y if bias is None else y.add_(bias.reshape(1, -1, 1, 1))
    # Through conv_gradfix: plain F.conv* unless the trainer enabled it (R1 / path length on CUDA).
    if transpose:
        return conv_gradfix.conv_transpose2d(x, w, bias, stride=stride, padding=padding, groups=groups)
    return conv_gradfix.conv2d(x, w, bias, stride=stride, padding=padding, groups=groups)


def conv_gemm(x: Tensor, w: Tensor, *, stride: int, padding: tuple[int, int], transpose: bool) -> Tensor:
    """conv2d / conv_transpose2d (groups=1) as im2col + matmul, or matmul + col2im."""
    n, c, h, wd = x.shape
    kh, kw = w.shape[2], w.shape[3]
    x = x.contiguous()
    if transpose:  # w: [I, O, kh, kw]; every input pixel scatters a kh x kw patch (F.fold sums them)
        if padding != (0, 0):
            raise ValueError("conv_gemm supports transposed convolution without padding only")
        cols = w.reshape(c, -1).t() @ x.reshape(n, c, h * wd)  # [N, O*kh*kw, H*W]
        out_size = ((h - 1) * stride + kh, (wd - 1) * stride + kw)
        return F.fold(cols, out_size, (kh, kw), stride=stride)
    if kh == 1 and kw == 1 and stride == 1:
        return (w.reshape(w.shape[0], c) @ x.reshape(n, c, h * wd)).reshape(n, -1, h, wd)
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # [N, I*kh*kw, L]
    ho = (h + 2 * padding[0] - kh) // stride + 1
    wo = (wd + 2 * padding[1] - kw) // stride + 1
    return (w.reshape(w.shape[0], -1) @ cols).reshape(n, -1, ho, wo)


def inference_cached(module: torch.nn.Module, slot: str, source: Tensor, dtype: torch.dtype,
                     make: Callable[[], Tensor]) -> Tensor:
    """`make()` computed once per (source version, storage, dtype) while autograd is off.

    Weight-derived tensors (scaled, transposed or flipped weights, per-filter
    squared norms) do not depend on the batch; recomputing them per call costs
    as much as the 4x4 and 8x8 layers themselves. Loading a state dict or
    moving the module changes the key, so the cache never goes stale.
    """
    if torch.is_grad_enabled() or torch.compiler.is_compiling():
        return make()
    key = (source._version, source.data_ptr(), source.device, dtype)
    hit = module.__dict__.get(slot)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make()
    module.__dict__[slot] = (key, value)
    return value


def blur_kernel(f: FilterTaps | Tensor, gain: float) -> Tensor:
    """The [fh, fw] correlation kernel of a true convolution with filter f, times gain."""
    if isinstance(f, FilterTaps):
        k = torch.outer(torch.tensor(f.y, dtype=torch.float64), torch.tensor(f.x, dtype=torch.float64))
    else:
        k = f.detach().to(torch.float64)
    return (k.flip([0, 1]) * gain).to(torch.float32)


def _upsampling_pads(k: int, padding: int, taps: int, up: int) -> int | None:
    """Blur padding after a padding-free strided transposed conv (as conv2d_resample splits it), or None.

    None when the padding is not the same on both sides (then the general path runs).
    """
    p0 = padding + (taps + up - 1) // 2 - (k - 1)
    p1 = padding + (taps - up) // 2 - (k - up)
    return p0 if p0 == p1 and p0 >= 0 else None


def one_sample_supported(layer: torch.nn.Module, x: Tensor) -> bool:
    """Whether `synthesis_layer_one` handles this layer and input (else the general path runs)."""
    if x.device.type != "cpu" or x.shape[0] != 1 or x.dtype != torch.float32 or torch.compiler.is_compiling() \
            or torch.is_autocast_enabled("cpu"):  # the oneDNN calls below would bypass autocast
        return False
    k = layer.weight.shape[2]
    if layer.up == 1:
        return True
    fh, fw = (len(layer.filt.y), len(layer.filt.x)) if isinstance(layer.filt, FilterTaps) \
        else tuple(layer.filt.shape)
    return layer.weight.shape[3] == k and fh == fw and _upsampling_pads(k, layer.padding, fw, layer.up) is not None


def synthesis_layer_one(layer: torch.nn.Module, x: Tensor, styles: Tensor, noise: Tensor | None, *,
                        gain: float) -> Tensor:
    """One sample through a SynthesisLayer at inference: x [1,I,H,W], styles [1,I] -> [1,O,R,R].

    noise: strength-scaled noise broadcastable to [1,1,R,R], or None.
    """
    weight = layer.weight
    out_ch, in_ch, k, _ = weight.shape
    g = layer.act_gain * gain
    wsq = inference_cached(layer, "_wsq_cache", weight, x.dtype, lambda: weight.to(x.dtype).square().sum(dim=[2, 3]))
    dg = (styles.square() @ wsq.t() + 1e-8).rsqrt().mul_(g).reshape(out_ch)  # eq. 3 times the gain: [O]
    s = styles.reshape(in_ch).to(x.dtype)
    bias = layer.bias.to(x.dtype) * g
    scale_weights = out_ch * k * k <= x.shape[2] * x.shape[3]
    # Weights in the input's memory format: torch re-lays out an NCHW weight for NHWC input on every call.
    # (The matmul path for tiny maps wants them contiguous.)
    nhwc = x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1
    fmt = torch.channels_last if nhwc and x.shape[2] * x.shape[3] > _GEMM_MAX_PIXELS else torch.contiguous_format

    if layer.up == 1:
        w0 = inference_cached(layer, f"_wconv_cache_{fmt}", weight, x.dtype,
                              lambda: weight.to(x.dtype).contiguous(memory_format=fmt))  # [O,I,k,k]
        pad = (layer.padding, layer.padding)
        if scale_weights:
            w = (w0 * (dg[:, None] * s[None, :]).reshape(out_ch, in_ch, 1, 1)).contiguous(memory_format=fmt)
            y = conv(x, w, padding=pad, bias=bias)
        else:
            xs = x * s.reshape(1, -1, 1, 1)
            y = _prepacked_conv(layer, xs, w0, padding=layer.padding)
            if y is None:
                y = conv(xs, w0, padding=pad)
            y = torch.addcmul(bias.reshape(1, -1, 1, 1), y, dg.reshape(1, -1, 1, 1), out=y)
    else:
        # Strided transposed conv, then the blur as a depthwise conv that also applies the bias
        # (and the demodulation, when the activations were scaled instead of the weights).
        up = layer.up
        fw = len(layer.filt.x) if isinstance(layer.filt, FilterTaps) else layer.filt.shape[1]
        blur_pad = _upsampling_pads(k, layer.padding, fw, up)
        assert blur_pad is not None
        wt = inference_cached(layer, f"_wdeconv_cache_{fmt}", weight, x.dtype,
                              lambda: weight.to(x.dtype).transpose(0, 1).contiguous(memory_format=fmt))  # [I,O,k,k]
        kb = inference_cached(layer, "_blur_cache", layer.resample_filter, x.dtype,
                              lambda: blur_kernel(layer.filt, up * up).to(x.dtype))  # [fh,fw]
        if scale_weights:
            w = (wt * (s[:, None] * dg[None, :]).reshape(in_ch, out_ch, 1, 1)).contiguous(memory_format=fmt)
            y = conv(x, w, stride=up, transpose=True)
            kern = kb.expand(out_ch, 1, *kb.shape)
        else:
            xs = x * s.reshape(1, -1, 1, 1)
            y = _prepacked_conv(layer, xs, wt, stride=up, transpose=True)
            if y is None:
                y = conv(xs, wt, stride=up, transpose=True)
            kern = kb * dg.reshape(out_ch, 1, 1, 1)
        y = F.conv2d(y, kern.reshape(out_ch, 1, *kb.shape), bias, padding=blur_pad, groups=out_ch)

    if noise is not None:
        y.add_(noise.to(y.dtype).reshape(1, 1, *noise.shape[-2:]), alpha=g)
    return act_clamp_(y, layer.activation, layer.conv_clamp, gain)


def act_clamp_(y: Tensor, activation: str, conv_clamp: float | None, gain: float) -> Tensor:
    """In place: the activation (lrelu 0.2 / relu / linear), then the clamp scaled by `gain`."""
    if activation == "lrelu":
        F.leaky_relu_(y, 0.2)
    elif activation == "relu":
        F.relu_(y)
    if conv_clamp is not None:
        y.clamp_(-conv_clamp * gain, conv_clamp * gain)
    return y


_PREPACKED_OK = True  # cleared when this torch build lacks the oneDNN ops (then plain convolutions run)


def _prepacked_conv(layer: torch.nn.Module, x: Tensor, w: Tensor, *, padding: int = 0, stride: int = 1,
                    transpose: bool = False) -> Tensor | None:
    """conv2d (w [O,I,k,k]) or conv_transpose2d (w [I,O,k,k]) of x with the layer's shared weight,
    laid out for oneDNN once and cached, not on every call. None when the oneDNN ops are unavailable.

    A plain call re-lays out the weight each time: for 512x512x3x3 weights that costs more than
    the arithmetic up to 16x16 maps and ~10 % at 32x32 (and MKL's matmul is slow on AMD CPUs).
    """
    global _PREPACKED_OK
    if not _PREPACKED_OK:
        return None
    ops = torch.ops.mkldnn
    pad, strides, dil = [padding, padding], [stride, stride], [1, 1]
    fmt = "nhwc" if x.is_contiguous(memory_format=torch.channels_last) else "nchw"
    try:
        if transpose:
            packed = inference_cached(
                layer, f"_wpacked_t_{tuple(x.shape)}_{fmt}", layer.weight, x.dtype,
                lambda: ops._reorder_convolution_transpose_weight(w, pad, [0, 0], strides, dil, 1, list(x.shape)))
            return ops._convolution_transpose_pointwise(x, packed, None, pad, [0, 0], strides, dil, 1, "none", [], "")
        packed = inference_cached(
            layer, f"_wpacked_c_{tuple(x.shape)}_{fmt}", layer.weight, x.dtype,
            lambda: ops._reorder_convolution_weight(w, pad, strides, dil, 1, list(x.shape)))
        return ops._convolution_pointwise(x, packed, None, pad, strides, dil, 1, "none", [], "")
    except (AttributeError, RuntimeError, NotImplementedError):
        _PREPACKED_OK = False
        return None


def torgb_one(layer: torch.nn.Module, x: Tensor, styles: Tensor) -> Tensor:
    """One sample through a ToRGBLayer at inference: x [1,I,H,W], styles [1,I] (gain applied) -> [1,C,H,W].

    The styles scale the (tiny) weight instead of the input; no demodulation.
    """
    w = (layer.weight.to(x.dtype) * styles.to(x.dtype).reshape(1, -1, 1, 1)).contiguous()
    bias = layer.bias.to(x.dtype)
    y = None
    if _PREPACKED_OK and x.shape[2] * x.shape[3] > _GEMM_MAX_PIXELS:
        # Straight to oneDNN: for 3 output channels torch's own choice can fall back to a slow
        # reference kernel (with one thread), 5x slower on 128x128 NHWC maps.
        try:
            y = torch.ops.mkldnn._convolution_pointwise(x, w, bias, [0, 0], [1, 1], [1, 1], 1, "none", [], "")
        except (AttributeError, RuntimeError, NotImplementedError):
            y = None
    if y is None:
        y = conv(x, w, bias=bias)
    if layer.conv_clamp is not None:
        y.clamp_(-layer.conv_clamp, layer.conv_clamp)
    return y
