"""MUNIT-style networks: per-domain content encoder, style encoder, AdaIN decoder; multi-scale D.

Shapes (defaults: dim 64, n_downsample 2, n_res 4, style_dim 8):

    ContentEncoder   x [N, C, H, W] -> c [N, 256, H/4, W/4]
                     conv7 (dim) -> n_downsample x conv4/2 (doubling) -> n_res res blocks
                     (instance norm) -> [self-attention]
    StyleEncoder     x [N, C, H, W] -> s [N, style_dim]
                     conv7 (dim) -> 2 x conv4/2 (doubling) -> (style_downsample - 2) x conv4/2
                     -> global average pool -> 1x1 conv; no normalisation
    Decoder          (c, s) -> x [N, C, H, W]
                     MLP(s) -> every AdaIN block's scales and shifts; n_res AdaIN res
                     blocks -> [self-attention] -> n_downsample x (nearest x2, conv5, layer
                     norm; computed at low resolution, see layers.UpConv) -> conv7 -> tanh
    Discriminator    x -> [logits of scale 0 [N, 1, H/16, W/16], scale 1, ...]; each scale
                     conv4/2 (d_dim) -> (d_layers - 1) x conv4/2 (doubling) -> [self-attention]
                     -> 1x1 conv; the input is average-pooled (3x3, stride 2) between scales

`DomainGenerator` holds the three networks of one domain; translating A -> B
is `G_b.decode(G_a.encode_content(x_a), s_b)` with s_b drawn from N(0, I)
(multimodal) or `G_b.encode_style(x_ref)` (example-guided).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthbio.errors import InputError
from synthbio.translation.config import TranslatorConfig
from synthbio.translation.layers import (
    MLP,
    AdaINResBlock,
    ConvBlock,
    ResBlock,
    SelfAttention,
    UpBlock,
    init_weights,
)


def _check_images(x: Tensor, channels: int, min_size: int, what: str) -> None:
    if x.ndim != 4 or x.shape[1] != channels:
        raise InputError(f"{what}: expected images [N, {channels}, H, W], got {tuple(x.shape)}")
    if min(x.shape[2:]) < min_size:
        raise InputError(f"{what}: images of {x.shape[3]}x{x.shape[2]} px are too small for this network "
                         f"(at least {min_size}x{min_size})")


class ContentEncoder(nn.Module):
    def __init__(self, cfg: TranslatorConfig, channels: int) -> None:
        super().__init__()
        sn, act, pad = cfg.g_spectral_norm, cfg.activation, cfg.pad_type
        layers: list[nn.Module] = [ConvBlock(channels, cfg.dim, 7, norm="in", act=act, pad_type=pad, spectral=sn)]
        dim = cfg.dim
        for _ in range(cfg.n_downsample):
            layers.append(ConvBlock(dim, 2 * dim, 4, stride=2, norm="in", act=act, pad_type=pad, spectral=sn))
            dim *= 2
        layers += [ResBlock(dim, act=act, pad_type=pad, spectral=sn) for _ in range(cfg.n_res)]
        if "content" in cfg.g_attention:
            layers += [SelfAttention(dim, spectral=sn) for _ in range(cfg.attention_blocks)]
        self.net = nn.Sequential(*layers)
        self.out_channels = dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class StyleEncoder(nn.Module):
    def __init__(self, cfg: TranslatorConfig, channels: int) -> None:
        super().__init__()
        sn, act, pad = cfg.g_spectral_norm, cfg.activation, cfg.pad_type
        layers: list[nn.Module] = [ConvBlock(channels, cfg.dim, 7, act=act, pad_type=pad, spectral=sn)]
        dim = cfg.dim
        for i in range(cfg.style_downsample):
            out = 2 * dim if i < 2 else dim
            layers.append(ConvBlock(dim, out, 4, stride=2, act=act, pad_type=pad, spectral=sn))
            dim = out
        self.net = nn.Sequential(*layers)
        self.head = nn.Conv2d(dim, cfg.style_dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x [N, C, H, W] -> s [N, style_dim]."""
        h = self.net(x).mean(dim=(2, 3), keepdim=True)
        return self.head(h).flatten(1)


