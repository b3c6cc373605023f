"""StyleGAN2 building blocks in plain PyTorch: pure functions plus thin modules.

Everything here runs on any device and dtype torch supports (no custom ops).
Parameter and buffer names of the modules follow the official NVlabs
StyleGAN2-ADA implementation so that its state dicts load unchanged; the
arithmetic follows the same order of operations, so outputs agree with the
official code to float rounding.

Resampling filters: a filter is either a tensor (`[taps]` separable or
`[fh, fw]` full 2D, as made by `setup_filter`) or a `FilterTaps` pair of Python
tuples. Modules keep the official 2D `resample_filter` buffer for checkpoint
compatibility and derive `FilterTaps` from it once, so the hot path filters
separably with strided slices (no zero insertion, no depthwise convolution).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.nn import _resample as rs
from synthbio.nn._kernels import act_clamp_
from synthbio.nn._kernels import conv as _conv
from synthbio.nn._kernels import inference_cached as _inference_cached
from synthbio.nn._kernels import one_sample_supported, synthesis_layer_one, torgb_one
from synthbio.nn._resample import FilterLike, FilterTaps, filter_taps, setup_filter, upfirdn2d

__all__ = [
    "ACTIVATIONS",
    "Conv2dLayer",
    "FilterTaps",
    "FullyConnectedLayer",
    "MinibatchStdLayer",
    "SynthesisLayer",
    "ToRGBLayer",
    "bias_act",
    "conv2d_resample",
    "demodulation_coefficients",
    "downsample2d",
    "filter_taps",
    "modulated_conv2d",
    "normalize_2nd_moment",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]


class _Activation(NamedTuple):
    default_gain: float


# Default gains keep the signal variance unchanged through the activation (He init).
ACTIVATIONS: dict[str, _Activation] = {
    "linear": _Activation(1.0),
    "lrelu": _Activation(math.sqrt(2.0)),
    "relu": _Activation(math.sqrt(2.0)),
}


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """x / sqrt(mean(x^2) + eps) along `dim` (pixel norm of the latent input)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def upsample2d(x: Tensor, f: FilterLike, *, up: int = 2, padding: int | Sequence[int] = 0,
               flip_filter: bool = False, gain: float = 1) -> Tensor:
    """Upsample [N,C,H,W] by `up` with FIR filter `f`; output [N,C,H*up,W*up] (+padding).

    The filter is scaled by up^2 so a constant image keeps its value.
    """
    upx, upy = rs.parse_pair(up)
    fw, fh = rs.filter_size(f)
    px0, px1, py0, py1 = rs.parse_padding(padding)
    p = (px0 + (fw + upx - 1) // 2, px1 + (fw - upx) // 2, py0 + (fh + upy - 1) // 2, py1 + (fh - upy) // 2)
    return upfirdn2d(x, f, up=(upx, upy), padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(x: Tensor, f: FilterLike, *, down: int = 2, padding: int | Sequence[int] = 0,
                 flip_filter: bool = False, gain: float = 1) -> Tensor:
    """Filter with `f`, then keep every `down`-th pixel: [N,C,H,W] -> [N,C,H/down,W/down]."""
    dx, dy = rs.parse_pair(down)
    fw, fh = rs.filter_size(f)
    px0, px1, py0, py1 = rs.parse_padding(padding)
    p = (px0 + (fw - dx + 1) // 2, px1 + (fw - dx) // 2, py0 + (fh - dy + 1) // 2, py1 + (fh - dy) // 2)
    return upfirdn2d(x, f, down=(dx, dy), padding=p, flip_filter=flip_filter, gain=gain)


def bias_act(x: Tensor, b: Tensor | None = None, *, act: str = "linear", alpha: float = 0.2,
             gain: float | None = None, clamp: float | None = None, dim: int = 1) -> Tensor:
    """y = clamp(act(x + b) * gain, -clamp, clamp); b is broadcast along `dim`.

    gain None = the activation's default (sqrt 2 for (l)relu, 1 for linear).
    """
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; expected one of {sorted(ACTIVATIONS)}")
    if clamp is not None and clamp < 0:
        raise ValueError(f"clamp must be >= 0, got {clamp}")
    gain = ACTIVATIONS[act].default_gain if gain is None else float(gain)
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = x + b.to(x.dtype).reshape(shape)
    if act == "lrelu":
        x = F.leaky_relu(x, alpha)
    elif act == "relu":
        x = F.relu(x)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def conv2d_resample(x: Tensor, w: Tensor, f: FilterLike = None, *, up: int = 1, down: int = 1,
                    padding: int | Sequence[int] = 0, groups: int = 1, flip_weight: bool = True,
                    flip_filter: bool = False) -> Tensor:
    """2D convolution with optional FIR up/downsampling, padding applied once.

    x: [N, I*groups, H, W]; w: [O, I, kh, kw]; f: low-pass filter for resampling.
    Same decomposition as the official op: 1x1 kernels resample on the cheaper
    side; downsampling = blur then strided conv; upsampling = strided transposed
    conv then blur (the blur also removes the transposed conv's border overlap).
    """
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = rs.filter_size(f)
    px0, px1, py0, py1 = rs.parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=(px0, px1, py0, py1), flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=(px0, px1, py0, py1), gain=up**2, flip_filter=flip_filter)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=(px0, px1, py0, py1), flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        # conv_transpose2d wants [I, O/groups, kh, kw] per group.
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv(x, w, stride=up, padding=(pyt, pxt), groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt), gain=up**2, flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=(py0, px0), groups=groups, flip_weight=flip_weight)
    x = upfirdn2d(x, None, padding=(px0, px1, py0, py1))
    return _conv(x, w, groups=groups, flip_weight=flip_weight)


def demodulation_coefficients(weight: Tensor, styles: Tensor) -> Tensor:
    """1 / sqrt(sum_ik (s_i w_oik)^2 + 1e-8) for weight [O,I,kh,kw], styles [N,I] -> [N,O] (eq. 3).

    Written as (s^2) @ (sum_k w^2)^T: one small matmul instead of materialising
    the [N,O,I,kh,kw] per-sample weights.
    """
    return (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, noise: Tensor | None = None,
                     up: int = 1, down: int = 1, padding: int = 0, resample_filter: FilterLike = None,
                     demodulate: bool = True, flip_weight: bool = True, fused_modconv: bool = True) -> Tensor:
    """StyleGAN2 modulated convolution (Karras et al. 2020, eqs. 1-3).

    x: [N,I,H,W]; weight: [O,I,kh,kw]; styles: [N,I]; noise broadcastable to the
    output. w'_nijk = s_i w_ijk (eq. 1), demodulated by 1/sqrt(sum_ik w'^2 + 1e-8)
    (eq. 3). fused_modconv=True runs one grouped conv with per-sample weights;
    False scales the activations before and after a shared-weight conv (same
    math, faster for large batches on CPU). Returns [N,O,H',W'].
    """
    n = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"x must be [N,{in_channels},H,W], got {list(x.shape)}")
    if styles.shape != (n, in_channels):
        raise ValueError(f"styles must be [{n},{in_channels}], got {list(styles.shape)}")

    # In float16 the products below can overflow: rescale weight and styles by their
    # max norms first; demodulation cancels any per-output or global scale.
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / math.sqrt(in_channels * kh * kw)
                           / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = dcoefs = None
    if fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [NOIkk]
        if demodulate:
            dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [NO]
            w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    elif demodulate:
        dcoefs = demodulation_coefficients(weight, styles)  # [NO]

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight)
        if demodulate and noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        if noise is not None:
            return x + noise.to(x.dtype)
        return x

    assert w is not None
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), resample_filter, up=up, down=down, padding=padding, groups=n,
                        flip_weight=flip_weight)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x


