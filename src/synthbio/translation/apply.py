"""Translating images with a trained translator: content of the source, style drawn or taken from a reference.

    c = E_src(x)                       content code of each input
    s_k = N(0, I) from seed style_seed + k, or E_dst(reference)
    y_k = G_dst(c, s_k)                one output per style

Images of any size are reflect-padded to a multiple of 2**n_downsample (the
decoder then gives back the padded size) and cropped back, so an output has
its input's size. Style k is the same code for every input (a fixed style
bank), so results do not depend on batching or on which inputs run together.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from synthbio.errors import InputError
from synthbio.translation.checkpoint import Translator

DIRECTIONS = ("a2b", "b2a")


def parse_direction(direction: str) -> tuple[str, str]:
    """'a2b' -> ('a', 'b'); 'b2a' -> ('b', 'a')."""
    if direction not in DIRECTIONS:
        raise InputError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return direction[0], direction[2]


def style_bank(style_dim: int, count: int, *, seed: int = 0) -> Tensor:
    """count style codes [count, style_dim]; code k is N(0, I) drawn from a generator seeded seed + k."""
    if count < 1:
        raise InputError(f"the number of styles must be >= 1, got {count}")
    return torch.stack([torch.randn([style_dim], generator=torch.Generator().manual_seed(seed + k))
                        for k in range(count)])


def _pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def check_input(translator: Translator, images: Tensor, *, domain: str, what: str = "images") -> None:
    """InputError when images do not fit the domain's channels or the network's minimum size."""
    cfg = translator.config
    channels = cfg.channels(domain)
    name = translator.domains.get(domain, domain)
    if images.ndim != 4 or images.shape[1] != channels:
        got = images.shape[1] if images.ndim == 4 else tuple(images.shape)
        raise InputError(f"{what}: domain {domain.upper()} ({name}) of this translator takes {channels}-channel "
                         f"images, got {got} channels")
    if min(images.shape[-2:]) < cfg.min_generator_size:
        raise InputError(f"{what}: {images.shape[-1]}x{images.shape[-2]} px is smaller than this translator's "
                         f"minimum of {cfg.min_generator_size}x{cfg.min_generator_size}")


@torch.no_grad()
def encode_styles(translator: Translator, references: Tensor, *, domain: str) -> Tensor:
    """Style codes [N, style_dim] of reference images of `domain` [N, C, H, W] in [-1, 1]."""
    check_input(translator, references, domain=domain, what="reference")
    G = translator.G[domain]
    device = next(G.parameters()).device
    return G.encode_style(references.to(device)).float().cpu()


@torch.no_grad()
def translate(translator: Translator, images: Tensor, styles: Tensor, *, direction: str) -> Tensor:
    """Images [N, C_src, H, W] in [-1, 1] and styles [K, style_dim] -> [N, K, C_dst, H, W] in [-1, 1]."""
    src, dst = parse_direction(direction)
    check_input(translator, images, domain=src)
    cfg = translator.config
    if styles.ndim != 2 or styles.shape[1] != cfg.style_dim:
        raise InputError(f"styles must be [K, {cfg.style_dim}], got {tuple(styles.shape)}")
    G_src, G_dst = translator.G[src], translator.G[dst]
    device = next(G_src.parameters()).device
    x, (h, w) = _pad_to_multiple(images.to(device), cfg.size_multiple)
    c = G_src.encode_content(x)
    outs = []
    for k in range(styles.shape[0]):
        s = styles[k:k + 1].to(device).expand(x.shape[0], -1)
        outs.append(G_dst.decode(c, s)[..., :h, :w].float().cpu())
    return torch.stack(outs, dim=1)
