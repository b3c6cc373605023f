"""IResNet face recognisers (ArcFace / AdaFace) with the official weight layouts.

Two layouts of the same "improved ResNet" (pre-activation BN-conv-BN-PReLU-
conv-BN residual units, stride in the second conv, 112x112 input, a 7x7x512
map flattened into a 512-d linear embedding):

- insightface `arcface_torch` (`backbones/iresnet.py`): module names `conv1`,
  `bn1`, `prelu`, `layer1..4` (`IBasicBlock`: `bn1 conv1 bn2 prelu conv2 bn3`,
  `downsample.0/1` where stride or width changes), `bn2`, `fc`, `features`
  (BatchNorm1d). The official `backbone.pth` state dicts load as they are.
  Input RGB, (pixel/255 - 0.5)/0.5, i.e. our [-1, 1].
- AdaFace (`net.py`, `ir_101` / `ir_50`): `input_layer.{0,1,2}`, `body.<i>`
  (`res_layer.{0..5}`, `shortcut_layer.{0,1}` where the width changes, else a
  stride-s subsampling), `output_layer.{0,3,4}`. Checkpoints (`.ckpt`) hold a
  Lightning `state_dict` with a `model.` prefix (and the `head.` of training,
  dropped). Input BGR in [-1, 1].

Both produce unnormalised embeddings; similarity is the cosine. Weights are
supplied by the user (file path or registry name): the official files are
distributed through cloud drives without published checksums.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from synthbio.errors import CheckpointError, InputError, ModelNotFoundError, library_message
from synthbio.faces.alignment import DLIB_5PT_TEMPLATE, arcface_matrix, ffhq_matrix

INPUT_SIZE = 112
WIDTHS = (64, 128, 256, 512)
DEPTHS = {"r50": (3, 4, 14, 3), "r100": (3, 13, 30, 3)}


@dataclass(frozen=True)
class IResNetConfig:
    """layout: 'arcface' (insightface arcface_torch) or 'adaface'.
    units: residual units per stage (r50 = 3,4,14,3; r100 = 3,13,30,3).
    widths: channels per stage. embedding_dim: output size (512 in both releases).
    input_size: square input side (112; the final map is input_size/16)."""

    layout: str = "arcface"
    units: tuple[int, ...] = DEPTHS["r100"]
    widths: tuple[int, ...] = WIDTHS
    embedding_dim: int = 512
    input_size: int = INPUT_SIZE

    def __post_init__(self) -> None:
        if self.layout not in ("arcface", "adaface"):
            raise InputError(f"unknown IResNet layout {self.layout!r}: use 'arcface' or 'adaface'")
        if len(self.units) != len(self.widths) or self.input_size % 16:
            raise InputError(f"bad IResNet config: units {self.units}, widths {self.widths}, input {self.input_size}")


def _conv3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """arcface_torch unit: x + BN(conv_s(PReLU(BN(conv(BN(x)))))), shortcut conv1x1+BN when needed."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, eps=1e-5)
        self.conv1 = _conv3(c_in, c_out)
        self.bn2 = nn.BatchNorm2d(c_out, eps=1e-5)
        self.prelu = nn.PReLU(c_out)
        self.conv2 = _conv3(c_out, c_out, stride)
        self.bn3 = nn.BatchNorm2d(c_out, eps=1e-5)
        self.downsample = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out, eps=1e-5))
            if stride != 1 or c_in != c_out
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class BasicBlockIR(nn.Module):
    """AdaFace unit: same residual branch; the shortcut subsamples (1x1 max pool) when widths agree."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.shortcut_layer: nn.Module = (
            nn.MaxPool2d(1, stride)
            if c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
        )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(c_in), _conv3(c_in, c_out), nn.BatchNorm2d(c_out), nn.PReLU(c_out),
            _conv3(c_out, c_out, stride), nn.BatchNorm2d(c_out),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IResNet(nn.Module):
    """[N, 3, 112, 112] in the layout's channel order, [-1, 1] -> [N, embedding_dim]."""

    def __init__(self, config: IResNetConfig) -> None:
        super().__init__()
        self.config = config
        final = config.input_size // 16
        w0 = config.widths[0]
        if config.layout == "arcface":
            self.conv1 = _conv3(3, w0)
            self.bn1 = nn.BatchNorm2d(w0, eps=1e-5)
            self.prelu = nn.PReLU(w0)
            c_in = w0
            for i, (units, width) in enumerate(zip(config.units, config.widths)):
                blocks = [IBasicBlock(c_in if j == 0 else width, width, 2 if j == 0 else 1) for j in range(units)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
                c_in = width
            self.bn2 = nn.BatchNorm2d(c_in, eps=1e-5)
            self.fc = nn.Linear(c_in * final * final, config.embedding_dim)
            self.features = nn.BatchNorm1d(config.embedding_dim, eps=1e-5)
        else:
            self.input_layer = nn.Sequential(_conv3(3, w0), nn.BatchNorm2d(w0), nn.PReLU(w0))
            body: list[nn.Module] = []
            c_in = w0
            for units, width in zip(config.units, config.widths):
                body += [BasicBlockIR(c_in if j == 0 else width, width, 2 if j == 0 else 1) for j in range(units)]
                c_in = width
            self.body = nn.Sequential(*body)
            self.output_layer = nn.Sequential(
                nn.BatchNorm2d(c_in), nn.Dropout(0.4), nn.Flatten(),
                nn.Linear(c_in * final * final, config.embedding_dim),
                nn.BatchNorm1d(config.embedding_dim, affine=False),
            )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        if self.config.layout == "arcface":
            x = self.prelu(self.bn1(self.conv1(x)))
            for i in range(len(self.config.units)):
                x = getattr(self, f"layer{i + 1}")(x)
            return self.features(self.fc(self.bn2(x).flatten(1)))
        return self.output_layer(self.body(self.input_layer(x)))


# --- state dicts --------------------------------------------------------------------------


def _unwrap_state_dict(obj: Any, source: str) -> dict[str, Tensor]:
    """Official files: a bare state dict (arcface backbone.pth) or a Lightning checkpoint (AdaFace)."""
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CheckpointError(f"{source}: not a state dict of tensors")
    sd = {k.removeprefix("module."): v for k, v in obj.items()}
    if any(k.startswith("model.") for k in sd):  # AdaFace: backbone under model., margin head under head.
        sd = {k.removeprefix("model."): v for k, v in sd.items() if k.startswith("model.")}
    return sd


def _input_size(linear_in: int, channels: int) -> int:
    side = round((linear_in / channels) ** 0.5)
    if side * side * channels != linear_in:
        raise CheckpointError(f"embedding layer input {linear_in} is not a square map of {channels} channels")
    return side * 16


def infer_config(state_dict: dict[str, Tensor]) -> IResNetConfig:
    """Layout, depth and widths from the key names and shapes of an official state dict."""
    sd = state_dict
    if "conv1.weight" in sd and "fc.weight" in sd:
        stages = sorted({int(k.split(".")[0][5:]) for k in sd if k.startswith("layer")})
        units = tuple(len({k.split(".")[1] for k in sd if k.startswith(f"layer{i}.")}) for i in stages)
        widths = tuple(int(sd[f"layer{i}.0.conv1.weight"].shape[0]) for i in stages)
        fc = sd["fc.weight"]
        return IResNetConfig(layout="arcface", units=units, widths=widths, embedding_dim=int(fc.shape[0]),
                             input_size=_input_size(int(fc.shape[1]), widths[-1]))
    if "input_layer.0.weight" in sd and "output_layer.3.weight" in sd:
        n_blocks = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("body."))
        block_widths = [int(sd[f"body.{j}.res_layer.1.weight"].shape[0]) for j in range(n_blocks)]
        widths: list[int] = []
        units: list[int] = []
        for w in block_widths:  # stages are runs of equal width (widths grow stage by stage)
            if widths and widths[-1] == w:
                units[-1] += 1
            else:
                widths.append(w)
                units.append(1)
        fc = sd["output_layer.3.weight"]
        return IResNetConfig(layout="adaface", units=tuple(units), widths=tuple(widths), embedding_dim=int(fc.shape[0]),
                             input_size=_input_size(int(fc.shape[1]), widths[-1]))
    raise CheckpointError("state dict is neither the arcface_torch nor the AdaFace IResNet layout")