class Decoder(nn.Module):
    def __init__(self, cfg: TranslatorConfig, channels: int) -> None:
        super().__init__()
        sn, act, pad = cfg.g_spectral_norm, cfg.activation, cfg.pad_type
        dim = cfg.content_channels
        self.res = nn.ModuleList(AdaINResBlock(dim, act=act, pad_type=pad, spectral=sn) for _ in range(cfg.n_res))
        attention = cfg.attention_blocks if "decoder" in cfg.g_attention else 0
        self.attention = nn.Sequential(*[SelfAttention(dim, spectral=sn) for _ in range(attention)])
        up: list[nn.Module] = []
        for _ in range(cfg.n_downsample):
            up.append(UpBlock(dim, dim // 2, act=act, pad_type=pad, spectral=sn))
            dim //= 2
        up.append(ConvBlock(dim, channels, 7, act="tanh", pad_type=pad, spectral=sn))
        self.up = nn.Sequential(*up)
        self.num_adain_params = sum(block.num_params for block in self.res)
        self.mlp = MLP(cfg.style_dim, max(self.num_adain_params, 1), cfg.mlp_dim, cfg.mlp_layers, act=act)

    def forward(self, c: Tensor, s: Tensor) -> Tensor:
        """c [N, C_c, h, w], s [N, style_dim] -> images [N, C, h * 2**n_downsample, ...] in [-1, 1]."""
        if s.ndim != 2 or s.shape[0] != c.shape[0]:
            raise InputError(f"style codes must be [N, style_dim] with N = {c.shape[0]}, got {tuple(s.shape)}")
        params = self.mlp(s)
        x = c
        offset = 0
        for block in self.res:
            x = block(x, params[:, offset:offset + block.num_params])
            offset += block.num_params
        return self.up(self.attention(x))


class DomainGenerator(nn.Module):
    """One domain's auto-encoder: content encoder, style encoder and decoder (MUNIT's AdaINGen)."""

    def __init__(self, cfg: TranslatorConfig, channels: int) -> None:
        super().__init__()
        self.config = cfg
        self.channels = channels
        self.content = ContentEncoder(cfg, channels)
        self.style = StyleEncoder(cfg, channels)
        self.decoder = Decoder(cfg, channels)

    @property
    def style_dim(self) -> int:
        return self.config.style_dim

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [N, C, H, W] in [-1, 1] -> (c [N, C_c, H/2**n, W/2**n], s [N, style_dim])."""
        _check_images(x, self.channels, self.config.min_generator_size, "encode")
        return self.content(x), self.style(x)

    def encode_content(self, x: Tensor) -> Tensor:
        _check_images(x, self.channels, self.config.min_generator_size, "encode_content")
        return self.content(x)

    def encode_style(self, x: Tensor) -> Tensor:
        _check_images(x, self.channels, self.config.min_generator_size, "encode_style")
        return self.style(x)

    def decode(self, c: Tensor, s: Tensor) -> Tensor:
        return self.decoder(c, s)

    def forward(self, x: Tensor) -> Tensor:
        """Within-domain reconstruction decode(encode(x))."""
        c, s = self.encode(x)
        return self.decode(c, s)


class _Scale(nn.Module):
    def __init__(self, cfg: TranslatorConfig, channels: int) -> None:
        super().__init__()
        sn, pad = cfg.d_spectral_norm, cfg.pad_type
        layers: list[nn.Module] = [ConvBlock(channels, cfg.d_dim, 4, stride=2, act="lrelu", pad_type=pad, spectral=sn)]
        dim = cfg.d_dim
        for _ in range(cfg.d_layers - 1):
            layers.append(ConvBlock(dim, 2 * dim, 4, stride=2, act="lrelu", pad_type=pad, spectral=sn))
            dim *= 2
        if cfg.d_attention:
            layers += [SelfAttention(dim, spectral=sn) for _ in range(cfg.attention_blocks)]
        self.net = nn.Sequential(*layers)
        self.out = ConvBlock(dim, 1, 1, act="none", spectral=sn)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.net(x))


class MultiScaleDiscriminator(nn.Module):
    """d_scales patch discriminators on x, x/2, x/4, ... -> list of logits [N, 1, h_k, w_k]."""

    def __init__(self, cfg: TranslatorConfig, channels: int) -> None:
        super().__init__()
        self.config = cfg
        self.channels = channels
        self.scales = nn.ModuleList(_Scale(cfg, channels) for _ in range(cfg.d_scales))

    def forward(self, x: Tensor) -> list[Tensor]:
        _check_images(x, self.channels, self.config.min_train_size, "discriminator")
        outs = []
        for i, scale in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(scale(x))
        return outs


def build_generators(cfg: TranslatorConfig, *, seed: int = 0) -> nn.ModuleDict:
    """{'a': G_a, 'b': G_b}, He-initialised from `seed` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):  # layer constructors draw default weights from global RNG
        G = nn.ModuleDict({d: DomainGenerator(cfg, cfg.channels(d)) for d in ("a", "b")})
    init_weights(G, "kaiming", generator=torch.Generator().manual_seed(seed))
    return G


def build_discriminators(cfg: TranslatorConfig, *, seed: int = 0) -> nn.ModuleDict:
    """{'a': D_a, 'b': D_b}, N(0, 0.02^2)-initialised from `seed` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        D = nn.ModuleDict({d: MultiScaleDiscriminator(cfg, cfg.channels(d)) for d in ("a", "b")})
    init_weights(D, "gaussian", generator=torch.Generator().manual_seed(seed + 1))
    return D
