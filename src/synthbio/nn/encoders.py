"""Image (or minutiae map) -> W+ encoders in the style of pSp (pixel2style2pixel).

Design (after Richardson et al. 2021, "Encoding in Style", the
GradualStyleEncoder), at a width that trains on a CPU:

    x [N, Cin, R, R] --(x * input_scale + input_shift)--> stem 3x3 conv, norm, PReLU
      stage 1  (stride 2)  R/2    residual SE blocks
      stage 2  (stride 2)  R/4    -> c1  (fine features)
      stage 3  (stride 2)  R/8    -> c2  (medium features)
      stage 4  (stride 2)  R/16   -> c3  (coarse features)

    feature pyramid (top-down, as in FPN):  p3 = c3,
        p2 = upsample(p3) + lat2(c2),  p1 = upsample(p2) + lat1(c1)
    one map2style head per style vector: strided 3x3 convs down to 1x1, then a
    linear layer to w_dim. Coarse ws (the 4x4-8x8 layers of the generator,
    indices < coarse_ws) read p3, the next `medium_ws` read p2, the rest p1.

    ws = w_avg + offsets   (pSp `start_from_latent_avg`; w_avg is a buffer
                            copied from the generator's mapping network)

Mode "w" keeps a single head on p3 and broadcasts its w to all num_ws layers
(one W, as the minutiae-reconstruction framework's SE-ResNet encoder).

The residual unit is the IR-SE bottleneck of ArcFace/pSp: norm, 3x3 conv,
PReLU, 3x3 conv (strided), norm, squeeze-excitation; shortcut = identity
(or strided subsampling) when channels match, else strided 1x1 conv + norm.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from synthbio.errors import InputError
from synthbio.nn.config import MAX_CHANNELS, MAX_DIM, MAX_RESOLUTION, check_int, check_real, known_keys
from synthbio.nn._per_sample import runs_per_sample, sample_copy

ENCODER_MODES = ("wplus", "w")
NORMS = ("batch", "group")
_NUM_STAGES = 4


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of an `Encoder` (saved as the "encoder" object of config.json).

    in_channels: input channels (3 for RGB or minutiae maps, 1 for grayscale).
    resolution: input side length (power of two >= 16; the pyramid is R/4..R/16).
    num_ws, w_dim: the generator's style vectors (G.num_ws, G.w_dim).
    mode: "wplus" (one head per style vector) or "w" (one head, broadcast).
    channels: feature channels of the 4 stages (stem uses the first).
    blocks: residual units per stage (pSp IR-SE-50 uses (3, 4, 14, 3)).
    fpn_channels: channels of the pyramid maps p1..p3 (None = channels[-1]).
    head_channels: conv width inside each map2style head (pSp: 512).
    coarse_ws, medium_ws: how many style vectors read p3 and p2 (pSp on 18
        ws: 3 and 4); the rest read p1. Clamped to num_ws.
    norm: "batch" (as pSp) or "group" (batch-independent also in training).
    se_reduction: squeeze-excitation bottleneck ratio.
    input_scale, input_shift: the encoder normalises its own input,
        x * input_scale + input_shift (images in [-1, 1]: 1, 0).
    offset_gain: scale of the initial weights of each head's last linear
        layer, so a fresh encoder starts near w_avg.
    """

    in_channels: int = 3
    resolution: int = 256
    num_ws: int = 14
    w_dim: int = 512
    mode: str = "wplus"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    blocks: tuple[int, ...] = (1, 2, 2, 1)
    fpn_channels: int | None = None
    head_channels: int = 64
    coarse_ws: int = 3
    medium_ws: int = 4
    norm: str = "batch"
    se_reduction: int = 8
    input_scale: float = 1.0
    input_shift: float = 0.0
    offset_gain: float = 0.1

    def __post_init__(self) -> None:
        for name in ("channels", "blocks"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)) or len(value) != _NUM_STAGES:
                raise InputError(f"encoder {name} must be a list of {_NUM_STAGES} integers, got {value!r}")
            for i, v in enumerate(value):
                check_int(f"encoder {name}[{i}]", v, 1, 4096 if name == "channels" else 64)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        check_int("encoder resolution", self.resolution, 16, MAX_RESOLUTION)
        for name, low, high in (("in_channels", 1, MAX_CHANNELS), ("num_ws", 1, 64), ("w_dim", 1, MAX_DIM),
                                ("head_channels", 1, 4096), ("coarse_ws", 0, 64), ("medium_ws", 0, 64),
                                ("se_reduction", 1, 4096)):
            check_int(f"encoder {name}", getattr(self, name), low, high)
        check_int("encoder fpn_channels", self.fpn_channels, 1, 4096, optional=True)
        for name in ("input_scale", "input_shift", "offset_gain"):
            check_real(f"encoder {name}", getattr(self, name), -1e6, 1e6)
        r = self.resolution
        if r < 16 or 2 ** int(math.log2(r)) != r:
            raise InputError(f"encoder resolution must be a power of two >= 16, got {r}")
        if self.mode not in ENCODER_MODES:
            raise InputError(f"encoder mode {self.mode!r} is not one of {ENCODER_MODES}")
        if self.norm not in NORMS:
            raise InputError(f"encoder norm {self.norm!r} is not one of {NORMS}")
        if len(self.channels) != _NUM_STAGES or len(self.blocks) != _NUM_STAGES:
            raise InputError(f"channels and blocks need {_NUM_STAGES} entries each, got "
                             f"{self.channels} and {self.blocks}")
        if min(self.channels) < 1 or min(self.blocks) < 1:
            raise InputError("encoder channels and blocks must be >= 1")
        if self.in_channels < 1 or self.num_ws < 1 or self.w_dim < 1 or self.head_channels < 1:
            raise InputError("in_channels, num_ws, w_dim and head_channels must be >= 1")
        if self.coarse_ws < 0 or self.medium_ws < 0 or self.se_reduction < 1:
            raise InputError("coarse_ws and medium_ws must be >= 0, se_reduction >= 1")

    @property
    def pyramid_channels(self) -> int:
        return self.fpn_channels or self.channels[-1]

    def head_level(self, i: int) -> int:
        """Pyramid level (3 = coarse p3, 2 = medium p2, 1 = fine p1) read by style vector i."""
        if i < self.coarse_ws:
            return 3
        return 2 if i < self.coarse_ws + self.medium_ws else 1

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"], d["blocks"] = list(self.channels), list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EncoderConfig:
        return cls(**known_keys(cls, d, "encoder"))


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    # Groups of ~8 channels, so a group still has several values at 1x1 resolution.
    return nn.GroupNorm(math.gcd(channels, max(channels // 8, 1)), channels)


class SqueezeExcite(nn.Module):
    """Channel gate: x * sigmoid(W2 relu(W1 mean_hw(x))) (Hu et al. 2018)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # [N, C, 1, 1]
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class ResidualSE(nn.Module):
    """IR-SE unit: [N, Cin, H, W] -> [N, Cout, H/stride, W/stride]."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, norm: str, se_reduction: int) -> None:
        super().__init__()
        self.stride = stride
        self.residual = nn.Sequential(
            _norm(norm, in_channels),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            _norm(norm, out_channels),
            SqueezeExcite(out_channels, se_reduction),
        )
        self.shortcut: nn.Module | None = None
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          _norm(norm, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        if self.shortcut is not None:
            short = self.shortcut(x)
        else:  # same channels: plain subsampling (pSp: a 1x1 max pool with the stride)
            short = x[:, :, :: self.stride, :: self.stride]
        return self.residual(x) + short


class StyleHead(nn.Module):
    """map2style: [N, C, S, S] -> [N, w_dim] by log2(S) strided 3x3 convs, then a linear layer."""

    def __init__(self, in_channels: int, channels: int, w_dim: int, *, spatial: int, offset_gain: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(int(math.log2(spatial))):
            layers += [nn.Conv2d(c, channels, 3, 2, 1), nn.LeakyReLU(0.2)]
            c = channels
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(c, w_dim)
        with torch.no_grad():
            self.linear.weight.mul_(offset_gain)
            self.linear.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.convs(x).flatten(1))  # [N, C, 1, 1] -> [N, w_dim]


class Encoder(nn.Module):
    """pSp-style encoder: x [N, Cin, R, R] -> ws [N, num_ws, w_dim] = w_avg + offsets."""

    def __init__(self, config: EncoderConfig, *, w_avg: Tensor | None = None) -> None:
        super().__init__()
        self.config = cfg = config
        ch = cfg.channels
        self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, ch[0], 3, 1, 1, bias=False),
                                  _norm(cfg.norm, ch[0]), nn.PReLU(ch[0]))
        stages = []
        c_in = ch[0]
        for c_out, n in zip(ch, cfg.blocks):
            units = [ResidualSE(c_in if i == 0 else c_out, c_out, stride=2 if i == 0 else 1, norm=cfg.norm,
                                se_reduction=cfg.se_reduction) for i in range(n)]
            stages.append(nn.Sequential(*units))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        fpn = cfg.pyramid_channels
        r = cfg.resolution
        self.top = nn.Identity() if fpn == ch[3] else nn.Conv2d(ch[3], fpn, 1)
        levels = sorted({cfg.head_level(i) for i in range(cfg.num_ws)}) if cfg.mode == "wplus" else [3]
        # Lateral 1x1 convs only where a finer level is read (no unused parameters).
        self.lat2 = nn.Conv2d(ch[2], fpn, 1) if min(levels) <= 2 else None
        self.lat1 = nn.Conv2d(ch[1], fpn, 1) if min(levels) <= 1 else None
        spatial = {3: r // 16, 2: r // 8, 1: r // 4}
        num_heads = cfg.num_ws if cfg.mode == "wplus" else 1
        self.heads = nn.ModuleList(
            StyleHead(fpn, cfg.head_channels, cfg.w_dim, spatial=spatial[cfg.head_level(i) if cfg.mode == "wplus"
                                                                         else 3], offset_gain=cfg.offset_gain)
            for i in range(num_heads))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim) if w_avg is None else w_avg.detach().float().clone())
        if self.w_avg.shape != (cfg.w_dim,):
            raise InputError(f"w_avg must have shape [{cfg.w_dim}], got {tuple(self.w_avg.shape)}")

    def extra_repr(self) -> str:
        c = self.config
        return f"mode={c.mode}, resolution={c.resolution}, in_channels={c.in_channels}, num_ws={c.num_ws}, " \
               f"w_dim={c.w_dim}"

    def features(self, x: Tensor) -> dict[int, Tensor]:
        """Pyramid maps {3: p3 [N,F,R/16,R/16], 2: p2 [N,F,R/8,R/8], 1: p1 [N,F,R/4,R/4]} (those read)."""
        cfg = self.config
        h = self.stem(x * cfg.input_scale + cfg.input_shift)
        c = []
        for stage in self.stages:
            h = stage(h)
            c.append(h)
        out = {3: self.top(c[3])}
        # Top-down path: nearest-neighbour 2x upsampling keeps it exactly batch-invariant (pSp: bilinear).
        if self.lat2 is not None:
            out[2] = F.interpolate(out[3], scale_factor=2.0, mode="nearest") + self.lat2(c[2])
        if self.lat1 is not None:
            out[1] = F.interpolate(out[2], scale_factor=2.0, mode="nearest") + self.lat1(c[1])
        return out

    def forward(self, x: Tensor) -> Tensor:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels or x.shape[2:] != (cfg.resolution, cfg.resolution):
            raise InputError(f"encoder input must be [N, {cfg.in_channels}, {cfg.resolution}, {cfg.resolution}], "
                             f"got {tuple(x.shape)}")
        if runs_per_sample(self, x) and x.shape[0] > 1:  # batch-invariant CPU inference, see nn._per_sample
            return torch.cat([self._encode(sample_copy(x, i)) for i in range(x.shape[0])])
        return self._encode(x)

    def _encode(self, x: Tensor) -> Tensor:
        cfg = self.config
        feats = self.features(x)
        if cfg.mode == "w":
            offsets = self.heads[0](feats[3]).unsqueeze(1).expand(-1, cfg.num_ws, -1)  # [N, num_ws, w_dim]
        else:
            offsets = torch.stack([head(feats[cfg.head_level(i)]) for i, head in enumerate(self.heads)], dim=1)
        return self.w_avg + offsets  # [N, num_ws, w_dim]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