def load_iresnet(path: str | Path) -> IResNet:
    """IResNet from a weight file (.pth/.pt/.ckpt via torch.load weights_only, or .safetensors)."""
    p = Path(path)
    if not p.is_file():
        raise ModelNotFoundError(f"IResNet weights not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(p))
        else:
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle with code objects, ...
        raise CheckpointError(f"cannot read IResNet weights {p}: {library_message(exc)}") from None
    sd = _unwrap_state_dict(obj, str(p))
    net = IResNet(infer_config(sd))
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise CheckpointError(f"{p}: IResNet keys do not match (missing {missing[:4]}, unexpected {unexpected[:4]})")
    return net.eval()


# --- FFHQ-aligned images -> ArcFace template ------------------------------------------------


def ffhq_to_arcface_matrix(resolution: int, *, size: int = INPUT_SIZE) -> np.ndarray:
    """Fixed [2, 3] map from ArcFace size x size (112) pixels to an FFHQ-aligned image's pixels.

    As for dlib (`synthbio.faces.dlib_resnet.ffhq_to_chip_matrix`): dlib's
    mean face placed by the FFHQ recipe, then aligned to the ArcFace template.
    """
    lm = DLIB_5PT_TEMPLATE * 100.0
    to_face = np.vstack([ffhq_matrix(lm, size=resolution), [0.0, 0.0, 1.0]])
    arc = np.vstack([arcface_matrix(lm, size=size), [0.0, 0.0, 1.0]])
    return (np.linalg.inv(to_face) @ arc)[:2]