# --------------------------------------------------------------------------- modules


class _FilterHolder(torch.nn.Module):
    """Registers the official `resample_filter` buffer and keeps its separable taps.

    The taps are recomputed whenever a state dict is loaded, so a checkpoint with
    a different filter is honoured (falling back to the full 2D filter when it is
    not separable).
    """

    def _init_filter(self, resample_filter: Sequence[float]) -> None:
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self._refresh_taps()
        self.register_load_state_dict_post_hook(lambda module, _keys: module._refresh_taps())

    def _refresh_taps(self) -> None:
        self._taps = filter_taps(self.resample_filter)

    @property
    def filt(self) -> FilterLike:
        """The filter to hand to the resampling functions (taps when separable)."""
        return self._taps if self._taps is not None else self.resample_filter


class FullyConnectedLayer(torch.nn.Module):
    """Equalized-learning-rate linear layer: y = act(x @ (W*g)^T + b*lr), g = lr/sqrt(in)."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        """x: [N, in_features] -> [N, out_features]."""
        w = _inference_cached(self, "_w_cache", self.weight, x.dtype,
                              lambda: self.weight.to(x.dtype) * self.weight_gain)
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class Conv2dLayer(_FilterHolder):
    """Equalized-learning-rate conv with optional FIR up/downsampling, bias, activation, clamp."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self._init_filter(resample_filter)
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ACTIVATIONS[activation].default_gain
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=fmt))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: Tensor, gain: float = 1) -> Tensor:
        """x: [N,I,H,W] -> [N,O,H*up/down,W*up/down]."""
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), self.filt, up=self.up, down=self.down, padding=self.padding,
                            flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"activation={self.activation}, up={self.up}, down={self.down}")


NoiseSource = torch.Generator | Sequence[torch.Generator] | None


def draw_noise(generator: NoiseSource, shape: Sequence[int], *, device: torch.device) -> Tensor:
    """Standard normal noise of `shape` ([N,...]) drawn from explicit generators only.

    One generator draws the whole batch; a sequence draws sample i from
    generator[i], so a sample's noise does not depend on the batch it is in.
    Noise is drawn on each generator's own device, then moved to `device`, so a
    CPU generator gives the same values whatever device runs the network.
    """
    if generator is None:
        raise ValueError("noise_mode='random' needs generator= (a torch.Generator or one per sample)")
    if isinstance(generator, torch.Generator):
        return torch.randn(list(shape), generator=generator, device=generator.device).to(device)
    if len(generator) != shape[0]:
        raise ValueError(f"got {len(generator)} generators for a batch of {shape[0]}")
    parts = [torch.randn([1, *shape[1:]], generator=g, device=g.device).to(device) for g in generator]
    return torch.cat(parts)


