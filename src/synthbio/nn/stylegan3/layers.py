"""StyleGAN3 synthesis layers: the Fourier-feature input and the alias-free modulated layer.

Parameter and buffer names equal the official `networks_stylegan3` modules
(`SynthesisInput`: weight, affine, transform, freqs, phases; `SynthesisLayer`:
affine, weight, bias, magnitude_ema, up_filter, down_filter), so official state
dicts load key for key. Filters that are None in the official code (identity
filters of ToRGB) are not registered, as there.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.nn._kernels import inference_cached
from synthbio.nn.layers import FullyConnectedLayer
from synthbio.nn.stylegan3 import polyphase
from synthbio.nn.stylegan3.config import InputSpec, LayerSpec
from synthbio.nn.stylegan3.filtered_lrelu import filtered_lrelu
from synthbio.nn.stylegan3.filters import design_lowpass

# From this many pixels on, CPU convolutions run on channels-last (NHWC) activations.
_NHWC_MIN_PIXELS = 32 * 32


def input_transform(*, translate: tuple[float, float] = (0.0, 0.0), rotate_deg: float = 0.0) -> Tensor:
    """The 3x3 matrix for `SynthesisInput.transform` that translates and rotates the output image.

    As the official gen_images.py (`--translate`, `--rotate`): the input layer
    wants the inverse of the image-space transform [[cos, sin, tx], [-sin, cos, ty],
    [0, 0, 1]]. translate is in units of the image's width (the image spans
    [-0.5, 0.5]), so (0.1, 0) shifts the content by a tenth of the image.
    """
    if not all(math.isfinite(float(v)) for v in (*translate, rotate_deg)):
        raise InputError(f"translate and rotate must be finite, got {tuple(translate)} and {rotate_deg}")
    a = math.radians(rotate_deg)
    m = np.array([[math.cos(a), math.sin(a), translate[0]],
                  [-math.sin(a), math.cos(a), translate[1]],
                  [0.0, 0.0, 1.0]])
    return torch.from_numpy(np.linalg.inv(m)).to(torch.float32)


class SynthesisInput(torch.nn.Module):
    """w -> Fourier features [N, C, size, size] rotated and translated by an affine of w.

    `freqs` [C, 2] and `phases` [C] are drawn at construction as the official
    code draws them (frequencies uniform in a disc of radius `bandwidth`); a
    loaded checkpoint replaces them, which is what makes its outputs reproducible.
    """

    def __init__(self, spec: InputSpec, *, w_dim: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.channels = spec.channels
        self.size = spec.size
        self.sampling_rate = spec.sampling_rate
        self.bandwidth = spec.bandwidth
        freqs = torch.randn([self.channels, 2], generator=generator)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= self.bandwidth
        phases = torch.rand([self.channels], generator=generator) - 0.5
        self.weight = torch.nn.Parameter(torch.randn([self.channels, self.channels], generator=generator))
        self.affine = FullyConnectedLayer(w_dim, 4)
        with torch.no_grad():  # starts as the identity transform: (r_c, r_s, t_x, t_y) = (1, 0, 0, 0)
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3, 3))  # inverse of the user's image-space transform
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: Tensor, *, transform: Tensor | None = None) -> Tensor:
        """w: [N, w_dim] -> [N, C, size, size] (channels-last memory).

        transform: [3, 3] or [N, 3, 3] in place of the `transform` buffer (None = the buffer).
        """
        n = w.shape[0]
        user = self.transform if transform is None else transform.to(device=w.device, dtype=torch.float32)
        if user.shape[-2:] != (3, 3) or user.ndim not in (2, 3) or (user.ndim == 3 and user.shape[0] not in (1, n)):
            raise InputError(f"transform must be [3, 3] or [{n}, 3, 3], got {list(user.shape)}")
        user = user if user.ndim == 3 else user.unsqueeze(0)

        t = self.affine(w)  # (r_c, r_s, t_x, t_y), rotation normalised to unit length below
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        m_r = eye.clone()  # inverse rotation of the image
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t = eye  # inverse translation of the image
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transforms = m_r @ m_t @ user  # rotate, then translate, then the user's transform

        freqs = self.freqs.unsqueeze(0)  # [1, C, 2]
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)  # [N, C]
        freqs = freqs @ transforms[:, :2, :2]  # [N, C, 2]
        # Frequencies pushed out of band by the user's transform fade out instead of aliasing.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)  # [N, C]

        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size / self.sampling_rate
        theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grids = F.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False)  # [1, H, W, 2]

        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        weight = self.weight / np.sqrt(self.channels)
        x = x @ weight.t()
        return x.permute(0, 3, 1, 2)  # [N, C, H, W], channels-last in memory

    def extra_repr(self) -> str:
        return (f"w_dim={self.w_dim}, channels={self.channels}, size={self.size}, "
                f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}")


def demodulation_inputs(weight: Tensor, dtype: torch.dtype, *, memory_format: torch.memory_format = torch.contiguous_format
                        ) -> tuple[Tensor, Tensor]:
    """The weight normalised to unit RMS per output channel [O, I, k, k] (in `memory_format`), and the
    per-(O, I) sums of its squares [O, I] that demodulation needs. Weight-only: kept across calls."""
    w = weight.to(dtype)
    w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
    return w.contiguous(memory_format=memory_format), w.square().sum(dim=[2, 3])


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, *, demodulate: bool, padding: int,
                     input_gain: Tensor | None = None, bias: Tensor | None = None,
                     prepared: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """StyleGAN3's modulated convolution: x [N,I,H,W], weight [O,I,k,k], styles [N,I] -> [N,O,H',W'].

    With demodulation, weight and styles are first normalised to unit RMS (the
    official code normalises the styles over the whole batch; here per sample,
    which demodulation cancels up to its 1e-8 epsilon, so a sample does not
    depend on its batch). input_gain: scalar or [I] factors on the input channels.
    prepared: `demodulation_inputs(weight)` made earlier (inference caches it).
    One sample scales the (small) weight in one pass, w_oi * d_o * s_i * gain_i
    (d_o = rsqrt(sum_i s_i^2 sum_k w_oik^2 + 1e-8), the official demodulation);
    a batch scales the activations and shares the convolution.
    """
    n = x.shape[0]
    out_ch, in_ch = weight.shape[:2]
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1 \
        else torch.contiguous_format
    if demodulate:
        w, wsq = prepared if prepared is not None else demodulation_inputs(weight, x.dtype, memory_format=fmt)
    else:
        w, wsq = weight.to(x.dtype), None
    s = styles.to(x.dtype)
    if demodulate:
        s = s * s.square().mean(dim=1, keepdim=True).rsqrt()
    gain = s if input_gain is None else s * input_gain.to(x.dtype).reshape(1, -1)
    if n == 1:
        if demodulate:
            assert wsq is not None
            dcoefs = (s.square() @ wsq.t() + 1e-8).rsqrt()  # [1, O]
            scale = dcoefs.reshape(out_ch, 1) * gain.reshape(1, in_ch)  # [O, I]
        else:
            scale = gain.reshape(1, in_ch)
        wm = (w * scale.reshape(scale.shape[0], in_ch, 1, 1)).contiguous(memory_format=fmt)
        return F.conv2d(x, wm, bias, padding=padding)
    y = F.conv2d(x * gain.reshape(n, in_ch, 1, 1), w.contiguous(memory_format=fmt), padding=padding)
    if demodulate:
        assert wsq is not None
        y = y * (s.square() @ wsq.t() + 1e-8).rsqrt().reshape(n, out_ch, 1, 1)
    if bias is not None:
        y = y + bias.to(y.dtype).reshape(1, -1, 1, 1)
    return y


class SynthesisLayer(torch.nn.Module):
    """Modulated conv (3x3 for T, 1x1 for R; 1x1 without demodulation for ToRGB), then the
    filtered leaky ReLU that resamples from the input's to the output's sampling rate."""

    def __init__(self, spec: LayerSpec, *, w_dim: int, conv_kernel: int = 3, filter_size: int = 6,
                 lrelu_upsampling: int = 2, use_radial_filters: bool = False, conv_clamp: float | None = 256.0,
                 magnitude_ema_beta: float = 0.999) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.spec = spec
        self.is_torgb = spec.is_torgb
        self.in_channels = spec.in_channels
        self.out_channels = spec.out_channels
        self.in_size = spec.in_size
        self.out_size = spec.out_size
        self.conv_kernel = 1 if spec.is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta
        tmp_rate = max(spec.in_sampling_rate, spec.out_sampling_rate) * (1 if spec.is_torgb else lrelu_upsampling)
        self.tmp_sampling_rate = tmp_rate

        self.affine = FullyConnectedLayer(w_dim, self.in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(
            torch.randn([self.out_channels, self.in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = int(np.rint(tmp_rate / spec.in_sampling_rate))
        self.down_factor = int(np.rint(tmp_rate / spec.out_sampling_rate))
        if spec.in_sampling_rate * self.up_factor != tmp_rate or spec.out_sampling_rate * self.down_factor != tmp_rate:
            raise InputError(f"layer {spec.name}: sampling rates {spec.in_sampling_rate} -> {spec.out_sampling_rate} "
                             f"are not integer ratios of {tmp_rate}")
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not spec.is_torgb else 1
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not spec.is_torgb else 1
        self.down_radial = use_radial_filters and not spec.is_critically_sampled
        up_filter = design_lowpass(self.up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp_rate)
        down_filter = design_lowpass(self.down_taps, spec.out_cutoff, spec.out_half_width * 2, tmp_rate,
                                     radial=self.down_radial)
        # None filters stay unregistered, so the state dict matches the official one (which omits them).
        if up_filter is not None:
            self.register_buffer("up_filter", up_filter)
        if down_filter is not None:
            self.register_buffer("down_filter", down_filter)

        # Padding of the upsampled signal so the output lands on the output grid (paper, appendix C.3).
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        self.padding = (pad_lo, pad_total - pad_lo, pad_lo, pad_total - pad_lo)

    def forward(self, x: Tensor, w: Tensor, *, update_emas: bool = False) -> Tensor:
        """x: [N, in_channels, in_size, in_size], w: [N, w_dim] -> [N, out_channels, out_size, out_size]."""
        if update_emas:
            magnitude = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * self.conv_kernel**2))
        if x.device.type == "cpu" and x.shape[2] * x.shape[3] >= _NHWC_MIN_PIXELS:
            x = x.contiguous(memory_format=torch.channels_last)
        prepared = None
        if not self.is_torgb:
            fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1 \
                else torch.contiguous_format
            prepared = inference_cached(self, f"_demod_cache_{fmt}", self.weight, x.dtype,
                                        lambda: demodulation_inputs(self.weight, x.dtype, memory_format=fmt))
        x = modulated_conv2d(x, self.weight, styles, demodulate=not self.is_torgb, padding=self.conv_kernel - 1,
                             input_gain=input_gain, bias=self.bias.to(x.dtype), prepared=prepared)
        gain, slope = (1.0, 1.0) if self.is_torgb else (float(np.sqrt(2)), 0.2)
        fu, fd = getattr(self, "up_filter", None), getattr(self, "down_filter", None)
        if not self.is_torgb and polyphase.supported(x, up=self.up_factor, down=self.down_factor):
            return polyphase.filtered_lrelu_polyphase(x, self._plan(x, gain), slope=slope, clamp=self.conv_clamp)
        return filtered_lrelu(x, fu, fd, up=self.up_factor, down=self.down_factor, padding=self.padding,
                              gain=gain, slope=slope, clamp=self.conv_clamp)

    def _plan(self, x: Tensor, gain: float) -> polyphase.LayerPlan:
        """The polyphase plan for this input size and these filters, made once and kept.

        Keyed on the filters' storage and version, so loading other filters makes a new plan.
        """
        fu, fd = getattr(self, "up_filter", None), getattr(self, "down_filter", None)
        key = (tuple(x.shape[2:]), gain, *((f.data_ptr(), f._version) if f is not None else None for f in (fu, fd)))
        cached = self.__dict__.get("_plan_cache")
        if cached is not None and cached[0] == key:
            return cached[1]
        plan = polyphase.make_plan(fu, fd, up=self.up_factor, down=self.down_factor, padding=self.padding,
                                   gain=gain, in_size=(x.shape[2], x.shape[3]))
        if plan.out_size != (self.out_size, self.out_size):
            raise InputError(f"layer {self.spec.name}: input of size {list(x.shape[2:])} gives "
                             f"{list(plan.out_size)}, not the layer's {self.out_size}x{self.out_size}")
        self.__dict__["_plan_cache"] = (key, plan)
        return plan

    def extra_repr(self) -> str:
        s = self.spec
        return (f"w_dim={self.w_dim}, is_torgb={s.is_torgb}, is_critically_sampled={s.is_critically_sampled}, "
                f"in_sampling_rate={s.in_sampling_rate}, out_sampling_rate={s.out_sampling_rate}, "
                f"in_size={s.in_size}, out_size={s.out_size}, in_channels={s.in_channels}, "
                f"out_channels={s.out_channels}, up={self.up_factor}, down={self.down_factor}")
