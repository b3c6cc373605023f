"""`TranslatorConfig`: the architecture of a two-domain MUNIT-style translator.

One frozen dataclass describes both domains' generators (content encoder,
style encoder, AdaIN decoder with its style MLP) and discriminators, saved as
`config.json` beside the weights. Defaults follow MUNIT (Huang et al. 2018,
the official `edges2handbags` configuration) with the SATNet additions on:
SAGAN self-attention (Zhang et al. 2019) after the content encoder's residual
blocks, after the decoder's AdaIN blocks and before each discriminator
scale's last layer, and spectral normalisation (Miyato et al. 2018) in D.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from synthbio.errors import InputError
from synthbio.nn.config import MAX_PARAMETERS, check_int

ACTIVATIONS = ("relu", "lrelu")
PAD_TYPES = ("reflect", "zero")
G_ATTENTION_PLACES = ("content", "decoder")
#: Upper bounds of the integer fields (a config.json is read from files users hand over: a bound keeps a
#: hostile one from building millions of layers before its weights are checked). MUNIT uses a tenth or less.
LIMITS = {"dim": 4096, "style_dim": 4096, "n_downsample": 8, "n_res": 64, "style_downsample": 12,
          "mlp_dim": 16384, "mlp_layers": 64, "attention_blocks": 16, "d_dim": 4096, "d_layers": 12, "d_scales": 8}
_FLAGS = ("g_spectral_norm", "d_attention", "d_spectral_norm")


@dataclass(frozen=True)
class TranslatorConfig:
    """Both domains' networks. Channels are image channels (1 = grayscale, 3 = RGB).

    channels_a, channels_b: image channels of domain A and B.
    dim: channels of the first convolution; each downsampling doubles them.
    style_dim: length of a style code s (MUNIT: 8).
    n_downsample: stride-2 convolutions of the content encoder (the decoder
        upsamples as many times); the content code is at 1 / 2**n_downsample.
    n_res: residual blocks in the content encoder and AdaIN blocks in the decoder.
    style_downsample: stride-2 convolutions of the style encoder (2 doubling
        the channels, the rest keeping them), then global average pooling.
    mlp_dim, mlp_layers: the MLP from s to every AdaIN layer's scale and shift.
    activation: of the generators ('relu' as MUNIT, or 'lrelu').
    pad_type: 'reflect' (MUNIT) or 'zero' padding of every convolution.
    g_attention: where the generators hold self-attention blocks: a subset of
        ('content', 'decoder'); () = plain MUNIT.
    attention_blocks: self-attention blocks at each place (SATNet: 1).
    g_spectral_norm: spectral normalisation of every generator convolution.
    d_dim, d_layers: first-layer channels and stride-2 layers of each D scale.
    d_scales: discriminators on the image downsampled 0, 1, ... times (MUNIT: 3).
    d_attention: a self-attention block before each scale's last (1x1) layer.
    d_spectral_norm: spectral normalisation of every D convolution.
    """

    channels_a: int = 3
    channels_b: int = 3
    dim: int = 64
    style_dim: int = 8
    n_downsample: int = 2
    n_res: int = 4
    style_downsample: int = 4
    mlp_dim: int = 256
    mlp_layers: int = 3
    activation: str = "relu"
    pad_type: str = "reflect"
    g_attention: tuple[str, ...] = G_ATTENTION_PLACES
    attention_blocks: int = 1
    g_spectral_norm: bool = False
    d_dim: int = 64
    d_layers: int = 4
    d_scales: int = 3
    d_attention: bool = True
    d_spectral_norm: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.g_attention, str) or not isinstance(self.g_attention, (list, tuple)):
            raise InputError(f"g_attention must be a list of places among {G_ATTENTION_PLACES}, "
                             f"got {self.g_attention!r}")
        object.__setattr__(self, "g_attention", tuple(self.g_attention))
        for name in ("channels_a", "channels_b"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value not in (1, 3):
                raise InputError(f"{name} must be 1 (grayscale) or 3 (RGB), got {value!r}")
        for name, high in LIMITS.items():
            low = 0 if name in ("n_downsample", "n_res") else 1
            check_int(name, getattr(self, name), low, high)
        for name in _FLAGS:
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.style_downsample < 2:
            raise InputError(f"style_downsample must be >= 2 (two channel-doubling layers), got {self.style_downsample}")
        if self.mlp_layers < 2:
            raise InputError(f"mlp_layers must be >= 2, got {self.mlp_layers}")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.pad_type not in PAD_TYPES:
            raise InputError(f"pad_type must be one of {PAD_TYPES}, got {self.pad_type!r}")
        unknown = [p for p in self.g_attention if p not in G_ATTENTION_PLACES]
        if unknown or len(set(self.g_attention)) != len(self.g_attention):
            raise InputError(f"g_attention must be distinct places among {G_ATTENTION_PLACES}, got {self.g_attention}")
        if self.parameter_count() > MAX_PARAMETERS:
            raise InputError(f"a translator of {self.parameter_count():,} weights is larger than the "
                             f"{MAX_PARAMETERS:,} this synthbio builds (dim {self.dim}, n_downsample "
                             f"{self.n_downsample}, d_dim {self.d_dim}, d_layers {self.d_layers})")

    def parameter_count(self) -> int:
        """Convolution and linear weights of both domains' G and D (biases and norms left out): a size check."""
        cc = self.content_channels
        sagan = 3 * cc * cc // 4 + cc * cc  # query and key at C/8... counted generously, value C x C
        total = 0
        for ch in (self.channels_a, self.channels_b):
            enc = 49 * ch * self.dim + sum(32 * (self.dim << k) ** 2 for k in range(self.n_downsample))
            enc += self.n_res * 18 * cc * cc
            style, width = 49 * ch * self.dim, self.dim
            for i in range(self.style_downsample):
                out = 2 * width if i < 2 else width
                style, width = style + 16 * width * out, out
            style += width * self.style_dim
            dec = self.n_res * 18 * cc * cc + sum(25 * (cc >> k) * (cc >> (k + 1)) for k in range(self.n_downsample))
            dec += 49 * (cc >> self.n_downsample) * ch
            adain = 4 * cc * self.n_res
            mlp = self.style_dim * self.mlp_dim + (self.mlp_layers - 2) * self.mlp_dim ** 2 + self.mlp_dim * adain
            attention = sagan * self.attention_blocks * len(self.g_attention)
            d_top = self.d_dim << (self.d_layers - 1)
            scale = 16 * ch * self.d_dim + sum(32 * (self.d_dim << i) ** 2 for i in range(self.d_layers - 1))
            scale += d_top + (7 * d_top * d_top // 4) * self.attention_blocks * self.d_attention
            total += enc + style + dec + mlp + attention + self.d_scales * scale
        return total

    # -- derived sizes ---------------------------------------------------------

    def channels(self, domain: str) -> int:
        if domain not in ("a", "b"):
            raise InputError(f"domain must be 'a' or 'b', got {domain!r}")
        return self.channels_a if domain == "a" else self.channels_b

    @property
    def content_channels(self) -> int:
        """Channels of the content code c [N, content_channels, H / 2**n_downsample, W / 2**n_downsample]."""
        return self.dim * 2**self.n_downsample

    @property
    def size_multiple(self) -> int:
        """Image sides the generators map to the same size: multiples of 2**n_downsample."""
        return 2**self.n_downsample

    @property
    def min_generator_size(self) -> int:
        """Smallest image side the generators accept: every padded layer still sees 2 pixels."""
        return max(2 ** (self.n_downsample + 1), 2**self.style_downsample, 4)

    @property
    def min_train_size(self) -> int:
        """Smallest training crop: the coarsest D scale's last stride-2 layer still sees 2 pixels."""
        return max(2 ** (self.d_scales - 1 + self.d_layers), self.min_generator_size)

    # -- serialisation ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["g_attention"] = list(self.g_attention)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> TranslatorConfig:
        """A config.json 'config' object -> TranslatorConfig; InputError (one line) for anything else."""
        if not isinstance(data, dict):
            raise InputError(f"a translator config is a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(data) - names)
        if unknown:
            raise InputError(f"unknown translator config fields: {', '.join(unknown[:8])}")
        return cls(**data)