class SynthesisLayer(_FilterHolder):
    """Modulated 3x3 conv + noise + bias + lrelu, optionally upsampling 2x first."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self._init_filter(resample_filter)
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation].default_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=fmt))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: Tensor, w: Tensor, *, noise_mode: str = "const", generator: NoiseSource = None,
                fused_modconv: bool = True, gain: float = 1, noise: Tensor | None = None) -> Tensor:
        """x: [N,I,R/up,R/up], w: [N,w_dim] -> [N,O,R,R].

        noise: unit noise [N,1,R,R] drawn by the caller for noise_mode 'random'
        (None = draw it here from `generator`).
        """
        styles = self.affine(w)
        if self.use_noise and noise_mode == "random":
            if noise is None:
                noise = draw_noise(generator, (x.shape[0], 1, self.resolution, self.resolution), device=x.device)
            noise = noise * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        else:
            noise = None
        if not torch.is_grad_enabled() and x.dtype != torch.float16:
            return self._forward_inference(x, styles, noise, fused_modconv=fused_modconv, gain=gain)
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.filt, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def _forward_inference(self, x: Tensor, styles: Tensor, noise: Tensor | None, *, fused_modconv: bool,
                           gain: float) -> Tensor:
        """Same result as the autograd path (to float rounding) with fewer passes over memory.

        lrelu(a) * g == lrelu(a * g) for g > 0, so demodulation, noise, bias and
        gain fold into one multiply-add written in place, then one in-place lrelu.
        """
        if one_sample_supported(self, x):
            return synthesis_layer_one(self, x, styles, noise, gain=gain)
        n = x.shape[0]
        g = self.act_gain * gain
        dcoefs = None
        if fused_modconv:
            y = modulated_conv2d(x, self.weight, styles, up=self.up, padding=self.padding,
                                 resample_filter=self.filt, flip_weight=(self.up == 1), fused_modconv=True)
        else:
            wgt = self.weight.to(x.dtype)
            wsq = _inference_cached(self, "_wsq_cache", self.weight, x.dtype,
                                    lambda: wgt.square().sum(dim=[2, 3]))
            dcoefs = (styles.square() @ wsq.t() + 1e-8).rsqrt()  # = demodulation_coefficients(wgt, styles)
            y = conv2d_resample(x * styles.to(x.dtype).reshape(n, -1, 1, 1), wgt, self.filt, up=self.up,
                                padding=self.padding, flip_weight=(self.up == 1))
        bias = self.bias.to(y.dtype).reshape(1, -1, 1, 1) * g
        per_sample_noise = noise is not None and noise.ndim == 4
        if noise is not None and not per_sample_noise:
            bias = bias + (noise.to(y.dtype) * g).reshape(1, 1, *noise.shape[-2:])  # [1,O,H,W], small
        scale = (dcoefs.to(y.dtype) * g).reshape(n, -1, 1, 1) if dcoefs is not None else y.new_tensor(g)
        torch.addcmul(bias, y, scale, out=y)
        if per_sample_noise:
            assert noise is not None
            y.add_(noise.to(y.dtype), alpha=g)
        return act_clamp_(y, self.activation, self.conv_clamp, gain)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
                f"resolution={self.resolution}, up={self.up}, activation={self.activation}")


class ToRGBLayer(torch.nn.Module):
    """Output head: modulated 1x1 conv without demodulation, plus bias (and clamp)."""

    def __init__(self, in_channels: int, out_channels: int, *, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, channels_last: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = torch.nn.Parameter(
            torch.randn([out_channels, in_channels, kernel_size, kernel_size]).to(memory_format=fmt))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: Tensor, w: Tensor, *, fused_modconv: bool = True) -> Tensor:
        """x: [N,I,H,W], w: [N,w_dim] -> [N,out_channels,H,W]."""
        styles = self.affine(w) * self.weight_gain
        if not torch.is_grad_enabled() and x.device.type == "cpu" and x.shape[0] == 1 \
                and x.dtype == torch.float32 and not torch.compiler.is_compiling() \
                and not torch.is_autocast_enabled("cpu"):
            return torgb_one(self, x, styles)
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}"


class MinibatchStdLayer(torch.nn.Module):
    """Appends the mean per-group feature stddev as extra channels (Karras et al. 2018)."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x: Tensor) -> Tensor:
        """x: [N,C,H,W] -> [N,C+num_channels,H,W]; N must be divisible by the group size."""
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g != 0:
            raise ValueError(f"minibatch-stddev group size {g} does not divide the batch size {n}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)  # [GnFcHW]: sample i belongs to group i % (N/G)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()  # [nFcHW] stddev over each group
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1)  # [nF11]
        y = y.repeat(g, 1, h, w)  # [NFHW]
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
