"""Building blocks of the translator: padded convolutions, AdaIN, layer norm, residual and attention blocks.

Every block is a small module over pure functions (`adain`, `layer_norm_2d`,
`self_attention`). AdaIN parameters are passed to `forward` explicitly
(MUNIT assigns them to module attributes before each call; here a decoder
call is a pure function of its inputs).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize

from synthbio.errors import InputError

_NORM_EPS = 1e-5
_FUSED_ATTENTION_TOKENS = 2048  # self-attention over at least this many positions uses the fused kernel


def activation(name: str) -> nn.Module:
    """'relu' | 'lrelu' (slope 0.2, as MUNIT's discriminator) | 'tanh' | 'none'."""
    if name == "relu":
        return nn.ReLU()
    if name == "lrelu":
        return nn.LeakyReLU(0.2)
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise InputError(f"unknown activation {name!r}")


class SpectralNorm(nn.Module):
    """Weight parametrisation W -> W / sigma(W) (Miyato et al. 2018), sigma by power iteration.

    u [out] and v [in] are buffers (saved, so a resumed run continues the same
    iteration); each forward in training mode runs one power-iteration step
    first, as the reference implementation. In eval mode u and v stay fixed.
    """

    def __init__(self, weight: Tensor, *, eps: float = 1e-12) -> None:
        super().__init__()
        rows = weight.shape[0]
        cols = weight[0].numel()
        self.eps = eps
        self.register_buffer("u", F.normalize(torch.ones(rows), dim=0, eps=eps))
        self.register_buffer("v", F.normalize(torch.ones(cols), dim=0, eps=eps))

    @torch.no_grad()
    def reset(self, weight: Tensor, *, generator: torch.Generator, iterations: int = 15) -> None:
        """Random u from `generator`, then `iterations` power-iteration steps on `weight`."""
        self.u.copy_(F.normalize(torch.randn(self.u.shape, generator=generator), dim=0, eps=self.eps))
        for _ in range(iterations):
            self._power_step(weight.flatten(1))

    def _power_step(self, mat: Tensor) -> None:
        self.v.copy_(F.normalize(mat.t() @ self.u, dim=0, eps=self.eps))
        self.u.copy_(F.normalize(mat @ self.v, dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        mat = weight.flatten(1)
        if self.training:
            with torch.no_grad():
                self._power_step(mat.detach())
        u, v = self.u.clone(), self.v.clone()  # the autograd graph must not see the next in-place update
        with torch.autocast(device_type=weight.device.type, enabled=False):  # sigma in the weights' precision
            sigma = torch.dot(u, mat @ v)
        return weight / sigma


def maybe_spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """`module` with its weight spectrally normalised (see SpectralNorm), or unchanged."""
    if enabled:
        parametrize.register_parametrization(module, "weight", SpectralNorm(module.weight))
    return module


# --- normalisations -----------------------------------------------------------------------


def adain(x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """Adaptive instance norm (Huang & Belongie 2017): IN(x) * scale + shift.

    x [N, C, H, W]; scale, shift [N, C] (from the style MLP, per sample).
    """
    return F.instance_norm(x, eps=_NORM_EPS) * scale[:, :, None, None] + shift[:, :, None, None]


def layer_norm_2d(x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """Per-sample normalisation over (C, H, W), then a per-channel affine map (MUNIT's decoder 'ln')."""
    return F.layer_norm(x, x.shape[1:], eps=_NORM_EPS) * gamma[None, :, None, None] + beta[None, :, None, None]


class LayerNorm2d(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm_2d(x, self.gamma, self.beta)


class InstanceNorm2d(nn.Module):
    """Instance norm without affine parameters (MUNIT's content encoder 'in')."""

    def forward(self, x: Tensor) -> Tensor:
        return F.instance_norm(x, eps=_NORM_EPS)


# --- convolutions -------------------------------------------------------------------------


class ConvBlock(nn.Module):
    """pad -> conv (k x k, stride) -> norm -> activation.

    norm: 'none' | 'in' | 'ln'. pad_type: 'reflect' | 'zero'. The padding is
    (k - 1) // 2 for odd k and 1 for the 4x4 stride-2 downsampling layers,
    so a stride-2 layer halves the side (floored).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, norm: str = "none",
                 act: str = "relu", pad_type: str = "reflect", spectral: bool = False) -> None:
        super().__init__()
        self.pad = (kernel - 1) // 2 if kernel % 2 == 1 else 1
        self.pad_mode = "reflect" if pad_type == "reflect" else "constant"
        self.conv = maybe_spectral(nn.Conv2d(c_in, c_out, kernel, stride=stride), spectral)
        if norm == "in":
            self.norm: nn.Module = InstanceNorm2d()
        elif norm == "ln":
            self.norm = LayerNorm2d(c_out)
        elif norm == "none":
            self.norm = nn.Identity()
        else:
            raise InputError(f"unknown norm {norm!r}")
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        if self.pad:
            x = F.pad(x, (self.pad,) * 4, mode=self.pad_mode)
        return self.act(self.norm(self.conv(x)))


def _phase_kernels(weight: Tensor) -> Tensor:
    """A 5x5 kernel [O, I, 5, 5] applied after nearest 2x upsampling -> four 3x3 kernels [4 * O, I, 3, 3].

    Output pixel 2i + p (p = 0, 1) of `conv5(upsample2(x))` reads x at
    i + floor((p + t) / 2) for taps t = -2..2: low-resolution offsets -1, 0, +1
    for taps {-2, -1}, {0, 1}, {2} when p = 0 and {-2}, {-1, 0}, {1, 2} when
    p = 1. Summing the taps that read the same pixel gives one 3x3 kernel per
    output phase (py, px), ordered for `pixel_shuffle`.
    """
    groups = (((0, 1), (2, 3), (4,)), ((0,), (1, 2), (3, 4)))  # per phase: taps -> offsets -1, 0, +1
    rows = [torch.stack([weight[:, :, list(g)].sum(2) for g in groups[p]], dim=2) for p in (0, 1)]  # [O, I, 3, 5]
    kernels = []
    for py in (0, 1):
        for px in (0, 1):
            kernels.append(torch.stack([rows[py][..., list(g)].sum(-1) for g in groups[px]], dim=-1))  # [O, I, 3, 3]
    o, i = weight.shape[:2]
    return torch.stack(kernels, dim=1).reshape(4 * o, i, 3, 3)  # channel 4 * o_idx + phase


class UpConv(nn.Module):
    """Nearest 2x upsampling, then a 5x5 convolution (MUNIT's decoder step), computed at low resolution.

    Exactly `conv5(upsample2(pad(x, 1)))` with the padding applied before
    upsampling (MUNIT pads after): four 3x3 phase kernels folded from the 5x5
    weights run on the low-resolution input and `pixel_shuffle` interleaves
    them, 36 instead of 100 multiply-adds per input pixel and channel pair.
    The parameter is the 5x5 kernel, so initialisation and spectral norm see
    an ordinary conv layer.
    """

    def __init__(self, c_in: int, c_out: int, *, pad_type: str = "reflect", spectral: bool = False) -> None:
        super().__init__()
        self.pad_mode = "reflect" if pad_type == "reflect" else "constant"
        self.conv = maybe_spectral(nn.Conv2d(c_in, c_out, 5), spectral)

    def forward(self, x: Tensor) -> Tensor:
        kernels = _phase_kernels(self.conv.weight)
        bias = self.conv.bias.repeat_interleave(4) if self.conv.bias is not None else None
        y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=self.pad_mode), kernels, bias)
        return F.pixel_shuffle(y, 2)


class UpBlock(nn.Module):
    """UpConv (2x) -> layer norm -> activation: one upsampling step of the decoder."""

    def __init__(self, c_in: int, c_out: int, *, act: str, pad_type: str, spectral: bool) -> None:
        super().__init__()
        self.up = UpConv(c_in, c_out, pad_type=pad_type, spectral=spectral)
        self.norm = LayerNorm2d(c_out)
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.up(x)))


class ResBlock(nn.Module):
    """x + conv(act(IN(conv(x)))) with instance norms (content encoder)."""

    def __init__(self, dim: int, *, act: str, pad_type: str, spectral: bool) -> None:
        super().__init__()
        self.conv1 = ConvBlock(dim, dim, 3, norm="in", act=act, pad_type=pad_type, spectral=spectral)
        self.conv2 = ConvBlock(dim, dim, 3, norm="in", act="none", pad_type=pad_type, spectral=spectral)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.conv1(x))


class AdaINResBlock(nn.Module):
    """x + AdaIN(conv(act(AdaIN(conv(x))))): the decoder's residual block.

    forward(x, params): params [N, 4 * dim] = (scale1, shift1, scale2, shift2).
    """

    def __init__(self, dim: int, *, act: str, pad_type: str, spectral: bool) -> None:
        super().__init__()
        self.dim = dim
        self.conv1 = ConvBlock(dim, dim, 3, act="none", pad_type=pad_type, spectral=spectral)
        self.conv2 = ConvBlock(dim, dim, 3, act="none", pad_type=pad_type, spectral=spectral)
        self.act = activation(act)

    num_params = property(lambda self: 4 * self.dim)

    def forward(self, x: Tensor, params: Tensor) -> Tensor:
        s1, b1, s2, b2 = params.split(self.dim, dim=1)
        h = self.act(adain(self.conv1(x), s1, b1))
        return x + adain(self.conv2(h), s2, b2)


# --- self-attention -----------------------------------------------------------------------


def self_attention(x: Tensor, query: Tensor, key: Tensor, value: Tensor, gamma: Tensor) -> Tensor:
    """SAGAN self-attention (Zhang et al. 2019, eq. 1-3): x + gamma * (value @ softmax(query^T key)).

    x [N, C, H, W]; query, key [N, C', H, W]; value [N, C, H, W]; gamma a scalar.
    The attention weights are unscaled dot products, as in SAGAN.
    """
    n, c, h, w = x.shape
    # [N, 1, HW, C'] and [N, 1, HW, C], channels contiguous (the fused kernel needs unit stride there)
    q = query.flatten(2).transpose(1, 2).contiguous()[:, None]
    k = key.flatten(2).transpose(1, 2).contiguous()[:, None]
    v = value.flatten(2).transpose(1, 2).contiguous()[:, None]
    if q.shape[-1] < v.shape[-1] and h * w >= _FUSED_ATTENTION_TOKENS:
        # Zero channels leave q . k unchanged, and equal widths let PyTorch pick its fused (flash) kernel,
        # which never holds the [HW, HW] attention matrix: at 64x64 content codes ~1.6x faster (forward
        # and backward) and 64 MB less memory per image. Below that size the widened q . k costs more
        # than the fused kernel saves.
        pad = (0, v.shape[-1] - q.shape[-1])
        q, k = F.pad(q, pad), F.pad(k, pad)
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)[:, 0]  # [N, HW, C]
    return x + gamma * out.transpose(1, 2).reshape(n, c, h, w)


class SelfAttention(nn.Module):
    """1x1 query/key convolutions to C/8 channels, value to C, learned gate gamma (starts at 0)."""

    def __init__(self, channels: int, *, spectral: bool) -> None:
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = maybe_spectral(nn.Conv2d(channels, inner, 1), spectral)
        self.key = maybe_spectral(nn.Conv2d(channels, inner, 1), spectral)
        self.value = maybe_spectral(nn.Conv2d(channels, channels, 1), spectral)
        self.gamma = nn.Parameter(torch.zeros([]))

    def forward(self, x: Tensor) -> Tensor:
        return self_attention(x, self.query(x), self.key(x), self.value(x), self.gamma)


# --- MLP ----------------------------------------------------------------------------------


class MLP(nn.Module):
    """s [N, style_dim] -> [N, out_dim]: `layers` linear maps, activation between them, none at the end."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, layers: int, *, act: str) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks.append(nn.Linear(dims[i], dims[i + 1]))
            if i < layers - 1:
                blocks.append(activation(act))
        self.net = nn.Sequential(*blocks)

    def forward(self, s: Tensor) -> Tensor:
        return self.net(s.flatten(1))


# --- initialisation -----------------------------------------------------------------------


def _weight_of(module: nn.Module) -> tuple[Tensor, SpectralNorm | None]:
    """The trainable weight of a conv / linear layer (the original when spectrally normalised)."""
    if parametrize.is_parametrized(module, "weight"):
        plist = module.parametrizations.weight  # type: ignore[union-attr]
        sn = next((p for p in plist if isinstance(p, SpectralNorm)), None)
        return plist.original, sn
    return module.weight, None


@torch.no_grad()
def init_weights(module: nn.Module, kind: str, *, generator: torch.Generator) -> None:
    """MUNIT's initialisations of every conv / linear layer, drawn from `generator`.

    'kaiming': He normal, fan-in, gain sqrt(2) (generators);
    'gaussian': N(0, 0.02^2) (discriminators). Biases start at 0; spectral
    norms restart their power iteration from the new weights.
    """
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        w, sn = _weight_of(m)
        if kind == "kaiming":
            std = math.sqrt(2.0 / w[0].numel())
        elif kind == "gaussian":
            std = 0.02
        else:
            raise InputError(f"unknown initialisation {kind!r}")
        w.copy_(torch.randn(w.shape, generator=generator, dtype=w.dtype) * std)
        if m.bias is not None:
            m.bias.zero_()
        if sn is not None:
            sn.reset(w, generator=generator)
